// Isolation checks generated from the catalog: for every tenant table, what a clinic-A member
// (through withTenant, as the app does it) can see and change of clinic B, and what a
// context-free transaction can do. Each check returns violations instead of asserting, so the
// same checks prove the policies hold (no violations) and that loosening any policy is
// caught (some violation): see test/db/policy-mutation.test.ts. Every violation starts with the
// command it concerns ("delete: …"), so the mutation test can tell which policy a check caught.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { withTenant, type ClinicRole, type TenantContext, type TenantDb } from '../../src/db/tenant.ts';
import { actorIn, createActors, insertAsAdmin } from './actors.ts';
import type { TestDatabase } from './db.ts';
import { CHART_TABLES, insertChartRecord } from './chart-rows.ts';
import { FIXTURE_ACCOUNTS, FIXTURES, OWNERSHIP, USES_UP, VARIANTS, WRITTEN_BY_DATABASE, type FixtureRefs } from './fixtures.ts';
import { MATRIX, mayRun, PATIENT_READS_FINAL_ONLY, ROLES, type Command } from './matrix.ts';
import { ROW_RULES } from './row-rules.ts';

export interface TenantTable {
  schema: string;
  name: string;
  qualified: string;
  privileges: Set<Command>;
  /** Columns app_user may update. */
  updatable: string[];
  /** Composite references to other tenant tables: local columns besides clinic_id → target table. */
  references: { columns: string[]; targetColumns: string[]; target: string }[];
}

export interface Clinics {
  a: string;
  b: string;
}

/**
 * The fixture row of each table in each clinic, and for a table that app_user may delete from and
 * other fixtures reference, a second row per clinic that nothing references: the delete checks use
 * it, since deleting a referenced row fails (23503) whatever the policies say. The clinical tables
 * also have a `final` row per clinic (signed, issued, released: helpers/chart-rows.ts) of the
 * fixture patient: what the patient reads of PATIENT_READS_FINAL_ONLY (matrix.ts).
 */
export type Rows = Record<string, { a: string; b: string; unreferenced?: { a: string; b: string }; final?: { a: string; b: string } }>;

class Rollback {
  readonly value: unknown;
  constructor(value: unknown) {
    this.value = value;
  }
}

type Outcome = { ok: true; value: unknown } | { ok: false; code: string };

const accountPools = new WeakMap<TestDatabase, string[]>();
let accountCursor = 0;

/** References for fixtures of one clinic: rows of other tables, its actors, and accounts taken round-robin. */
export function fixtureRefs(db: TestDatabase, rows: Rows, clinics: Clinics, clinic: 'a' | 'b'): FixtureRefs {
  return {
    idOf: (table) => rows[table]![clinic],
    member: (role) => actorIn(db, clinics[clinic], role).member,
    freshAccount: () => {
      const pool = accountPools.get(db)!;
      return pool[accountCursor++ % pool.length]!;
    },
    operator: () => accountPools.get(db)![0]!,
  };
}

/** Clinic A's member in that role: whom the checks act as (helpers/actors.ts). */
const actor = (db: TestDatabase, clinics: Clinics, role: ClinicRole) => actorIn(db, clinics.a, role).account;

async function createFixtureAccounts(db: TestDatabase): Promise<void> {
  if (accountPools.has(db)) return;
  const { rows } = await db.admin.query<{ id: string }>(
    `insert into app_private.accounts (email, password_hash)
     select 'fixture-' || g || '@example.test', '$argon2id$v=19$fixture' from generate_series(1, $1::int) g returning id`,
    [FIXTURE_ACCOUNTS],
  );
  accountPools.set(
    db,
    rows.map((r) => r.id),
  );
  await db.admin.query('insert into app_private.platform_operators (account_id) values ($1)', [rows[0]!.id]);
}

/** Runs fn as the app does, then rolls everything back. */
async function attempt(db: TestDatabase, ctx: TenantContext, fn: (trx: TenantDb) => Promise<unknown>): Promise<Outcome> {
  try {
    await withTenant(db.pool, ctx, async (trx) => {
      throw new Rollback(await fn(trx));
    });
    return { ok: false, code: 'unreachable' };
  } catch (error) {
    if (error instanceof Rollback) return { ok: true, value: error.value };
    return { ok: false, code: (error as { code?: string }).code ?? String(error) };
  }
}

