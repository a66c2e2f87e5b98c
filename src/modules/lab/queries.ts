// One query each, the transaction first, no clinic filter: RLS scopes every statement. Reads are
// raw SQL: a request carries its patient's identity, from the patients table as the caller's
// policies show it or, for a lab technician (who reads no patient), from
// app_hidden.lab_patient_identities (footnote 3: identity only, open requests only).
import { type RawBuilder, sql } from 'kysely';
import type { TenantDb } from '../../db/tenant.ts';
import type { ResultInput, TestReport, TestReportInput, TestRequest, TestRequestInput, TestResult } from './schemas.ts';

type Q = TenantDb;

const requestSelect = sql`
  select r.id, r.consultation_id, r.patient_id, r.requested_by, r.test_name, r.test_code, r.category, r.urgency,
    to_char(r.required_by, 'YYYY-MM-DD') as required_by, r.clinical_note, r.status, r.collected_at, r.started_at,
    r.completed_at, r.cancelled_at, r.created_at, r.updated_at, to_json(r.created_at) #>> '{}' as position,
    case when coalesce(p.id, l.id) is null then null else json_build_object(
      'id', coalesce(p.id, l.id), 'patientNumber', coalesce(p.patient_number, l.patient_number),
      'fullName', coalesce(p.full_name, l.full_name), 'dateOfBirth', to_char(coalesce(p.date_of_birth, l.date_of_birth), 'YYYY-MM-DD'),
      'sex', coalesce(p.sex, l.sex)) end as patient
  from app_public.test_requests r
  left join app_public.patients p on p.clinic_id = r.clinic_id and p.id = r.patient_id
  left join lateral app_hidden.lab_patient_identities(array[r.patient_id]) l on true`;

export type RequestRow = TestRequest & { position: string };

export interface RequestFilter {
  status?: string | undefined;
  patientId?: string | undefined;
}

/** A page of requests, oldest first (the lab's worklist), with each row's exact position for the cursor. */
export async function listRequests(db: Q, filter: RequestFilter, limit: number, after?: [string, string]): Promise<RequestRow[]> {
  const conditions: RawBuilder<unknown>[] = [sql`true`];
  if (filter.status) conditions.push(sql`r.status = ${filter.status}`);
  if (filter.patientId) conditions.push(sql`r.patient_id = ${filter.patientId}`);
  if (after) conditions.push(sql`(r.created_at, r.id) > (${after[0]}::timestamptz, ${after[1]}::uuid)`);
  const { rows } = await sql<RequestRow>`${requestSelect} where ${sql.join(conditions, sql` and `)}
    order by r.created_at, r.id limit ${limit}`.execute(db);
  return rows;
}

export async function findRequest(db: Q, id: string): Promise<RequestRow | undefined> {
  const { rows } = await sql<RequestRow>`${requestSelect} where r.id = ${id}`.execute(db);
  return rows[0];
}

/** A request from a consultation the caller can see (its patient taken from it); undefined when there is none. */
export async function insertRequest(db: TenantDb, input: TestRequestInput): Promise<string | undefined> {
  const { rows } = await sql<{ id: string }>`
    insert into app_public.test_requests (consultation_id, patient_id, test_name, test_code, category, urgency, required_by, clinical_note)
    select c.id, c.patient_id, ${input.testName}, ${input.testCode ?? null}, ${input.category}, ${input.urgency ?? 'routine'},
      ${input.requiredBy ?? null}::date, ${input.clinicalNote ?? null}
    from app_public.consultations c where c.id = ${input.consultationId}
    returning id`.execute(db);
  return rows[0]?.id;
}

