import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
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
  t.equal(config.database.listenUrl, undefined, 'the notification listener takes the authenticator URL');
});

t.test('DATABASE_LISTEN_URL: the notification listener straight to Postgres while requests go through a pooler', async (t) => {
  const config = loadConfig({
    DATABASE_AUTHENTICATOR_URL: 'postgres://app_authenticator:pw@pgbouncer:6432/clinic',
    DATABASE_LISTEN_URL: 'postgres://app_authenticator:pw@db:5432/clinic',
  });
  t.equal(config.database.authenticatorUrl, 'postgres://app_authenticator:pw@pgbouncer:6432/clinic');
  t.equal(config.database.listenUrl, 'postgres://app_authenticator:pw@db:5432/clinic');
  t.throws(() => loadConfig({ DATABASE_LISTEN_URL: 'mysql://db/clinic' }), /DATABASE_LISTEN_URL: must be a postgres/);
});

t.test('one message lists every invalid or missing variable', async (t) => {
  const error = (() => {
    try {
      loadConfig({ NODE_ENV: 'production', PORT: 'eighty', DATABASE_URL: 'mysql://x', LOG_LEVEL: 'loud', DATABASE_POOL_SIZE: '0' }, { serving: true });
    } catch (e) {
      return e;
    }
  })();
  t.type(error, ConfigError);
  const message = (error as ConfigError).message;
  for (const name of ['PORT', 'DATABASE_URL', 'LOG_LEVEL', 'DATABASE_POOL_SIZE', 'DATABASE_AUTHENTICATOR_URL', 'DATABASE_ROLE_PASSWORD']) {
    t.match(message, new RegExp(`^  - ${name}: `, 'm'), `names ${name}`);
  }
});

t.test('ops commands in production need no serving URL; a built-in password never reaches a real server', async (t) => {
  const ops = loadConfig({ NODE_ENV: 'production', DATABASE_URL: 'postgres://root@db:5432/c', DATABASE_ROLE_PASSWORD: 'a-long-password' });
  t.equal(ops.database.authenticatorUrl, 'postgres://app_authenticator:a-long-password@db:5432/c');
  t.throws(() => loadConfig({ DATABASE_URL: 'postgres://root@db:5432/c' }, { serving: true }), /DATABASE_ROLE_PASSWORD: required with DATABASE_URL/);
  t.equal(loadConfig({ DATABASE_URL: 'postgres://root@db:5432/c' }).database.rolePassword, undefined, 'ops commands leave role passwords alone');
  t.equal(loadConfig({}).database.rolePassword, 'clinicbase-embedded-only', 'the built-in password is for the embedded cluster');
  t.equal(loadConfig({ NODE_ENV: 'production', DATABASE_AUTHENTICATOR_URL: 'postgres://a@db/c' }).database.rolePassword, undefined);
});

t.test('empty variables count as unset', async (t) => {
  t.equal(loadConfig({ PORT: '', DATABASE_URL: '' }).port, 3000);
});

t.test('TRUST_PROXY: off by default, or the proxies’ addresses', async (t) => {
  t.equal(loadConfig({}).trustProxy, false, 'unset: the socket address is the client');
  t.same(loadConfig({ TRUST_PROXY: '10.0.0.2, 10.1.0.0/16,::1, fd00::/8' }).trustProxy, ['10.0.0.2', '10.1.0.0/16', '::1', 'fd00::/8']);
  for (const wrong of ['true', 'the load balancer', '10.0.0.0/33', '::/129', '10.0.0.1/8/8']) {
    t.throws(() => loadConfig({ TRUST_PROXY: wrong }), /TRUST_PROXY: must be a comma-separated list/, `${wrong} is refused`);
  }
});

