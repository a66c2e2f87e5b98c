// Restores a clinic export (docs/export-format.md) into this deployment: `npm run cli --
// clinic:import <archive>`. All or nothing: every checksum is verified before anything is
// written; the rows go in in one transaction as superuser with session_replication_role =
// replica (triggers neither refuse history, such as signed records, nor audit it again), then
// every foreign key of the tables written is checked by a query; the files are stored before the
// COMMIT and removed again if anything fails, so a failure leaves no row and no file.
import { createReadStream } from 'node:fs';
import { lstat, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { extract } from 'tar';
import type { Client } from '../db/pool.ts';
import { type BlobStorage, keyParts, type StorageKey } from '../storage/blob-storage.ts';
import { digestFile, type Manifest, MANIFEST, manifestSchema, type TableEntry, tableFile } from './format.ts';

/** A refusal: the archive or the target is not fit, and nothing was written. */
export class ImportRefusedError extends Error {
  constructor(reason: string) {
    super(`import refused: ${reason}`);
    this.name = 'ImportRefusedError';
  }
}

export interface ImportOptions {
  /**
   * Support operators the clinic's grants name who are no operators here become operators here
   * (their accounts come with the archive). Off by default: an import never makes a platform
   * operator unless asked.
   */
  withSupportOperators?: boolean;
}

/** Rows inserted per statement. */
const BATCH_ROWS = 2000;

type Row = Record<string, unknown>;

/** Imports `archive` into the database `admin` (a superuser) and the blob storage; progress goes to `log`. */
export async function importClinicArchive(
  admin: Client,
  storage: BlobStorage,
  archive: string,
  options: ImportOptions,
  log: (line: string) => void,
): Promise<Manifest> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'clinicbase-import-'));
  try {
    await unpackArchive(archive, work);
    const manifest = await verifiedManifest(work);
    log(
      `verified ${manifest.tables.length} tables (${manifest.tables.reduce((sum, t) => sum + t.rows, 0)} rows) and ${manifest.files.length} files of clinic ${manifest.clinic.slug} (${manifest.clinic.id})`,
    );
    await restore(admin, storage, work, manifest, options, log);
    return manifest;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Unpacks regular files and folders only: a link, a device or a path outside `work` is refused. */
async function unpackArchive(archive: string, work: string): Promise<void> {
  const refused: string[] = [];
  await extract({
    file: archive,
    cwd: work,
    strict: true,
    filter: (entryPath, entry) => {
      const type = 'type' in entry ? entry.type : 'File';
      const fine = (type === 'File' || type === 'Directory') && !entryPath.split('/').includes('..') && !path.isAbsolute(entryPath);
      if (!fine) refused.push(entryPath);
      return fine;
    },
  }).catch((error: unknown) => {
    throw new ImportRefusedError(`${archive} is not a readable .tar.gz (${(error as Error).message})`);
  });
  if (refused.length > 0) throw new ImportRefusedError(`the archive holds entries other than files and folders: ${refused.join(', ')}`);
}

/** The manifest, once every entry it lists matches its size and checksum and nothing else is there. */
async function verifiedManifest(work: string): Promise<Manifest> {
  let manifest: Manifest;
  try {
    manifest = manifestSchema.parse(JSON.parse(await readFile(path.join(work, MANIFEST), 'utf8')));
  } catch {
    throw new ImportRefusedError(`${MANIFEST} is missing or not a manifest of this format`);
  }
  const listed = new Map<string, { size: number; sha256: string }>();
  for (const table of manifest.tables) {
    if (table.file !== tableFile(table.name)) throw new ImportRefusedError(`${table.name} is not at ${tableFile(table.name)}`);
    listed.set(table.file, table);
  }
  for (const file of manifest.files) {
    if (fileClinic(file.path) !== manifest.clinic.id) throw new ImportRefusedError(`${file.path} is not a file of clinic ${manifest.clinic.id}`);
    listed.set(file.path, file);
  }
  const present = (await readdir(work, { recursive: true, withFileTypes: true }))
    .filter((entry) => !entry.isDirectory())
    .map((entry) => path.relative(work, path.join(entry.parentPath, entry.name)))
    .filter((name) => name !== MANIFEST);
  const unlisted = present.filter((name) => !listed.has(name));
  if (unlisted.length > 0) throw new ImportRefusedError(`the archive holds files its manifest does not list: ${unlisted.join(', ')}`);
  for (const [name, expected] of listed) {
    const info = await lstat(path.join(work, name)).catch(() => undefined);
    if (!info?.isFile()) throw new ImportRefusedError(`${name} is listed but missing`);
    const actual = await digestFile(path.join(work, name));
    if (actual.size !== expected.size || actual.sha256 !== expected.sha256) throw new ImportRefusedError(`${name} does not match its checksum`);
  }
  for (const table of manifest.tables) {
    let rows = 0;
    // Counted, not parsed: each line is parsed once, when its table is inserted.
    for await (const line of textLines(path.join(work, table.file))) if (line !== '') rows += 1;
    if (rows !== table.rows) throw new ImportRefusedError(`${table.name} has ${rows} rows, its manifest says ${table.rows}`);
  }
  return manifest;
}

/** The clinic of an archived file's path `files/<clinic_id>/<file_id>`; undefined for any other path. */
function fileClinic(archived: string): string | undefined {
  if (!archived.startsWith('files/')) return undefined;
  try {
    return keyParts(archived.slice('files/'.length) as StorageKey).clinicId;
  } catch {
    return undefined;
  }
}

/** The lines of a text file, one at a time. */
function textLines(file: string): AsyncIterable<string> {
  return createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Number.POSITIVE_INFINITY });
}

