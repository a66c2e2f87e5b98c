// The job queue's ops commands (`npm run cli -- jobs:…`), as the owner: app_owner is a member of
// app_worker, which owns graphile-worker's schema, so it may read the queue and call its admin
// functions. They print ids, task names, counts, times and the stored last error (scrubbed by the
// worker, src/worker/task.ts), never a payload or a job key. Every change goes through
// graphile-worker's own functions (reschedule_jobs, complete_jobs, force_unlock_workers), which
// leave a locked job alone (unless its lock is 4 hours old, graphile-worker's own limit, after which
// it takes the lock for abandoned): a job some worker is running is never changed under it.
import type { Client } from '../db/pool.ts';

/** Where a command's lines go (standard output). */
export type Print = (line: string) => void;

/** Prints the queue per task, the jobs that failed (retrying or for good), and the locked ones. */
export async function listJobs(client: Client, print: Print): Promise<void> {
  const { rows: tasks } = await client.query<QueueRow>(
    `select task, waiting::int, due::int, locked::int, failed::int, extract(epoch from now() - oldest_due_at)::int as "oldestDueSeconds"
     from app_hidden.job_queue_figures()`,
  );
  print('queue per task');
  printTable(
    print,
    ['task', 'waiting', 'due', 'locked', 'failed', 'oldest due'],
    [
      ...tasks.map((r) => [r.task, r.waiting, r.due, r.locked, r.failed, duration(r.oldestDueSeconds)]),
      ['total', ...(['waiting', 'due', 'locked', 'failed'] as const).map((k) => sum(tasks, k)), ''],
    ],
  );

  const { rows: failing } = await client.query<FailingRow>(
    `select id, task_identifier as task, attempts, max_attempts as "maxAttempts", last_error as "lastError",
            extract(epoch from now() - updated_at)::int as "sinceSeconds"
     from graphile_worker.jobs where last_error is not null and locked_at is null order by updated_at desc, id limit $1`,
    [LISTED],
  );
  print('');
  print('failures (a failed job waits for jobs:retry or jobs:cancel; a retrying one runs again by itself)');
  printTable(
    print,
    ['job', 'task', 'state', 'attempts', 'last failed', 'last error'],
    failing.map((r) => [
      r.id,
      r.task,
      r.attempts >= r.maxAttempts ? 'failed' : 'retrying',
      `${r.attempts}/${r.maxAttempts}`,
      `${duration(r.sinceSeconds)} ago`,
      oneLine(r.lastError),
    ]),
  );

  const { rows: locked } = await client.query<LockedRow>(
    `select id, task_identifier as task, locked_by as worker, extract(epoch from now() - locked_at)::int as "lockedSeconds", attempts, max_attempts as "maxAttempts"
     from graphile_worker.jobs where locked_at is not null order by locked_at, id limit $1`,
    [LISTED],
  );
  print('');
  print("locked (running; a dead worker's jobs stay locked until jobs:unlock --worker <worker>)");
  printTable(
    print,
    ['job', 'task', 'worker', 'locked for', 'attempt'],
    locked.map((r) => [r.id, r.task, r.worker, duration(r.lockedSeconds), `${r.attempts}/${r.maxAttempts}`]),
  );
}

/**
 * Runs the jobs again now, with their attempts counted from zero (a failed job, a retry waiting for
 * its backoff, a job scheduled later). All or nothing: an unknown or locked id changes nothing.
 */
export function retryJobs(client: Client, ids: string[], print: Print): Promise<number> {
  return allOrNothing(client, ids, print, {
    sql: 'select id from graphile_worker.reschedule_jobs($1::bigint[], run_at => now(), attempts => 0)',
    done: (id) => `job ${id} runs again now (attempts reset)`,
  });
}

/**
 * Removes the jobs from the queue: waiting, due or failed ones; they never run (again). All or
 * nothing: an unknown or locked id changes nothing. A running job cannot be cancelled.
 */
export function cancelJobs(client: Client, ids: string[], print: Print): Promise<number> {
  return allOrNothing(client, ids, print, {
    sql: 'select id from graphile_worker.complete_jobs($1::bigint[])',
    done: (id) => `job ${id} cancelled (removed from the queue)`,
  });
}