t.test('JWT_PRIVATE_KEY_FILE, JWT_KEY_ID_FILE: the value from a file, never both, never a file that cannot be read', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'clinicbase-config-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const pem = '-----BEGIN PRIVATE KEY-----\ntest-only\n-----END PRIVATE KEY-----';
  await writeFile(path.join(dir, 'key.pem'), `${pem}\n`);
  await writeFile(path.join(dir, 'kid'), 'key-2\n');
  const files = { JWT_PRIVATE_KEY_FILE: path.join(dir, 'key.pem'), JWT_KEY_ID_FILE: path.join(dir, 'kid') };
  t.same(loadConfig(files).jwt.signingKey, { keyId: 'key-2', privateKeyPem: pem }, 'the trailing newline is dropped');
  t.throws(() => loadConfig({ ...files, JWT_KEY_ID: 'key-3' }), /JWT_KEY_ID_FILE: set JWT_KEY_ID or JWT_KEY_ID_FILE, not both/);
  t.throws(() => loadConfig({ ...files, JWT_PRIVATE_KEY_FILE: path.join(dir, 'missing.pem') }), /JWT_PRIVATE_KEY_FILE: cannot read .*missing\.pem \(ENOENT\)/);
  t.throws(
    () => loadConfig({ NODE_ENV: 'production', DATABASE_AUTHENTICATOR_URL: 'postgres://a@db/c' }, { serving: true }),
    /JWT_PRIVATE_KEY, JWT_KEY_ID: required in production, or JWT_PRIVATE_KEY_FILE, JWT_KEY_ID_FILE/,
  );
});

t.test('request transactions: timeouts and prepared statements', async (t) => {
  t.same(
    loadConfig({}).database.transactions,
    { statementTimeoutMs: 5000, lockTimeoutMs: 2000, idleInTransactionTimeoutMs: 10_000, preparedStatements: true },
    'defaults',
  );
  const set = loadConfig({
    DATABASE_STATEMENT_TIMEOUT_MS: '30000',
    DATABASE_LOCK_TIMEOUT_MS: '500',
    DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: '60000',
    DATABASE_PREPARED_STATEMENTS: 'false',
  });
  t.same(set.database.transactions, { statementTimeoutMs: 30_000, lockTimeoutMs: 500, idleInTransactionTimeoutMs: 60_000, preparedStatements: false });
  t.ok(Object.isFrozen(set.database.transactions), 'frozen');
  const refused: [string, string][] = [
    ['DATABASE_STATEMENT_TIMEOUT_MS', '0'],
    ['DATABASE_STATEMENT_TIMEOUT_MS', '5s'],
    ['DATABASE_LOCK_TIMEOUT_MS', '1.5'],
    ['DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS', '3600001'],
    ['DATABASE_PREPARED_STATEMENTS', 'maybe'],
  ];
  for (const [name, value] of refused) t.throws(() => loadConfig({ [name]: value }), new RegExp(`^  - ${name}: `, 'm'), `${name}=${value} is refused`);
});

t.test('REDIS_URL, CORS_ORIGINS, API_DOCS: the HTTP surface', async (t) => {
  t.match(loadConfig({}), { redisUrl: undefined, corsOrigins: [], apiDocs: undefined }, 'unset: limits in memory, CORS off, docs by NODE_ENV');
  t.equal(loadConfig({ REDIS_URL: 'rediss://cache.internal:6380/0' }).redisUrl, 'rediss://cache.internal:6380/0');
  t.same(loadConfig({ CORS_ORIGINS: 'https://app.example.com, http://localhost:5173' }).corsOrigins, ['https://app.example.com', 'http://localhost:5173']);
  t.equal(loadConfig({ API_DOCS: 'true' }).apiDocs, true);
  t.equal(loadConfig({ API_DOCS: 'false' }).apiDocs, false);
  const refused: [string, string][] = [
    ['REDIS_URL', 'http://cache.internal:6379'],
    ['REDIS_URL', 'cache.internal:6379'],
    ['CORS_ORIGINS', '*'],
    ['CORS_ORIGINS', 'https://app.example.com/'],
    ['CORS_ORIGINS', 'https://app.example.com/path'],
    ['CORS_ORIGINS', 'app.example.com'],
    ['CORS_ORIGINS', 'https://App.example.com'],
    ['CORS_ORIGINS', 'ftp://files.example.com'],
    ['API_DOCS', 'maybe'],
  ];
  for (const [name, value] of refused) t.throws(() => loadConfig({ [name]: value }), new RegExp(`^  - ${name}: `, 'm'), `${name}=${value} is refused`);
});

