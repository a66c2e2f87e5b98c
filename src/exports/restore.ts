// Restores a clinic export (docs/export-format.md) into this deployment: `npm run cli --
// clinic:import <archive>`. All or nothing: every checksum is verified before anything is
// written; the rows go in in one transaction as superuser with session_replication_role =
// replica (triggers neither refuse history, such as signed records, nor audit it again), so the
// importer itself keeps the archive inside its clinic: each table's scope is this database's own
// (never the manifest's), every row names the clinic, and the rows of the clinic are counted
// after the inserts. Then every foreign key of the tables written is checked by a query and the
// future bookings' reminders are queued. The files are stored before the COMMIT and those this
// import stored are removed again if anything fails.
import { createReadStream } from 'node:fs';
import { lstat, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { extract, list } from 'tar';
import type { Client } from '../db/pool.ts';
import { type BlobStorage, keyParts, type StorageKey } from '../storage/blob-storage.ts';
import { digestFile, digestStream, type Manifest, MANIFEST, manifestSchema, tableFile } from './format.ts';

/** A refusal: the archive or the target is not fit, and nothing was written. */
export class ImportRefusedError extends Error {
  constructor(reason: string) {
    super(`import refused: ${reason}`);
    this.name = 'ImportRefusedError';
  }
}

/** Rows inserted per statement. */
const BATCH_ROWS = 2000;
/**
 * What an archive may unpack to (a tar bomb is refused at the entry that passes either): its
 * entries' sizes together at most 50 times the archive's size, or 64 MiB for a small archive
 * (tiny tables compress better than 50:1), and at most 1,000,000 entries.
 */
const UNPACKED_PER_PACKED = 50;
const UNPACKED_FLOOR_BYTES = 64 * 1024 * 1024;
const MAX_ENTRIES = 1_000_000;

/** How the target scopes a table to the clinic (app_private.clinic_export_tables()). */
type Scope = 'clinic' | 'tenant' | 'audit' | 'account';

type Row = Record<string, unknown>;

/** Imports `archive` into the database `admin` (a superuser) and the blob storage; progress goes to `log`. */
export async function importClinicArchive(admin: Client, storage: BlobStorage, archive: string, log: (line: string) => void): Promise<Manifest> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'clinicbase-import-'));
  try {
    await unpackArchive(archive, work);
    const manifest = await verifiedManifest(work);
    log(
      `verified ${manifest.tables.length} tables (${manifest.tables.reduce((sum, t) => sum + t.rows, 0)} rows) and ${manifest.files.length} files of clinic ${manifest.clinic.slug} (${manifest.clinic.id})`,
    );
    await restore(admin, storage, work, manifest, log);
    return manifest;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * Unpacks regular files and folders only: a link, a device or a path outside `work` is refused.
 * The entries are counted first, writing nothing: a tar bomb is refused at its header.
 */
async function unpackArchive(archive: string, work: string): Promise<void> {
  await checkUnpackedSize(archive);
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
    throw unreadable(archive, error);
  });
  if (refused.length > 0) throw new ImportRefusedError(`the archive holds entries other than files and folders: ${refused.join(', ')}`);
}

const unreadable = (archive: string, error: unknown) => new ImportRefusedError(`${archive} is not a readable .tar.gz (${(error as Error).message})`);