export async function tenantTables(db: TestDatabase): Promise<TenantTable[]> {
  const { rows } = await db.admin.query<{
    schema: string;
    name: string;
    privileges: Command[];
    updatable: string[];
    refs: { columns: string[]; targetColumns: string[]; target: string }[] | null;
  }>(`
    select n.nspname as schema, c.relname as name,
      array(select lower(p) from unnest(array['SELECT','INSERT','UPDATE','DELETE']) p
            where has_table_privilege('app_user', c.oid, p) or (p <> 'DELETE' and has_any_column_privilege('app_user', c.oid, p))) as privileges,
      array(select a.attname::text from pg_attribute a
            where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
              and a.attname <> 'clinic_id' and has_column_privilege('app_user', c.oid, a.attnum, 'UPDATE')) as updatable,
      (select json_agg(json_build_object(
          'columns', array(select a.attname from unnest(con.conkey) k join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k where a.attname <> 'clinic_id'),
          'targetColumns', array(select a.attname from unnest(con.confkey) k join pg_attribute a on a.attrelid = con.confrelid and a.attnum = k where a.attname <> 'clinic_id'),
          'target', con.confrelid::regclass::text))
       from pg_constraint con
       where con.conrelid = c.oid and con.contype = 'f'
         and exists (select 1 from pg_attribute a where a.attrelid = con.confrelid and a.attname = 'clinic_id')) as refs
    from pg_class c
    join pg_namespace n on n.oid = c.relnamespace
    where c.relkind in ('r', 'p') and n.nspname like 'app\\_%'
      and exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'clinic_id' and not a.attisdropped)
    order by 1, 2`);
  return rows.map((r) => ({
    schema: r.schema,
    name: r.name,
    qualified: `${r.schema}.${r.name}`,
    privileges: new Set(r.privileges),
    updatable: r.updatable,
    references: r.refs ?? [],
  }));
}

/**
 * Inserts one fixture row per table in each clinic, as superuser, in dependency order, and makes the
 * rows of OWNERSHIP their actor's own; then, for each table app_user may delete from whose rows other
 * fixtures reference, one more per clinic that nothing references (only then: a second row can break
 * a plan's limit, such as two doctors).
 */
export async function insertFixtureRows(db: TestDatabase, tables: TenantTable[], clinics: Clinics): Promise<Rows> {
  await createFixtureAccounts(db);
  await createActors(db, [clinics.a, clinics.b]);
  const rows: Rows = {};
  const byName = new Map(tables.map((t) => [t.qualified, t]));
  const inBothClinics = async (table: TenantTable) => {
    const inserted = { a: await insertFixtureRow(db, table, rows, clinics, 'a'), b: await insertFixtureRow(db, table, rows, clinics, 'b') };
    const usedUp = USES_UP[table.qualified];
    if (usedUp) rows[usedUp] = { ...rows[usedUp]!, ...(await inBothClinics(byName.get(usedUp)!)) };
    return inserted;
  };
  const pending = tables.filter((t) => FIXTURES[t.qualified]);
  while (pending.length > 0) {
    const index = pending.findIndex((t) => t.references.every((ref) => rows[ref.target] || ref.target === t.qualified));
    if (index < 0) throw new Error(`fixtures have a reference cycle: ${pending.map((t) => t.qualified).join(', ')}`);
    const [table] = pending.splice(index, 1) as [TenantTable];
    rows[table.qualified] = await inBothClinics(table);
    for (const [name, variant] of Object.entries(VARIANTS).filter(([name]) => name.startsWith(`${table.qualified}#`))) {
      rows[name] = await inBothClinics(table);
      for (const clinic of ['a', 'b'] as const) await db.admin.query(variant.afterwards, [rows[name]![clinic]]);
    }
  }
  for (const [table, owner] of Object.entries(OWNERSHIP)) {
    for (const clinic of ['a', 'b'] as const) {
      const values = owner(fixtureRefs(db, rows, clinics, clinic));
      await db.admin.query(
        `update ${table} set ${Object.keys(values)
          .map((c, i) => `"${c}" = $${i + 2}`)
          .join(', ')} where id = $1`,
        [rows[table]![clinic], ...Object.values(values)],
      );
    }
  }
  const referenced = new Set(tables.filter((t) => FIXTURES[t.qualified]).flatMap((t) => t.references.map((ref) => ref.target)));
  for (const table of tables.filter((t) => FIXTURES[t.qualified] && t.privileges.has('delete') && referenced.has(t.qualified))) {
    rows[table.qualified]!.unreferenced = await inBothClinics(table);
  }
  if (CHART_TABLES.every((table) => rows[table])) {
    const finalRecord = (clinic: 'a' | 'b') =>
      insertChartRecord(db, {
        clinicId: clinics[clinic],
        patientId: rows['app_public.patients']![clinic],
        doctorId: actorIn(db, clinics[clinic], 'doctor').member,
        visitId: rows['app_public.visits']![clinic],
        state: 'final',
      });
    const final = { a: await finalRecord('a'), b: await finalRecord('b') };
    for (const table of CHART_TABLES) rows[table]!.final = { a: final.a[table], b: final.b[table] };
    // The final consultation opened the fixture visit: the sweep's inserts take a fresh one (USES_UP).
    const visits = tables.find((t) => t.qualified === 'app_public.visits')!;
    rows['app_public.visits'] = {
      ...rows['app_public.visits']!,
      a: await insertFixtureRow(db, visits, rows, clinics, 'a'),
      b: await insertFixtureRow(db, visits, rows, clinics, 'b'),
    };
  }
  return rows;
}

