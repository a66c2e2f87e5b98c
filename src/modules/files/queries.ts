// One query each, the transaction first, no clinic filter: RLS scopes every statement.
import { type QueryCreator, sql } from 'kysely';
import type { TenantDb } from '../../db/tenant.ts';
import type { DB } from '../../db/types.ts';
import type { AcceptedType } from '../../storage/content-type.ts';

/** A file row as the module reads it: the metadata, and the clinic that makes its storage key. */
export interface FileRow {
  id: string;
  clinicId: string;
  patientId: string;
  category: string;
  originalName: string;
  contentType: string;
  sizeBytes: string;
  sha256: string;
  uploadedBy: string;
  createdAt: Date;
}

const columns = ['id', 'clinicId', 'patientId', 'category', 'originalName', 'contentType', 'sizeBytes', 'sha256', 'uploadedBy', 'createdAt'] as const;

export interface NewFile {
  patientId: string;
  category: string;
  originalName: string;
  contentType: AcceptedType;
  sizeBytes: number;
  sha256: string;
}

/**
 * Records a file for a patient the caller can see: the row is taken from the patient as the
 * caller's policies show it, so another clinic's patient, an unknown one, or one the caller's role
 * does not see (a lab technician's, until test requests exist) inserts nothing (undefined).
 */
export function insertFile(db: TenantDb, file: NewFile): Promise<FileRow | undefined> {
  return db
    .insertInto('appPublic.files')
    .columns(['patientId', 'category', 'originalName', 'contentType', 'sizeBytes', 'sha256'])
    .expression(
      db
        .selectFrom('appPublic.patients')
        .select([
          'id',
          sql<string>`${file.category}::text`.as('category'),
          sql<string>`${file.originalName}::text`.as('originalName'),
          sql<string>`${file.contentType}::text`.as('contentType'),
          sql<string>`${file.sizeBytes}::bigint`.as('sizeBytes'),
          sql<string>`${file.sha256}::text`.as('sha256'),
        ])
        .where('id', '=', file.patientId),
    )
    .returning(columns)
    .executeTakeFirst();
}

/** A page of a patient's files, newest first, with each row's exact position for the next cursor. */
export function listFiles(db: QueryCreator<DB>, patientId: string, limit: number, after?: [string, string]): Promise<(FileRow & { position: string })[]> {
  let query = db
    .selectFrom('appPublic.files')
    // The creation time as Postgres keeps it (microseconds, ISO 8601): a JS Date would cut it to milliseconds.
    .select([...columns, sql<string>`to_json(created_at) #>> '{}'`.as('position')])
    .where('patientId', '=', patientId)
    .orderBy('createdAt', 'desc')
    .orderBy('id', 'desc')
    .limit(limit);
  if (after) query = query.where((eb) => eb(eb.refTuple('createdAt', 'id'), '<', eb.tuple(sql<Date>`${after[0]}::timestamptz`, after[1])));
  return query.execute();
}

/** One file's row, as the caller's policies show it. */
export function findFile(db: QueryCreator<DB>, id: string): Promise<FileRow | undefined> {
  return db.selectFrom('appPublic.files').select(columns).where('id', '=', id).executeTakeFirst();
}

/** What a read records in the chart access log: a patient's file list, or one file (its metadata or its bytes). */
export type FileAccess = { action: 'read_files'; patientId: string } | { action: 'read_files' | 'download_file'; fileId: string };

/**
 * The query creator whose every query first records `access` in the chart access log, as a
 * data-modifying CTE: the read and its record are one statement. The log row is taken from the
 * patient or file as the reader's policies show it, so an invisible or unknown one records nothing.
 * Who, when, from where and in which request come from the context (the log's defaults).
 */
export function recording(db: TenantDb, access: FileAccess): QueryCreator<DB> {
  const action = sql<string>`${access.action}::text`.as('action');
  return db.with(
    'chartAccess',
    (q) =>
      q
        .insertInto('appPublic.patientAccessLog')
        .columns(['patientId', 'fileId', 'action'])
        .expression(
          'fileId' in access
            ? q
                .selectFrom('appPublic.files')
                .select(['patientId', access.action === 'download_file' ? 'id as fileId' : sql<string | null>`null::uuid`.as('fileId'), action])
                .where('id', '=', access.fileId)
            : q
                .selectFrom('appPublic.patients')
                .select(['id as patientId', sql<string | null>`null::uuid`.as('fileId'), action])
                .where('id', '=', access.patientId),
        ),
    // No RETURNING: it would need the log's read policy, which only clinic admins and patients have.
  ) as unknown as QueryCreator<DB>;
}
