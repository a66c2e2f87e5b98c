// One query each, the transaction first, no clinic filter: RLS scopes every statement. The table is
// new in migrations/current.sql, not yet in the generated types: raw SQL, typed by hand.
import { type QueryCreator, sql } from 'kysely';
import type { TenantDb } from '../../db/tenant.ts';
import type { DB } from '../../db/types.ts';
import type { ClinicExport } from './schemas.ts';

/** The row as the API shows it; a ready export past its end reads expired before its expiry job has run. */
const columns = sql`id, case when status = 'ready' and expires_at <= now() then 'expired' else status end as status, progress,
  requested_by, sha256, size_bytes::float8 as size_bytes, expires_at, error, created_at, finished_at`;

export type ExportRow = ClinicExport & { position: string };

/** Requests an export as the caller (the insert trigger queues its build). */
export async function insertExport(db: TenantDb): Promise<ClinicExport> {
  const { rows } = await sql<ClinicExport>`
    insert into app_public.clinic_exports (requested_by) values (app_public.current_member_id()) returning ${columns}`.execute(db);
  return rows[0]!;
}

/** A page of the clinic's exports, newest first, each with its exact position for the next cursor. */
export async function listExports(db: TenantDb, limit: number, after?: [string, string]): Promise<ExportRow[]> {
  const { rows } = await sql<ExportRow>`
    select ${columns}, to_json(created_at) #>> '{}' as position from app_public.clinic_exports
    where ${after ? sql`(created_at, id) < (${after[0]}::timestamptz, ${after[1]}::uuid)` : sql`true`}
    order by created_at desc, id desc limit ${limit}`.execute(db);
  return rows;
}

export async function findExport(db: TenantDb, id: string): Promise<ClinicExport | undefined> {
  const { rows } = await sql<ClinicExport>`select ${columns} from app_public.clinic_exports where id = ${id}`.execute(db);
  return rows[0];
}

/** Records the download in the audit log; false when the export is not ready or has expired (nothing recorded). */
export async function recordDownload(db: TenantDb, id: string): Promise<boolean> {
  const { rows } = await sql<{ recorded: boolean }>`select app_hidden.record_clinic_export_download(${id}) as recorded`.execute(db);
  return rows[0]?.recorded === true;
}

/** The calling patient's own record (app_hidden.patient_own_record: as their policies show it); one statement. */
export function readOwnRecord(db: QueryCreator<DB>): Promise<{ record: Record<string, unknown> | null } | undefined> {
  return db.selectNoFrom(sql<Record<string, unknown> | null>`app_hidden.patient_own_record()`.as('record')).executeTakeFirst();
}
