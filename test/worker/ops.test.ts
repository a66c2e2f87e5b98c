// Steering the queue: `npm run cli -- jobs:list|jobs:retry|jobs:cancel|jobs:unlock` as child
// processes on a queue arranged as superuser in every state a job can be in, and the worker's
// figures at GET /health/worker (the queue's, and an in-process worker's own).
import t from 'tap';
import { LocalDiskStorage } from '../../src/storage/local-disk.ts';
import { startWorker } from '../../src/worker/runner.ts';
import { freePort } from '../../src/db/embedded.ts';
import { buildTestApp } from '../helpers/app.ts';
import { cleanEnv, cli, tempDir } from '../helpers/cli.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { TEST_ROLE_PASSWORD } from '../helpers/env.ts';
import { startServer, stopServer } from '../helpers/server.ts';
import { temporaryStorageDir } from '../helpers/storage.ts';
import { testWorkerConfig, workerUrl } from '../helpers/worker.ts';

/** What no command may print: it sits in every payload. */
const PAYLOAD_SECRET = 'Jane Doe, diabetic';

interface Arranged {
  waiting: string;
  due: string;
  failed: string;
  retrying: string;
  deadWorkers: string;
  liveWorkers: string;
}

/**
 * One job per state, times far enough from now that the seconds a command takes to start do not
 * change the durations it prints: alpha waiting (in 1 h) and due (2 days late); beta failed for good
 * (5 h ago; graphile-worker had set its next run 2 h ahead) and retrying (failed 1 h ago, next try in 10 min); gamma locked 3 h ago by worker-dead,
 * and 2 h ago by worker-live (both within graphile-worker's 4 hours, after which a lock counts as abandoned).
 */
async function arrangeQueue(db: TestDatabase): Promise<Arranged> {
  const add = async (task: string, runAt: string, set = ''): Promise<string> => {
    const { rows } = await db.admin.query<{ id: string }>(
      `select (graphile_worker.add_job($1, json_build_object('note', $2::text), run_at => now() + $3::interval)).id`,
      [task, PAYLOAD_SECRET, runAt],
    );
    const id = rows[0]!.id;
    if (set) await db.admin.query(`update graphile_worker._private_jobs set ${set} where id = $1`, [id]);
    return id;
  };
  return {
    waiting: await add('alpha', '1 hour'),
    due: await add('alpha', '-2 days'),
    failed: await add(
      'beta',
      '2 hours',
      `attempts = 3, max_attempts = 3, last_error = 'JobError code 23505 constraint x_key', updated_at = now() - interval '5 hours'`,
    ),
    retrying: await add('beta', '10 minutes', `attempts = 1, last_error = E'Error code 08006\\n    at stack line', updated_at = now() - interval '1 hour'`),
    deadWorkers: await add('gamma', '-3 hours', `attempts = 1, locked_at = now() - interval '3 hours', locked_by = 'worker-dead'`),
    liveWorkers: await add('gamma', '-2 hours', `attempts = 1, locked_at = now() - interval '2 hours', locked_by = 'worker-live'`),
  };
}

/** A job id in the table's first column (header `job`, so at least three wide). */
const idColumn = (id: string) => id.padEnd(3);

async function jobState(db: TestDatabase, id: string) {
  const { rows } = await db.admin.query<{ attempts: number; dueNow: boolean; lockedBy: string | null }>(
    'select attempts, run_at <= now() as "dueNow", locked_by as "lockedBy" from graphile_worker.jobs where id = $1',
    [id],
  );
  return rows[0] ?? 'gone';
}

t.test('jobs:list shows the queue per task, the failures and the locked jobs, and no payload', async (t) => {
  const db = await createTestDatabase(t);
  const jobs = await arrangeQueue(db);
  const { code, output } = await cli(db, ['jobs:list']);
  t.equal(code, 0, output);
  t.equal(
    output,
    [
      'queue per task',
      '  task   waiting  due  locked  failed  oldest due',
      '  alpha  1        1    0       0       2d0h',
      '  beta   1        0    0       1       -',
      '  gamma  0        0    2       0       -',
      '  total  2        1    2       1',
      '',
      'failures (a failed job waits for jobs:retry or jobs:cancel; a retrying one runs again by itself)',
      '  job  task  state     attempts  last failed  last error',
      `  ${idColumn(jobs.retrying)}  beta  retrying  1/25      1h0m ago     Error code 08006`,
      `  ${idColumn(jobs.failed)}  beta  failed    3/3       5h0m ago     JobError code 23505 constraint x_key`,
      '',
      "locked (running; a dead worker's jobs stay locked until jobs:unlock --worker <worker>)",
      '  job  task   worker       locked for  attempt',
      `  ${idColumn(jobs.deadWorkers)}  gamma  worker-dead  3h0m        1/25`,
      `  ${idColumn(jobs.liveWorkers)}  gamma  worker-live  2h0m        1/25`,
      '',
    ].join('\n'),
  );
  t.notMatch(output, PAYLOAD_SECRET);
});

