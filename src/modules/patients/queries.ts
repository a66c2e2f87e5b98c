// One query each, the transaction (or query creator) first, no clinic filter: RLS scopes every
// statement. Rows come back with the identification number still encrypted; the routes decide
// what the caller sees of it.
import { type ExpressionBuilder, type Insertable, type QueryCreator, sql, type Updateable } from 'kysely';
import type { TenantDb } from '../../db/tenant.ts';
import type { DB } from '../../db/types.ts';
import type { DuplicateCandidate } from '../../errors.ts';
import type { SealedIdentification } from './identification.ts';
import type { HistoryChange, HistoryEntry, HistoryInput, Patient, PatientSummary } from './schemas.ts';

/** A patient as stored: the response's fields, the identification number as its ciphertext. */
export type PatientRow = Omit<Patient, 'identificationNumber'> & { identificationNumberCiphertext: string | null };

type PatientsEb = ExpressionBuilder<DB, 'appPublic.patients'>;

/** The date of birth as the calendar date it is (pg would make it a Date at local midnight). */
const dateOfBirth = sql<string>`to_char(date_of_birth, 'YYYY-MM-DD')`.as('dateOfBirth');

const patientColumns = [
  'id',
  'patientNumber',
  'fullName',
  dateOfBirth,
  'sex',
  'phone',
  'email',
  'address',
  'emergencyContactName',
  'emergencyContactPhone',
  'bloodGroup',
  'identificationType',
  'identificationNumberCiphertext',
  'contactChannel',
  'status',
  'mergedIntoId',
  'memberId',
  'createdAt',
  'updatedAt',
] as const;

/** A YYYY-MM-DD date as Postgres compares it (the column's TypeScript type is a Date). */
const calendarDate = (date: string) => sql<Date>`${date}::date`;

/** What a client writes, as stored (the identification number sealed, or null to clear it). */
export interface PatientValues {
  fullName?: string;
  dateOfBirth?: string;
  sex?: string;
  phone?: string | null;
  email?: string | null;
  address?: string | null;
  emergencyContactName?: string | null;
  emergencyContactPhone?: string | null;
  bloodGroup?: string | null;
  identificationType?: string | null;
  identification?: SealedIdentification | null;
  contactChannel?: string;
  status?: string;
  memberId?: string | null;
}

type PatientsTable = DB['appPublic.patients'];

function stored({ identification, ...values }: PatientValues): Updateable<PatientsTable> {
  if (identification === undefined) return values;
  return { ...values, ...(identification ?? { identificationNumberCiphertext: null, identificationNumberHmac: null }) };
}

/** Phone numbers as patients_phone_normalised stores them: digits only, a leading + kept. */
export const normalisedPhone = (phone: string): string => (phone.startsWith('+') ? '+' : '') + phone.replace(/[^0-9]/g, '');

/** Similarity (pg_trgm, 0 to 1) from which two names with the same date of birth may be one person. */
const DUPLICATE_NAME_SIMILARITY = 0.3;

/**
 * Records that may be the same person (not merged ones): the same phone number, the same
 * identification number, or a similar name with the same date of birth. Index scans on the phone,
 * hash and date of birth; the name is compared within the day only.
 */
export function findPossibleDuplicates(
  db: TenantDb,
  person: { fullName: string; dateOfBirth: string; phone: string | null; identificationHashes: string[] },
): Promise<DuplicateCandidate[]> {
  return db
    .selectFrom('appPublic.patients')
    .select(['id', 'patientNumber', 'fullName'])
    .where('mergedIntoId', 'is', null)
    .where((eb) =>
      eb.or([
        ...(person.phone ? [eb('phoneNormalised', '=', normalisedPhone(person.phone))] : []),
        ...(person.identificationHashes.length > 0 ? [eb('identificationNumberHmac', 'in', person.identificationHashes)] : []),
        eb.and([
          eb('dateOfBirth', '=', calendarDate(person.dateOfBirth)),
          eb(sql<number>`public.similarity(full_name, ${person.fullName})`, '>=', DUPLICATE_NAME_SIMILARITY),
        ]),
      ]),
    )
    .orderBy('patientNumber')
    .limit(10)
    .execute();
}

