// The chart access log (app_public.patient_access_log): every read of a patient's record or files
// is recorded with who read, what, when, from which address and in which request, in the same
// transaction as the read, so no record leaves the database unrecorded and a refused or empty read
// (another clinic's id, an unknown one) records nothing. Shared by every module that reads charts
// (patients, files): they read through readWithChartAccess instead of withTenant.
//
// - A member's read is ONE statement: the insert into the log is a data-modifying CTE in front of
//   the read, its rows taken from the patient (or file) as the reader's policies show it, and the
//   whole runs as a single-statement transaction (withTenant's `singleStatement`): one round trip,
//   as a plain read. Who, when, from where and the request come from the context (the log's
//   column defaults); the insert policy holds the reader to their own membership.
// - A read under a support grant cannot write: its transactions are read-only in the database. It
//   is recorded right after the read, before anything is answered, by
//   app_hidden.record_support_chart_access as the operator (app_platform), naming the grant; when
//   that fails or the grant has ended, the caller gets an error and no data.
import { sql, type QueryCreator } from 'kysely';
import type { TenantContext, TenantDb, TransactionOptions } from '../db/tenant.ts';
import type { DB } from '../db/types.ts';
import { AppError } from '../errors.ts';

/** The caller's own patient record (the portal's `patients/me`): app_public.current_patient_id(). */
export const OWN_RECORD = 'own';

/**
 * What is read: a patient's record or file list (by id, or the caller's own), or one file: its
 * metadata (`read_files`, recorded without the file) or its bytes (`download_file`, naming it).
 */
export type ChartAccess =
  | { action: 'read_record' | 'read_files' | 'read_lab'; patientId: string | typeof OWN_RECORD }
  | { action: 'read_files' | 'download_file'; fileId: string }
  | { action: 'read_record'; recordOf: ClinicalRecord; id: string };

/**
 * A clinical record read by its own id (a consultation, …): recorded as a read of its patient's
 * record, the patient taken from the row as the reader's policies show it.
 */
export type ClinicalRecord = 'app_public.consultations';

/** Who reads: the request's tenant context, and the grant when it is a support token's. */
export interface ChartReader {
  tenant: TenantContext;
  supportGrantId?: string | undefined;
}

/** The app's doors to the database (app.withTenant, app.withPlatform), or a job's. */
export interface ChartDoors {
  withTenant<T>(ctx: TenantContext, fn: (db: TenantDb) => Promise<T>, options?: TransactionOptions): Promise<T>;
  withPlatform<T>(ctx: TenantContext, fn: (db: TenantDb) => Promise<T>): Promise<T>;
}

/**
 * Runs `read` and records `access` in the same transaction. `read` runs exactly one statement,
 * built on the query creator it is given (the log's insert rides along as a CTE), and resolves
 * undefined when nothing was found. Another clinic's or an unknown patient or file is recorded by
 * nobody: the insert takes its row from what the reader may see.
 */
export async function readWithChartAccess<T>(
  doors: ChartDoors,
  reader: ChartReader,
  access: ChartAccess,
  read: (db: QueryCreator<DB>) => Promise<T | undefined>,
): Promise<T | undefined> {
  if (reader.supportGrantId === undefined) {
    return doors.withTenant(reader.tenant, (db) => read(loggedBy(db, access)), { singleStatement: true });
  }
  const found = await doors.withTenant(reader.tenant, read);
  if (found !== undefined) await recordSupportRead(doors, reader.tenant, reader.supportGrantId, access);
  return found;
}

/** The query creator whose every query first inserts the access's log row (a data-modifying CTE). */
function loggedBy(db: TenantDb, access: ChartAccess): QueryCreator<DB> {
  return db.with(
    'chartAccess',
    (q) =>
      q
        .insertInto('appPublic.patientAccessLog')
        .columns(['patientId', 'fileId', 'action'])
        .expression(
          'recordOf' in access
            ? q
                .selectFrom(sql.table(access.recordOf).as('r') as unknown as 'appPublic.consultations')
                .select(['patientId', sql<string | null>`null::uuid`.as('fileId'), sql<string>`${access.action}::text`.as('action')])
                .where('id', '=', access.id)
            : 'fileId' in access
              ? q
                  .selectFrom('appPublic.files')
                  .select([
                    'patientId',
                    access.action === 'download_file' ? 'id as fileId' : sql<string | null>`null::uuid`.as('fileId'),
                    sql<string>`${access.action}::text`.as('action'),
                  ])
                  .where('id', '=', access.fileId)
              : q
                  .selectFrom('appPublic.patients')
                  .select(['id as patientId', sql<string | null>`null::uuid`.as('fileId'), sql<string>`${access.action}::text`.as('action')])
                  .where('id', '=', access.patientId === OWN_RECORD ? sql<string>`app_public.current_patient_id()` : access.patientId),
        ),
    // No RETURNING: it would need the log's read policy, which only clinic admins and patients have.
  ) as unknown as QueryCreator<DB>;
}

