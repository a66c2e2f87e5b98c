// Builds a clinic's export archive (docs/export-format.md), for the clinic_exports__build job.
// Every table is read in one repeatable-read transaction, so the archive is one consistent
// snapshot (an appointment never names a patient the archive lacks). Progress is written by short
// transactions of its own between the steps, never while the snapshot holds a connection: a job
// holds one pooled connection at a time, so builds as many as the pool's connections never wait on
// each other. The tables are read through app_hidden.clinic_export_rows, which only the worker's
// login may call and which only sees the context's clinic.
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { create as createTar } from 'tar';
import type { TenantDb, TransactionOptions } from '../db/tenant.ts';
import { type BlobStorage, type StorageKey, storageKey } from '../storage/blob-storage.ts';
import { scrubbedError } from '../worker/task.ts';
import { blobFile, digestFile, type FileEntry, FORMAT, FORMAT_VERSION, MANIFEST, type Manifest, type TableEntry, tableFile } from './format.ts';

/** How long a ready export may be downloaded. */
const EXPORT_LIFETIME_MS = 24 * 60 * 60 * 1000;
/** Rows fetched from the cursor at a time: memory stays bounded whatever a table's size. */
const BATCH_ROWS = 1000;
/** The snapshot's transaction: long statements and pauses while a batch is written to disk. */
const SNAPSHOT: TransactionOptions = { isolationLevel: 'repeatable read', statementTimeoutMs: 600_000, idleInTransactionTimeoutMs: 120_000 };

/** Runs `fn` in a transaction of the job's clinic (the job's `withTenant`). */
export type TenantRunner = <T>(fn: (db: TenantDb) => Promise<T>, options?: TransactionOptions) => Promise<T>;

export interface ExportDeps {
  withTenant: TenantRunner;
  storage: BlobStorage;
  now(): Date;
}

/** The key of an export's archive: the clinic's folder, under the export's own id. */
export const archiveKey = (clinicId: string, exportId: string): StorageKey => storageKey(clinicId, exportId);

type ExportState = 'running' | 'ready' | 'failed' | 'expired';

/** Moves the export along (app_hidden.set_clinic_export_state); the status it had, null when there is no such export. */
function setExportState(
  deps: Pick<ExportDeps, 'withTenant'>,
  exportId: string,
  status: ExportState,
  progress: number,
  done: { sha256?: string; sizeBytes?: number; expiresAt?: Date; error?: string } = {},
): Promise<string | null> {
  return deps.withTenant(async (db) => {
    const { rows } = await sql<{ was: string | null }>`
      select app_hidden.set_clinic_export_state(${exportId}, ${status}, ${progress}, ${done.sha256 ?? null},
        ${done.sizeBytes ?? null}, ${done.expiresAt ?? null}, ${done.error ?? null}) as was`.execute(db);
    return rows[0]?.was ?? null;
  });
}

/**
 * Builds export `exportId` of the job's clinic: the archive under its key, the row ready. Does
 * nothing when the export is unknown to the clinic or already finished (a job run twice). A
 * failure on the last attempt marks it failed; on an earlier one it is thrown for a retry.
 */
