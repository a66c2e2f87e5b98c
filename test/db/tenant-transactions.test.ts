// withTenant's transaction shapes: reads before any write run as read-only implicit
// transactions, the first write opens the transaction every later statement joins; a write
// hidden behind a SELECT is still transactional; prepared statements survive migrations.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import t from 'tap';
import { createPool } from '../../src/db/pool.ts';
import { withTenant, type TenantContext, type TenantDb } from '../../src/db/tenant.ts';
import { createClinics, createTestDatabase } from '../helpers/db.ts';

t.test('transaction shapes', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const admin: TenantContext = { clinicId: clinics.a, userId: randomUUID(), role: 'clinic_admin' };
  const count = async () => (await db.admin.query('select count(*)::int as n from app_public.departments')).rows[0].n as number;

  const shapes = await withTenant(db.pool, admin, async (trx) => {
    const readOnly = () => trx.selectNoFrom(sql<string>`current_setting('transaction_read_only')`.as('ro')).executeTakeFirstOrThrow();
    const before = await readOnly();
    await trx.insertInto('app_public.departments').values({ code: 'W1', name: 'Written' }).execute();
    const after = await readOnly();
    return { before: before.ro, after: after.ro };
  });
  t.same(shapes, { before: 'on', after: 'off' }, 'reads before the first write are read-only; the write opens a read-write transaction');

  await t.rejects(
    withTenant(db.pool, admin, async (trx) => {
      await trx.selectFrom('app_public.departments').selectAll().execute();
      await trx.insertInto('app_public.departments').values({ code: 'W2', name: 'Rolled back' }).execute();
      await trx.insertInto('app_public.departments').values({ code: 'W3', name: 'Rolled back too' }).execute();
      throw new Error('handler failed after writing');
    }),
    /handler failed/,
  );
  t.equal(await count(), 1, 'a read, two writes, then a throw: both writes rolled back');

  await db.admin.query(`
    create function app_public.write_behind_select() returns int language sql volatile
      as $$ insert into app_public.departments (code, name) values ('HIDDEN', 'Hidden write') returning 1 $$;
    grant execute on function app_public.write_behind_select() to app_user`);
  await t.rejects(
    withTenant(db.pool, admin, async (trx) => {
      await trx.selectNoFrom(sql<number>`app_public.write_behind_select()`.as('n')).execute();
      throw new Error('handler failed after a select that wrote');
    }),
    /select that wrote/,
  );
  t.equal(await count(), 1, 'a write inside a SELECT is refused read-only, re-run in the transaction and rolled back');
  const kept = await withTenant(db.pool, admin, (trx) => trx.selectNoFrom(sql<number>`app_public.write_behind_select()`.as('n')).executeTakeFirst());
  t.same(kept, { n: 1 });
  t.equal(await count(), 2, 'and committed when the handler succeeds');
});

t.test('prepared statements survive a migration that changes a table', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const pool = createPool({ url: db.authenticatorUrl, size: 1 });
  t.teardown(() => pool.end());
  const ctx: TenantContext = { clinicId: clinics.a, userId: null, role: 'doctor' };
  const readAll = () => withTenant(pool, ctx, (trx) => trx.selectFrom('app_public.departments').selectAll().execute());
  await readAll();
  await readAll();
  await db.admin.query('alter table app_public.departments add column floor int');
  t.same(await readAll(), [], 'the first read after the change is re-sent and works');
  t.same(await readAll(), [], 'and so does the next, on a fresh connection');
  const writeAfterMigration = withTenant(pool, { ...ctx, role: 'clinic_admin' }, async (trx) => {
    await trx.insertInto('app_public.departments').values({ code: 'X', name: 'X' }).execute();
    return trx.selectFrom('app_public.departments').selectAll().execute();
  });
  t.equal((await writeAfterMigration).length, 1, 'statements inside a transaction are prepared afresh on the new connection');
});

t.test('a read-only context (support access) cannot write, whatever the code does', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const support: TenantContext = { clinicId: clinics.a, userId: randomUUID(), role: 'clinic_admin', readOnly: true };
  const seen = await withTenant(db.pool, support, (trx) => trx.selectFrom('app_public.departments').select('id').execute());
  t.same(seen, [], 'it reads');
  await t.rejects(
    withTenant(db.pool, support, (trx) => trx.insertInto('app_public.departments').values({ code: 'RO', name: 'Refused' }).execute()),
    { code: '25006' },
    'a write as the first statement is refused by Postgres',
  );
  await t.rejects(
    withTenant(db.pool, support, async (trx) => {
      await sql`select app_public.current_clinic_id()`.execute(trx);
      await trx.updateTable('app_public.departments').set({ name: 'x' }).execute();
    }),
    { code: '25006' },
    'so is one after raw SQL opened the transaction',
  );
  await t.rejects(
    withTenant(db.pool, support, (trx) => sql`set transaction read write`.execute(trx)),
    { code: '25001' },
    'and the mode cannot be switched back inside the transaction',
  );
  const { rows } = await db.admin.query('select count(*)::int as n from app_public.departments');
  t.equal(rows[0].n, 0, 'nothing was written');
});

t.test('prepared statements off: every message stands alone, nothing named stays on the server connection', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const pool = createPool({ url: db.authenticatorUrl, size: 1 });
  t.teardown(() => pool.end());
  const admin: TenantContext = { clinicId: clinics.a, userId: randomUUID(), role: 'clinic_admin' };
  const work = async (trx: TenantDb) => {
    const before = await trx.selectFrom('app_public.departments').select('code').execute();
    await trx.insertInto('app_public.departments').values({ code: `P${before.length}`, name: `Department ${before.length}` }).execute();
    return trx.selectFrom('app_public.departments').select('code').orderBy('code').execute();
  };
  const named = async () => (await pool.query('select name from pg_prepared_statements order by name')).rows.map((r) => r.name as string);

  t.same(await withTenant(pool, admin, work, { preparedStatements: false }), [{ code: 'P0' }], 'reads and writes work unprepared');
  t.same(await named(), [], 'no named statement on the connection: a transaction-mode pooler may hand it to anyone');
  t.same(await withTenant(pool, admin, work), [{ code: 'P0' }, { code: 'P1' }], 'and prepared, the default');
  const prepared = await named();
  t.same(prepared.filter((name) => !name.startsWith('cb_')), ['clinicbase_begin', 'clinicbase_context'], 'which prepares the context statements');
  t.equal(prepared.filter((name) => name.startsWith('cb_')).length, 3, 'and each Kysely statement on the connection');
});
