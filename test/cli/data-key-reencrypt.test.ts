// `npm run cli -- data-key:reencrypt`, the last step of a data key rotation: during the rotation
// (new key first, old key second) rows under the old key are still found and read; the command
// moves every one of them, in every clinic, to the new key (ciphertext and look-up hash), printing
// progress, and a second run finds nothing left. A key missing from the list stops it with the
// key's id. Batches and rows changed meanwhile, through the function itself.
import pg from 'pg';
import t from 'tap';
import { formatDataKey, generateDataKey } from '../../src/crypto/data-keys.ts';
import { createFieldCipher } from '../../src/crypto/field-encryption.ts';
import { reencryptIdentificationNumbers } from '../../src/modules/patients/index.ts';
import { createActors, insertAsAdmin } from '../helpers/actors.ts';
import { buildTestApp } from '../helpers/app.ts';
import { cli } from '../helpers/cli.ts';
import { testClient } from '../helpers/client.ts';
import { createClinics, createTestDatabase, type TestDatabase } from '../helpers/db.ts';

const FIELD = 'patients.identification_number';
const oldKey = { ...generateDataKey(), id: 'key-old' };
const newKey = { ...generateDataKey(), id: 'key-new' };
const underOld = createFieldCipher([oldKey]);
const underNew = createFieldCipher([newKey]);
const rotating = createFieldCipher([newKey, oldKey]);

/** A patient whose number was encrypted and hashed by `cipher`. */
async function patientUnder(db: TestDatabase, clinicId: string, cipher: typeof underOld, number: string, n: number): Promise<string> {
  const context = { clinicId, field: FIELD };
  return insertAsAdmin(db, clinicId, 'app_public.patients', {
    full_name: `Rotated Person ${n}`,
    date_of_birth: '1970-01-01',
    sex: 'unknown',
    identification_type: 'national_id',
    identification_number_ciphertext: cipher.encrypt(number, context),
    identification_number_hmac: cipher.lookupHash(number, context),
  });
}

const stored = async (db: TestDatabase) =>
  (
    await db.admin.query<{ id: string; clinic_id: string; c: string | null; h: string | null }>(
      'select id, clinic_id, identification_number_ciphertext as c, identification_number_hmac as h from app_public.patients order by id',
    )
  ).rows;