/**
 * The rows of a JSON Lines file, one at a time, parsed and as written: the text goes to Postgres
 * as it is, so no value passes through a JavaScript number (numeric scales, big integers).
 */
async function* jsonLines(file: string): AsyncGenerator<{ row: Row; line: string }> {
  for await (const line of textLines(file)) {
    if (line === '') continue;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch {
      throw new ImportRefusedError(`${path.basename(file)} holds a line that is not JSON`);
    }
    if (typeof row !== 'object' || row === null || Array.isArray(row))
      throw new ImportRefusedError(`${path.basename(file)} holds a line that is not an object`);
    yield { row: row as Row, line };
  }
}

async function restore(
  admin: Client,
  storage: BlobStorage,
  work: string,
  manifest: Manifest,
  options: ImportOptions,
  log: (line: string) => void,
): Promise<void> {
  const stored: StorageKey[] = [];
  await admin.query('begin');
  try {
    await checkTarget(admin, manifest);
    const skipped = await accountsAlreadyHere(admin, work, manifest, options);
    // Superuser only: triggers (locks, state machines, quotas, audit) do not fire for these rows.
    await admin.query('set local session_replication_role = replica');
    for (const table of manifest.tables) {
      const written = await insertTable(admin, work, table, manifest.clinic.id, skipped);
      log(`${table.name}: ${written} rows`);
    }
    for (const [index, file] of manifest.files.entries()) {
      const key = file.path.slice('files/'.length) as StorageKey;
      await storage.put(key, createReadStream(path.join(work, file.path)));
      stored.push(key);
      if ((index + 1) % 100 === 0 || index + 1 === manifest.files.length) log(`files: ${index + 1} of ${manifest.files.length} stored`);
    }
    await admin.query('set local session_replication_role = origin');
    await checkForeignKeys(
      admin,
      manifest.tables.map((table) => table.name),
      manifest.clinic.id,
    );
    await admin.query(`insert into app_audit.audit_log (clinic_id, action, details) values ($1, 'clinic.export_imported', $2)`, [
      manifest.clinic.id,
      { exportedAt: manifest.exportedAt, schemaMigration: manifest.schemaMigration, rows: Object.fromEntries(manifest.tables.map((t) => [t.name, t.rows])) },
    ]);
    await admin.query('commit');
    log(`clinic ${manifest.clinic.slug} (${manifest.clinic.id}) imported`);
  } catch (error) {
    await admin.query('rollback').catch(() => {});
    for (const key of stored) await storage.delete(key);
    throw error;
  }
}

