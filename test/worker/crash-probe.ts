// Preloaded into `node src/worker/main.ts` by crash.test.ts (`node --import <this> src/worker/main.ts`):
// the real worker process, with one more task that stops deterministically mid-way. Not a test file.
//
// test__crash_probe, per run: (1) records `<probeKey>:before` and commits; (2) in a second
// transaction waits for the advisory lock CRASH_GATE (which the test holds), then records
// `<probeKey>:after`. Records are idempotent by key (the first attempt's stays), as every task's
// effects must be: a job may run again after a crash (at-least-once).
import { sql } from 'kysely';
import { z } from 'zod';
import { defineTenantTask, type TaskDefinition } from '../../src/worker/task.ts';
import { TASKS } from '../../src/worker/tasks/index.ts';

export const CRASH_GATE = 912_412;
export const CRASH_PROBE_TASK = 'test__crash_probe';

/** Long enough for the test to kill the process while the task waits (the defaults would give up after 2 s). */
const WAIT_FOR_GATE = { lockTimeoutMs: 300_000, statementTimeoutMs: 300_000 };

const crashProbe = defineTenantTask({
  name: CRASH_PROBE_TASK,
  payload: z.object({ clinicId: z.uuid(), probeKey: z.string().min(1) }),
  run: async ({ probeKey }, job) => {
    job.deps.log('crash probe running', { jobId: job.id, attempt: job.attempts });
    await job.withTenant((db) => sql`select app_hidden.crash_probe_record(${`${probeKey}:before`}, ${job.attempts})`.execute(db));
    await job.withTenant(async (db) => {
      await sql`select pg_advisory_xact_lock(${CRASH_GATE}::bigint)`.execute(db);
      await sql`select app_hidden.crash_probe_record(${`${probeKey}:after`}, ${job.attempts})`.execute(db);
    }, WAIT_FOR_GATE);
  },
});

(TASKS as TaskDefinition[]).push(crashProbe);
