// What app_user cannot do even with SQL of its own choosing inside a request's transaction.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import t from 'tap';
import { withContext, withTenant, type TenantContext, type TenantDb } from '../../src/db/tenant.ts';
import { createClinics, createTestDatabase, sqlstateOf } from '../helpers/db.ts';

t.test('app_user cannot escape its role or its policies', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const asA: TenantContext = { clinicId: clinics.a, userId: randomUUID(), role: 'clinic_admin' };
  const inRequest = (statement: string) => withTenant(db.pool, asA, (trx) => sql.raw(statement).execute(trx));

  t.equal(await sqlstateOf(inRequest('set role app_owner')), '42501', 'cannot SET ROLE app_owner');
  t.equal(await sqlstateOf(inRequest("select set_config('role', 'app_owner', true)")), '42501', 'cannot set_config role app_owner');
  t.equal(await sqlstateOf(inRequest('alter table app_public.departments disable row level security')), '42501', 'cannot disable RLS');
  t.equal(await sqlstateOf(inRequest('alter table app_public.departments no force row level security')), '42501', 'cannot un-force RLS');
  t.equal(await sqlstateOf(inRequest('drop policy tenant_isolation on app_public.departments')), '42501', 'cannot drop a policy');
  t.equal(await sqlstateOf(inRequest('select app_private.tg_set_updated_at()')), '42501', 'cannot reach app_private');
  t.equal(await sqlstateOf(inRequest('create table app_public.mine (id int)')), '42501', 'cannot create tables');
  t.equal(await sqlstateOf(inRequest('select * from app_audit.audit_log')), '42501', 'cannot read the audit log directly');
  t.equal(await sqlstateOf(inRequest('update app_audit.audit_log set action = action')), '42501', 'cannot update the audit log');
  t.equal(await sqlstateOf(inRequest('delete from app_audit.audit_log')), '42501', 'cannot delete from the audit log');
  t.equal(await sqlstateOf(inRequest('truncate app_audit.audit_log')), '42501', 'cannot truncate the audit log');

  // RESET ROLE lands on app_authenticator, which holds no privileges on any table.
  t.equal(await sqlstateOf(inRequest('reset role; select * from app_public.departments')), '42601', 'stacked statements are refused');
  const stackedLater = withTenant(db.pool, asA, async (trx) => {
    await sql`update app_public.departments set name = name`.execute(trx);
    return sql.raw('reset role; select * from app_public.departments').execute(trx);
  });
  t.equal(await sqlstateOf(stackedLater), '42601', 'stacked statements are refused inside a transaction too');
  const afterReset = await sqlstateOf(
    withTenant(db.pool, asA, async (trx) => {
      await sql`reset role`.execute(trx);
      return sql`select * from app_public.departments`.execute(trx);
    }),
  );
  t.equal(afterReset, '42501', 'after RESET ROLE, tenant tables are unreadable');
  const asPlatform = await sqlstateOf(
    withTenant(db.pool, asA, async (trx) => {
      await sql`set local role app_platform`.execute(trx);
      return sql`select * from app_public.departments`.execute(trx);
    }),
  );
  t.equal(asPlatform, '42501', 'switching to app_platform reaches no tenant table');
});

t.test('the audit log is append-only even past RLS', async (t) => {
  const db = await createTestDatabase(t);
  await createClinics(db);
  // The owner has no UPDATE/DELETE policy (forced RLS): its changes reach no row at all.
  const owner = new (await import('pg')).default.Client({ connectionString: db.ownerUrl });
  await owner.connect();
  t.teardown(() => owner.end());
  t.equal((await owner.query('update app_audit.audit_log set action = action')).rowCount, 0, 'owner update reaches no row');
  t.equal((await owner.query('delete from app_audit.audit_log')).rowCount, 0, 'owner delete reaches no row');
  t.equal(await sqlstateOf(owner.query('truncate app_audit.audit_log')), 'CBAUD', 'owner truncate refused');
  // A superuser bypasses RLS; the append-only trigger still refuses.
  t.equal(await sqlstateOf(db.admin.query('update app_audit.audit_log set action = action')), 'CBAUD', 'superuser update refused');
  t.equal(await sqlstateOf(db.admin.query('delete from app_audit.audit_log')), 'CBAUD', 'superuser delete refused');
  const { rows } = await db.admin.query('select count(*)::int as n from app_audit.audit_log');
  t.same(rows, [{ n: 2 }], 'the two clinic inserts are still recorded');
});

t.test('platform operators see every clinic and no tenant table', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const withPlatform = <T>(fn: (trx: TenantDb) => Promise<T>) => withContext(db.pool, 'app_platform', { clinicId: null, userId: randomUUID(), role: null }, fn);
  const seen = await withPlatform((trx) => trx.selectFrom('appPublic.clinics').select('id').execute());
  t.same(seen.map((r) => r.id).sort(), [clinics.a, clinics.b].sort(), 'all clinics are visible');
  const updated = await withPlatform((trx) => trx.updateTable('appPublic.clinics').set({ status: 'suspended' }).where('id', '=', clinics.b).execute());
  t.equal(Number(updated[0]?.numUpdatedRows), 1, 'an operator can suspend a clinic');
  t.equal(await sqlstateOf(withPlatform((trx) => trx.selectFrom('appPublic.departments').selectAll().execute())), '42501', 'departments are out of reach');
  t.equal(await sqlstateOf(withPlatform((trx) => trx.deleteFrom('appPublic.clinics').execute())), '42501', 'clinics cannot be deleted');
});