/** Refuses a target that already has the clinic, or runs another schema than the archive's. */
async function checkTarget(admin: Client, manifest: Manifest): Promise<void> {
  const { rows: clinics } = await admin.query('select id, slug from app_public.clinics where id = $1 or slug = $2', [manifest.clinic.id, manifest.clinic.slug]);
  if (clinics.length > 0) throw new ImportRefusedError(`a clinic with id ${manifest.clinic.id} or slug ${manifest.clinic.slug} exists here`);
  const { rows: migration } = await admin.query<{ name: string | null }>('select max(filename) as name from graphile_migrate.migrations');
  if ((migration[0]?.name ?? null) !== manifest.schemaMigration) {
    throw new ImportRefusedError(
      `the archive's schema is ${manifest.schemaMigration}, this database's ${migration[0]?.name}: migrate both to the same release first`,
    );
  }
  const { rows: tables } = await admin.query<{ relation: string }>('select relation::text from app_private.clinic_export_tables()');
  const known = new Set(tables.map((table) => table.relation));
  const unknown = manifest.tables.filter((table) => !known.has(table.name)).map((table) => table.name);
  if (unknown.length > 0) throw new ImportRefusedError(`tables this database does not import: ${unknown.join(', ')}`);
}

/**
 * The archive's accounts that exist here already (the same id and e-mail: a person who is also in
 * another clinic here): kept as they are, their login rows not imported. An e-mail here under
 * another id is another person: refused. So are support operators who are no operators here,
 * unless `withSupportOperators`.
 */
async function accountsAlreadyHere(admin: Client, work: string, manifest: Manifest, options: ImportOptions): Promise<Set<string>> {
  const accounts: { id: string; email: string }[] = [];
  if (manifest.tables.some((table) => table.name === 'app_private.accounts')) {
    for await (const { row } of jsonLines(path.join(work, tableFile('app_private.accounts')))) accounts.push({ id: String(row.id), email: String(row.email) });
  }
  const { rows: here } = await admin.query<{ id: string; email: string }>(
    'select id, email from app_private.accounts where id = any($1::uuid[]) or lower(email) = any($2::text[])',
    [accounts.map((a) => a.id), accounts.map((a) => a.email.toLowerCase())],
  );
  const clashes = here.filter((row) => !accounts.some((a) => a.id === row.id && a.email.toLowerCase() === row.email.toLowerCase()));
  if (clashes.length > 0) throw new ImportRefusedError(`accounts exist here under another id or e-mail: ${clashes.map((row) => row.email).join(', ')}`);
  if (!options.withSupportOperators && manifest.tables.some((table) => table.name === 'app_private.platform_operators')) {
    const operators: string[] = [];
    for await (const { row } of jsonLines(path.join(work, tableFile('app_private.platform_operators')))) operators.push(String(row.account_id));
    const { rows: known } = await admin.query<{ id: string }>(
      'select account_id as id from app_private.platform_operators where account_id = any($1::uuid[])',
      [operators],
    );
    const missing = operators.filter((id) => !known.some((row) => row.id === id));
    if (missing.length > 0) {
      throw new ImportRefusedError(
        `the clinic's support grants name operators who are none here (accounts ${missing.join(', ')}): pass --with-support-operators to make them operators`,
      );
    }
  }
  return new Set(here.map((row) => row.id));
}

/** The columns `table` has here, by name; refuses columns the archive has and this database lacks. */
async function targetColumns(admin: Client, table: string): Promise<Set<string>> {
  const { rows } = await admin.query<{ name: string }>(
    `select attname as name from pg_attribute where attrelid = $1::regclass and attnum > 0 and not attisdropped and attgenerated = '' and attidentity <> 'a'`,
    [table],
  );
  return new Set(rows.map((row) => row.name));
}

