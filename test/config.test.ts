import t from 'tap';
import { ConfigError, loadConfig } from '../src/config.ts';

t.test('defaults: embedded Postgres, port 3000 on loopback', async (t) => {
  const config = loadConfig({});
  t.match(config, { env: 'development', port: 3000, host: '127.0.0.1', database: { adminUrl: undefined, embedded: { port: 54329 } } });
  t.ok(Object.isFrozen(config) && Object.isFrozen(config.database), 'config is frozen');
});

t.test('DATABASE_URL derives the role URLs on the same server', async (t) => {
  const config = loadConfig({ DATABASE_URL: 'postgres://root@db.internal:5432/clinic', DATABASE_ROLE_PASSWORD: 'a-long-password' });
  t.equal(config.database.embedded, undefined);
  t.equal(config.database.authenticatorUrl, 'postgres://app_authenticator:a-long-password@db.internal:5432/clinic');
  t.equal(config.database.ownerUrl, 'postgres://app_owner:a-long-password@db.internal:5432/clinic');
});

t.test('one message lists every invalid or missing variable', async (t) => {
  const error = (() => {
    try {
      loadConfig({ NODE_ENV: 'production', PORT: 'eighty', DATABASE_URL: 'mysql://x', LOG_LEVEL: 'loud', DATABASE_POOL_SIZE: '0' });
    } catch (e) {
      return e;
    }
  })();
  t.type(error, ConfigError);
  const message = (error as ConfigError).message;
  for (const name of ['PORT', 'DATABASE_URL', 'LOG_LEVEL', 'DATABASE_POOL_SIZE', 'DATABASE_AUTHENTICATOR_URL']) {
    t.match(message, new RegExp(`^  - ${name}: `, 'm'), `names ${name}`);
  }
});

t.test('empty variables count as unset', async (t) => {
  t.equal(loadConfig({ PORT: '', DATABASE_URL: '' }).port, 3000);
});