function insertFixtureRow(db: TestDatabase, table: TenantTable, rows: Rows, clinics: Clinics, clinic: 'a' | 'b'): Promise<string> {
  return insertAsAdmin(db, clinics[clinic], table.qualified, FIXTURES[table.qualified]!(fixtureRefs(db, rows, clinics, clinic)));
}

/** The row of each clinic the delete checks use: one nothing references. */
export function deletable(rows: Rows, t: TenantTable): { a: string; b: string } {
  const { a, b, unreferenced } = rows[t.qualified]!;
  return unreferenced ?? { a, b };
}

const table = (t: TenantTable) => sql.table(t.qualified);

// No RETURNING: it would need the SELECT policy too, and so hide a loose INSERT policy on a
// table whose rows the role may not read.
function insertRow(t: TenantTable, values: Record<string, unknown>) {
  return (trx: TenantDb) =>
    sql`insert into ${table(t)} (${sql.join(Object.keys(values).map((c) => sql.ref(c)))})
        values (${sql.join(Object.values(values))})`.execute(trx);
}

const countWhere = (t: TenantTable, condition: ReturnType<typeof sql>) => (trx: TenantDb) =>
  sql<{ n: number }>`select count(*)::int as n from ${table(t)} where ${condition}`.execute(trx).then((r) => r.rows[0]!.n);

const touch = (t: TenantTable, id: string) => (trx: TenantDb) =>
  sql`update ${table(t)} set ${sql.ref(t.updatable[0]!)} = ${sql.ref(t.updatable[0]!)} where id = ${id}`
    .execute(trx)
    .then((r) => Number(r.numAffectedRows ?? 0));

const remove = (t: TenantTable, id: string) => (trx: TenantDb) =>
  sql`delete from ${table(t)} where id = ${id}`.execute(trx).then((r) => Number(r.numAffectedRows ?? 0));

/**
 * Cross-clinic and no-context checks for one table. `role` is the clinic role of the actor in
 * clinic A; by default, for each command, the first role of the matrix that may run it
 * (clinic_admin where it may), so that every granted command is checked.
 */
