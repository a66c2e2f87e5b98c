// kill -9 of a worker mid-job: the job runs again and its effect is applied once. The worker is the
// real process (`node src/worker/main.ts`, what `npm run worker` runs) with one more task preloaded
// (crash-probe.ts) that commits a first effect, then waits for an advisory lock this test holds:
// blocked mid-way at a point the test observes, not after a sleep.
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import pg from 'pg';
import t from 'tap';
import { cleanEnv, cli } from '../helpers/cli.ts';
import { createClinics, createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { TEST_ROLE_PASSWORD } from '../helpers/env.ts';
import { temporaryStorageDir } from '../helpers/storage.ts';
import { eventually } from '../helpers/wait.ts';
// Its constants; importing it also adds the probe to this process's TASKS, where nothing runs them.
import { CRASH_GATE, CRASH_PROBE_TASK } from './crash-probe.ts';

const WORKER_MAIN = path.resolve(import.meta.dirname, '../../src/worker/main.ts');
const PROBE = path.resolve(import.meta.dirname, 'crash-probe.ts');

interface WorkerProcess {
  child: ChildProcess;
  output: () => string;
}

/** The worker as its own process group (so kill -9 reaches all of it), logged in as app_worker. */
function startWorkerProcess(db: TestDatabase, storageDir: string): WorkerProcess {
  const env = {
    ...cleanEnv(),
    NODE_ENV: 'test',
    DATABASE_URL: db.adminUrl,
    DATABASE_ROLE_PASSWORD: TEST_ROLE_PASSWORD,
    STORAGE_DIR: storageDir,
    WORKER_CONCURRENCY: '1',
  };
  const child = spawn(process.execPath, ['--import', PROBE, WORKER_MAIN], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  return { child, output: () => output };
}

/** Until the process printed its start-up line (a loaded machine takes seconds to load the modules), or fails with its output. */
async function started(worker: WorkerProcess): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!worker.output().includes('"msg":"worker started"')) {
    if (worker.child.exitCode !== null || Date.now() > deadline) throw new Error(`the worker did not start:\n${worker.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): Promise<NodeJS.Signals | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(child.signalCode);
    child.once('exit', (_code, received) => resolve(received));
    process.kill(-child.pid!, signal);
  });
}

/** The attempts the probe logged, in order ({"msg":"crash probe running","attempt":n} lines). */
function probeAttempts(output: string): number[] {
  return output
    .split('\n')
    .filter((line) => line.includes('"crash probe running"'))
    .map((line) => (JSON.parse(line) as { attempt: number }).attempt);
}

/** The probe's jobs in the queue: id, attempts so far, and the worker holding it. */
async function probeJobs(db: TestDatabase): Promise<{ id: string; attempts: number; lockedBy: string | null }[]> {
  const { rows } = await db.admin.query<{ id: string; attempts: number; lockedBy: string | null }>(
    'select id, attempts, locked_by as "lockedBy" from graphile_worker.jobs where task_identifier = $1 order by id',
    [CRASH_PROBE_TASK],
  );
  return rows;
}

async function probeRecords(db: TestDatabase): Promise<{ key: string; attempt: number }[]> {
  const { rows } = await db.admin.query<{ key: string; attempt: number }>('select key, attempt from app_private.crash_probe_records order by key');
  return rows;
}

/** The probe's effects: one row per key, the first attempt's kept (an idempotent write). */
async function installProbeEffects(db: TestDatabase): Promise<void> {
  await db.admin.query(`
    create table app_private.crash_probe_records (key text primary key, attempt int not null);
    create function app_hidden.crash_probe_record(key text, attempt int) returns void
      language sql security definer set search_path = pg_catalog, pg_temp
    as $$ insert into app_private.crash_probe_records (key, attempt) values ($1, $2) on conflict (key) do nothing $$;
    alter table app_private.crash_probe_records owner to app_owner;
    alter function app_hidden.crash_probe_record(text, int) owner to app_owner;
    revoke all on function app_hidden.crash_probe_record(text, int) from public;
    grant execute on function app_hidden.crash_probe_record(text, int) to app_user;`);
}

t.test('a job whose worker is killed -9 mid-way runs again once unlocked, and its effects land once', async (t) => {
  const db = await createTestDatabase(t);
  const { a } = await createClinics(db);
  await installProbeEffects(db);
  const storageDir = await temporaryStorageDir(t);
  const workers: WorkerProcess[] = [];
  t.teardown(async () => {
    for (const worker of workers) await killGroup(worker.child, 'SIGKILL');
  });

  // The gate, held by this test's own session until the first worker is dead.
  const gate = new pg.Client({ connectionString: db.adminUrl });
  await gate.connect();
  t.teardown(() => gate.end());
  await gate.query('select pg_advisory_lock($1::bigint)', [CRASH_GATE]);

  await db.admin.query(`select app_private.add_job($1, $2, '{"probeKey": "p1"}')`, [a, CRASH_PROBE_TASK]);
  const [job] = await probeJobs(db);

  const first = startWorkerProcess(db, storageDir);
  workers.push(first);
  await started(first);
  const waiting = await eventually(
    async () =>
      (await db.admin.query(`select count(*)::int as n from pg_locks where locktype = 'advisory' and objid = $1 and not granted`, [CRASH_GATE])).rows[0].n,
    (n) => n === 1,
  );
  t.equal(waiting, 1, `the first worker's task waits at the gate\n${first.output()}`);
  t.same(await probeRecords(db), [{ key: 'p1:before', attempt: 1 }], 'its first effect committed');
  const [running] = await probeJobs(db);
  const deadWorker = running!.lockedBy!;
  t.match(running, { id: job!.id, attempts: 1, lockedBy: /^pool-/ }, 'the job is locked by the first worker (graphile-worker names it by its pool), attempt 1');

  t.equal(await killGroup(first.child, 'SIGKILL'), 'SIGKILL');
  await gate.query('select pg_advisory_unlock($1::bigint)', [CRASH_GATE]);
  // Its tenant connection's transaction dies with it (the backend gets the lock, cannot answer a
  // client that is gone, and ends): nothing of the second effect is committed.
  const left = await eventually(
    async () =>
      (
        await db.admin.query(
          `select count(*)::int as n from pg_stat_activity where datname = current_database() and application_name like 'clinicbase-worker%'`,
        )
      ).rows[0].n,
    (n) => n === 0,
  );
  t.equal(left, 0, "the dead worker's connections are gone");
  t.same(await probeRecords(db), [{ key: 'p1:before', attempt: 1 }], 'the cut-short transaction left nothing');

  // graphile-worker cannot tell a dead worker from a slow one: the job stays locked by it.
  t.same(await probeJobs(db), [{ id: job!.id, attempts: 1, lockedBy: deadWorker }], 'still locked by the dead worker');
  const unlock = await cli(db, ['jobs:unlock', '--worker', deadWorker]);
  t.equal(unlock.code, 0, unlock.output);
  t.equal(unlock.output, `unlocked 1 job(s) of worker ${deadWorker}: ${job!.id}; due again now\n`);

  const second = startWorkerProcess(db, storageDir);
  workers.push(second);
  await started(second);
  const remaining = await eventually(
    () => probeJobs(db),
    (jobs) => jobs.length === 0,
  );
  t.same(remaining, [], `the job ran again and completed\n${second.output()}`);
  t.same(
    await probeRecords(db),
    [
      { key: 'p1:after', attempt: 2 },
      { key: 'p1:before', attempt: 1 },
    ],
    'each effect once: the second attempt found the first one and wrote the second',
  );
  t.same(probeAttempts(first.output()), [1], 'the killed worker ran attempt 1');
  t.same(probeAttempts(second.output()), [2], 'the new worker ran attempt 2, once');
  t.equal(await killGroup(second.child, 'SIGTERM'), null, 'the second worker stops gracefully');
});