/**
 * Frees the jobs a dead worker still holds: they are due again at once, with
 * the attempt the crash cut short counted. Only for a worker that is gone: a live one would go on
 * running them while another worker starts them again.
 */
export async function unlockWorker(client: Client, workerId: string, print: Print): Promise<number> {
  const { rows } = await client.query<{ id: string }>('select id from graphile_worker.jobs where locked_by = $1 order by id', [workerId]);
  if (rows.length === 0) {
    print(`no job is locked by worker ${workerId} (jobs:list shows the locked jobs and their workers)`);
    return 1;
  }
  await client.query('select graphile_worker.force_unlock_workers(array[$1::text])', [workerId]);
  print(`unlocked ${rows.length} job(s) of worker ${workerId}: ${rows.map((r) => r.id).join(', ')}; due again now`);
  return 0;
}

/** A job id as the command line gives it: a positive whole number. */
export function isJobId(text: string): boolean {
  return /^[1-9]\d{0,18}$/.test(text);
}

/** How many failures and locked jobs jobs:list shows at most (the newest failures, the oldest locks). */
const LISTED = 50;

interface QueueRow {
  task: string;
  waiting: number;
  due: number;
  locked: number;
  failed: number;
  oldestDueSeconds: number | null;
}

interface FailingRow {
  id: string;
  task: string;
  attempts: number;
  maxAttempts: number;
  lastError: string;
  sinceSeconds: number;
}

interface LockedRow {
  id: string;
  task: string;
  worker: string;
  lockedSeconds: number;
  attempts: number;
  maxAttempts: number;
}

/**
 * Calls one of graphile-worker's admin functions on `ids` in a transaction, committed only if it
 * acted on every id; otherwise names each id it refused (unknown, or locked by which worker) and
 * rolls back. The function itself skips locked jobs, so a job taken meanwhile is refused too.
 */
async function allOrNothing(client: Client, ids: string[], print: Print, action: { sql: string; done: (id: string) => string }): Promise<number> {
  const wanted = [...new Set(ids)];
  await client.query('begin');
  try {
    const { rows } = await client.query<{ id: string }>(action.sql, [wanted]);
    const acted = new Set(rows.map((r) => r.id));
    const refused = wanted.filter((id) => !acted.has(id));
    if (refused.length > 0) {
      for (const line of await refusals(client, refused)) print(line);
      await client.query('rollback');
      print('nothing changed');
      return 1;
    }
    await client.query('commit');
    for (const id of wanted) print(action.done(id));
    return 0;
  } catch (error) {
    await client.query('rollback');
    throw error;
  }
}

async function refusals(client: Client, ids: string[]): Promise<string[]> {
  const { rows } = await client.query<{ id: string; worker: string | null; lockedSeconds: number | null }>(
    `select id, locked_by as worker, extract(epoch from now() - locked_at)::int as "lockedSeconds" from graphile_worker.jobs where id = any($1::bigint[])`,
    [ids],
  );
  const found = new Map(rows.map((r) => [r.id, r]));
  return ids.map((id) => {
    const job = found.get(id);
    if (!job) return `no job ${id} (finished, cancelled, or never there)`;
    return `job ${id} is locked by worker ${job.worker} since ${duration(job.lockedSeconds)} ago: it is running; if that worker is gone, jobs:unlock --worker ${job.worker} first`;
  });
}

function sum(rows: QueueRow[], key: 'waiting' | 'due' | 'locked' | 'failed'): number {
  return rows.reduce((total, row) => total + row[key], 0);
}

/** 75 → "1m15s"; null → "-". */
function duration(seconds: number | null): string {
  if (seconds === null) return '-';
  const s = Math.max(0, seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
}

/** An error as one short line (a stack or a multi-line message would break the table). */
function oneLine(text: string): string {
  const line = text.split('\n')[0]!.trim();
  return line.length > 120 ? `${line.slice(0, 119)}…` : line;
}

function printTable(print: Print, header: string[], rows: (string | number)[][]): void {
  if (rows.length === 0) {
    print('  (none)');
    return;
  }
  const cells = [header, ...rows.map((row) => row.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
  for (const row of cells) print(`  ${row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')}`.trimEnd());
}
