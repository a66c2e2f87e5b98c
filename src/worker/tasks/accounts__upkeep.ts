// Cron, hourly (src/worker/crontab.ts): removes the account secrets and lockouts nobody can use
// any more (expired invitations, password resets and refresh-token families, login-failure counts
// whose window and lock are over, ended-session stamps the blocked-access list no longer reads), a
// day after they expired. The rules are app_hidden.expire_account_secrets's (section upkeep).
import { sql } from 'kysely';
import { z } from 'zod';
import { defineSystemTask } from '../task.ts';

export const accountsUpkeep = defineSystemTask({
  name: 'accounts__upkeep',
  payload: z.object({}),
  run: async (_payload, job) => {
    const removed = await job.withSystem(
      async (db) =>
        (await sql<{ removed: Record<string, number> }>`select app_hidden.expire_account_secrets(${job.deps.now()}) as removed`.execute(db)).rows[0]!.removed,
    );
    job.deps.log('account upkeep done', { task: 'accounts__upkeep', jobId: job.id, ...removed });
  },
});
