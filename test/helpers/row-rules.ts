// Policies that decide per row, not per command: which rows of its own clinic a role sees.
// Part of tableViolations(), so the mutation test also proves these policies are tested. Like
// every violation, each message starts with the command whose policy it concerns.
import { sql } from 'kysely';
import { withTenant, type ClinicRole, type TenantDb } from '../../src/db/tenant.ts';
import { actorIn, insertAsAdmin } from './actors.ts';
import { type ChartRecord, insertChartRecord } from './chart-rows.ts';
import type { TestDatabase } from './db.ts';
import { FIXTURES } from './fixtures.ts';
import { PATIENT_READS_FINAL_ONLY } from './matrix.ts';

type Clinics = { a: string; b: string };
/** The fixture rows of each table (helpers/isolation.ts); the clinical tables' final rows too. */
type FixtureRows = Record<string, { a: string; b: string; final?: { a: string; b: string } }>;
type RowRule = (db: TestDatabase, clinics: Clinics, rows: FixtureRows) => Promise<string[]>;

const seeded = new WeakMap<TestDatabase, { patient: string; otherPatient: string }>();

async function seedPatients(db: TestDatabase, clinicId: string) {
  const known = seeded.get(db);
  if (known) return known;
  const { rows } = await db.admin.query<{ id: string }>(
    `insert into app_private.accounts (email, password_hash)
     values ('patient-one@example.test', '$argon2id$rule'), ('patient-two@example.test', '$argon2id$rule') returning id`,
  );
  const [patient, otherPatient] = rows.map((r) => r.id) as [string, string];
  await db.admin.query(
    `insert into app_public.clinic_members (clinic_id, account_id, role, display_name)
     values ($1, $2, 'patient', 'Patient One'), ($1, $3, 'patient', 'Patient Two')`,
    [clinicId, patient, otherPatient],
  );
  const ids = { patient, otherPatient };
  seeded.set(db, ids);
  return ids;
}

const visibleRoles = (trx: TenantDb) =>
  sql<{ role: string; own: boolean }>`select role, account_id = app_public.current_user_id() as own from app_public.clinic_members`
    .execute(trx)
    .then((r) => r.rows);

/** Revoking again would rewrite who revoked it and when: it must change nothing. */
const revokeAgain = (grantId: string) => (trx: TenantDb) =>
  sql`update app_public.support_access_grants set revoked_at = now() where id = ${grantId}`.execute(trx).then((r) => Number(r.numAffectedRows ?? 0));

class Rollback {
  readonly value: unknown;
  constructor(value: unknown) {
    this.value = value;
  }
}

/** Runs fn as clinic A's actor in that role and rolls it back: its result, or the SQLSTATE that refused it. */
async function asActor(db: TestDatabase, clinics: Clinics, role: ClinicRole, fn: (trx: TenantDb) => Promise<unknown>): Promise<unknown> {
  try {
    await withTenant(db.pool, { clinicId: clinics.a, userId: actorIn(db, clinics.a, role).account, role }, async (trx) => {
      throw new Rollback(await fn(trx));
    });
  } catch (error) {
    if (error instanceof Rollback) return error.value;
    return (error as { code?: string }).code ?? String(error);
  }
}

const affected = (result: { numAffectedRows?: bigint }) => Number(result.numAffectedRows ?? 0);

/** The patient-owned tables, with the column naming the patient. */
const PATIENT_COLUMN: Record<string, string> = {
  'app_public.patients': 'id',
  'app_public.patient_history': 'patient_id',
  'app_public.appointments': 'patient_id',
  'app_public.visits': 'patient_id',
  'app_public.files': 'patient_id',
  'app_public.patient_access_log': 'patient_id',
};

type Others = { patient: string; doctor: string; rows: Record<string, string> };
const others = new WeakMap<TestDatabase, Others>();

/**
 * What the actors of clinic A must not reach: another patient with a row in every patient-owned
 * table (from its fixture), another doctor with time off and a visit in their queue, and a visit
 * in nobody's queue. Seeded once per database.
 */
