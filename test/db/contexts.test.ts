// The named contexts of calls that belong to no clinic (src/db/contexts.ts): what Postgres sees
// in each, through the real withContext and pool.
import { sql } from 'kysely';
import t from 'tap';
import { withAccount, withAnonymous, type ContextRunner } from '../../src/db/contexts.ts';
import { withContext, type TenantDb } from '../../src/db/tenant.ts';
import { createTestDatabase } from '../helpers/db.ts';

const CALLER = { requestId: 'req-7', clientIp: '2001:db8::1' };
const ACCOUNT = '5f0c2f8e-8a9b-4c1d-9e2f-3a4b5c6d7e8f';

async function seen(db: TenantDb) {
  const { rows } = await sql<Record<string, string | null>>`
    select app_public.current_clinic_id() as clinic, app_public.current_user_id() as "user", app_public.current_app_role() as role,
           nullif(current_setting('app.request_id', true), '') as request, nullif(current_setting('app.client_ip', true), '') as ip,
           current_user as db_role`.execute(db);
  return rows[0];
}

t.test('anonymous and account contexts', async (t) => {
  const db = await createTestDatabase(t);
  const run: ContextRunner = (ctx, fn) => withContext(db.pool, 'app_user', ctx, fn);

  t.same(
    await withAnonymous(run, CALLER, seen),
    { clinic: null, user: null, role: null, request: 'req-7', ip: '2001:db8::1', dbRole: 'app_user' },
    'anonymous: nobody, in no clinic, on behalf of the caller',
  );
  t.same(
    await withAnonymous(run, null, seen),
    { clinic: null, user: null, role: null, request: null, ip: null, dbRole: 'app_user' },
    'anonymous without a caller: the process itself',
  );
  t.same(
    await withAccount(run, CALLER, ACCOUNT, seen),
    { clinic: null, user: ACCOUNT, role: null, request: 'req-7', ip: '2001:db8::1', dbRole: 'app_user' },
    'account: that user, still in no clinic and with no role',
  );

  const platform: ContextRunner = (ctx, fn) => withContext(db.pool, 'app_platform', ctx, fn);
  t.match(await withAnonymous(platform, null, seen), { clinic: null, user: null, dbRole: 'app_platform' }, 'the runner decides the role');
});