/** Moves a request's status (the trigger decides whether the move and the caller are allowed); false when not visible. */
export async function setRequestStatus(db: TenantDb, id: string, status: string): Promise<boolean> {
  const result = await db.updateTable('appPublic.testRequests').set({ status }).where('id', '=', id).executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

const reportSelect = sql`
  select t.id, t.test_request_id, t.patient_id, t.technician_id, t.file_id, t.conclusion, t.status, t.version, t.released_at,
    t.created_at, t.updated_at, to_json(t.created_at) #>> '{}' as position,
    coalesce((select json_agg(json_build_object('id', x.id, 'position', x.position, 'analyte', x.analyte,
      'valueNumeric', x.value_numeric, 'valueText', x.value_text, 'unit', x.unit, 'referenceLow', x.reference_low,
      'referenceHigh', x.reference_high, 'criticalLow', x.critical_low, 'criticalHigh', x.critical_high, 'flag', x.flag) order by x.position)
      from app_public.test_results x where x.clinic_id = t.clinic_id and x.test_report_id = t.id), '[]') as results
  from app_public.test_reports t`;

export type ReportRow = Omit<TestReport, 'results'> & { position: string; results: TestResult[] };

export interface ReportFilter {
  patientId?: string | undefined;
  status?: string | undefined;
}

/** A page of reports, newest first. */
export async function listReports(db: Q, filter: ReportFilter, limit: number, after?: [string, string]): Promise<ReportRow[]> {
  const conditions: RawBuilder<unknown>[] = [sql`true`];
  if (filter.status) conditions.push(sql`t.status = ${filter.status}`);
  if (filter.patientId) conditions.push(sql`t.patient_id = ${filter.patientId}`);
  if (after) conditions.push(sql`(t.created_at, t.id) < (${after[0]}::timestamptz, ${after[1]}::uuid)`);
  const { rows } = await sql<ReportRow>`${reportSelect} where ${sql.join(conditions, sql` and `)}
    order by t.created_at desc, t.id desc limit ${limit}`.execute(db);
  return rows;
}

export async function findReport(db: Q, id: string): Promise<ReportRow | undefined> {
  const { rows } = await sql<ReportRow>`${reportSelect} where t.id = ${id}`.execute(db);
  return rows[0];
}

/** A draft report for a request the caller can see (its patient taken from it); undefined when there is none. */
export async function insertReport(db: TenantDb, input: TestReportInput): Promise<string | undefined> {
  const { rows } = await sql<{ id: string }>`
    insert into app_public.test_reports (test_request_id, patient_id, conclusion)
    select q.id, q.patient_id, ${input.conclusion ?? null} from app_public.test_requests q where q.id = ${input.testRequestId}
    returning id`.execute(db);
  return rows[0]?.id;
}

/** Writes result `position` of a report: updates it when it exists, else inserts it. */
export async function writeResult(db: TenantDb, reportId: string, position: number, result: ResultInput): Promise<void> {
  const values = {
    analyte: result.analyte,
    valueNumeric: result.valueNumeric?.toString() ?? null,
    valueText: result.valueText ?? null,
    unit: result.unit ?? null,
    referenceLow: result.referenceLow?.toString() ?? null,
    referenceHigh: result.referenceHigh?.toString() ?? null,
    criticalLow: result.criticalLow?.toString() ?? null,
    criticalHigh: result.criticalHigh?.toString() ?? null,
  };
  const updated = await db
    .updateTable('appPublic.testResults')
    .set(values)
    .where('testReportId', '=', reportId)
    .where('position', '=', position)
    .executeTakeFirst();
  if (Number(updated.numUpdatedRows) > 0) return;
  await sql`insert into app_public.test_results (test_report_id, patient_id, position, analyte, value_numeric, value_text, unit,
      reference_low, reference_high, critical_low, critical_high)
    select t.id, t.patient_id, ${position}, ${values.analyte}, ${values.valueNumeric}::numeric, ${values.valueText}, ${values.unit},
      ${values.referenceLow}::numeric, ${values.referenceHigh}::numeric, ${values.criticalLow}::numeric, ${values.criticalHigh}::numeric
    from app_public.test_reports t where t.id = ${reportId}`.execute(db);
}

export interface ReportChange {
  conclusion?: string | null | undefined;
  fileId?: string | undefined;
  status?: 'released' | undefined;
}

/**
 * Changes a report at the version the client read (optimistic concurrency): the trigger bumps the
 * version, so every call bumps it even when nothing else changes. False when no row matched.
 */
export async function updateReport(db: TenantDb, id: string, version: number, change: ReportChange): Promise<boolean> {
  const result = await sql`update app_public.test_reports set
      conclusion = case when ${change.conclusion !== undefined} then ${change.conclusion ?? null} else conclusion end,
      file_id = coalesce(${change.fileId ?? null}::uuid, file_id),
      status = coalesce(${change.status ?? null}, status)
    where id = ${id} and version = ${version}`.execute(db);
  return Number(result.numAffectedRows ?? 0) === 1;
}

/** What decides why an update matched nothing: the row as the caller sees it. */
export function reportState(db: TenantDb, id: string): Promise<{ version: number; status: string; technicianId: string } | undefined> {
  return db.selectFrom('appPublic.testReports').select(['version', 'status', 'technicianId']).where('id', '=', id).executeTakeFirst();
}

/** A report file: the file row, from the report's patient (the files policy admits a lab technician's report files of open requests). */
export async function insertReportFile(
  db: TenantDb,
  reportId: string,
  file: { originalName: string; contentType: string; sizeBytes: number; sha256: string },
): Promise<{ id: string; clinicId: string } | undefined> {
  const { rows } = await sql<{ id: string; clinicId: string }>`
    insert into app_public.files (patient_id, category, original_name, content_type, size_bytes, sha256)
    select t.patient_id, 'report', ${file.originalName}, ${file.contentType}, ${file.sizeBytes}, ${file.sha256}
    from app_public.test_reports t where t.id = ${reportId}
    returning id, clinic_id`.execute(db);
  return rows[0];
}

/** Records `patientIds` as read (`read_lab`) in the chart access log, as the reader (the log's defaults name who and where). */
export async function recordLabReads(db: TenantDb, patientIds: string[]): Promise<void> {
  await sql`insert into app_public.patient_access_log (patient_id, action)
    select patient_id, 'read_lab' from unnest(${patientIds}::uuid[]) as patient_id`.execute(db);
}

/** A support read of `patientIds`, recorded as the grant's operator; false when the grant has ended. */
export async function recordSupportLabReads(db: TenantDb, grantId: string, clinicId: string, patientIds: string[]): Promise<boolean> {
  const { rows } = await sql<{ recorded: boolean }>`
    select coalesce(bool_and(app_hidden.record_support_chart_access(${grantId}::uuid, ${clinicId}::uuid, 'read_lab', patient_id, null)), true) as recorded
    from unnest(${patientIds}::uuid[]) as patient_id`.execute(db);
  return rows[0]?.recorded === true;
}