/** A support read, recorded as the grant's operator in a transaction of its own; refused when the grant has ended. */
async function recordSupportRead(doors: ChartDoors, tenant: TenantContext, grantId: string, access: ChartAccess): Promise<void> {
  const operator: TenantContext = { clinicId: null, userId: tenant.userId, role: null, requestId: tenant.requestId ?? null, clientIp: tenant.clientIp ?? null };
  const patientId =
    'recordOf' in access
      ? await patientOfRecord(doors, tenant, access.recordOf, access.id)
      : 'fileId' in access || access.patientId === OWN_RECORD
        ? null
        : access.patientId;
  const fileId = 'fileId' in access ? access.fileId : null;
  const recorded = await doors.withPlatform(operator, async (db) => {
    const { rows } = await sql<{ recorded: boolean }>`select app_hidden.record_support_chart_access(${grantId}, ${tenant.clinicId}, ${access.action},
      ${patientId}, ${fileId}) as recorded`.execute(db);
    return rows[0]?.recorded === true;
  });
  if (!recorded) throw new AppError('UNAUTHENTICATED', 'This support access has ended.');
}

/** The patient of a clinical record, as the support reader's (read-only) context sees it. */
async function patientOfRecord(doors: ChartDoors, tenant: TenantContext, table: ClinicalRecord, id: string): Promise<string | null> {
  return doors.withTenant(tenant, async (db) => {
    const { rows } = await sql<{ patientId: string }>`select patient_id as "patientId" from ${sql.table(table)} where id = ${id}`.execute(db);
    return rows[0]?.patientId ?? null;
  });
}

/**
 * Runs `read`, rows of a patient's clinical record (a list, or one by id: an empty list when none),
 * and records a `read_record` of each patient whose rows it returned. A member's read and its record
 * are one transaction (the rows, then one insert of their patients); a support read is recorded
 * right after it, every patient in one statement of the grant's operator, and the caller gets an
 * error and no data when that fails or the grant has ended. Nothing read, nothing recorded.
 */
export async function readRowsWithChartAccess<T>(
  doors: ChartDoors,
  reader: ChartReader,
  read: (db: TenantDb) => Promise<T[]>,
  patientIdOf: (row: T) => string,
  /** The rows the caller will answer (a page without its look-ahead row): only their patients are recorded. */
  answered: (rows: T[]) => T[] = (rows) => rows,
): Promise<T[]> {
  const patientsOf = (rows: T[]) => [...new Set(answered(rows).map(patientIdOf))];
  if (reader.supportGrantId === undefined) {
    return doors.withTenant(reader.tenant, async (db) => {
      const rows = await read(db);
      const patients = patientsOf(rows);
      if (patients.length > 0)
        await sql`insert into app_public.patient_access_log (patient_id, action)
          select patient_id, 'read_record' from pg_catalog.unnest(${patients}::uuid[]) as patient_id`.execute(db);
      return rows;
    });
  }
  const rows = await doors.withTenant(reader.tenant, read);
  const patients = patientsOf(rows);
  if (patients.length > 0) {
    const { tenant, supportGrantId } = reader;
    const operator: TenantContext = {
      clinicId: null,
      userId: tenant.userId,
      role: null,
      requestId: tenant.requestId ?? null,
      clientIp: tenant.clientIp ?? null,
    };
    const recorded = await doors.withPlatform(operator, async (db) => {
      const { rows: result } = await sql<{ recorded: boolean }>`select pg_catalog.bool_and(app_hidden.record_support_chart_access(${supportGrantId},
        ${tenant.clinicId}, 'read_record', patient_id, null)) as recorded from pg_catalog.unnest(${patients}::uuid[]) as patient_id`.execute(db);
      return result[0]?.recorded === true;
    });
    if (!recorded) throw new AppError('UNAUTHENTICATED', 'This support access has ended.');
  }
  return rows;
}