t.test('jobs:list on an empty queue', async (t) => {
  const db = await createTestDatabase(t);
  const { code, output } = await cli(db, ['jobs:list']);
  t.equal(code, 0, output);
  t.match(
    output,
    /^queue per task\n {2}task {3}waiting {2}due {2}locked {2}failed {2}oldest due\n {2}total {2}0 {8}0 {4}0 {7}0\n\nfailures .*\n {2}\(none\)\n\nlocked .*\n {2}\(none\)\n$/,
  );
});

t.test('jobs:retry runs jobs again now with their attempts reset, all or nothing', async (t) => {
  const db = await createTestDatabase(t);
  const jobs = await arrangeQueue(db);

  const unknown = await cli(db, ['jobs:retry', jobs.failed, '999999']);
  t.equal(unknown.code, 1);
  t.equal(unknown.output, 'no job 999999 (finished, cancelled, or never there)\nnothing changed\n');
  t.same(await jobState(db, jobs.failed), { attempts: 3, dueNow: false, lockedBy: null }, 'the known id was not retried either');

  const locked = await cli(db, ['jobs:retry', jobs.retrying, jobs.liveWorkers]);
  t.equal(locked.code, 1);
  t.equal(
    locked.output,
    `job ${jobs.liveWorkers} is locked by worker worker-live since 2h0m ago: it is running; if that worker is gone, jobs:unlock --worker worker-live first\nnothing changed\n`,
  );
  t.same(await jobState(db, jobs.retrying), { attempts: 1, dueNow: false, lockedBy: null });

  const retried = await cli(db, ['jobs:retry', jobs.failed, jobs.retrying]);
  t.equal(retried.code, 0, retried.output);
  t.equal(retried.output, `job ${jobs.failed} runs again now (attempts reset)\njob ${jobs.retrying} runs again now (attempts reset)\n`);
  t.same(await jobState(db, jobs.failed), { attempts: 0, dueNow: true, lockedBy: null });
  t.same(await jobState(db, jobs.retrying), { attempts: 0, dueNow: true, lockedBy: null });
  t.same(await jobState(db, jobs.liveWorkers), { attempts: 1, dueNow: true, lockedBy: 'worker-live' }, 'a running job is left alone');
});

t.test('jobs:cancel removes waiting and failed jobs, never a running one', async (t) => {
  const db = await createTestDatabase(t);
  const jobs = await arrangeQueue(db);

  const locked = await cli(db, ['jobs:cancel', jobs.waiting, jobs.deadWorkers]);
  t.equal(locked.code, 1);
  t.match(locked.output, `job ${jobs.deadWorkers} is locked by worker worker-dead since 3h0m ago`);
  t.same(await jobState(db, jobs.waiting), { attempts: 0, dueNow: false, lockedBy: null }, 'nothing cancelled');

  const cancelled = await cli(db, ['jobs:cancel', jobs.waiting, jobs.failed]);
  t.equal(cancelled.code, 0, cancelled.output);
  t.equal(cancelled.output, `job ${jobs.waiting} cancelled (removed from the queue)\njob ${jobs.failed} cancelled (removed from the queue)\n`);
  const { rows } = await db.admin.query<{ id: string }>('select id from graphile_worker.jobs order by id');
  t.same(
    rows.map((job) => job.id),
    [jobs.due, jobs.retrying, jobs.deadWorkers, jobs.liveWorkers],
  );
});