export function insertPatient(db: TenantDb, values: PatientValues): Promise<PatientRow> {
  return db
    .insertInto('appPublic.patients')
    .values(stored(values) as Insertable<PatientsTable>)
    .returning(patientColumns)
    .executeTakeFirstOrThrow() as Promise<PatientRow>;
}

/** One patient by id, or the caller's own record (`own`), on a query creator that may carry the access log's CTE. */
export function readPatient(q: QueryCreator<DB>, id: string | { own: true }): Promise<PatientRow | undefined> {
  return q
    .selectFrom('appPublic.patients')
    .select(patientColumns)
    .where('id', '=', typeof id === 'string' ? id : sql<string>`app_public.current_patient_id()`)
    .executeTakeFirst() as Promise<PatientRow | undefined>;
}

export function updatePatient(db: TenantDb, id: string, values: PatientValues): Promise<PatientRow | undefined> {
  return db.updateTable('appPublic.patients').set(stored(values)).where('id', '=', id).returning(patientColumns).executeTakeFirst() as Promise<
    PatientRow | undefined
  >;
}

/** Search results: enough to pick the right person; the whole record is a logged read of its own. */
const summaryColumns = ['id', 'patientNumber', 'fullName', dateOfBirth, 'sex', 'phone', 'status', 'mergedIntoId'] as const;

export interface Filters {
  phone?: string | undefined;
  patientNumber?: string | undefined;
  identificationHashes?: string[] | undefined;
  dateOfBirth?: string | undefined;
}

/** Exact searches (every filter given must match), by name then id; `after`: the last (fullName, id). */
export function searchPatients(db: TenantDb, filters: Filters, limit: number, after?: [string, string]): Promise<PatientSummary[]> {
  let query = db.selectFrom('appPublic.patients').select(summaryColumns).orderBy('fullName').orderBy('id').limit(limit);
  if (filters.phone !== undefined) query = query.where('phoneNormalised', '=', normalisedPhone(filters.phone));
  if (filters.patientNumber !== undefined) query = query.where('patientNumber', '=', filters.patientNumber);
  if (filters.identificationHashes !== undefined) query = query.where('identificationNumberHmac', 'in', filters.identificationHashes);
  if (filters.dateOfBirth !== undefined) query = query.where('dateOfBirth', '=', calendarDate(filters.dateOfBirth));
  if (after) query = query.where((eb: PatientsEb) => eb(eb.refTuple('fullName', 'id'), '>', eb.tuple(after[0], after[1])));
  return query.execute() as Promise<PatientSummary[]>;
}

/**
 * Name search through app_hidden.search_patients_by_name (typo-tolerant, ranked, the trigram index):
 * it returns ids and ranks, and the rows are read here again under the caller's policies.
 * `after`: the last (rank, id).
 */
export function searchPatientsByName(
  db: TenantDb,
  search: { text: string; dateOfBirth?: string | undefined },
  limit: number,
  after?: [number, string],
): Promise<(PatientSummary & { rank: number })[]> {
  const found = sql<{ id: string; rank: number }>`app_hidden.search_patients_by_name(${search.text}, ${search.dateOfBirth ?? null}::date,
    ${after?.[0] ?? null}::real, ${after?.[1] ?? null}::uuid, ${limit}::integer)`.as('found');
  return db
    .selectFrom(found)
    .innerJoin('appPublic.patients as p', 'p.id', 'found.id')
    .select([
      'p.id',
      'p.patientNumber',
      'p.fullName',
      sql<string>`to_char(p.date_of_birth, 'YYYY-MM-DD')`.as('dateOfBirth'),
      'p.sex',
      'p.phone',
      'p.status',
      'p.mergedIntoId',
      'found.rank',
    ])
    .orderBy('found.rank', 'desc')
    .orderBy('p.id')
    .execute() as Promise<(PatientSummary & { rank: number })[]>;
}

/** Merges in the caller's transaction (app_hidden.merge_patients): the rows moved per table.column, or null when the merged record is not visible. */
export async function mergePatients(db: TenantDb, mergedId: string, survivorId: string): Promise<Record<string, number> | null> {
  const { rows } = await sql<{ moved: Record<string, number> | null }>`select app_hidden.merge_patients(${mergedId}, ${survivorId}) as moved`.execute(db);
  return rows[0]?.moved ?? null;
}