/** Reads the archive's headers (their sizes), stopping at the first entry past the caps. */
async function checkUnpackedSize(archive: string): Promise<void> {
  const maxBytes = Math.max(UNPACKED_PER_PACKED * (await stat(archive)).size, UNPACKED_FLOOR_BYTES);
  let bytes = 0;
  let entries = 0;
  let tooBig: ImportRefusedError | undefined;
  const input = createReadStream(archive);
  const headers = list({
    onReadEntry: (entry) => {
      bytes += entry.size;
      entries += 1;
      if (tooBig || (bytes <= maxBytes && entries <= MAX_ENTRIES)) return;
      tooBig = new ImportRefusedError(`the archive unpacks to more than ${maxBytes} bytes or ${MAX_ENTRIES} entries (at ${entry.path})`);
      input.destroy();
      headers.abort(tooBig);
    },
  });
  await new Promise<void>((resolve, reject) => {
    headers.on('end', resolve);
    headers.on('error', reject);
    input.on('error', reject);
    input.pipe(headers);
  }).catch((error: unknown) => {
    throw tooBig ?? unreadable(archive, error);
  });
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

async function restore(admin: Client, storage: BlobStorage, work: string, manifest: Manifest, log: (line: string) => void): Promise<void> {
  const stored: StorageKey[] = [];
  await admin.query('begin');
  try {
    const scopes = await checkTarget(admin, manifest);
    const skipped = await accountsAlreadyHere(admin, work, manifest);
    // Superuser only: triggers (locks, state machines, quotas, audit) do not fire for these rows.
    await admin.query('set local session_replication_role = replica');
    const written = new Map<string, number>();
    for (const table of manifest.tables) {
      written.set(table.name, await insertTable(admin, work, table.name, scopes.get(table.name)!, manifest.clinic.id, skipped));
      log(`${table.name}: ${written.get(table.name)} rows`);
    }
    await checkWrittenIntoClinic(admin, written, manifest.clinic.id);
    for (const [index, file] of manifest.files.entries()) {
      const key = file.path.slice('files/'.length) as StorageKey;
      if (await storeFile(storage, key, path.join(work, file.path), file)) stored.push(key);
      if ((index + 1) % 100 === 0 || index + 1 === manifest.files.length) log(`files: ${index + 1} of ${manifest.files.length} stored`);
    }
    await admin.query('set local session_replication_role = origin');
    await checkForeignKeys(
      admin,
      manifest.tables.map((table) => table.name),
      manifest.clinic.id,
    );
    await queueReminders(admin, manifest.clinic.id);
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

/**
 * Refuses a target that already has the clinic, or runs another schema than the archive's; the
 * scope of each table the archive lists, as this database scopes it (refusing any other table and
 * any table the manifest scopes otherwise: a forged scope would skip the clinic's checks).
 */
async function checkTarget(admin: Client, manifest: Manifest): Promise<Map<string, Scope>> {
  const { rows: clinics } = await admin.query('select id, slug from app_public.clinics where id = $1 or slug = $2', [manifest.clinic.id, manifest.clinic.slug]);
  if (clinics.length > 0) throw new ImportRefusedError(`a clinic with id ${manifest.clinic.id} or slug ${manifest.clinic.slug} exists here`);
  const { rows: migration } = await admin.query<{ name: string | null }>('select max(filename) as name from graphile_migrate.migrations');
  if ((migration[0]?.name ?? null) !== manifest.schemaMigration) {
    throw new ImportRefusedError(
      `the archive's schema is ${manifest.schemaMigration}, this database's ${migration[0]?.name}: migrate both to the same release first`,
    );
  }
  const { rows: tables } = await admin.query<{ relation: string; scope: Scope }>('select relation::text, scope from app_private.clinic_export_tables()');
  const scopes = new Map(tables.map((table) => [table.relation, table.scope]));
  const unknown = manifest.tables.filter((table) => !scopes.has(table.name)).map((table) => table.name);
  if (unknown.length > 0) throw new ImportRefusedError(`tables this database does not import: ${unknown.join(', ')}`);
  const rescoped = manifest.tables.filter((table) => scopes.get(table.name) !== table.scope);
  if (rescoped.length > 0) {
    throw new ImportRefusedError(
      `tables scoped otherwise here: ${rescoped.map((table) => `${table.name} (${table.scope}, here ${scopes.get(table.name)})`).join(', ')}`,
    );
  }
  return scopes;
}

/**
 * The archive's accounts that exist here already (the same id and e-mail: a person who is also in
 * another clinic here): kept as they are, login included, their rows not imported. An e-mail here
 * under another id is another person: refused.
 */
async function accountsAlreadyHere(admin: Client, work: string, manifest: Manifest): Promise<Set<string>> {
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

/**
 * The clinic a row belongs to: the clinic's own id, or the row's clinic_id in any table that has
 * one here (a row without it belongs to none, so is refused); undefined for accounts.
 */
function clinicOfRow(scope: Scope, columns: Set<string>, row: Row): unknown {
  if (scope === 'clinic') return row.id;
  return columns.has('clinic_id') ? (row.clinic_id ?? null) : undefined;
}

/**
 * What an account's password hash is imported as: always the unset hash, whatever the archive
 * holds (an export carries none; a forged one would plant a password). The person sets one with
 * the password reset.
 */
const IMPORTED_PASSWORD_HASH = 'app_private.unset_password_hash()';

/**
 * Inserts one table's rows in batches, but for accounts that are here already. A row of another
 * clinic than the manifest's is refused: an archive writes into its own clinic only.
 */
async function insertTable(admin: Client, work: string, table: string, scope: Scope, clinicId: string, skippedAccounts: Set<string>): Promise<number> {
  const columns = await targetColumns(admin, table);
  const isAccounts = table === 'app_private.accounts';
  let batch: string[] = [];
  let names: string[] = [];
  let written = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    const unknown = names.filter((name) => !columns.has(name));
    if (unknown.length > 0) throw new ImportRefusedError(`${table} has no column ${unknown.join(', ')} here`);
    const target = isAccounts ? [...new Set([...names, 'password_hash'])] : names;
    const list = target.map((name) => `"${name}"`).join(', ');
    const values = target.map((name) => (isAccounts && name === 'password_hash' ? IMPORTED_PASSWORD_HASH : `"${name}"`)).join(', ');
    const result = await admin.query(`insert into ${table} (${list}) select ${values} from json_populate_recordset(null::${table}, $1::json)`, [
      `[${batch.join(',')}]`,
    ]);
    written += result.rowCount ?? 0;
    batch = [];
  };
  for await (const { row, line } of jsonLines(path.join(work, tableFile(table)))) {
    if (isAccounts && skippedAccounts.has(String(row.id))) continue;
    const rowClinic = clinicOfRow(scope, columns, row);
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
 * The clinic's rows, counted after the inserts, are every row written to a table with a clinic:
 * a row that reached another clinic (whatever let it through) is refused. The clinic was absent,
 * so its rows here are this import's, and the count reads the clinic's index, not the table.
 */
async function checkWrittenIntoClinic(admin: Client, written: Map<string, number>, clinicId: string): Promise<void> {
  const { rows } = await admin.query<{ name: string; key: string }>(
    `select c.oid::regclass::text as name, case when c.oid = 'app_public.clinics'::regclass then 'id' else 'clinic_id' end as key
     from pg_class c where c.oid = any($1::regclass[])
       and (c.oid = 'app_public.clinics'::regclass
            or exists (select from pg_attribute a where a.attrelid = c.oid and a.attname = 'clinic_id' and not a.attisdropped))`,
    [[...written.keys()]],
  );
  for (const { name, key } of rows) {
    const { rows: count } = await admin.query<{ n: number }>(`select count(*)::int as n from ${name} where ${key} = $1`, [clinicId]);
    if (count[0]!.n !== written.get(name)) throw new ImportRefusedError(`${name}: rows were written outside clinic ${clinicId}`);
  }
}

/**
 * Stores an archived file under its key; true when this import stored it. A blob already there
 * with the same size and SHA-256 (left by an import that was killed) is taken as it is; one that
 * differs is refused, never replaced.
 */
async function storeFile(storage: BlobStorage, key: StorageKey, file: string, expected: { size: number; sha256: string }): Promise<boolean> {
  const existing = await storage.get(key);
  if (!existing) {
    await storage.put(key, createReadStream(file));
    return true;
  }
  const found = await digestStream(existing.stream);
  if (found.size !== expected.size || found.sha256 !== expected.sha256) {
    throw new ImportRefusedError(`the storage holds another file under ${key}: remove it if no clinic here uses it`);
  }
  return false;
}

/**
 * The reminders of the clinic's future bookings, queued as the appointments' trigger queues them
 * at a booking (the replica role kept it from firing): each window whose time is still ahead.
 */
async function queueReminders(admin: Client, clinicId: string): Promise<void> {
  await admin.query(
    `select app_private.queue_appointment_reminder(a, w.reminder_window, a.starts_at - w.lead)
     from app_public.appointments a cross join app_private.appointment_reminder_windows() w
     where a.clinic_id = $1 and a.status = 'booked' and a.starts_at - w.lead > now()`,
    [clinicId],
  );
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