async function seedOthers(db: TestDatabase, clinics: Clinics, fixtureRows: FixtureRows): Promise<Others> {
  const known = others.get(db);
  if (known) return known;
  const patient = await insertAsAdmin(db, clinics.a, 'app_public.patients', FIXTURES['app_public.patients']!(refs(db, clinics, fixtureRows, {})));
  const doctor = await insertAsAdmin(db, clinics.a, 'app_public.clinic_members', {
    account_id: (
      await db.admin.query(`insert into app_private.accounts (email, password_hash) values ('other-doctor@example.test', '$argon2id$rule') returning id`)
    ).rows[0].id,
    role: 'doctor',
    display_name: 'Other Doctor',
  });
  const rows: Record<string, string> = { 'app_public.patients': patient };
  const ownedBy = { 'app_public.patients': patient };
  for (const table of Object.keys(PATIENT_COLUMN).filter((name) => name !== 'app_public.patients')) {
    rows[table] = await insertAsAdmin(db, clinics.a, table, FIXTURES[table]!(refs(db, clinics, fixtureRows, ownedBy)));
  }
  const ofOtherDoctor = { doctor_id: doctor };
  rows.timeOff = await insertAsAdmin(db, clinics.a, 'app_public.doctor_time_off', {
    ...FIXTURES['app_public.doctor_time_off']!(refs(db, clinics, fixtureRows, {})),
    ...ofOtherDoctor,
  });
  const visit = () => FIXTURES['app_public.visits']!(refs(db, clinics, fixtureRows, ownedBy));
  rows.otherQueue = await insertAsAdmin(db, clinics.a, 'app_public.visits', { ...visit(), ...ofOtherDoctor });
  rows.noQueue = await insertAsAdmin(db, clinics.a, 'app_public.visits', { ...visit(), doctor_id: null });
  const seeded = { patient, doctor, rows };
  others.set(db, seeded);
  return seeded;
}

/** Fixture references in clinic A, with some tables' rows replaced. */
function refs(db: TestDatabase, clinics: Clinics, fixtureRows: FixtureRows, replaced: Record<string, string>) {
  return {
    idOf: (table: string) => replaced[table] ?? fixtureRows[table]!.a,
    member: (role: ClinicRole) => actorIn(db, clinics.a, role).member,
    freshAccount: () => {
      throw new Error('no fresh accounts here');
    },
    operator: () => {
      throw new Error('no operator here');
    },
  };
}

/** A patient reads their own rows of a patient-owned table and no other patient's. */
const patientOwnRows =
  (table: string): RowRule =>
  async (db, clinics, fixtureRows) => {
    const { patient } = await seedOthers(db, clinics, fixtureRows);
    const column = sql.ref(PATIENT_COLUMN[table]!);
    const count = (patientId: string) => (trx: TenantDb) =>
      sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)} where ${column} = ${patientId}`.execute(trx).then((r) => r.rows[0]!.n);
    const violations: string[] = [];
    if ((await asActor(db, clinics, 'patient', count(patient))) !== 0) violations.push(`select: a patient sees another patient's ${table} rows`);
    // At least one: opening consultations uses fixture visits up, and the sweep adds fresh ones (USES_UP).
    if (Number(await asActor(db, clinics, 'patient', count(fixtureRows['app_public.patients']!.a))) < 1)
      violations.push(`select: a patient cannot see their own ${table} row (the check would prove nothing)`);
    return violations;
  };

const otherCharts = new WeakMap<TestDatabase, ChartRecord[]>();

/** The other patient's clinical record in clinic A, once signed, issued and released and once in draft. Seeded once per database. */
async function seedOtherCharts(db: TestDatabase, clinics: Clinics, fixtureRows: FixtureRows): Promise<ChartRecord[]> {
  const known = otherCharts.get(db);
  if (known) return known;
  const { patient, rows } = await seedOthers(db, clinics, fixtureRows);
  const record = { clinicId: clinics.a, patientId: patient, doctorId: actorIn(db, clinics.a, 'doctor').member, visitId: rows['app_public.visits']! };
  const records = [await insertChartRecord(db, { ...record, state: 'final' }), await insertChartRecord(db, { ...record, state: 'draft' })];
  otherCharts.set(db, records);
  return records;
}

/**
 * Footnote 7 as a row rule: a patient reads their own clinical rows (the final one: signed, issued,
 * released), a draft of their own only where the table's rows are not PATIENT_READS_FINAL_ONLY
 * (matrix.ts), and never another patient's, final or draft. The fixture row is the patient's draft.
 */
export const patientOwnChartRows =
  (table: string): RowRule =>
  async (db, clinics, fixtureRows) => {
    await seedOtherCharts(db, clinics, fixtureRows);
    const { patient } = await seedOthers(db, clinics, fixtureRows);
    const own = fixtureRows[table]!;
    const count = (condition: ReturnType<typeof sql>) =>
      asActor(db, clinics, 'patient', (trx) =>
        sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)} where ${condition}`.execute(trx).then((r) => r.rows[0]!.n),
      );
    const violations: string[] = [];
    if (!own.final) return [`select: ${table} has no final row to read (helpers/chart-rows.ts)`];
    if ((await count(sql`id = ${own.final.a}`)) !== 1)
      violations.push(`select: a patient cannot read their own final ${table} row (the checks would prove nothing)`);
    if ((await count(sql`patient_id = ${patient}`)) !== 0) violations.push(`select: a patient sees another patient's ${table} rows`);
    const draft = await count(sql`id = ${own.a}`);
    if (PATIENT_READS_FINAL_ONLY.has(table) && draft !== 0) violations.push(`select: a patient sees their own draft ${table} row (footnote 7: final only)`);
    if (!PATIENT_READS_FINAL_ONLY.has(table) && draft !== 1) violations.push(`select: a patient cannot read their own ${table} row`);
    return violations;
  };

