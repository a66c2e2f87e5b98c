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

/** A patient's allergies and medication, on a query creator that may carry the access log's CTE; undefined when the patient is not visible. */
export async function readHistory(q: QueryCreator<DB>, patientId: string): Promise<HistoryEntry[] | undefined> {
  const rows = await q
    .selectFrom('appPublic.patients as p')
    .leftJoin('appPublic.patientHistory as h', 'h.patientId', 'p.id')
    .select([
      'p.id as visiblePatientId',
      'h.id',
      'h.patientId',
      'h.kind',
      'h.name',
      'h.detail',
      'h.severity',
      'h.isActive',
      'h.recordedBy',
      'h.createdAt',
      'h.updatedAt',
    ])
    .where('p.id', '=', patientId)
    .orderBy('h.kind')
    .orderBy('h.createdAt')
    .orderBy('h.id')
    .execute();
  if (rows.length === 0) return undefined;
  return rows.filter((row) => row.id !== null).map(({ visiblePatientId: _, ...entry }) => entry as HistoryEntry);
}

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
