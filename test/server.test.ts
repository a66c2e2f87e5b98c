// `npm start` on a machine without any database: embedded Postgres under DATA_DIR, migrated,
// serving /health/ready; SIGTERM drains and stops Postgres; the data survives a restart, and so
// does the generated data encryption key. In production, no start without a data key.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import t from 'tap';
import { generateSigningKey } from '../src/auth/keys.ts';
import { freePort } from '../src/db/embedded.ts';
import { startServer, stopServer } from './helpers/server.ts';

/** `npm start` on this machine: its environment without any database URL, plus `env`. */
function start(env: Record<string, string>) {
  const clean = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => !e[0].startsWith('DATABASE_') && e[1] !== undefined));
  return startServer({ ...clean, ...env });
}

t.test('npm start without a database', async (t) => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'clinicbase-start-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const [port, pgPort] = [await freePort(), await freePort()];
  const env = { DATA_DIR: dataDir, PORT: String(port), EMBEDDED_PG_PORT: String(pgPort), NODE_ENV: 'development' };

  const first = await start(env);
  t.teardown(() => first.child.kill('SIGKILL'));
  const ready = await fetch(`http://127.0.0.1:${port}/health/ready`);
  t.equal(ready.status, 200, '/health/ready is 200 on embedded Postgres');
  const dataKeyFile = path.join(dataDir, 'data-encryption-key');
  const dataKey = await readFile(dataKeyFile, 'utf8');
  t.match(dataKey, /^\d{4}-\d{2}-\d{2}-[0-9a-f]{8}:[A-Za-z0-9+/]{43}=\n$/, 'a data encryption key was generated');
  t.equal((await stat(dataKeyFile)).mode & 0o777, 0o600, 'readable by its owner only');

  const password = (await readFile(path.join(dataDir, 'pg.superuser-password'), 'utf8')).trim();
  const adminUrl = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${pgPort}/clinicbase`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`insert into app_public.clinics (slug, name) values ('survivor', 'Survives restarts')`);
  await admin.end();

  t.equal(await stopServer(first.child), 0, 'SIGTERM exits cleanly');
  t.match(first.output(), /"signal":"SIGTERM".*shutting down/s);
  const probe = new pg.Client({ connectionString: adminUrl });
  t.rejects(probe.connect(), 'embedded Postgres was stopped with the server');

  const second = await start(env);
  t.teardown(() => second.child.kill('SIGKILL'));
  const again = new pg.Client({ connectionString: adminUrl });
  await again.connect();
  const { rows } = await again.query(`select name from app_public.clinics where slug = 'survivor'`);
  await again.end();
  t.same(rows, [{ name: 'Survives restarts' }], 'data under DATA_DIR survives a restart');
  t.equal(await readFile(dataKeyFile, 'utf8'), dataKey, 'the restarted server kept its data key');
  t.equal(await stopServer(second.child), 0);
});

t.test('production without a data encryption key does not start', async (t) => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'clinicbase-start-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const key = generateSigningKey();
  const env = {
    NODE_ENV: 'production',
    DATA_DIR: dataDir,
    PORT: String(await freePort()),
    DATABASE_AUTHENTICATOR_URL: 'postgres://app_authenticator:unused@127.0.0.1:1/clinicbase',
    JWT_PRIVATE_KEY: key.privateKeyPem,
    JWT_KEY_ID: key.keyId,
  };
  const failed = await promisify(execFile)(process.execPath, [path.resolve(import.meta.dirname, '../src/server.ts')], { env }).catch((e) => e);
  t.equal(failed.code, 1, 'exit code 1');
  t.equal(
    failed.stderr,
    'Invalid configuration:\n  - DATA_ENCRYPTION_KEY: required in production, or DATA_ENCRYPTION_KEY_FILE (development generates a key under DATA_DIR)\n',
  );
  await t.rejects(stat(path.join(dataDir, 'data-encryption-key')), { code: 'ENOENT' }, 'no key made up');
});