const historyColumns = ['id', 'patientId', 'kind', 'name', 'detail', 'severity', 'isActive', 'recordedBy', 'createdAt', 'updatedAt'] as const;

/** Records an entry for a visible patient; undefined when the patient is not visible to the caller. */
export function insertHistory(db: TenantDb, patientId: string, input: HistoryInput): Promise<HistoryEntry | undefined> {
  return db
    .insertInto('appPublic.patientHistory')
    .columns(['patientId', 'kind', 'name', 'detail', 'severity'])
    .expression(
      db
        .selectFrom('appPublic.patients')
        .select([
          'id',
          sql<string>`${input.kind}::text`.as('kind'),
          sql<string>`${input.name}::text`.as('name'),
          sql<string | null>`${input.detail ?? null}::text`.as('detail'),
          sql<string | null>`${input.severity ?? null}::text`.as('severity'),
        ])
        .where('id', '=', patientId),
    )
    .returning(historyColumns)
    .executeTakeFirst() as Promise<HistoryEntry | undefined>;
}

export function updateHistory(db: TenantDb, patientId: string, entryId: string, change: HistoryChange): Promise<HistoryEntry | undefined> {
  return db
    .updateTable('appPublic.patientHistory')
    .set(change)
    .where('id', '=', entryId)
    .where('patientId', '=', patientId)
    .returning(historyColumns)
    .executeTakeFirst() as Promise<HistoryEntry | undefined>;
}

export interface AccessLogRow {
  id: string;
  /** accessed_at to the microsecond, for the cursor (a Date keeps milliseconds only). */
  cursorTime: string;
  action: 'read_record' | 'read_files' | 'download_file';
  fileId: string | null;
  accessedAt: Date;
  memberId: string | null;
  displayName: string | null;
  role: string | null;
  supportGrantId: string | null;
  requestId: string | null;
  clientIp: string | null;
}

/** Whether the caller may see the patient (its access log is empty or not: a 404 only for an invisible patient). */
export async function patientVisible(db: TenantDb, id: string): Promise<boolean> {
  return (await db.selectFrom('appPublic.patients').select('id').where('id', '=', id).executeTakeFirst()) !== undefined;
}

/** The reads of one patient, newest first; `after`: the last (cursorTime, id). */
export function listAccessLog(db: TenantDb, patientId: string, limit: number, after?: [string, string]): Promise<AccessLogRow[]> {
  let query = db
    .selectFrom('appPublic.patientAccessLog as l')
    .leftJoin('appPublic.clinicMembers as m', 'm.id', 'l.memberId')
    .select([
      'l.id',
      'l.action',
      'l.fileId',
      'l.accessedAt',
      sql<string>`to_char(l.accessed_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`.as('cursorTime'),
      'l.memberId',
      'm.displayName',
      'm.role',
      // Added in current.sql: src/db/types.ts learns it at the next db:commit.
      sql<string | null>`l.support_grant_id`.as('supportGrantId'),
      'l.requestId',
      sql<string | null>`host(l.client_ip)`.as('clientIp'),
    ])
    .where('l.patientId', '=', patientId)
    .orderBy('l.accessedAt', 'desc')
    .orderBy('l.id', 'desc')
    .limit(limit);
  if (after) query = query.where((eb) => eb(eb.refTuple('l.accessedAt', 'l.id'), '<', eb.tuple(sql<Date>`${after[0]}::timestamptz`, after[1])));
  return query.execute() as unknown as Promise<AccessLogRow[]>;
}