/** The clinic a row belongs to, by its table's scope; undefined for accounts (no clinic's own). */
function clinicOfRow(scope: TableEntry['scope'], row: Row): unknown {
  if (scope === 'clinic') return row.id;
  return scope === 'tenant' || scope === 'audit' ? row.clinic_id : undefined;
}

/**
 * Inserts one table's rows in batches, but for logins of accounts that are here already. A row of
 * another clinic than the manifest's is refused: an archive writes into its own clinic only.
 */
async function insertTable(admin: Client, work: string, entry: TableEntry, clinicId: string, skippedAccounts: Set<string>): Promise<number> {
  const table = entry.name;
  const columns = await targetColumns(admin, table);
  // An account here already keeps its own login; its operator row (if asked for) still goes in.
  const accountColumn =
    table === 'app_private.accounts' ? 'id' : ['app_private.two_factor', 'app_private.recovery_codes'].includes(table) ? 'account_id' : undefined;
  let batch: string[] = [];
  let names: string[] = [];
  let written = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    const unknown = names.filter((name) => !columns.has(name));
    if (unknown.length > 0) throw new ImportRefusedError(`${table} has no column ${unknown.join(', ')} here`);
    const list = names.map((name) => `"${name}"`).join(', ');
    const result = await admin.query(
      `insert into ${table} (${list}) select ${list} from json_populate_recordset(null::${table}, $1::json)${table === 'app_private.platform_operators' ? ' on conflict do nothing' : ''}`,
      [`[${batch.join(',')}]`],
    );
    written += result.rowCount ?? 0;
    batch = [];
  };
  for await (const { row, line } of jsonLines(path.join(work, tableFile(table)))) {
    if (accountColumn && skippedAccounts.has(String(row[accountColumn]))) continue;
    const rowClinic = clinicOfRow(entry.scope, row);
    if (rowClinic !== undefined && rowClinic !== clinicId) throw new ImportRefusedError(`${table} holds rows of another clinic than ${clinicId}`);
    // Every row of a table has the same columns, in the same order (the format's rule).
    if (names.length === 0) names = Object.keys(row);
    else if (Object.keys(row).join() !== names.join()) throw new ImportRefusedError(`${table} has rows of different columns`);
    batch.push(line);
    if (batch.length === BATCH_ROWS) await flush();
  }
  await flush();
  return written;
}

/**
 * Every foreign key of the tables written, checked by a query (the replica role skipped their
 * triggers): over the clinic's rows where a table has a clinic, so a large deployment is not scanned.
 */
async function checkForeignKeys(admin: Client, tables: string[], clinicId: string): Promise<void> {
  const { rows: keys } = await admin.query<{ name: string; query: string }>(
    `select con.conname as name, format('select 1 from %s t where %s and %s and not exists (select from %s r where %s) limit 1',
        con.conrelid::regclass,
        case when con.conrelid = 'app_public.clinics'::regclass then 't.id = $1'
             when exists (select from pg_attribute c where c.attrelid = con.conrelid and c.attname = 'clinic_id' and not c.attisdropped) then 't.clinic_id = $1'
             else '$1::uuid is not null' end,
        (select string_agg(format('t.%I is not null', a.attname), ' and ') from unnest(con.conkey) k join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k),
        con.confrelid::regclass,
        (select string_agg(format('r.%I = t.%I', fa.attname, a.attname), ' and ')
           from unnest(con.conkey, con.confkey) p(k, fk)
           join pg_attribute a on a.attrelid = con.conrelid and a.attnum = p.k
           join pg_attribute fa on fa.attrelid = con.confrelid and fa.attnum = p.fk)) as query
     from pg_constraint con where con.contype = 'f' and con.conrelid = any($1::regclass[])
     order by con.conrelid::regclass::text, con.conname`,
    [tables],
  );
  for (const key of keys) {
    const { rowCount } = await admin.query(key.query, [clinicId]);
    if (rowCount) throw new ImportRefusedError(`a row breaks the foreign key ${key.name}: the archive is not whole`);
  }
}
