// Plan quotas (app_private.tg_enforce_plan_quota): on a table of its own, a row count against
// max_patients and a sum of sizes against max_storage_mb; then on the tables that attach them,
// patients and files. Over the limit: CBQTA (409), nothing written; other clinics unaffected.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import t from 'tap';
import { fromDatabaseError } from '../../src/errors.ts';
import { withTenant, type TenantContext, type TenantDb } from '../../src/db/tenant.ts';
import { actorIn, createActors } from '../helpers/actors.ts';
import { createClinics, createTestDatabase, type TestDatabase } from '../helpers/db.ts';

/** A tenant table as a migration would make it (owned by app_owner), with the quota triggers attached. */
async function createQuotaTable(db: TestDatabase, { storage }: { storage: boolean }): Promise<void> {
  await db.admin.query(`
    begin;
    set local role app_owner;
    create table app_public.quota_records (
      clinic_id uuid not null default app_public.current_clinic_id() references app_public.clinics (id),
      id uuid not null default gen_random_uuid(),
      size_bytes bigint not null default 0,
      primary key (clinic_id, id)
    );
    alter table app_public.quota_records enable row level security;
    alter table app_public.quota_records force row level security;
    create policy own_clinic on app_public.quota_records to app_user
      using (clinic_id = (select app_public.current_clinic_id())) with check (clinic_id = (select app_public.current_clinic_id()));
    create policy read_by_definer_functions on app_public.quota_records for select to app_owner using (true);
    grant select, insert, update (size_bytes) on app_public.quota_records to app_user;
    create trigger _150_count_quota before insert on app_public.quota_records
      for each row execute function app_private.tg_enforce_plan_quota('max_patients');
    ${
      storage
        ? `create trigger _151_storage_quota before insert or update of size_bytes on app_public.quota_records
      for each row execute function app_private.tg_enforce_plan_quota('max_storage_mb', 'size_bytes');`
        : ''
    }
    commit;`);
}

t.test('row and storage quotas from the clinic plan', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  await createQuotaTable(db, { storage: true });
  await db.admin.query(`
    insert into app_private.plans (code, name, max_patients, max_storage_mb) values ('tiny', 'Tiny', 3, 1);`);
  await db.admin.query(`update app_public.clinics set plan = 'tiny' where id = $1`, [clinics.a]);
  const asA: TenantContext = { clinicId: clinics.a, userId: randomUUID(), role: 'receptionist' };
  const asB: TenantContext = { clinicId: clinics.b, userId: randomUUID(), role: 'receptionist' };
  const insert = (ctx: TenantContext, sizes: number[]) =>
    withTenant(db.pool, ctx, async (trx) => {
      for (const size of sizes) await sql`insert into app_public.quota_records (size_bytes) values (${size})`.execute(trx);
    });
  const rowsOf = async (clinicId: string) =>
    (await db.admin.query('select count(*)::int as n from app_public.quota_records where clinic_id = $1', [clinicId])).rows[0].n as number;
  const MB = 1024 * 1024;

  await insert(asA, [MB / 2, MB / 4]);
  await t.rejects(insert(asA, [MB / 4 + 1]), { code: 'CBQTA' }, 'one byte over the storage limit is refused');
  await insert(asA, [MB / 4]);
  t.equal(await rowsOf(clinics.a), 3, 'exactly the storage limit fits');
  const overCount = await insert(asA, [0]).catch((error: unknown) => error);
  t.match(overCount, { code: 'CBQTA' }, 'the fourth row is over max_patients');
  t.match(fromDatabaseError(overCount), { status: 409, code: 'CONFLICT', message: /plan limit/ }, 'and reaches the API as a clear 409');
  await t.rejects(
    withTenant(db.pool, asA, (trx) => sql`update app_public.quota_records set size_bytes = size_bytes + 1`.execute(trx)),
    { code: 'CBQTA' },
    'growing a stored size counts too',
  );
  t.equal(await rowsOf(clinics.a), 3, 'nothing over the limit was written');

  await insert(asB, [0, 0, 0, 0, 5 * MB]);
  t.equal(await rowsOf(clinics.b), 5, "another clinic's plan (trial: 100 patients, 1 GB) is its own");
  await db.admin.query(`update app_public.clinics set plan = 'enterprise' where id = $1`, [clinics.a]);
  await insert(asA, [10 * MB]);
  t.equal(await rowsOf(clinics.a), 4, 'an unlimited plan has no quota');
});

