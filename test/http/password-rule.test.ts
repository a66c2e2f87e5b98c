// The password rule's length: 12 characters is the least a new password may have. Checked at the
// boundary (11 refused, 12 accepted) with passwords on no common list, through the rule itself
// and through a route that sets a password, where the refusal leaves the stored hash as it was.
import t from 'tap';
import { newPassword, passwordProblem } from '../../src/auth/password-policy.ts';
import { buildTestApp } from '../helpers/app.ts';
import { testClient } from '../helpers/client.ts';
import { createClinics, createTestDatabase } from '../helpers/db.ts';
import { createPerson } from '../helpers/people.ts';

const ELEVEN = 'Vq3#kTm9!zL';
const TWELVE = 'Vq3#kTm9!zLw';

t.test('the rule: 11 characters are too few, 12 are enough', async (t) => {
  t.equal([...ELEVEN].length, 11, 'the short one has 11 characters');
  t.equal([...TWELVE].length, 12, 'the other has 12');
  t.equal(passwordProblem(ELEVEN), 'must be at least 12 characters', '11 characters: refused, and the message says 12');
  t.equal(passwordProblem(TWELVE), undefined, '12 characters: accepted');
  t.same(
    newPassword.safeParse(ELEVEN).error?.issues.map((issue) => issue.message),
    ['must be at least 12 characters'],
    'the schema refuses 11',
  );
  t.equal(newPassword.safeParse(TWELVE).success, true, 'the schema accepts 12');
});

t.test('changing a password: 11 characters refused, 12 accepted', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const current = 'the current long password';
  const accountId = await createPerson(db, 'pat@example.test', current, [[clinics.a, 'nurse']]);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const client = testClient(app);
  const token = await client.clinicToken('nurse', { id: clinics.a, slug: 'clinic-a' }, accountId);
  const change = (password: string) => client.post('/api/v1/auth/password', { currentPassword: current, newPassword: password }, token);
  const storedHash = async () =>
    (await db.admin.query('select password_hash from app_private.accounts where id = $1', [accountId])).rows[0].password_hash as string;

  const before = await storedHash();
  const short = await change(ELEVEN);
  t.equal(short.statusCode, 400, '11 characters: 400');
  t.equal(await storedHash(), before, '11 characters: the stored password is unchanged');
  t.match(short.body, /"path":"body\.newPassword","message":"must be at least 12 characters"/, '11 characters: the field and the rule are named');

  t.equal((await change(TWELVE)).statusCode, 204, '12 characters: accepted');
  t.not(await storedHash(), before, '12 characters: the stored password changed');
});
