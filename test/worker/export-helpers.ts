// What the export tests share: a clinic filled with one row of every tenant table (the isolation
// sweep's fixtures, so a new table is exported the moment it has a fixture), its files' bytes in a
// storage of the test's own, and the build job's dependencies as the worker gives them.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import type { Test } from 'tap';
import { extract } from 'tar';
import { withTenant } from '../../src/db/tenant.ts';
import { type ExportDeps, buildClinicExport, archiveKey } from '../../src/exports/build.ts';
import type { Manifest } from '../../src/exports/format.ts';
import { storageKey } from '../../src/storage/blob-storage.ts';
import { LocalDiskStorage } from '../../src/storage/local-disk.ts';
import { actorIn } from '../helpers/actors.ts';
import { createClinics, type TestDatabase } from '../helpers/db.ts';
import { insertFixtureRows, type Rows, tenantTables } from '../helpers/isolation.ts';
import { temporaryStorageDir } from '../helpers/storage.ts';

export interface FilledDatabase {
  clinics: { a: string; b: string };
  rows: Rows;
  storage: LocalDiskStorage;
  storageDir: string;
  /** The bytes stored for each file row, by storage key. */
  blobs: Map<string, Buffer>;
}

/** Two clinics with one fixture row of every tenant table each, and bytes for every file row. */
export async function filledDatabase(t: Test, db: TestDatabase): Promise<FilledDatabase> {
  const clinics = await createClinics(db);
  const rows = await insertFixtureRows(db, await tenantTables(db), clinics);
  const storageDir = await temporaryStorageDir(t);
  const storage = await LocalDiskStorage.open(storageDir);
  const blobs = new Map<string, Buffer>();
  const { rows: files } = await db.admin.query<{ clinicId: string; id: string }>('select clinic_id as "clinicId", id from app_public.files order by 1, 2');
  for (const file of files) {
    const key = storageKey(file.clinicId, file.id);
    const bytes = randomBytes(1000 + blobs.size);
    await storage.put(key, [bytes]);
    blobs.set(key, bytes);
  }
  return { clinics, rows, storage, storageDir, blobs };
}

/** The build job's dependencies for a clinic, as defineTenantTask's `job` gives them. */
export function exportDeps(pool: pg.Pool, clinicId: string, storage: LocalDiskStorage, now = () => new Date()): ExportDeps {
  const ctx = { clinicId, userId: null, role: null, requestId: 'job-export-test', clientIp: null };
  return { withTenant: (fn, options) => withTenant(pool, ctx, fn, options), storage, now };
}

/** Requests an export of `clinicId` as its admin (by default the admin actor), as the API's insert does; its id. */
export async function requestExport(db: TestDatabase, clinicId: string, adminAccount?: string): Promise<string> {
  const admin = { account: adminAccount ?? actorIn(db, clinicId, 'clinic_admin').account };
  const client = await db.admin.connect();
  try {
    await client.query('begin');
    await client.query(`select set_config('app.clinic_id', $1, true), set_config('app.user_id', $2, true), set_config('app.role', 'clinic_admin', true)`, [
      clinicId,
      admin.account,
    ]);
    const { rows } = await client.query<{ id: string }>('insert into app_public.clinic_exports default values returning id');
    await client.query('commit');
    return rows[0]!.id;
  } catch (error) {
    await client.query('rollback');
    throw error;
  } finally {
    client.release();
  }
}

/** The build's clock in these tests. */
export const BUILT_AT = new Date('2030-01-01T09:00:00Z');

/** Builds the export directly (the job's body) and returns its archive's path on disk. */
export async function buildExport(
  db: TestDatabase,
  pool: pg.Pool,
  clinicId: string,
  storage: LocalDiskStorage,
  adminAccount?: string,
): Promise<{ exportId: string; archive: string }> {
  const exportId = await requestExport(db, clinicId, adminAccount);
  await buildClinicExport(
    exportDeps(pool, clinicId, storage, () => BUILT_AT),
    { clinicId, exportId },
    true,
  );
  return { exportId, archive: storage.pathOf(archiveKey(clinicId, exportId)).file };
}

/** An archive unpacked into a temporary folder: its manifest and each entry's bytes by path. */
export async function unpack(t: Test, archive: string): Promise<{ dir: string; manifest: Manifest; entries: Map<string, Buffer> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'clinicbase-unpacked-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await extract({ file: archive, cwd: dir });
  const entries = new Map<string, Buffer>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isDirectory()) continue;
    const full = path.join(entry.parentPath, entry.name);
    entries.set(path.relative(dir, full), await readFile(full));
  }
  const manifest = JSON.parse(entries.get('manifest.json')!.toString('utf8')) as Manifest;
  return { dir, manifest, entries };
}
