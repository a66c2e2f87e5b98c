// The blob storage on a real disk, in a folder of each test's own: what lands where, with which
// permissions, and what never lands anywhere (malformed keys, staged blobs before their commit,
// discarded ones, what crashed uploads left).
import { mkdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { text } from 'node:stream/consumers';
import Fastify from 'fastify';
import t from 'tap';
import storagePlugin from '../../src/plugins/storage.ts';
import { InvalidStorageKeyError, type StorageKey, storageKey } from '../../src/storage/blob-storage.ts';
import { LocalDiskStorage, StorageUnavailableError } from '../../src/storage/local-disk.ts';
import { filesUnder, temporaryStorageDir } from '../helpers/storage.ts';

const CLINIC = '3f2c8a4e-1b7d-4c2a-9e8f-0a1b2c3d4e5f';
const FILE = '9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a';
const OTHER_FILE = '0e1d2c3b-4a59-4687-a5b4-c3d2e1f0a9b8';
const KEY = storageKey(CLINIC, FILE);

const modeOf = async (file: string) => (await stat(file)).mode & 0o777;

t.test('put, get and delete: the bytes under <clinic>/<file>, private to the server', async (t) => {
  const root = await temporaryStorageDir(t);
  const storage = await LocalDiskStorage.open(root);
  t.equal(await storage.put(KEY, [Buffer.from('first part, '), Buffer.from('second part')]), 23, 'put answers the size');

  t.same(await filesUnder(root), [`${CLINIC}/${FILE}`], 'one file, at <clinic>/<file>, nothing left staged');
  t.equal(await readFile(path.join(root, CLINIC, FILE), 'utf8'), 'first part, second part', 'the bytes as given');
  t.equal(await modeOf(path.join(root, CLINIC, FILE)), 0o600, 'the blob: 0600');
  t.equal(await modeOf(path.join(root, CLINIC)), 0o700, "the clinic's folder: 0700");
  t.equal(await modeOf(path.join(root, '.staging')), 0o700, 'the staging folder: 0700');
  t.equal(storage.rootMode, 0o700, 'the root it made: 0700');

  const blob = await storage.get(KEY);
  t.equal(blob?.sizeBytes, 23, 'get: the size');
  t.equal(await text(blob!.stream), 'first part, second part', 'get: the bytes');
  t.equal(await storage.get(storageKey(CLINIC, OTHER_FILE)), undefined, 'a key without a blob: undefined');

  t.equal(await storage.delete(KEY), true, 'delete: true');
  t.same(await filesUnder(root), [], 'the blob is gone');
  t.equal(await storage.get(KEY), undefined, 'get after delete: undefined');
  t.equal(await storage.delete(KEY), false, 'delete again: false');
});

t.test('keys are two canonical UUIDs; anything else throws before the filesystem is touched', async (t) => {
  for (const [clinicId, fileId] of [
    ['..', FILE],
    [CLINIC, '..'],
    [CLINIC.toUpperCase(), FILE],
    [` ${CLINIC}`, FILE],
    [CLINIC, `${FILE}\u0000`],
    [CLINIC, `${FILE}/x`],
    [`${CLINIC}/..`, FILE],
    ['', FILE],
    [CLINIC, 'scan.pdf'],
  ]) {
    t.throws(() => storageKey(clinicId!, fileId!), InvalidStorageKeyError, `storageKey(${JSON.stringify(clinicId)}, ${JSON.stringify(fileId)}) throws`);
  }
  t.equal(storageKey(CLINIC, FILE), `${CLINIC}/${FILE}`, 'control: two UUIDs make a key');

  const parent = await temporaryStorageDir(t);
  const root = path.join(parent, 'files');
  const storage = await LocalDiskStorage.open(root);
  // Something outside the storage that a path trick would reach.
  await writeFile(path.join(parent, 'outside'), 'not yours');
  await mkdir(path.join(parent, CLINIC));
  await writeFile(path.join(parent, CLINIC, FILE), 'not yours either');
  const forged = [
    '../outside',
    `../${CLINIC}/${FILE}`,
    `${CLINIC}/../../${CLINIC}/${FILE}`,
    `${CLINIC}/${FILE}/x`,
    `${CLINIC}//${FILE}`,
    `/${CLINIC}/${FILE}`,
    `${CLINIC}\\${FILE}`,
    `${CLINIC}/${FILE}\u0000`,
    `${CLINIC}/${FILE} `,
    `${CLINIC.toUpperCase()}/${FILE}`,
    '.staging/x',
    CLINIC,
  ] as StorageKey[];
  for (const key of forged) {
    await t.rejects(storage.put(key, [Buffer.from('x')]), InvalidStorageKeyError, `put(${JSON.stringify(key)}) throws`);
    await t.rejects(storage.get(key), InvalidStorageKeyError, `get(${JSON.stringify(key)}) throws`);
    await t.rejects(storage.delete(key), InvalidStorageKeyError, `delete(${JSON.stringify(key)}) throws`);
    const staged = await storage.stage();
    await t.rejects(staged.commit(key), InvalidStorageKeyError, `commit(${JSON.stringify(key)}) throws`);
    await staged.discard();
  }
  t.same(await filesUnder(root), [], 'nothing was written under the storage');
  t.same(await filesUnder(parent), [`${CLINIC}/${FILE}`, 'outside'], 'nothing outside it was touched');
  t.equal(await readFile(path.join(parent, 'outside'), 'utf8'), 'not yours', 'the file outside is unchanged');
});

t.test('a staged blob appears under its key only on commit, whole, and never over another', async (t) => {
  const root = await temporaryStorageDir(t);
  const storage = await LocalDiskStorage.open(root);

  const staged = await storage.stage();
  await staged.write(Buffer.from('scan '));
  await staged.write(Buffer.from('bytes'));
  t.equal(await storage.get(KEY), undefined, 'before commit: nothing under the key');
  const [stagedName] = await filesUnder(root);
  t.match(stagedName, /^\.staging\/[0-9a-f-]{36}\.part$/, 'the bytes are in .staging under a random name');
  t.equal(await modeOf(path.join(root, stagedName!)), 0o600, 'the staged file: 0600');

  await staged.commit(KEY);
  t.same(await filesUnder(root), [`${CLINIC}/${FILE}`], 'after commit: under the key, nothing left staged');
  t.equal(await text((await storage.get(KEY))!.stream), 'scan bytes', 'all the bytes');
  await t.rejects(staged.write(Buffer.from('more')), /A committed blob cannot be written/, 'a committed blob takes no more bytes');

  const second = await storage.stage();
  await second.write(Buffer.from('another upload'));
  await t.rejects(second.commit(KEY), { code: 'EEXIST' }, 'a key that holds a blob is not overwritten');
  t.equal(await text((await storage.get(KEY))!.stream), 'scan bytes', 'the first blob is intact');
  await second.discard();
  t.same(await filesUnder(root), [`${CLINIC}/${FILE}`], 'the refused one is discarded');
});

t.test('discard removes the staged bytes, or the committed blob when the row was not recorded', async (t) => {
  const root = await temporaryStorageDir(t);
  const storage = await LocalDiskStorage.open(root);

  const abandoned = await storage.stage();
  await abandoned.write(Buffer.from('half an upload'));
  await abandoned.discard();
  t.same(await filesUnder(root), [], 'a discarded staged blob leaves nothing');
  await abandoned.discard();
  t.pass('discard twice: no error');
  await t.rejects(abandoned.commit(KEY), /A discarded blob cannot be committed/, 'a discarded blob cannot be committed');
  t.same(await filesUnder(root), [], 'still nothing');

  const rolledBack = await storage.stage();
  await rolledBack.write(Buffer.from('recorded by a transaction that failed'));
  await rolledBack.commit(KEY);
  t.same(await filesUnder(root), [`${CLINIC}/${FILE}`], 'committed');
  await rolledBack.discard();
  t.same(await filesUnder(root), [], 'discard after commit removes the blob');
  t.equal(await storage.get(KEY), undefined, 'nothing under the key');
});

t.test('staged files older than an hour (a crash left them) are swept at start; younger ones may be uploads in progress', async (t) => {
  const root = await temporaryStorageDir(t);
  const storage = await LocalDiskStorage.open(root);
  const staging = path.join(root, '.staging');
  const hoursAgo = (hours: number) => new Date(Date.now() - hours * 3600_000);
  await writeFile(path.join(staging, 'crashed.part'), 'left by a crash');
  await utimes(path.join(staging, 'crashed.part'), hoursAgo(2), hoursAgo(2));
  await writeFile(path.join(staging, 'just-over.part'), 'untouched for an hour and a minute');
  await utimes(path.join(staging, 'just-over.part'), hoursAgo(61 / 60), hoursAgo(61 / 60));
  await writeFile(path.join(staging, 'in-progress.part'), 'written ten minutes ago');
  await utimes(path.join(staging, 'in-progress.part'), hoursAgo(1 / 6), hoursAgo(1 / 6));
  await storage.put(KEY, [Buffer.from('a committed blob')]);
  await utimes(path.join(root, CLINIC, FILE), hoursAgo(48), hoursAgo(48));

  const logs: Record<string, unknown>[] = [];
  const app = Fastify({ logger: { level: 'info', stream: { write: (line: string) => logs.push(JSON.parse(line)) } } });
  await app.register(storagePlugin, { dir: root });
  await app.ready();
  t.teardown(() => app.close());
  t.same(
    await filesUnder(root),
    ['.staging/in-progress.part', `${CLINIC}/${FILE}`],
    'the two stale staged files are gone; the young one and the (old) committed blob stay',
  );
  t.match(logs, [{ level: 30, swept: 2, msg: 'removed files that unfinished uploads left in STORAGE_DIR/.staging' }], 'the sweep is logged');
  t.equal(await text((await app.storage.get(KEY))!.stream), 'a committed blob', 'app.storage serves the committed blob');
  t.equal(await storage.sweepStaged(), 0, 'a second sweep finds nothing stale');
});

t.test('STORAGE_DIR open to other users is a warning at start; one that cannot be made stops the start', async (t) => {
  const parent = await temporaryStorageDir(t);
  const open = path.join(parent, 'shared');
  await mkdir(open, { mode: 0o755 });
  const logs: Record<string, unknown>[] = [];
  const app = Fastify({ logger: { level: 'info', stream: { write: (line: string) => logs.push(JSON.parse(line)) } } });
  await app.register(storagePlugin, { dir: open });
  await app.ready();
  t.teardown(() => app.close());
  t.match(logs, [{ level: 40, mode: '755', msg: /^STORAGE_DIR is open to other users/ }], 'warned, with the mode');
  t.equal(await modeOf(open), 0o755, "the operator's folder is not changed behind their back");

  await writeFile(path.join(parent, 'a-file'), '');
  const blocked = path.join(parent, 'a-file', 'files');
  await t.rejects(LocalDiskStorage.open(blocked), StorageUnavailableError, 'a folder under a file cannot be made');
  await t.rejects(
    LocalDiskStorage.open(blocked),
    { message: `STORAGE_DIR ${blocked} cannot be created or opened (ENOTDIR): set STORAGE_DIR to a folder the server's user may write.` },
    'one line that says what to do',
  );
});
