// The hourly upkeep of one clinic, queued for each active clinic by clinics__upkeep_fan_out: what
// time alone moves (no-shows, visits left open at the end of the clinic's day, missed follow-ups)
// and the retention purge of its logs. The rules live in the worker-only SQL functions
// (migrations, section upkeep); this runs them in one transaction of the clinic, at the worker's
// clock. Each is idempotent and skips rows another worker holds, so a retry or a second run is safe.
// A purge batch is bounded (5,000 rows of each log); when one was full the job queues itself again
// at once, so a clinic's backlog is purged by short runs without waiting for the next hour.
import { sql } from 'kysely';
import { z } from 'zod';
import type { TenantDb } from '../../db/tenant.ts';
import { defineTenantTask } from '../task.ts';

/** Run in this order: an appointment just marked no_show lets its follow-up be missed in the same run. */
const STEPS = ['mark_no_shows', 'close_stale_visits', 'mark_missed_follow_ups'] as const;

/** A full purge batch (5,000 rows of each log) took about 0.6 s here (20,000 expired rows of each log in two clinics); a minute leaves room for a loaded database. */
const STATEMENT_TIMEOUT_MS = 60_000;

interface UpkeepCounts extends Record<string, number | boolean> {
  /** A purge batch was full: expired rows may remain. */
  purge_more: boolean;
}

async function runSteps(db: TenantDb, at: Date): Promise<UpkeepCounts> {
  const counts: Record<string, number> = {};
  for (const step of STEPS) {
    const { rows } = await sql<{ changed: number }>`select ${sql.raw(`app_hidden.${step}`)}(${at}) as changed`.execute(db);
    counts[step] = rows[0]!.changed;
  }
  const { rows } = await sql<{ auditLog: number; accessLog: number; more: boolean }>`select * from app_hidden.purge_expired_logs(${at})`.execute(db);
  const purge = rows[0]!;
  return { ...counts, purged_audit_log: purge.auditLog, purged_access_log: purge.accessLog, purge_more: purge.more };
}

export const clinicsUpkeep = defineTenantTask({
  name: 'clinics__upkeep',
  payload: z.object({ clinicId: z.uuid() }),
  run: async ({ clinicId }, job) => {
    const counts = await job.withTenant((db) => runSteps(db, job.deps.now()), { statementTimeoutMs: STATEMENT_TIMEOUT_MS });
    job.deps.log('clinic upkeep done', { task: 'clinics__upkeep', jobId: job.id, ...counts });
    if (counts.purge_more) {
      // The same key: a fan-out or retry meanwhile still makes one job. Due at once, it queues
      // behind jobs already due (graphile-worker takes the oldest run_at first).
      await job.addJob('clinics__upkeep', { clinicId }, { jobKey: job.key ?? undefined });
    }
  },
});
