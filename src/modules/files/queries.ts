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
