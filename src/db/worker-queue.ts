// graphile-worker's connections to its queue: its schema's install, and the pool it takes jobs
// through (src/worker/runner.ts). Tasks never query through that pool (src/worker/task.ts).
//
// graphile-worker's own schema (`graphile_worker`), installed and upgraded by graphile-worker's
// migrations, run as its owner app_worker. Setup creates the schema for app_worker as superuser.
// graphile-worker's first install says `create schema if not exists`, which Postgres refuses
// without CREATE on the database even when the schema exists: app_worker holds that privilege for
// the length of the install only. A worker at start runs the later migrations itself (a no-op when
// they are current); they create nothing outside the schema.
import { Logger, runMigrations } from 'graphile-worker';
import pg from 'pg';
import { databaseName } from './setup.ts';

export const WORKER_SCHEMA = 'graphile_worker';

/** graphile-worker's log lines, at warning and above, through `log` (its debug chatter is dropped). */
export function workerLogger(log: (message: string) => void): Logger {
  return new Logger(() => (level, message) => {
    if (level === 'error' || level === 'warning') log(`worker ${level}: ${message}`);
  });
}

/**
 * Runs graphile-worker's migrations as app_worker through a superuser URL: the session's role is
 * set at connection start (`-c role=app_worker`), on a connection of this function's own that no
 * other code uses, so everything it creates belongs to app_worker.
 */
export async function installWorkerSchema(adminUrl: string, log: (message: string) => void): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl });
  const pool = new pg.Pool({ connectionString: adminUrl, max: 1, options: '-c role=app_worker' });
  pool.on('error', () => {}).on('connect', (client) => client.on('error', () => {}));
  await admin.connect();
  const database = pg.escapeIdentifier(databaseName(adminUrl));
  try {
    await admin.query(`grant create on database ${database} to app_worker`);
    await runMigrations({ pgPool: pool, schema: WORKER_SCHEMA, logger: workerLogger(log) });
  } finally {
    await admin.query(`revoke create on database ${database} from app_worker`);
    await Promise.all([admin.end(), pool.end()]);
  }
}

/** graphile-worker's pool: one connection per running job, one for LISTEN, one to spare. */
export function createQueuePool(url: string, concurrency: number, onIdleError: (error: Error) => void): pg.Pool {
  return (
    new pg.Pool({ connectionString: url, max: concurrency + 2, application_name: 'clinicbase-worker' })
      .on('error', onIdleError)
      // A checked-out client's errors reach graphile-worker through the query that fails.
      .on('connect', (client) => client.on('error', () => {}))
  );
}

/**
 * Releases jobs that a stopping worker could not finish: due again at once for any worker, the
 * attempt they used counted, and the reason in last_error. graphile-worker locks a job (and its
 * queue) in its worker pool's name: `lockedBy` maps job id → that name.
 */
export async function releaseUnfinishedJobs(queue: pg.Pool, lockedBy: Map<string, string>): Promise<void> {
  if (lockedBy.size === 0) return;
  await queue.query(`select ${WORKER_SCHEMA}.force_unlock_workers($1::text[])`, [[...new Set(lockedBy.values())]]);
  await queue.query(
    `update ${WORKER_SCHEMA}._private_jobs set last_error = 'the worker stopped before the job finished'
     where id = any($1::bigint[]) and locked_by is null`,
    [[...lockedBy.keys()]],
  );
}