export const ROW_RULES: Record<string, RowRule> = {
  // Clinical care (footnote 7): the patient's own, final rows only where the table says so.
  'app_public.consultations': patientOwnChartRows('app_public.consultations'),
  'app_public.vitals': patientOwnChartRows('app_public.vitals'),
  'app_public.diagnoses': patientOwnChartRows('app_public.diagnoses'),
  'app_public.consultation_addenda': patientOwnChartRows('app_public.consultation_addenda'),
  'app_public.prescriptions': patientOwnChartRows('app_public.prescriptions'),
  'app_public.prescription_items': patientOwnChartRows('app_public.prescription_items'),
  'app_public.test_requests': patientOwnChartRows('app_public.test_requests'),
  'app_public.test_reports': patientOwnChartRows('app_public.test_reports'),
  'app_public.test_results': patientOwnChartRows('app_public.test_results'),
  // A doctor asks for a follow-up in a consultation of their own only.
  'app_public.follow_ups': async (db, clinics, fixtureRows) => {
    const violations = await patientOwnChartRows('app_public.follow_ups')(db, clinics, fixtureRows);
    const { doctor } = await seedOthers(db, clinics, fixtureRows);
    const theirs = await insertChartRecord(db, {
      clinicId: clinics.a,
      patientId: fixtureRows['app_public.patients']!.a,
      doctorId: doctor,
      visitId: fixtureRows['app_public.visits']!.a,
      copyVisit: true,
      state: 'draft',
    });
    const asked = await asActor(db, clinics, 'doctor', (trx) =>
      sql`insert into app_public.follow_ups (consultation_id, patient_id, due_date, reason)
          values (${theirs['app_public.consultations']}, ${fixtureRows['app_public.patients']!.a}, '2030-06-01', 'rule')`.execute(trx),
    );
    if (asked !== '42501') violations.push("insert: a doctor asked for a follow-up in another doctor's consultation");
    return violations;
  },
  // Revocation is final: a revoked grant cannot be changed (a check constraint keeps it from being reopened).
  'app_public.support_access_grants': async (db, clinics) => {
    const { rows } = await db.admin.query<{ id: string; admin: string }>(
      `with operator as (select account_id from app_private.platform_operators limit 1)
       insert into app_public.support_access_grants (clinic_id, operator_account_id, granted_by, reason, expires_at, revoked_at, revoked_by)
       select $1, account_id, account_id, 'revoked fixture', now() + interval '1 hour', now(), account_id from operator
       returning id, granted_by as admin`,
      [clinics.a],
    );
    const { id, admin } = rows[0]!;
    const changed = await withTenant(db.pool, { clinicId: clinics.a, userId: admin, role: 'clinic_admin' }, revokeAgain(id));
    return changed === 0 ? [] : ['update: a revoked support grant was changed'];
  },
  'app_public.clinic_members': async (db, clinics) => {
    const { patient } = await seedPatients(db, clinics.a);
    const violations: string[] = [];
    const asPatient = await withTenant(db.pool, { clinicId: clinics.a, userId: patient, role: 'patient' }, visibleRoles);
    if (asPatient.filter((m) => m.role === 'patient').length !== 1 || !asPatient.some((m) => m.own)) {
      violations.push('select: a patient sees other patients (or not themselves)');
    }
    if (!asPatient.some((m) => m.role !== 'patient')) violations.push('select: a patient cannot see the staff');
    const asNurse = await withTenant(db.pool, { clinicId: clinics.a, userId: null, role: 'nurse' }, visibleRoles);
    if (asNurse.filter((m) => m.role === 'patient').length < 2) violations.push("select: staff cannot see the clinic's patients");
    return violations;
  },
  'app_public.patients': patientOwnRows('app_public.patients'),
  'app_public.patient_history': patientOwnRows('app_public.patient_history'),
  'app_public.files': patientOwnRows('app_public.files'),
  // A patient logs reads of their own record only, never in another patient's name.
  'app_public.patient_access_log': async (db, clinics, fixtureRows) => {
    const violations = await patientOwnRows('app_public.patient_access_log')(db, clinics, fixtureRows);
    const { patient } = await seedOthers(db, clinics, fixtureRows);
    const logged = await asActor(db, clinics, 'patient', (trx) =>
      sql`insert into app_public.patient_access_log (patient_id, action) values (${patient}, 'read_record')`.execute(trx),
    );
    if (typeof logged !== 'string') violations.push("insert: a patient logged a read of another patient's record");
    return violations;
  },
  // The portal: a patient books, reschedules and cancels their own booked appointments, nothing else.
  'app_public.appointments': async (db, clinics, fixtureRows) => {
    const violations = await patientOwnRows('app_public.appointments')(db, clinics, fixtureRows);
    const { patient, rows } = await seedOthers(db, clinics, fixtureRows);
    const own = fixtureRows['app_public.appointments']!.a;
    const setStatus = (id: string, status: string) => (trx: TenantDb) =>
      sql`update app_public.appointments set status = ${status}, cancellation_reason = 'rule' where id = ${id}`.execute(trx).then(affected);
    if ((await asActor(db, clinics, 'patient', setStatus(rows['app_public.appointments']!, 'cancelled'))) !== 0)
      violations.push("update: a patient cancelled another patient's appointment");
    if ((await asActor(db, clinics, 'patient', setStatus(own, 'cancelled'))) !== 1)
      violations.push('update: a patient cannot cancel their own appointment (the checks would prove nothing)');
    if ((await asActor(db, clinics, 'patient', setStatus(own, 'completed'))) !== '42501') violations.push('update: a patient completed their own appointment');
    const booked = await asActor(db, clinics, 'patient', (trx) =>
      sql`insert into app_public.appointments (patient_id, doctor_id, starts_at, ends_at)
          values (${patient}, ${actorIn(db, clinics.a, 'doctor').member}, '2031-01-01 09:00Z', '2031-01-01 09:30Z')`.execute(trx),
    );
    if (typeof booked !== 'string') violations.push('insert: a patient booked for another patient');
    return violations;
  },
  // A doctor works their own queue only, and cannot hand a visit to another doctor.
  'app_public.visits': async (db, clinics, fixtureRows) => {
    const violations = await patientOwnRows('app_public.visits')(db, clinics, fixtureRows);
    const { doctor, rows } = await seedOthers(db, clinics, fixtureRows);
    const call = (id: string) => (trx: TenantDb) => sql`update app_public.visits set status = 'called' where id = ${id}`.execute(trx).then(affected);
    if ((await asActor(db, clinics, 'doctor', call(rows.otherQueue!))) !== 0) violations.push("update: a doctor changed a visit in another doctor's queue");
    if ((await asActor(db, clinics, 'doctor', call(rows.noQueue!))) !== 0) violations.push("update: a doctor changed a visit in nobody's queue");
    const handOver = await asActor(db, clinics, 'doctor', (trx) =>
      sql`update app_public.visits set doctor_id = ${doctor} where id = ${fixtureRows['app_public.visits']!.a}`.execute(trx),
    );
    if (handOver !== '42501') violations.push('update: a doctor handed their visit to another doctor');
    return violations;
  },
  // A doctor manages their own time off only; clinic admins and receptionists anyone's.
  'app_public.doctor_time_off': async (db, clinics, fixtureRows) => {
    const { doctor, rows } = await seedOthers(db, clinics, fixtureRows);
    const violations: string[] = [];
    const theirs = rows.timeOff!;
    const asDoctor = (fn: (trx: TenantDb) => Promise<unknown>) => asActor(db, clinics, 'doctor', fn);
    if ((await asDoctor((trx) => sql`update app_public.doctor_time_off set reason = 'mine now' where id = ${theirs}`.execute(trx).then(affected))) !== 0)
      violations.push("update: a doctor changed another doctor's time off");
    if ((await asDoctor((trx) => sql`delete from app_public.doctor_time_off where id = ${theirs}`.execute(trx).then(affected))) !== 0)
      violations.push("delete: a doctor deleted another doctor's time off");
    const blocked = await asDoctor((trx) =>
      sql`insert into app_public.doctor_time_off (doctor_id, starts_at, ends_at) values (${doctor}, '2031-01-01 09:00Z', '2031-01-01 10:00Z')`.execute(trx),
    );
    if (typeof blocked !== 'string') violations.push("insert: a doctor blocked another doctor's time");
    const handOver = await asDoctor((trx) =>
      sql`update app_public.doctor_time_off set doctor_id = ${doctor} where id = ${fixtureRows['app_public.doctor_time_off']!.a}`.execute(trx),
    );
    if (handOver !== '42501') violations.push('update: a doctor moved their time off to another doctor');
    return violations;
  },
};
