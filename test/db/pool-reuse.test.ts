// A pooled connection carries nothing from one request into the next: not the clinic, not the
// user, not the role, also when the first request failed in the middle of its transaction.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import t from 'tap';
import { createPool } from '../../src/db/pool.ts';
import { withTenant, type TenantContext, type TenantDb } from '../../src/db/tenant.ts';
import { createClinics, createTestDatabase } from '../helpers/db.ts';

const SESSION = sql<{ pid: number; role: string; clinic: string | null; userId: string | null; appRole: string | null; visible: number }>`
  select pg_backend_pid() as pid, current_user as role,
         app_public.current_clinic_id()::text as clinic, app_public.current_user_id()::text as user_id,
         app_public.current_app_role() as app_role,
         (select count(*)::int from app_public.departments) as visible`;

t.test('nothing leaks through a reused connection', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  await db.admin.query(`insert into app_public.departments (clinic_id, code, name) values ($1, 'A1', 'A one')`, [clinics.a]);
  const pool = createPool({ url: db.authenticatorUrl, size: 1 });
  t.teardown(() => pool.end());
  const asA: TenantContext = { clinicId: clinics.a, userId: randomUUID(), role: 'doctor', requestId: 'req-a' };
  const nobody: TenantContext = { clinicId: null, userId: null, role: null };
  const read = (trx: TenantDb) => SESSION.execute(trx).then((r) => r.rows[0]!);

  const first = await withTenant(pool, asA, read);
  t.match(first, { role: 'app_user', clinic: clinics.a, appRole: 'doctor', visible: 1 }, 'the request sees its context');

  const outside = (await pool.query('select pg_backend_pid() as pid, current_user as role, current_setting($1, true) as clinic', ['app.clinic_id'])).rows[0];
  t.same(outside, { pid: first.pid, role: 'app_authenticator', clinic: '' }, 'after commit the connection is bare again');

  const next = await withTenant(pool, nobody, read);
  t.same(next, { pid: first.pid, role: 'app_user', clinic: null, userId: null, appRole: null, visible: 0 }, 'next request on the same connection sees nothing');

  await t.rejects(
    withTenant(pool, asA, async (trx) => {
      await read(trx);
      throw new Error('handler failed mid-transaction');
    }),
    /handler failed/,
  );
  t.same(await withTenant(pool, nobody, read), { ...next }, 'after a thrown handler: nothing carried over');

  await t.rejects(
    withTenant(pool, asA, async (trx) => {
      await read(trx);
      await sql`select 1 / 0`.execute(trx);
    }),
    { code: '22012' },
  );
  t.same(await withTenant(pool, nobody, read), { ...next }, 'after a failed statement: nothing carried over');

  await t.rejects(
    withTenant(pool, asA, async (trx) => {
      await sql`select 1 / 0`.execute(trx).catch(() => 'swallowed');
      return read(trx);
    }),
  );
  t.same(await withTenant(pool, nobody, read), { ...next }, 'after a swallowed error: nothing carried over');
});

t.test('an invalid context is refused before any SQL is sent', async (t) => {
  const db = await createTestDatabase(t);
  await t.rejects(
    withTenant(db.pool, { clinicId: "x'; drop table app_public.clinics; --", userId: null, role: null }, read0),
    /invalid tenant context: clinicId/,
  );
  await t.rejects(withTenant(db.pool, { clinicId: null, userId: null, role: 'superuser' as never }, read0), /invalid tenant context: role/);
  const { rows } = await db.admin.query('select count(*)::int as n from app_public.clinics');
  t.same(rows, [{ n: 0 }], 'nothing happened');
});

const read0 = (trx: TenantDb) => sql`select 1`.execute(trx);