t.test('DATA_ENCRYPTION_KEY: key ids and 32-byte keys, the first encrypts; every problem listed, no key material', async (t) => {
  const [one, two] = [Buffer.alloc(32, 1).toString('base64'), Buffer.alloc(32, 2).toString('base64')];
  const keys = loadConfig({ DATA_ENCRYPTION_KEY: `2025-06-b:${two}, 2025-01-a:${one}` }).dataEncryption.keys;
  t.same(
    keys?.map((k) => [k.id, k.secret.toString('hex')]),
    [
      ['2025-06-b', '02'.repeat(32)],
      ['2025-01-a', '01'.repeat(32)],
    ],
    'in order',
  );
  t.same(
    loadConfig({ DATA_ENCRYPTION_KEY: `b:${two}\na:${one}\n` }).dataEncryption.keys?.map((k) => k.id),
    ['b', 'a'],
    'one a line, as in a file',
  );

  const short = Buffer.alloc(24, 3).toString('base64');
  const error = (() => {
    try {
      loadConfig({ DATA_ENCRYPTION_KEY: `a:not*base64,b:${short},a:${one},Upper_Case:${two},${one}` });
    } catch (e) {
      return e as ConfigError;
    }
  })();
  t.type(error, ConfigError);
  t.same(error?.problems, [
    'DATA_ENCRYPTION_KEY: key "a": the key is not base64',
    'DATA_ENCRYPTION_KEY: key "b": the key is 24 bytes, must be 32',
    'DATA_ENCRYPTION_KEY: key "a": the key id appears twice',
    'DATA_ENCRYPTION_KEY: entry 4: the key id must be 1–32 characters of a-z, 0-9 and -',
    'DATA_ENCRYPTION_KEY: entry 5 is not <keyId>:<base64 key>',
  ]);
  for (const secret of [one, two, short, 'not*base64']) t.notMatch(error?.message, secret, 'no key material in the message');
  t.throws(() => loadConfig({ DATA_ENCRYPTION_KEY: ' , ' }), /^ {2}- DATA_ENCRYPTION_KEY: must list at least one <keyId>:<base64 key>$/m);
  t.throws(() => loadConfig({ DATA_ENCRYPTION_KEY: `${'k'.repeat(33)}:${one}` }), /DATA_ENCRYPTION_KEY: entry 1: the key id must be/);
});

