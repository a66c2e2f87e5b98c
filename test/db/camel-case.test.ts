// The Kysely instance of withTenant presents the database in camelCase (CamelCasePlugin): the rule
// that docs/architecture.md states for queries.ts files, held here on a real database.
//  - builder queries name tables and columns in camelCase; the SQL sent names them in snake_case;
//  - raw `sql` is sent as written (so it names columns as the database does, in snake_case), and
//    its result rows come back with camelCase keys too;
//  - the keys inside a json/jsonb value are data and come back as stored.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import t from 'tap';
import { withTenant, type TenantContext } from '../../src/db/tenant.ts';
import { createClinics, createTestDatabase } from '../helpers/db.ts';

t.test('builder and raw queries through withTenant: camelCase in TypeScript, snake_case in SQL', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const admin: TenantContext = { clinicId: clinics.a, userId: randomUUID(), role: 'clinic_admin' };

  const inserted = await withTenant(db.pool, admin, (trx) =>
    trx
      .insertInto('appPublic.departments')
      .values({ code: 'CARD', name: 'Cardiology', isActive: false })
      .returning(['code', 'isActive', 'clinicId'])
      .executeTakeFirstOrThrow(),
  );
  t.same(inserted, { code: 'CARD', isActive: false, clinicId: clinics.a }, 'a builder insert names camelCase columns and returns camelCase keys');
  const { rows: stored } = await db.admin.query('select code, is_active from app_public.departments');
  t.same(stored, [{ code: 'CARD', is_active: false }], 'and wrote the snake_case column');

  const compiled = await withTenant(
    db.pool,
    admin,
    async (trx) => trx.selectFrom('appPublic.departments').select(['isActive', 'createdAt']).where('isActive', '=', false).compile().sql,
  );
  t.equal(compiled, 'select "is_active", "created_at" from "app_public"."departments" where "is_active" = $1', 'the SQL sent is snake_case');

  const raw = await withTenant(
    db.pool,
    admin,
    async (trx) => (await sql`select code, is_active, clinic_id as owning_clinic, name as "displayName" from app_public.departments`.execute(trx)).rows,
  );
  t.same(
    raw,
    [{ code: 'CARD', isActive: false, owningClinic: clinics.a, displayName: 'Cardiology' }],
    'raw sql: snake_case names and aliases come back camelCase, a camelCase alias as it is',
  );

  const referenced = await withTenant(
    db.pool,
    admin,
    async (trx) => (await sql<{ isActive: boolean }>`select ${sql.ref('isActive')} from ${sql.table('appPublic.departments')}`.execute(trx)).rows,
  );
  t.same(referenced, [{ isActive: false }], "sql.ref and sql.table are identifiers: snake_cased like the builder's");

  const json = await withTenant(db.pool, admin, (trx) =>
    trx
      .selectNoFrom([
        sql<object>`'{"opening_hours": {"mon_fri": [["09:00", "17:00"]]}}'::jsonb`.as('storedDocument'),
        sql<object>`jsonb_build_array(jsonb_build_object('row_key', 1))`.as('storedList'),
      ])
      .executeTakeFirstOrThrow(),
  );
  t.same(
    json,
    { storedDocument: { opening_hours: { mon_fri: [['09:00', '17:00']] } }, storedList: [{ row_key: 1 }] },
    'json values keep their keys: only column names are camelCased',
  );
});
