// Export → `npm run cli -- clinic:import` into another, empty database → export again from there:
// the same tables with the same row counts and checksums, the same files byte for byte. And every
// refusal (a tampered archive, a clinic that exists, an archive that is not whole) writes nothing:
// no row, no file.
import { createHash } from 'node:crypto';
import { readFile, rename, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t, { type Test } from 'tap';
import { create as createTar } from 'tar';
import { actorIn } from '../helpers/actors.ts';
import { cli, tempDir } from '../helpers/cli.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { filesUnder, temporaryStorageDir } from '../helpers/storage.ts';
import type { Manifest } from '../../src/exports/format.ts';
import type { StorageKey } from '../../src/storage/blob-storage.ts';
import { LocalDiskStorage } from '../../src/storage/local-disk.ts';
import { buildExport, filledDatabase, unpack } from './export-helpers.ts';
import { queuedJobs, workerPool } from '../helpers/worker.ts';

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** Counts of what an import writes, to state that a refused one wrote nothing. */
async function footprint(db: TestDatabase) {
  const { rows } = await db.admin.query(`
    select (select count(*)::int from app_public.clinics) as clinics, (select count(*)::int from app_public.patients) as patients,
      (select count(*)::int from app_private.accounts) as accounts, (select count(*)::int from app_audit.audit_log) as audit`);
  return rows[0];
}

/** Rewrites one table of an unpacked archive, and its manifest entry to match (checksums that pass). */
async function rewriteTable(unpacked: { dir: string; manifest: Manifest }, name: string, change: (lines: string[]) => string[]): Promise<void> {
  const file = path.join(unpacked.dir, `tables/${name}.jsonl`);
  const lines = change((await readFile(file, 'utf8')).split('\n').filter(Boolean));
  const bytes = Buffer.from(lines.map((line) => `${line}\n`).join(''));
  await writeFile(file, bytes);
  const entry = unpacked.manifest.tables.find((table) => table.name === name)!;
  Object.assign(entry, { rows: lines.length, size: bytes.length, sha256: sha256(bytes) });
  await writeFile(path.join(unpacked.dir, 'manifest.json'), JSON.stringify(unpacked.manifest));
}

/** Packs an unpacked (and changed) archive folder again. */
async function repack(dir: string, out: string): Promise<string> {
  await createTar({ gzip: true, file: out, cwd: dir }, ['manifest.json', 'tables', 'files']);
  return out;
}

t.test('an export imported into an empty database exports again identically, files included', async (t) => {
  const source = await createTestDatabase(t);
  const filled = await filledDatabase(t, source);
  const { archive } = await buildExport(source, workerPool(t, source), filled.clinics.a, filled.storage);
  const exported = await unpack(t, archive);

  const target = await createTestDatabase(t);
  const targetDir = await temporaryStorageDir(t);
  // A killed import left one of its files behind: the same bytes are taken as they are.
  const [leftKey, leftBytes] = [...filled.blobs].find(([key]) => key.startsWith(filled.clinics.a))!;
  await (await LocalDiskStorage.open(targetDir)).put(leftKey as StorageKey, [leftBytes]);
  const imported = await cli(target, ['clinic:import', archive], '', { STORAGE_DIR: targetDir });
  t.equal(imported.code, 0, imported.output);
  t.match(imported.output, /^verified \d+ tables \(\d+ rows\) and 1 files of clinic clinic-a/m, 'verified first');
  t.match(imported.output, /^app_public\.patients: 1 rows$/m, 'progress per table');
  t.match(imported.output, new RegExp(`^clinic clinic-a \\(${filled.clinics.a}\\) imported$`, 'm'));

  const targetStorage = await LocalDiskStorage.open(targetDir);
  const admin = actorIn(source, filled.clinics.a, 'clinic_admin');
  const again = await buildExport(target, workerPool(t, target), filled.clinics.a, targetStorage, admin.account);
  const reexported = await unpack(t, again.archive);
  const summary = (manifest: typeof exported.manifest) => manifest.tables.map(({ name, rows, sha256 }) => ({ name, rows, sha256 }));
  t.same(summary(reexported.manifest), summary(exported.manifest), 'every table: the same rows, byte for byte');
  t.same(reexported.manifest.files, exported.manifest.files, 'the same files, sizes and checksums');
  for (const file of exported.manifest.files) {
    const key = file.path.slice('files/'.length);
    t.same(await readFile(path.join(targetDir, key)), filled.blobs.get(key), `${key}: the stored bytes in the target`);
  }
  const { rows: audit } = await target.admin.query(
    `select count(*)::int as n from app_audit.audit_log where action = 'clinic.export_imported' and clinic_id = $1`,
    [filled.clinics.a],
  );
  t.same(audit, [{ n: 1 }], "the import is in the target's audit log");

  // No credential arrived: every imported account waits for its password reset, no operator.
  const { rows: logins } = await target.admin.query(`
    select array_agg(distinct password_hash) as hashes, (select count(*)::int from app_private.platform_operators) as operators,
      (select count(*)::int from app_private.two_factor) + (select count(*)::int from app_private.recovery_codes) as factors
    from app_private.accounts`);
  t.same(logins, [{ hashes: ['$argon2id$unset'], operators: 0, factors: 0 }], 'accounts without a password, no operator, no second factor');

  // The future bookings' reminders, queued as a booking queues them.
  const { rows: booked } = await source.admin.query<{ id: string; startsAt: Date }>(
    `select id, starts_at as "startsAt" from app_public.appointments where clinic_id = $1 and status = 'booked' and starts_at > now() order by id`,
    [filled.clinics.a],
  );
  t.ok(booked.length >= 1, 'the fixture books an appointment in 2030');
  const reminders = (await queuedJobs(target, 'appointments__remind')).map((job) => ({ key: job.key, runAt: job.runAt }));
  t.same(
    reminders.sort((x, y) => String(x.key).localeCompare(String(y.key))),
    booked
      .flatMap(({ id, startsAt }) => [
        { key: `appointments__remind:${filled.clinics.a}:${id}:24h`, runAt: new Date(startsAt.getTime() - 24 * 3_600_000) },
        { key: `appointments__remind:${filled.clinics.a}:${id}:2h`, runAt: new Date(startsAt.getTime() - 2 * 3_600_000) },
      ])
      .sort((x, y) => x.key.localeCompare(y.key)),
    'each booked appointment: its 24 h and 2 h reminders',
  );

  const before = await footprint(target);
  const filesBefore = await filesUnder(targetDir);
  const twice = await cli(target, ['clinic:import', archive], '', { STORAGE_DIR: targetDir });
  t.equal(twice.code, 1);
  t.match(twice.output, `import refused: a clinic with id ${filled.clinics.a} or slug clinic-a exists here`);
  t.same(await footprint(target), before, 'a clinic that exists: nothing written');
  t.same(await filesUnder(targetDir), filesBefore, 'and no file');
});

t.test('refused imports write nothing', async (t) => {
  const source = await createTestDatabase(t);
  const filled = await filledDatabase(t, source);
  const { archive } = await buildExport(source, workerPool(t, source), filled.clinics.a, filled.storage);
  const target = await createTestDatabase(t);
  const targetDir = await temporaryStorageDir(t);
  let empty = await footprint(target);
  const work = await tempDir(t, 'clinicbase-tamper-');
  const run = (file: string, ...flags: string[]) => cli(target, ['clinic:import', file, ...flags], '', { STORAGE_DIR: targetDir });
  const nothingWritten = async (t: Test, what: string) => {
    t.same(await footprint(target), empty, `${what}: no row`);
    t.same(await filesUnder(targetDir), [], `${what}: no file`);
  };

  const usage = await cli(target, ['clinic:import'], '', { STORAGE_DIR: targetDir });
  t.equal(usage.code, 2, 'no archive named: the usage');
  t.match(usage.output, 'npm run cli -- clinic:import <archive>\n');

  // A file under one of the clinic's keys here with other bytes is never replaced.
  const [fileKey] = [...filled.blobs.keys()].filter((key) => key.startsWith(filled.clinics.a));
  const targetStorage = await LocalDiskStorage.open(targetDir);
  await targetStorage.put(fileKey as StorageKey, [Buffer.from('other bytes')]);
  const differing = await run(archive);
  t.equal(differing.code, 1);
  t.match(differing.output, `import refused: the storage holds another file under ${fileKey}`);
  t.same(await footprint(target), empty, 'another file under a key: no row');
  t.same(await filesUnder(targetDir), [fileKey], 'and that file as it was');
  await targetStorage.delete(fileKey as StorageKey);

  // The probe: a forged manifest scopes departments as accounts (no clinic check) and its rows
  // name another clinic of the target.
  const { rows: others } = await target.admin.query<{ id: string }>(`insert into app_public.clinics (slug, name) values ('other-here', 'Other') returning id`);
  const otherHere = others[0]!.id;
  const withOther = await footprint(target);
  const probe = await unpack(t, archive);
  await rewriteTable(probe, 'app_public.departments', (lines) => lines.map((line) => line.replaceAll(filled.clinics.a, otherHere)));
  probe.manifest.tables.find((table) => table.name === 'app_public.departments')!.scope = 'account';
  await writeFile(path.join(probe.dir, 'manifest.json'), JSON.stringify(probe.manifest));
  const forged = await run(await repack(probe.dir, path.join(work, 'probe.tar.gz')));
  t.equal(forged.code, 1);
  t.match(forged.output, 'import refused: tables scoped otherwise here: app_public.departments (account, here tenant)');
  t.same(await footprint(target), withOther, 'a forged scope: no row');
  t.same((await target.admin.query('select count(*)::int as n from app_public.departments')).rows, [{ n: 0 }], 'no department anywhere');
  t.same(await filesUnder(targetDir), [], 'and no file');
  await target.admin.query('delete from app_public.clinics where id = $1', [otherHere]);
  // The audit log keeps that clinic's coming and going: what follows is compared with this.
  empty = await footprint(target);

  // Someone else here already has the e-mail of one of the clinic's people.
  const email = `actor-clinic-admin-${filled.clinics.a}@example.test`;
  await target.admin.query(`insert into app_private.accounts (email, password_hash) values ($1, '$argon2id$v=19$someone-else')`, [email]);
  const withClash = await footprint(target);
  const clash = await run(archive);
  t.equal(clash.code, 1);
  t.match(clash.output, `import refused: accounts exist here under another id or e-mail: ${email}`);
  t.same(await footprint(target), withClash, 'an e-mail of another account here: no row');
  t.same(await filesUnder(targetDir), [], 'and no file');
  await target.admin.query('delete from app_private.accounts where email = $1', [email]);

  const tampered = await unpack(t, archive);
  const patients = path.join(tampered.dir, 'tables/app_public.patients.jsonl');
  await writeFile(patients, (await readFile(patients, 'utf8')).replace('Patient Fixture', 'Patient Fixturf'));
  const changed = await run(await repack(tampered.dir, path.join(work, 'tampered.tar.gz')));
  t.equal(changed.code, 1);
  t.match(changed.output, 'import refused: tables/app_public.patients.jsonl does not match its checksum');
  await nothingWritten(t, 'a changed row');

  const extra = await unpack(t, archive);
  await writeFile(path.join(extra.dir, 'tables/app_public.smuggled.jsonl'), '{}\n');
  const smuggled = await run(await repack(extra.dir, path.join(work, 'extra.tar.gz')));
  t.match(smuggled.output, 'import refused: the archive holds files its manifest does not list: tables/app_public.smuggled.jsonl');
  await nothingWritten(t, 'an unlisted file');

  // Consistent checksums over rows of another clinic: refused before the clinic's rows are written.
  const foreign = await unpack(t, archive);
  await rewriteTable(foreign, 'app_public.departments', (lines) => lines.map((line) => line.replace(filled.clinics.a, filled.clinics.b)));
  const intoOther = await run(await repack(foreign.dir, path.join(work, 'foreign.tar.gz')));
  t.equal(intoOther.code, 1);
  t.match(intoOther.output, `import refused: app_public.departments holds rows of another clinic than ${filled.clinics.a}`);
  await nothingWritten(t, 'a row of another clinic');

  // Consistent checksums over an archive that is not whole: the foreign keys catch it after the
  // rows and the files went in, and both are taken back.
  const partial = await unpack(t, archive);
  await rewriteTable(partial, 'app_public.patient_history', (lines) =>
    lines.slice(0, 1).map((line) => line.replace(/"patient_id":"[^"]+"/, '"patient_id":"00000000-0000-4000-8000-000000000000"')),
  );
  const broken = await run(await repack(partial.dir, path.join(work, 'partial.tar.gz')));
  t.equal(broken.code, 1);
  t.match(broken.output, 'import refused: a row breaks the foreign key patient_history_patient_id_fkey: the archive is not whole');
  t.match(broken.output, /^app_public\.patients: 1 rows$/m, 'the rows had gone in');
  t.match(broken.output, /^files: 1 of 1 stored$/m, 'and the files');
  await nothingWritten(t, 'a broken reference');

  // A person already here (the same account id and e-mail: a member of another clinic here) keeps
  // their login as it is here; the clinic arrives around it.
  const admin = actorIn(source, filled.clinics.a, 'clinic_admin');
  await target.admin.query(`insert into app_private.accounts (id, email, password_hash) values ($1, $2, '$argon2id$v=19$the-target-s-own')`, [
    admin.account,
    email,
  ]);
  const around = await run(archive);
  t.equal(around.code, 0, around.output);
  t.same(
    (await target.admin.query('select password_hash as hash from app_private.accounts where id = $1', [admin.account])).rows,
    [{ hash: '$argon2id$v=19$the-target-s-own' }],
    'an account here already keeps its login',
  );
  t.same(
    (await target.admin.query('select count(*)::int as n from app_public.clinic_members where account_id = $1', [admin.account])).rows,
    [{ n: 1 }],
    'and is a member of the imported clinic',
  );
});

t.test('a malformed archive is refused by name, nothing written', async (t) => {
  const source = await createTestDatabase(t);
  const filled = await filledDatabase(t, source);
  const { archive } = await buildExport(source, workerPool(t, source), filled.clinics.a, filled.storage);
  const target = await createTestDatabase(t);
  const targetDir = await temporaryStorageDir(t);
  const empty = await footprint(target);
  const work = await tempDir(t, 'clinicbase-malformed-');

  /** An archive changed by `change` (on its unpacked folder), repacked with `entries`. */
  const variant = async (
    name: string,
    change: (unpacked: Awaited<ReturnType<typeof unpack>>) => Promise<void>,
    entries = ['manifest.json', 'tables', 'files'],
  ) => {
    const unpacked = await unpack(t, archive);
    await change(unpacked);
    const out = path.join(work, `${name}.tar.gz`);
    await createTar({ gzip: true, file: out, cwd: unpacked.dir }, entries);
    return out;
  };
  const rewriteManifest = (unpacked: { dir: string; manifest: Manifest }) =>
    writeFile(path.join(unpacked.dir, 'manifest.json'), JSON.stringify(unpacked.manifest));
  const notGzip = path.join(work, 'not-an-archive.tar.gz');
  await writeFile(notGzip, 'plain text, not gzip');

  const CASES: [string, Promise<string>, string][] = [
    ['not an archive', Promise.resolve(notGzip), `import refused: ${notGzip} is not a readable .tar.gz`],
    ['no manifest', variant('no-manifest', async () => {}, ['tables', 'files']), 'import refused: manifest.json is missing or not a manifest of this format'],
    [
      'a link',
      variant('link', (u) => symlink('/etc/passwd', path.join(u.dir, 'tables/link.jsonl'))),
      'import refused: the archive holds entries other than files and folders: tables/link.jsonl',
    ],
    [
      'a listed file missing',
      variant('missing', (u) => rm(path.join(u.dir, 'tables/app_public.departments.jsonl'))),
      'import refused: tables/app_public.departments.jsonl is listed but missing',
    ],
    [
      'a row count that is not the file',
      variant('count', async (u) => {
        u.manifest.tables.find((table) => table.name === 'app_public.departments')!.rows += 1;
        await rewriteManifest(u);
      }),
      'import refused: app_public.departments has 1 rows, its manifest says 2',
    ],
    [
      'another schema',
      variant('schema', async (u) => {
        u.manifest.schemaMigration = '999999-from-the-future.sql';
        await rewriteManifest(u);
      }),
      "import refused: the archive's schema is 999999-from-the-future.sql",
    ],
    [
      'a table this database lacks',
      variant('table', (u) =>
        rewriteTable(u, 'app_public.departments', (lines) => lines).then(() => renameTable(u, 'app_public.departments', 'app_public.rooms')),
      ),
      'import refused: tables this database does not import: app_public.rooms',
    ],
    [
      'a tar bomb (128 MiB of zeros in a small archive)',
      variant('bomb', async (u) => {
        // A sparse file: 128 MiB of zeros that take no disk here and pack to a few hundred KiB.
        await writeFile(path.join(u.dir, 'tables/big.jsonl'), '');
        await truncate(path.join(u.dir, 'tables/big.jsonl'), 128 * 1024 * 1024);
      }),
      `import refused: the archive unpacks to more than ${64 * 1024 * 1024} bytes or 1000000 entries (at tables/big.jsonl)`,
    ],
    [
      'a credential table (an archive of an earlier release)',
      variant('credentials', async (u) => {
        await writeFile(path.join(u.dir, 'tables/app_private.two_factor.jsonl'), '');
        u.manifest.tables.push({
          name: 'app_private.two_factor',
          scope: 'account',
          file: 'tables/app_private.two_factor.jsonl',
          rows: 0,
          size: 0,
          sha256: sha256(Buffer.alloc(0)),
        });
        await rewriteManifest(u);
      }),
      'import refused: tables this database does not import: app_private.two_factor',
    ],
    [
      'a column this database lacks',
      variant('column', (u) => rewriteTable(u, 'app_public.departments', (lines) => lines.map((line) => line.replace(/}$/, ',"floor":3}')))),
      'import refused: app_public.departments has no column floor here',
    ],
    [
      'a line that is not JSON',
      variant('json', (u) => rewriteTable(u, 'app_public.departments', (lines) => lines.map((line) => line.slice(1)))),
      'import refused: app_public.departments.jsonl holds a line that is not JSON',
    ],
    [
      'rows of different columns',
      variant('columns', (u) => rewriteTable(u, 'app_public.departments', (lines) => [lines[0]!, lines[0]!.replace(/,"description":[^,]*/, '')])),
      'import refused: app_public.departments has rows of different columns',
    ],
  ];
  for (const [what, file, message] of CASES) {
    const refused = await cli(target, ['clinic:import', await file], '', { STORAGE_DIR: targetDir });
    t.equal(refused.code, 1, `${what}: exit 1`);
    t.match(refused.output, message, `${what}: named`);
  }
  t.same(await footprint(target), empty, 'no row');
  t.same(await filesUnder(targetDir), [], 'no file');
});

/** Gives an unpacked archive's table another name, file and manifest entry alike. */
async function renameTable(unpacked: { dir: string; manifest: Manifest }, from: string, to: string): Promise<void> {
  await rename(path.join(unpacked.dir, `tables/${from}.jsonl`), path.join(unpacked.dir, `tables/${to}.jsonl`));
  Object.assign(unpacked.manifest.tables.find((table) => table.name === from)!, { name: to, file: `tables/${to}.jsonl` });
  await writeFile(path.join(unpacked.dir, 'manifest.json'), JSON.stringify(unpacked.manifest));
}