t.test('DATA_ENCRYPTION_KEY: required to serve in production, or its _FILE', async (t) => {
  const production = {
    NODE_ENV: 'production',
    DATABASE_AUTHENTICATOR_URL: 'postgres://a@db/c',
    JWT_PRIVATE_KEY: '-----BEGIN PRIVATE KEY-----',
    JWT_KEY_ID: 'k',
  };
  const refused = (() => {
    try {
      loadConfig(production, { serving: true });
    } catch (e) {
      return e as ConfigError;
    }
  })();
  t.same(refused?.problems, ['DATA_ENCRYPTION_KEY: required in production, or DATA_ENCRYPTION_KEY_FILE (development generates a key under DATA_DIR)']);
  t.equal(loadConfig(production).dataEncryption.keys, undefined, 'ops commands load without it');

  const dir = await mkdtemp(path.join(os.tmpdir(), 'clinicbase-config-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(path.join(dir, 'data-key'), `k1:${Buffer.alloc(32, 9).toString('base64')}\n`);
  const fromFile = loadConfig({ ...production, DATA_ENCRYPTION_KEY_FILE: path.join(dir, 'data-key') }, { serving: true });
  t.same(fromFile.dataEncryption, { keys: [{ id: 'k1', secret: Buffer.alloc(32, 9) }], generatedKeyFile: undefined });
});

t.test('STORAGE_DIR: uploaded files in DATA_DIR/files unless set, always an absolute path', async (t) => {
  t.equal(loadConfig({}).storageDir, path.resolve('.data', 'files'), 'default: .data/files under the working folder');
  t.equal(loadConfig({ DATA_DIR: '/srv/clinicbase' }).storageDir, '/srv/clinicbase/files', 'inside DATA_DIR');
  t.equal(loadConfig({ DATA_DIR: '/srv/clinicbase', STORAGE_DIR: '/mnt/files' }).storageDir, '/mnt/files', 'anywhere else when set');
  t.equal(loadConfig({ STORAGE_DIR: 'uploads' }).storageDir, path.resolve('uploads'), 'a relative one is resolved once, at start');
  t.equal(loadConfig({ STORAGE_DIR: '' }).storageDir, path.resolve('.data', 'files'), 'empty: unset');
});

t.test('FILE_MAX_BYTES: the upload limit of …/files, 20 MiB unless set, between 1 KiB and 1 GiB', async (t) => {
  t.equal(loadConfig({}).fileMaxBytes, 20 * 1024 * 1024, 'default: 20 MiB');
  t.equal(loadConfig({ FILE_MAX_BYTES: '1048576' }).fileMaxBytes, 1048576, 'set');
  t.equal(loadConfig({ FILE_MAX_BYTES: '' }).fileMaxBytes, 20 * 1024 * 1024, 'empty: unset');
  for (const wrong of ['1023', '1073741825', '1.5', 'ten', '-1']) {
    t.throws(() => loadConfig({ FILE_MAX_BYTES: wrong }), /FILE_MAX_BYTES/, `${wrong}: refused, naming the variable`);
  }
});

/** The problems loadConfig reports for `env`, or [] when it loads. */
function problemsOf(env: Record<string, string>, options: { serving?: boolean; delivering?: boolean } = {}): string[] {
  try {
    loadConfig(env, options);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
}

t.test('NOTIFY_TRANSPORT: a process that delivers in production names it, never log (it prints invitation codes)', async (t) => {
  const refused = 'NOTIFY_TRANSPORT: required in production, file, smtp or webhook (log prints every message, tokens included, into the log)';
  const worker = { NODE_ENV: 'production', DATABASE_WORKER_URL: 'postgres://app_worker:pw@db/c' };
  t.same(problemsOf(worker, { delivering: true }), [refused], 'the worker without it');
  t.same(problemsOf({ ...worker, NOTIFY_TRANSPORT: 'log' }, { delivering: true }), [refused], 'the worker with log');
  t.equal(loadConfig({ ...worker, NOTIFY_TRANSPORT: 'file' }, { delivering: true }).notifications.transport, 'file');
  const server = {
    NODE_ENV: 'production',
    DATABASE_AUTHENTICATOR_URL: 'postgres://a@db/c',
    JWT_PRIVATE_KEY: '-----BEGIN PRIVATE KEY-----',
    JWT_KEY_ID: 'k',
    DATA_ENCRYPTION_KEY: `k1:${Buffer.alloc(32, 9).toString('base64')}`,
  };
  t.same(problemsOf({ ...server, WORKER_IN_PROCESS: 'true' }, { serving: true }), [refused], 'npm start running the worker in process');
  t.same(problemsOf(server, { serving: true }), [], 'the API alone sends nothing');
  t.same(problemsOf({ NODE_ENV: 'production' }), [], 'ops commands send nothing');
  t.equal(loadConfig({ NODE_ENV: 'development' }, { delivering: true }).notifications.transport, 'log', 'development: log by default');
});

t.test('SMS_WEBHOOK_URL: no credentials in the URL (fetch would quote them in its error)', async (t) => {
  const secret = 'a-webhook-secret-of-32-characters-or-more';
  const problem = 'SMS_WEBHOOK_URL: must not hold credentials (user:password@): the signature is SMS_WEBHOOK_SECRET';
  t.same(problemsOf({ SMS_WEBHOOK_URL: 'https://user:hunter2@sms.example.test/hook', SMS_WEBHOOK_SECRET: secret }), [problem]);
  t.same(problemsOf({ SMS_WEBHOOK_URL: 'https://token@sms.example.test/hook', SMS_WEBHOOK_SECRET: secret }), [problem]);
  t.same(problemsOf({ SMS_WEBHOOK_URL: 'https://sms.example.test/hook?to=a@b', SMS_WEBHOOK_SECRET: secret }), [], 'an @ in the query is no credential');
});