t.test('concurrent inserts cannot both take the last unit', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  await createQuotaTable(db, { storage: false });
  await db.admin.query(`
    insert into app_private.plans (code, name, max_patients) values ('one', 'One', 1);`);
  await db.admin.query(`update app_public.clinics set plan = 'one' where id = $1`, [clinics.a]);
  const ctx: TenantContext = { clinicId: clinics.a, userId: randomUUID(), role: 'receptionist' };
  const insert = (trx: TenantDb) => sql`insert into app_public.quota_records default values`.execute(trx);
  const waiting = async () =>
    (
      await db.admin.query(`select count(*)::int as n from pg_locks where locktype = 'advisory' and not granted
      and database = (select oid from pg_database where datname = current_database())`)
    ).rows[0].n as number;
  let second: Promise<unknown> | undefined;
  let secondWaited = false;
  // The first insert holds its transaction open until the second is queued behind its lock.
  await withTenant(db.pool, ctx, async (trx) => {
    await insert(trx);
    second = withTenant(db.pool, ctx, insert).then(
      () => 'inserted',
      (error: { code?: string }) => error.code,
    );
    for (let i = 0; i < 100 && !secondWaited; i++) {
      secondWaited = (await waiting()) === 1;
      if (!secondWaited) await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });
  t.ok(secondWaited, "the second insert waited for the first one's lock");
  t.equal(await second, 'CBQTA', 'and, once the first committed, was refused');
  const { rows } = await db.admin.query('select count(*)::int as n from app_public.quota_records');
  t.equal(rows[0].n, 1, 'one row, as the plan allows');
});

t.test("a table without the owner's read policy cannot use a quota (it would never bite)", async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  await createQuotaTable(db, { storage: false });
  await db.admin.query('drop policy read_by_definer_functions on app_public.quota_records');
  const ctx: TenantContext = { clinicId: clinics.a, userId: randomUUID(), role: 'receptionist' };
  await t.rejects(
    withTenant(db.pool, ctx, (trx) => sql`insert into app_public.quota_records default values`.execute(trx)),
    { code: '55000', message: /no read policy for app_owner/ },
  );
});

t.test("patients count against the plan's max_patients, and a refused registration uses no number", async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  await createActors(db, [clinics.a]);
  await db.admin.query(`insert into app_private.plans (code, name, max_patients) values ('two', 'Two', 2)`);
  await db.admin.query(`update app_public.clinics set plan = 'two' where id = $1`, [clinics.a]);
  const ctx: TenantContext = { clinicId: clinics.a, userId: actorIn(db, clinics.a, 'receptionist').account, role: 'receptionist' };
  const register = () =>
    withTenant(db.pool, ctx, (trx) =>
      sql<{ number: string }>`insert into app_public.patients (full_name, date_of_birth, sex) values ('Quota Patient', '1988-08-08', 'female')
        returning patient_number as number`
        .execute(trx)
        .then((r) => r.rows[0]!.number),
    );
  await register();
  await register();
  const third = await register().catch((error: unknown) => error);
  t.match(third, { code: 'CBQTA' }, 'the third patient is over the plan');
  t.match(fromDatabaseError(third), { status: 409, code: 'CONFLICT' }, 'a 409');
  const { rows } = await db.admin.query('select count(*)::int as n from app_public.patients');
  t.equal(rows[0].n, 2, 'nothing was written');
  await db.admin.query(`update app_public.clinics set plan = 'enterprise' where id = $1`, [clinics.a]);
  t.match(await register(), /-00003$/, 'after an upgrade the next number is 3: the refused one used none');
});

t.test("files count their sizes against the plan's max_storage_mb", async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  await createActors(db, [clinics.a]);
  await db.admin.query(`insert into app_private.plans (code, name, max_storage_mb) values ('one_mb', 'One MB', 1)`);
  await db.admin.query(`update app_public.clinics set plan = 'one_mb' where id = $1`, [clinics.a]);
  const { rows: patients } = await db.admin.query<{ id: string }>(
    `insert into app_public.patients (clinic_id, full_name, date_of_birth, sex) values ($1, 'File Owner', '1970-07-07', 'male') returning id`,
    [clinics.a],
  );
  const ctx: TenantContext = { clinicId: clinics.a, userId: actorIn(db, clinics.a, 'nurse').account, role: 'nurse' };
  const upload = (size: number) =>
    withTenant(db.pool, ctx, (trx) =>
      sql`insert into app_public.files (patient_id, category, original_name, content_type, size_bytes, sha256)
        values (${patients[0]!.id}, 'report', 'scan.png', 'image/png', ${size}, ${'b'.repeat(64)})`.execute(trx),
    );
  const MB = 1024 * 1024;
  await upload(MB / 2);
  await t.rejects(upload(MB / 2 + 1), { code: 'CBQTA' }, 'one byte over the storage limit is refused');
  await upload(MB / 2);
  const { rows } = await db.admin.query('select count(*)::int as n, sum(size_bytes)::int as bytes from app_public.files');
  t.same(rows[0], { n: 2, bytes: MB }, 'exactly the limit fits, and the refused file left no row');
});