t.test('jobs:unlock frees the jobs of one worker only', async (t) => {
  const db = await createTestDatabase(t);
  const jobs = await arrangeQueue(db);

  const nobody = await cli(db, ['jobs:unlock', '--worker', 'worker-nobody']);
  t.equal(nobody.code, 1);
  t.equal(nobody.output, 'no job is locked by worker worker-nobody (jobs:list shows the locked jobs and their workers)\n');

  const unlocked = await cli(db, ['jobs:unlock', '--worker', 'worker-dead']);
  t.equal(unlocked.code, 0, unlocked.output);
  t.equal(unlocked.output, `unlocked 1 job(s) of worker worker-dead: ${jobs.deadWorkers}; due again now\n`);
  t.same(await jobState(db, jobs.deadWorkers), { attempts: 1, dueNow: true, lockedBy: null }, 'due, its cut-short attempt counted');
  t.same(await jobState(db, jobs.liveWorkers), { attempts: 1, dueNow: true, lockedBy: 'worker-live' });
});

t.test('wrong arguments print the usage (exit 2) and touch nothing', async (t) => {
  const db = await createTestDatabase(t);
  for (const args of [['jobs:retry'], ['jobs:cancel'], ['jobs:unlock'], ['jobs:unlock', '--worker', ' '], ['jobs:list', 'extra']]) {
    const { code, output } = await cli(db, args);
    t.equal(code, 2, args.join(' '));
    t.match(output, /usage: npm run cli -- .*jobs:list \| jobs:retry <job id…>/s);
  }
  const notIds = await cli(db, ['jobs:retry', '12', 'abc', '0']);
  t.equal(notIds.code, 2);
  t.match(notIds.output, /^not a job id: abc, 0\n/);
});

t.test('GET /health/worker: the queue and the in-process worker', async (t) => {
  const db = await createTestDatabase(t);
  await arrangeQueue(db);
  const storageDir = await temporaryStorageDir(t);
  // No task: the worker takes nothing, so the queue stays as arranged while it runs.
  const worker = await startWorker({
    config: testWorkerConfig({ STORAGE_DIR: storageDir }),
    url: workerUrl(db),
    storage: await LocalDiskStorage.open(storageDir),
    log: () => {},
    tasks: [],
  });
  t.teardown(() => (worker.figures().state === 'stopped' ? undefined : worker.stop()));
  const { app } = await buildTestApp(t, db.authenticatorUrl, undefined, undefined, undefined, { workerFigures: () => worker.figures() });

  const response = await app.inject({ method: 'GET', url: '/health/worker' });
  t.equal(response.statusCode, 200);
  const body = response.json();
  t.same(body.queue, { waiting: 2, due: 1, locked: 2, failed: 1, oldestDueSeconds: body.queue.oldestDueSeconds });
  t.ok(body.queue.oldestDueSeconds >= 2 * 86400 && body.queue.oldestDueSeconds < 2 * 86400 + 60, 'the due job has waited two days');
  t.match(body.worker, { state: 'running', running: 0, completed: 0, failed: 0, startedAt: String });

  await worker.stop();
  const stopped = await app.inject({ method: 'GET', url: '/health/worker' });
  t.equal(stopped.json().worker.state, 'stopped');
});

t.test('GET /health/worker without a worker in this process, on an empty queue', async (t) => {
  const db = await createTestDatabase(t);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const response = await app.inject({ method: 'GET', url: '/health/worker' });
  t.equal(response.statusCode, 200);
  t.same(response.json(), { status: 'ok', queue: { waiting: 0, due: 0, locked: 0, failed: 0, oldestDueSeconds: null }, worker: null });
});

t.test('npm start with WORKER_IN_PROCESS shows its own worker at GET /health/worker', async (t) => {
  const db = await createTestDatabase(t);
  const port = await freePort();
  const server = await startServer({
    ...cleanEnv(),
    NODE_ENV: 'development',
    DATABASE_URL: db.adminUrl,
    DATABASE_ROLE_PASSWORD: TEST_ROLE_PASSWORD,
    DATA_DIR: await tempDir(t, 'clinicbase-worker-'),
    PORT: String(port),
    WORKER_IN_PROCESS: 'true',
  });
  t.teardown(() => server.child.kill('SIGKILL'));
  const response = await fetch(`http://127.0.0.1:${port}/health/worker`);
  t.equal(response.status, 200);
  t.match(await response.json(), { status: 'ok', queue: { waiting: 0, due: 0, locked: 0, failed: 0 }, worker: { state: 'running', completed: 0, failed: 0 } });
  t.equal(await stopServer(server.child), 0);
});