/** A time as the API writes it (the ISO form a Date serialises to), from SQL. */
const iso = (column: string) => `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
const isoDate = (column: string) => `to_char(${column}, 'YYYY-MM-DD')`;

/**
 * The visits of one page (newest check-in first, one more than asked to tell whether there is a
 * next page; the cursor holds the last one's check-in to the microsecond and its id), as a SQL
 * fragment the sections below share.
 */
function pageOfVisits(patientId: string, rows: number, after: readonly [string, string] | undefined) {
  return sql`select v.* from app_public.visits v
    where v.patient_id = ${patientId}
      ${after ? sql`and (v.checked_in_at, v.id) < (${after[0]}::timestamptz, ${after[1]}::uuid)` : sql``}
    order by v.checked_in_at desc, v.id desc
    limit ${rows}`;
}

/**
 * A patient's history in ONE statement whatever its size (the chart access log's CTE rides along on
 * `q`): allergies and medication (`items`), a page of visits with their consultations (vital signs,
 * diagnoses, addenda), the active (issued) prescriptions with their items, and the test requests
 * (with their reports and, once released, a summary of the results) and follow-ups of the page's
 * consultations, newest first. Every section is a json_agg subquery, so the statement count does
 * not grow with the history. RLS decides what each caller sees: a patient only signed consultations,
 * issued prescriptions and released reports (footnote 7). Undefined when the patient is not visible.
 */
export async function readChartHistory(
  q: QueryCreator<DB>,
  patientId: string,
  limit: number,
  after: readonly [string, string] | undefined,
): Promise<ChartHistoryRow | undefined> {
  // The visits with one more (is there a next page?); the sections hang off the page's own.
  const withNext = pageOfVisits(patientId, limit + 1, after);
  const page = pageOfVisits(patientId, limit, after);
  const row = await q
    .selectFrom('appPublic.patients as p')
    .select([
      sql<HistoryEntryJson[]>`coalesce((select json_agg(json_build_object(
          'id', h.id, 'patientId', h.patient_id, 'kind', h.kind, 'name', h.name, 'detail', h.detail, 'severity', h.severity,
          'isActive', h.is_active, 'recordedBy', h.recorded_by, 'createdAt', ${sql.raw(iso('h.created_at'))}, 'updatedAt', ${sql.raw(iso('h.updated_at'))})
          order by h.kind, h.created_at, h.id)
        from app_public.patient_history h where h.patient_id = p.id), '[]')`.as('items'),
      sql<VisitJson[]>`coalesce((select json_agg(json_build_object(
          'id', v.id, 'visitDate', ${sql.raw(isoDate('v.visit_date'))}, 'tokenNumber', v.token_number, 'status', v.status, 'doctorId', v.doctor_id,
          'purpose', v.purpose, 'checkedInAt', ${sql.raw(iso('v.checked_in_at'))}, 'completedAt', ${sql.raw(iso('v.completed_at'))},
          'cursor', to_char(v.checked_in_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
          'consultations', coalesce((select json_agg(json_build_object(
              'id', c.id, 'doctorId', c.doctor_id, 'status', c.status, 'chiefComplaint', c.chief_complaint, 'symptoms', c.symptoms,
              'findings', c.findings, 'clinicalNotes', c.clinical_notes, 'urgency', c.urgency, 'treatmentPlan', c.treatment_plan,
              'signedAt', ${sql.raw(iso('c.signed_at'))}, 'createdAt', ${sql.raw(iso('c.created_at'))},
              'vitals', coalesce((select json_agg(json_build_object(
                  'id', vt.id, 'measuredAt', ${sql.raw(iso('vt.measured_at'))}, 'systolicMmhg', vt.systolic_mmhg, 'diastolicMmhg', vt.diastolic_mmhg,
                  'heartRateBpm', vt.heart_rate_bpm, 'temperatureC', vt.temperature_c, 'respiratoryRatePerMin', vt.respiratory_rate_per_min,
                  'spo2Percent', vt.spo2_percent, 'weightKg', vt.weight_kg, 'heightCm', vt.height_cm) order by vt.measured_at, vt.id)
                from app_public.vitals vt where vt.consultation_id = c.id and vt.patient_id = p.id), '[]'),
              'diagnoses', coalesce((select json_agg(json_build_object(
                  'id', d.id, 'icd10Code', d.icd10_code, 'description', d.description, 'isPrimary', d.is_primary) order by d.is_primary desc, d.created_at, d.id)
                from app_public.diagnoses d where d.consultation_id = c.id and d.patient_id = p.id), '[]'),
              'addenda', coalesce((select json_agg(json_build_object(
                  'id', a.id, 'authorId', a.author_id, 'body', a.body, 'signedAt', ${sql.raw(iso('a.signed_at'))}) order by a.signed_at, a.id)
                from app_public.consultation_addenda a where a.consultation_id = c.id and a.patient_id = p.id), '[]'))
              order by c.created_at desc, c.id desc)
            from app_public.consultations c where c.visit_id = v.id and c.patient_id = p.id), '[]'))
          order by v.checked_in_at desc, v.id desc)
        from (${withNext}) v), '[]')`.as('visits'),
      sql<PrescriptionJson[]>`coalesce((select json_agg(json_build_object(
          'id', rx.id, 'prescriptionNumber', rx.prescription_number, 'consultationId', rx.consultation_id, 'doctorId', rx.doctor_id,
          'status', rx.status, 'notes', rx.notes, 'issuedAt', ${sql.raw(iso('rx.issued_at'))},
          'items', coalesce((select json_agg(json_build_object(
              'position', i.position, 'medicineName', i.medicine_name, 'genericName', i.generic_name, 'strength', i.strength,
              'doseForm', i.dose_form, 'dose', i.dose, 'frequency', i.frequency, 'frequencyCustom', i.frequency_custom, 'route', i.route,
              'durationDays', i.duration_days, 'quantity', i.quantity, 'refills', i.refills, 'instructions', i.instructions) order by i.position)
            from app_public.prescription_items i where i.prescription_id = rx.id and i.patient_id = p.id), '[]'))
          order by rx.issued_at desc, rx.id desc)
        from app_public.prescriptions rx where rx.patient_id = p.id and rx.status = 'issued'), '[]')`.as('activePrescriptions'),
      sql<TestRequestJson[]>`coalesce((select json_agg(json_build_object(
          'id', r.id, 'consultationId', r.consultation_id, 'testName', r.test_name, 'testCode', r.test_code, 'category', r.category,
          'urgency', r.urgency, 'status', r.status, 'requiredBy', ${sql.raw(isoDate('r.required_by'))}, 'createdAt', ${sql.raw(iso('r.created_at'))},
          'reports', coalesce((select json_agg(json_build_object(
              'id', tr.id, 'status', tr.status, 'conclusion', tr.conclusion, 'releasedAt', ${sql.raw(iso('tr.released_at'))},
              'results', case when tr.status = 'released' then (select json_build_object(
                  'count', count(*), 'abnormal', count(*) filter (where res.flag in ('low', 'high')),
                  'critical', count(*) filter (where res.flag in ('critical_low', 'critical_high')))
                from app_public.test_results res where res.test_report_id = tr.id and res.patient_id = p.id) end)
              order by tr.created_at desc, tr.id desc)
            from app_public.test_reports tr where tr.test_request_id = r.id and tr.patient_id = p.id), '[]'))
          order by r.created_at desc, r.id desc)
        from app_public.test_requests r
        where r.patient_id = p.id and r.consultation_id in (
          select c.id from app_public.consultations c where c.patient_id = p.id and c.visit_id in (select pv.id from (${page}) pv))), '[]')`.as('testRequests'),
      sql<FollowUpJson[]>`coalesce((select json_agg(json_build_object(
          'id', f.id, 'consultationId', f.consultation_id, 'doctorId', f.doctor_id, 'dueDate', ${sql.raw(isoDate('f.due_date'))},
          'reason', f.reason, 'status', f.status, 'appointmentId', f.appointment_id)
          order by f.due_date desc, f.id desc)
        from app_public.follow_ups f
        where f.patient_id = p.id and f.consultation_id in (
          select c.id from app_public.consultations c where c.patient_id = p.id and c.visit_id in (select pv.id from (${page}) pv))), '[]')`.as('followUps'),
    ])
    .where('p.id', '=', patientId)
    .executeTakeFirst();
  return row;
}

type HistoryEntryJson = Omit<HistoryEntry, 'createdAt' | 'updatedAt'> & { createdAt: string; updatedAt: string };
type VisitJson = { id: string; cursor: string } & Record<string, unknown>;
type PrescriptionJson = Record<string, unknown>;
type TestRequestJson = Record<string, unknown>;
type FollowUpJson = Record<string, unknown>;

export interface ChartHistoryRow {
  items: HistoryEntryJson[];
  visits: VisitJson[];
  activePrescriptions: PrescriptionJson[];
  testRequests: TestRequestJson[];
  followUps: FollowUpJson[];
}
