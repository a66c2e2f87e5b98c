// `npm start` on a machine without any database: embedded Postgres under DATA_DIR, migrated,
// serving /health/ready; SIGTERM drains and stops Postgres; the data survives a restart.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import t from 'tap';
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
  t.equal(await stopServer(second.child), 0);
});