export async function isolationViolations(db: TestDatabase, t: TenantTable, clinics: Clinics, rows: Rows, role?: ClinicRole): Promise<string[]> {
  const violations: string[] = [];
  const roleFor = (command: Command): ClinicRole =>
    role ?? (MATRIX[t.qualified] ? ROLES.find((candidate) => mayRun(t.qualified, candidate, command)) : undefined) ?? 'clinic_admin';
  const asA = (command: Command): TenantContext => ({ clinicId: clinics.a, userId: actor(db, clinics, roleFor(command)), role: roleFor(command) });
  const noClinic = (command: Command): TenantContext => ({ ...asA(command), clinicId: null });
  const own = rows[t.qualified];
  const fixture = FIXTURES[t.qualified];
  const idsOf = (clinic: 'a' | 'b') => fixtureRefs(db, rows, clinics, clinic);

  if (t.privileges.size === 0) {
    const read = await attempt(db, asA('select'), countWhere(t, sql`true`));
    if (read.ok) violations.push('select: app_user can read a table it holds no grant on');
    return violations;
  }
  if (!own || !fixture) {
    return [`table: ${t.qualified} is a tenant table without a fixture in test/helpers/fixtures.ts`];
  }

  if (t.privileges.has('select')) {
    const foreign = await attempt(db, asA('select'), countWhere(t, sql`clinic_id <> ${clinics.a} or id = ${own.b}`));
    if (!foreign.ok || foreign.value !== 0) violations.push('select: clinic A sees rows of clinic B');
    const mine = await attempt(db, asA('select'), countWhere(t, sql`id = ${own.a}`));
    if (!mine.ok || mine.value !== 1) violations.push('select: clinic A cannot see its own row (the check would prove nothing)');
    const blind = await attempt(db, noClinic('select'), countWhere(t, sql`true`));
    if (!blind.ok || blind.value !== 0) violations.push('select: without a clinic in context, rows are visible');
  }

  if (t.privileges.has('insert')) {
    const intoB = await attempt(db, asA('insert'), insertRow(t, { ...fixture(idsOf('a')), clinic_id: clinics.b }));
    if (intoB.ok) violations.push('insert: clinic A inserted a row into clinic B');
    const intoA = await attempt(db, asA('insert'), insertRow(t, fixture(idsOf('a'))));
    if (!intoA.ok) violations.push(`insert: clinic A cannot insert its own row (${intoA.code}): the check would prove nothing`);
    const blind = await attempt(db, noClinic('insert'), insertRow(t, fixture(idsOf('a'))));
    if (blind.ok) violations.push('insert: without a clinic in context, an insert succeeded');
    for (const ref of t.references) {
      const foreignRef = Object.fromEntries(
        await Promise.all(ref.columns.map(async (c, i) => [c, await rowValue(db, rows, ref.target, 'b', ref.targetColumns[i]!)] as const)),
      );
      const pointing = await attempt(db, asA('insert'), insertRow(t, { ...fixture(idsOf('a')), ...foreignRef }));
      if (pointing.ok) violations.push(`insert: clinic A referenced clinic B's ${ref.target} row`);
    }
  }

  if (t.privileges.has('update') && t.updatable.length > 0) {
    const theirs = await attempt(db, asA('update'), touch(t, own.b));
    if (!theirs.ok || theirs.value !== 0)
      violations.push(theirs.ok ? 'update: clinic A updated a row of clinic B' : `update: updating B's row raised ${theirs.code} (must be invisible: 0 rows)`);
    const mine = await attempt(db, asA('update'), touch(t, own.a));
    if (!mine.ok || mine.value !== 1) violations.push('update: clinic A cannot update its own row (the check would prove nothing)');
    const move = await attempt(db, asA('update'), (trx) =>
      sql`update ${table(t)} set clinic_id = ${clinics.b} where id = ${own.a}`.execute(trx).then((r) => Number(r.numAffectedRows ?? 0)),
    );
    if (move.ok && move.value !== 0) violations.push('update: clinic A moved a row to clinic B');
    const blind = await attempt(db, noClinic('update'), touch(t, own.a));
    if (!blind.ok || blind.value !== 0)
      violations.push(
        blind.ok ? 'update: without a clinic in context, an update succeeded' : `update: context-free update raised ${blind.code} (expected 0 rows)`,
      );
  }

  if (t.privileges.has('delete')) {
    const toDelete = deletable(rows, t);
    const theirs = await attempt(db, asA('delete'), remove(t, toDelete.b));
    if (!theirs.ok || theirs.value !== 0)
      violations.push(theirs.ok ? 'delete: clinic A deleted a row of clinic B' : `delete: deleting B's row raised ${theirs.code} (must be invisible: 0 rows)`);
    const mine = await attempt(db, asA('delete'), remove(t, toDelete.a));
    if (!mine.ok || mine.value !== 1)
      violations.push(`delete: clinic A cannot delete its own row (${mine.ok ? `${mine.value} rows` : mine.code}): the check would prove nothing`);
    const blind = await attempt(db, noClinic('delete'), remove(t, toDelete.a));
    if (!blind.ok || blind.value !== 0) violations.push('delete: without a clinic in context, a delete succeeded');
  }
  return violations;
}

/** A column of a fixture row: its id, or (composite references such as (clinic_id, id, patient_id)) the column as stored. */
async function rowValue(db: TestDatabase, rows: Rows, table: string, clinic: 'a' | 'b', column: string): Promise<string> {
  if (column === 'id') return rows[table]![clinic];
  const { rows: found } = await db.admin.query<{ value: string }>(`select ${JSON.stringify(column)}::text as value from ${table} where id = $1`, [
    rows[table]![clinic],
  ]);
  return found[0]!.value;
}

