// `npm start` on a machine without any database: embedded Postgres under DATA_DIR, migrated,
// serving /health/ready; SIGTERM drains and stops Postgres; the data survives a restart.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import t from 'tap';
import { freePort } from '../src/db/embedded.ts';

const SERVER = path.resolve(import.meta.dirname, '../src/server.ts');

async function start(env: Record<string, string>): Promise<{ child: ChildProcess; output: () => string }> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DATABASE_')));
  const child = spawn(process.execPath, [SERVER], { env: { ...clean, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const deadline = Date.now() + 60_000;
  while (!output.includes('Server listening')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`server did not start:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, output: () => output };
}

function stop(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });
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

  t.equal(await stop(first.child), 0, 'SIGTERM exits cleanly');
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
  t.equal(await stop(second.child), 0);
});