export async function buildClinicExport(deps: ExportDeps, ids: { clinicId: string; exportId: string }, lastAttempt: boolean): Promise<void> {
  const was = await setExportState(deps, ids.exportId, 'running', 0);
  if (was === null || !['requested', 'running'].includes(was)) return;
  const work = await mkdtemp(path.join(os.tmpdir(), 'clinicbase-export-'));
  const key = archiveKey(ids.clinicId, ids.exportId);
  try {
    const archive = await writeArchive(deps, ids, work);
    // A build run again after a crash replaces what the crashed one stored.
    await deps.storage.delete(key);
    await deps.storage.put(key, createReadStream(archive.file));
    const expiresAt = new Date(deps.now().getTime() + EXPORT_LIFETIME_MS);
    await setExportState(deps, ids.exportId, 'ready', 100, { sha256: archive.sha256, sizeBytes: archive.size, expiresAt });
  } catch (error) {
    // What the row keeps of the failure is what the queue keeps: its class, SQLSTATE and constraint.
    if (lastAttempt) {
      // No export will name an archive stored before the failure (the move to ready failed).
      await deps.storage.delete(key);
      await setExportState(deps, ids.exportId, 'failed', 0, { error: scrubbedError(error).message.slice(0, 200) });
    }
    throw error;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Removes a ready export's archive and marks it expired (again: nothing changes). */
export async function expireClinicExport(deps: ExportDeps, ids: { clinicId: string; exportId: string }): Promise<void> {
  await deps.storage.delete(archiveKey(ids.clinicId, ids.exportId));
  await setExportState(deps, ids.exportId, 'expired', 100);
}

/** Writes the archive's contents under `work/content` and packs them into `work/export.tar.gz`. */
async function writeArchive(deps: ExportDeps, ids: { clinicId: string; exportId: string }, work: string) {
  const content = path.join(work, 'content');
  await mkdir(path.join(content, 'tables'), { recursive: true });
  const progress = progressReporter(deps, ids.exportId);
  const snapshot = await readTables(deps, ids.clinicId, content);
  await progress.done(TABLES_SHARE);
  const files = await copyFiles(deps.storage, ids.clinicId, snapshot.fileIds, content, progress);
  const manifest: Manifest = {
    format: FORMAT,
    formatVersion: FORMAT_VERSION,
    clinic: { id: ids.clinicId, slug: snapshot.slug },
    exportedAt: deps.now().toISOString(),
    schemaMigration: snapshot.schemaMigration,
    tables: snapshot.tables,
    files,
  };
  await writeFile(path.join(content, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
  const file = path.join(work, 'export.tar.gz');
  const entries = [MANIFEST, 'tables', ...(files.length > 0 ? ['files'] : [])];
  await createTar({ gzip: true, file, cwd: content, portable: true, noMtime: true }, entries);
  await progress.done(0.99);
  return { file, ...(await digestFile(file)) };
}

interface Progress {
  /** Records that `fraction` (0–1) of the work is done, when that changes the percentage shown. */
  done(fraction: number): Promise<void>;
}

function progressReporter(deps: ExportDeps, exportId: string): Progress {
  let shown = 0;
  return {
    async done(fraction) {
      const percent = Math.min(99, Math.floor(fraction * 100));
      if (percent <= shown) return;
      shown = percent;
      await setExportState(deps, exportId, 'running', percent);
    },
  };
}

/** Reading the tables is this share of the work; copying the files the rest (before packing). */
const TABLES_SHARE = 0.5;

/** Every table's rows, in one snapshot, into `content/tables/`; the files' ids and the clinic's slug from them. */
async function readTables(deps: ExportDeps, clinicId: string, content: string) {
  return deps.withTenant(async (db) => {
    const { rows: tables } = await sql<{ relation: string; scope: TableEntry['scope'] }>`
      select relation, scope from app_hidden.clinic_export_tables()`.execute(db);
    const { rows: migration } = await sql<{ name: string | null }>`select app_hidden.clinic_export_schema_migration() as name`.execute(db);
    const entries: TableEntry[] = [];
    const fileIds: string[] = [];
    let slug = '';
    // Only the clinic's row (its slug) and the files' rows (their keys) are read back.
    const readers: Record<string, (row: Record<string, unknown>) => void> = {
      'app_public.clinics': (row) => {
        slug = String(row.slug);
      },
      'app_public.files': (row) => {
        fileIds.push(String(row.id));
      },
    };
    for (const table of tables) entries.push(await writeTable(db, table.relation, table.scope, content, readers[table.relation]));
    if (slug === '') throw new Error(`clinic ${clinicId} has no row to export`);
    return { tables: entries, fileIds, slug, schemaMigration: migration[0]?.name ?? null };
  }, SNAPSHOT);
}

/** One table as JSON Lines, fetched through a cursor in batches; `each`, when given, sees every row parsed. */
async function writeTable(db: TenantDb, name: string, scope: TableEntry['scope'], content: string, each?: (row: Record<string, unknown>) => void) {
  const file = tableFile(name);
  const handle = await open(path.join(content, file), 'wx', 0o600);
  const hash = createHash('sha256');
  let rows = 0;
  let size = 0;
  try {
    await sql`declare export_rows no scroll cursor for select line from app_hidden.clinic_export_rows(${sql.lit(name)}) as line`.execute(db);
    for (;;) {
      const batch = await sql<{ line: string }>`fetch forward ${sql.lit(BATCH_ROWS)} from export_rows`.execute(db);
      if (batch.rows.length === 0) break;
      const text = Buffer.from(batch.rows.map((row) => `${row.line}\n`).join(''));
      if (each) for (const row of batch.rows) each(JSON.parse(row.line) as Record<string, unknown>);
      hash.update(text);
      await handle.appendFile(text);
      rows += batch.rows.length;
      size += text.length;
    }
    await sql`close export_rows`.execute(db);
  } finally {
    await handle.close();
  }
  return { name, scope, file, rows, size, sha256: hash.digest('hex') };
}

/** The clinic's stored files into `content/files/`, each with its size and SHA-256. A row without its bytes fails the export. */
async function copyFiles(storage: BlobStorage, clinicId: string, fileIds: string[], content: string, progress: Progress): Promise<FileEntry[]> {
  const entries: FileEntry[] = [];
  for (const [index, fileId] of [...fileIds].sort().entries()) {
    const key = storageKey(clinicId, fileId);
    const blob = await storage.get(key);
    if (!blob) throw new Error(`the stored file ${key} is missing`);
    const archived = blobFile(key);
    const target = path.join(content, archived);
    await mkdir(path.dirname(target), { recursive: true });
    const out = createWriteStream(target, { flags: 'wx', mode: 0o600 });
    await pipeline(blob.stream, out);
    entries.push({ path: archived, ...(await digestFile(target)) });
    await progress.done(TABLES_SHARE + ((index + 1) / fileIds.length) * (0.98 - TABLES_SHARE));
  }
  return entries;
}