t.test('rotation: rows under the old key are read meanwhile, then re-encrypted by the command', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  await createActors(db, [clinics.a, clinics.b]);
  const numbers = new Map<string, string>();
  for (const [n, clinic] of [
    [1, clinics.a],
    [2, clinics.a],
    [3, clinics.a],
    [4, clinics.b],
    [5, clinics.b],
  ] as const) {
    const number = `ID${n}000${n}`;
    numbers.set(await patientUnder(db, clinic, underOld, number, n), number);
  }
  numbers.set(await patientUnder(db, clinics.a, underNew, 'ID60006', 6), 'ID60006');
  await insertAsAdmin(db, clinics.a, 'app_public.patients', { full_name: 'No Number', date_of_birth: '1970-01-01', sex: 'unknown' });

  // Meanwhile, the API with the new key first and the old one second finds and reads old rows.
  const { app } = await buildTestApp(t, db.authenticatorUrl, undefined, undefined, {}, { fieldCipher: rotating });
  const client = testClient(app);
  const { rows: admins } = await db.admin.query(`select account_id from app_public.clinic_members where clinic_id = $1 and role = 'clinic_admin'`, [clinics.a]);
  const admin = await client.clinicToken('clinic_admin', { id: clinics.a, slug: 'clinic-a' }, admins[0].account_id);
  const found = await client.call('GET', '/api/v1/clinics/clinic-a/patients?identificationNumber=id1-0001', admin);
  t.same(
    found.json().items.map((item: { fullName: string }) => item.fullName),
    ['Rotated Person 1'],
    'a search hashes under both keys',
  );
  t.equal((await client.call('GET', `/api/v1/clinics/clinic-a/patients/${found.json().items[0].id}`, admin)).json().identificationNumber, 'ID10001');

  const keys = `${formatDataKey(newKey)},${formatDataKey(oldKey)}`;
  const run = await cli(db, ['data-key:reencrypt'], '', { DATA_ENCRYPTION_KEY: keys });
  t.equal(run.code, 0, run.output);
  t.match(run.output, /clinic-a: 3 re-encrypted\n/);
  t.match(run.output, /clinic-b: 2 re-encrypted\n/);
  t.match(run.output, /done: 5 identification numbers re-encrypted under key key-new in 2 clinics\n/);

  for (const row of await stored(db)) {
    if (row.c === null) continue;
    const context = { clinicId: row.clinic_id, field: FIELD };
    t.equal(underNew.decrypt(row.c, context), numbers.get(row.id), 'the new key alone reads it');
    t.equal(row.h, underNew.lookupHash(numbers.get(row.id)!, context), 'its hash is the new key’s');
  }
  const again = await cli(db, ['data-key:reencrypt'], '', { DATA_ENCRYPTION_KEY: keys });
  t.match(again, { code: 0, output: /done: 0 identification numbers re-encrypted under key key-new in 0 clinics\n/ });

  const lost = await patientUnder(db, clinics.b, underOld, 'ID70007', 7);
  const before = await stored(db);
  const withoutOld = await cli(db, ['data-key:reencrypt'], '', { DATA_ENCRYPTION_KEY: formatDataKey(newKey) });
  t.equal(withoutOld.code, 1, 'a row under a key no longer listed stops the command');
  t.match(withoutOld.output, /encrypted under key "key-old", which DATA_ENCRYPTION_KEY does not list/);
  t.notMatch(withoutOld.output, /\n\s+at /, 'one message, no stack');
  t.same(await stored(db), before, 'and changes nothing');
  t.match(
    before.find((row) => row.id === lost),
    { c: /^v1\.key-old\./ },
  );
});

t.test('in batches; a row changed meanwhile is left to its new value', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  await createActors(db, [clinics.a]);
  const ids: string[] = [];
  for (let n = 1; n <= 5; n++) ids.push(await patientUnder(db, clinics.a, underOld, `B${n}`, n));
  const owner = new pg.Client({ connectionString: db.ownerUrl });
  await owner.connect();
  t.teardown(() => owner.end());

  const lines: string[] = [];
  // A receptionist's correction lands between the read of a batch and its update.
  const changed = ids.sort()[0]!;
  const racing = {
    query: async (text: string, values: unknown[]) => {
      if (text.trimStart().startsWith('update') && lines.length === 0) {
        await db.admin.query(`update app_public.patients set identification_number_ciphertext = $1, identification_number_hmac = $2 where id = $3`, [
          underNew.encrypt('CORRECTED', { clinicId: clinics.a, field: FIELD }),
          underNew.lookupHash('CORRECTED', { clinicId: clinics.a, field: FIELD }),
          changed,
        ]);
      }
      return owner.query(text, values);
    },
  } as unknown as pg.Client;
  const report = await reencryptIdentificationNumbers(racing, rotating, (line) => lines.push(line), 2);
  t.same(lines, [
    'clinic-a: 1 re-encrypted',
    'clinic-a: 3 re-encrypted',
    'clinic-a: 4 re-encrypted',
    'done: 4 identification numbers re-encrypted under key key-new in 1 clinics',
  ]);
  t.same(report, { clinics: 1, reencrypted: 4 });
  const rows = await stored(db);
  t.equal(underNew.decrypt(rows.find((row) => row.id === changed)!.c!, { clinicId: clinics.a, field: FIELD }), 'CORRECTED', 'the correction stands');
  t.ok(
    rows.every((row) => row.c!.startsWith('v1.key-new.') && row.h!.startsWith('key-new:')),
    'every row under the new key',
  );
});
