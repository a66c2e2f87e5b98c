// The worker in tests: the real tasks through graphile-worker on the file's database, as the
// app_worker login, with a clock and a storage the test chooses.
import type { Test } from 'tap';
import { type Config, loadConfig, roleUrl } from '../../src/config.ts';
import { createPool } from '../../src/db/pool.ts';
import { LocalDiskStorage } from '../../src/storage/local-disk.ts';
import { runDueJobs as runDueJobsOnce } from '../../src/worker/runner.ts';
import type { TaskDefinition } from '../../src/worker/task.ts';
import type { TestDatabase } from './db.ts';
import { TEST_ROLE_PASSWORD } from './env.ts';
import { temporaryStorageDir } from './storage.ts';

/** app_worker's URL on the test database. */
export function workerUrl(db: TestDatabase): string {
  return roleUrl(db.adminUrl, 'app_worker', TEST_ROLE_PASSWORD);
}

/** A pool logged in as app_worker, like the worker's tenant pool (closed at teardown). */
export function workerPool(t: Test, db: TestDatabase) {
  const pool = createPool({ url: workerUrl(db), size: 2 });
  t.teardown(() => pool.end());
  return pool;
}

export interface RunOptions {
  /** The tasks' clock; default the system's. */
  now?: () => Date;
  /** Variables of the worker's configuration (NOTIFY_TRANSPORT, …) over a test's defaults. */
  env?: Record<string, string>;
  /** STORAGE_DIR; default a new temporary folder. */
  storageDir?: string;
  /** Default: every task of src/worker/tasks/. */
  tasks?: readonly TaskDefinition[];
  /** The worker's log lines, for tests that read them. */
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

export function testWorkerConfig(env: Record<string, string> = {}): Config {
  return loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', ...env });
}

/** Runs every job due now with the real tasks until none is left; jobs due later stay queued. */
export async function runDueJobs(t: Test, db: TestDatabase, options: RunOptions = {}): Promise<void> {
  const storageDir = options.storageDir ?? (await temporaryStorageDir(t));
  await runDueJobsOnce({
    config: testWorkerConfig({ STORAGE_DIR: storageDir, ...options.env }),
    url: workerUrl(db),
    storage: await LocalDiskStorage.open(storageDir),
    log: options.log ?? (() => {}),
    now: options.now,
    tasks: options.tasks,
  });
}

export interface QueuedJob {
  id: string;
  taskIdentifier: string;
  payload: Record<string, unknown>;
  runAt: Date;
  key: string | null;
  attempts: number;
  maxAttempts: number;
  lastError: string | null;
  lockedAt: Date | null;
}

/** The queue's jobs (read as superuser), oldest first; only `task`'s when given. */
export async function queuedJobs(db: TestDatabase, task?: string): Promise<QueuedJob[]> {
  const { rows } = await db.admin.query<QueuedJob>(
    // The jobs view leaves the payload out: read graphile-worker's table itself.
    `select j.id::text, t.identifier as "taskIdentifier", j.payload, j.run_at as "runAt", j.key, j.attempts,
            j.max_attempts as "maxAttempts", j.last_error as "lastError", j.locked_at as "lockedAt"
     from graphile_worker._private_jobs j join graphile_worker._private_tasks t on t.id = j.task_id
     where $1::text is null or t.identifier = $1 order by j.id`,
    [task ?? null],
  );
  return rows;
}
