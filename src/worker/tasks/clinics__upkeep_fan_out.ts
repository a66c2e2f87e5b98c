// Cron, hourly (src/worker/crontab.ts): one clinics__upkeep job per active clinic, keyed by clinic
// and hour, so a backfill or a retry within the hour queues each clinic once.
import { sql } from 'kysely';
import { z } from 'zod';
import { defineSystemTask } from '../task.ts';

export const clinicsUpkeepFanOut = defineSystemTask({
  name: 'clinics__upkeep_fan_out',
  payload: z.object({}),
  run: async (_payload, job) => {
    const queued = await job.withSystem(
      async (db) => (await sql<{ queued: number }>`select app_hidden.fan_out_clinic_upkeep(${job.deps.now()}) as queued`.execute(db)).rows[0]!.queued,
    );
    job.deps.log('clinic upkeep queued', { task: 'clinics__upkeep_fan_out', jobId: job.id, clinics: queued });
  },
});