/** What each clinic role may do in its own clinic, against the literal MATRIX (test/helpers/matrix.ts). */
export async function matrixViolations(db: TestDatabase, t: TenantTable, clinics: Clinics, rows: Rows): Promise<string[]> {
  if (!MATRIX[t.qualified]) return WRITTEN_BY_DATABASE.has(t.qualified) ? [] : [`table: ${t.qualified} has no entry in test/helpers/matrix.ts`];
  const violations: string[] = [];
  const own = rows[t.qualified]!;
  const fixture = FIXTURES[t.qualified]!;
  // A patient reads these rows once final only: the fixture row is a draft, so the patient's select is
  // checked on the final row (whether the draft stays hidden is a row rule).
  const finalOnly = PATIENT_READS_FINAL_ONLY.has(t.qualified);
  if (finalOnly && !own.final) return [`table: ${t.qualified} reads final rows only but has no final row (helpers/chart-rows.ts)`];
  for (const role of ROLES) {
    const ctx: TenantContext = { clinicId: clinics.a, userId: actor(db, clinics, role), role };
    const readable = finalOnly && role === 'patient' ? own.final!.a : own.a;
    const outcomes: Record<Command, Outcome> = {
      select: await attempt(db, ctx, countWhere(t, sql`id = ${readable}`)),
      insert: await attempt(db, ctx, insertRow(t, fixture(fixtureRefs(db, rows, clinics, 'a')))),
      update: await attempt(db, ctx, touch(t, own.a)),
      delete: await attempt(db, ctx, remove(t, deletable(rows, t).a)),
    };
    for (const command of ['select', 'insert', 'update', 'delete'] as const) {
      const outcome = outcomes[command];
      const succeeded = outcome.ok && (command === 'insert' || outcome.value === 1);
      const allowed = mayRun(t.qualified, role, command);
      if (succeeded !== allowed) {
        violations.push(`${command}: ${role} ${succeeded ? 'could' : 'could not'} ${command} (expected ${allowed ? 'allowed' : 'refused'})`);
      }
    }
  }
  return violations;
}

/** The tenant root: a member sees their own clinic only; without a context, none. */
export async function clinicsViolations(db: TestDatabase, clinics: Clinics): Promise<string[]> {
  const violations: string[] = [];
  const count = (trx: TenantDb) =>
    sql<{ own: number; other: number }>`select count(*) filter (where id = ${clinics.a})::int as own,
      count(*) filter (where id <> ${clinics.a})::int as other from app_public.clinics`
      .execute(trx)
      .then((r) => r.rows[0]!);
  const asA = await attempt(db, { clinicId: clinics.a, userId: randomUUID(), role: 'clinic_admin' }, count);
  if (!asA.ok) return [`select: clinic A cannot read app_public.clinics (${asA.code})`];
  const seen = asA.value as { own: number; other: number };
  if (seen.other !== 0) violations.push('select: clinic A sees other clinics');
  if (seen.own !== 1) violations.push('select: clinic A cannot see itself (the check would prove nothing)');
  const blind = await attempt(db, { clinicId: null, userId: null, role: null }, count);
  if (!blind.ok || (blind.value as { own: number; other: number }).other !== 0) violations.push('select: without a clinic in context, clinics are visible');
  return violations;
}

/** Every check of one tenant table: isolation, the role matrix, its row rules. */
export async function tableViolations(db: TestDatabase, t: TenantTable, clinics: Clinics, rows: Rows): Promise<string[]> {
  return [
    ...(await isolationViolations(db, t, clinics, rows)),
    ...(await matrixViolations(db, t, clinics, rows)),
    ...((await ROW_RULES[t.qualified]?.(db, clinics, rows)) ?? []),
  ];
}

/** Every check over every tenant table (and the tenant root), keyed by table. */
export async function allViolations(db: TestDatabase, tables: TenantTable[], clinics: Clinics, rows: Rows): Promise<Record<string, string[]>> {
  const result: Record<string, string[]> = { 'app_public.clinics': await clinicsViolations(db, clinics) };
  for (const t of tables) result[t.qualified] = await tableViolations(db, t, clinics, rows);
  return result;
}
