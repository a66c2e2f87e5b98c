// The hourly upkeep of one clinic, queued for each active clinic by clinics__upkeep_fan_out: what
// time alone moves (no-shows, visits left open at the end of the clinic's day, missed follow-ups)
// and the retention purge of its logs. The rules live in the worker-only SQL functions
// (migrations, section upkeep); this runs them in one transaction of the clinic, at the worker's
// clock. Each is idempotent and skips rows another worker holds, so a retry or a second run is safe.
import { sql } from 'kysely';
import { z } from 'zod';
import type { TenantDb } from '../../db/tenant.ts';
import { defineTenantTask } from '../task.ts';

/** Run in this order: an appointment just marked no_show lets its follow-up be missed in the same run. */
const STEPS = ['mark_no_shows', 'close_stale_visits', 'mark_missed_follow_ups'] as const;

/** A full purge batch (5,000 rows of each log) took 0.4–0.6 s here; a minute leaves room for a loaded database. */
const STATEMENT_TIMEOUT_MS = 60_000;

async function runSteps(db: TenantDb, at: Date): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const step of STEPS) {
    const { rows } = await sql<{ changed: number }>`select ${sql.raw(`app_hidden.${step}`)}(${at}) as changed`.execute(db);
    counts[step] = rows[0]!.changed;
  }
  const { rows } = await sql<{ auditLog: number; accessLog: number }>`select * from app_hidden.purge_expired_logs(${at})`.execute(db);
  return { ...counts, purged_audit_log: rows[0]!.auditLog, purged_access_log: rows[0]!.accessLog };
}

export const clinicsUpkeep = defineTenantTask({
  name: 'clinics__upkeep',
  payload: z.object({ clinicId: z.uuid() }),
  run: async (_payload, job) => {
    const counts = await job.withTenant((db) => runSteps(db, job.deps.now()), { statementTimeoutMs: STATEMENT_TIMEOUT_MS });
    job.deps.log('clinic upkeep done', { task: 'clinics__upkeep', jobId: job.id, ...counts });
  },
});
