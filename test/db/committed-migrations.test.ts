// Committed migrations are immutable: migrations/committed/SHA256SUMS records every committed file,
// and a file edited, removed or added by hand after that is caught.
import { createHash } from 'node:crypto';
import { appendFile, cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { checkCommittedMigrations, recordNewMigrations } from '../../src/db/committed-migrations.ts';

const COMMITTED = path.resolve(import.meta.dirname, '../../migrations/committed');
const sha256 = (content: Buffer | string) => createHash('sha256').update(content).digest('hex');

async function copyOfCommitted(t: Test): Promise<string> {
  const folder = await mkdtemp(path.join(tmpdir(), 'clinicbase-committed-'));
  t.teardown(() => rm(folder, { recursive: true, force: true }));
  await cp(COMMITTED, folder, { recursive: true });
  return folder;
}

t.test('SHA256SUMS lists every committed migration with the hash of its current content', async (t) => {
  const files = (await readdir(COMMITTED)).filter((f) => f.endsWith('.sql')).sort();
  t.ok(files.includes('000001.sql'), 'the committed migrations are there');
  const expected = await Promise.all(files.map(async (f) => `${sha256(await readFile(path.join(COMMITTED, f)))}  ${f}`));
  const manifest = (await readFile(path.join(COMMITTED, 'SHA256SUMS'), 'utf8')).split('\n').filter(Boolean);
  t.same(manifest, expected, 'a committed migration was edited, removed or added without `npm run db:commit`');
  t.same(await checkCommittedMigrations(COMMITTED), []);
});

t.test('an edited, a removed and an unrecorded migration are each named', async (t) => {
  const folder = await copyOfCommitted(t);
  await appendFile(path.join(folder, '000002-identity-accounts-members-sessions.sql'), '\n-- a harmless-looking comment\n');
  await rm(path.join(folder, '000003-two-factor-support-access-clinic-profile-plan-quotas.sql'));
  await writeFile(path.join(folder, '000099-by-hand.sql'), 'select 1;\n');
  t.same(await checkCommittedMigrations(folder), [
    { file: '000002-identity-accounts-members-sessions.sql', problem: 'edited' },
    { file: '000003-two-factor-support-access-clinic-profile-plan-quotas.sql', problem: 'gone' },
    { file: '000099-by-hand.sql', problem: 'unrecorded' },
  ]);
});

t.test('db:commit records a new migration and leaves every recorded line as it was', async (t) => {
  const folder = await copyOfCommitted(t);
  const before = await readFile(path.join(folder, 'SHA256SUMS'), 'utf8');
  await writeFile(path.join(folder, '000099-rooms.sql'), '--! Previous: sha1:x\n--! Hash: sha1:y\n\ncreate table rooms ();\n');
  t.same(await recordNewMigrations(folder), ['000099-rooms.sql']);
  t.equal(
    await readFile(path.join(folder, 'SHA256SUMS'), 'utf8'),
    `${before}${sha256('--! Previous: sha1:x\n--! Hash: sha1:y\n\ncreate table rooms ();\n')}  000099-rooms.sql\n`,
  );
  t.same(await checkCommittedMigrations(folder), []);
});

t.test('db:commit records nothing while a committed migration was edited', async (t) => {
  const folder = await copyOfCommitted(t);
  const before = await readFile(path.join(folder, 'SHA256SUMS'), 'utf8');
  await appendFile(path.join(folder, '000001.sql'), '\n-- re-signed later\n');
  await writeFile(path.join(folder, '000099-rooms.sql'), 'select 1;\n');
  await t.rejects(recordNewMigrations(folder), { message: /000001\.sql was edited after it was committed/ });
  t.equal(await readFile(path.join(folder, 'SHA256SUMS'), 'utf8'), before);
});
