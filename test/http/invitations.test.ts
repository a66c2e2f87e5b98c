// Invitations: the token goes to the invited e-mail only (the notification outbox), only the
// invitation that created an account sets its first password, and accepting answers alike
// whether or not the e-mail already had an account.
import t, { type Test } from 'tap';
import { buildTestApp } from '../helpers/app.ts';
import { testClient } from '../helpers/client.ts';
import { createClinics, createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { latestInvitationToken } from '../helpers/outbox.ts';
import { createPerson } from '../helpers/people.ts';

const PASSWORD = 'a long and correct password';
const REAL = 'the real person chose this one';
const ATTACKER = 'clinic b admin chose this one';

async function setUp(t: Test) {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  await createPerson(db, 'admin@a.test', PASSWORD, [[clinics.a, 'clinic_admin']]);
  await createPerson(db, 'admin@b.test', PASSWORD, [[clinics.b, 'clinic_admin']]);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const { post, login } = testClient(app, '/api/v1');
  const adminOf = async (slug: string, email: string) => (await login(email, PASSWORD, slug)).json().accessToken as string;
  const invite = (slug: string, admin: string, email: string, role: string) =>
    post(`/clinics/${slug}/members/invitations`, { email, role, displayName: email }, admin);
  const accept = (token: string, password: string) => post('/auth/invitations/accept', { token, password });
  return { db, clinics, post, accept, login, invite, adminA: await adminOf('clinic-a', 'admin@a.test'), adminB: await adminOf('clinic-b', 'admin@b.test') };
}

/** [clinic slug, membership status] of the account, by slug. */
const membershipsOf = async (db: TestDatabase, email: string) =>
  (
    await db.admin.query(
      `select c.slug, m.status from app_public.clinic_members m join app_public.clinics c on c.id = m.clinic_id
     join app_private.accounts a on a.id = m.account_id where a.email = $1 order by c.slug`,
      [email],
    )
  ).rows.map((r) => [r.slug, r.status]);

const unsetHash = async (db: TestDatabase, email: string) =>
  (
    await db.admin.query<{ unset: boolean }>(`select password_hash = app_private.unset_password_hash() as unset from app_private.accounts where email = $1`, [
      email,
    ])
  ).rows[0]!.unset;

t.test("another clinic's admin cannot set the password of a person who has not accepted their first invitation", async (t) => {
  const { db, accept, login, invite, adminA, adminB } = await setUp(t);
  const invitedByA = await invite('clinic-a', adminA, 'victim@example.test', 'doctor');
  t.equal(invitedByA.statusCode, 201);
  const tokenA = await latestInvitationToken(db, 'victim@example.test');

  // Clinic B's admin invites the same e-mail: they get no token, only the expiry.
  const invitedByB = await invite('clinic-b', adminB, 'victim@example.test', 'clinic_admin');
  t.equal(invitedByB.statusCode, 201);
  t.same(Object.keys(invitedByB.json().invitation), ['expiresAt'], 'no token in the response');
  t.notMatch(invitedByB.body, new RegExp(tokenA), "nor the first invitation's");
  const { rows: messages } = await db.admin.query(
    `select recipient, payload ->> 'clinic_slug' as clinic, (payload ->> 'sets_password')::boolean as sets_password
     from app_private.notification_outbox where kind = 'invitation' order by id`,
  );
  t.same(
    messages,
    [
      { recipient: 'victim@example.test', clinic: 'clinic-a', sets_password: true },
      { recipient: 'victim@example.test', clinic: 'clinic-b', sets_password: false },
    ],
    'both tokens go to the invited e-mail; only the first sets a password',
  );

  // Even holding B's token (say, by reading the person's mail later), it cannot set the password.
  const tokenB = await latestInvitationToken(db, 'victim@example.test');
  const takeover = await accept(tokenB, ATTACKER);
  t.equal(takeover.statusCode, 401);
  t.match(takeover.json(), { code: 'UNAUTHENTICATED', detail: /accept the invitation that created your account, or set one with a password reset/ });
  t.equal(await unsetHash(db, 'victim@example.test'), true, 'the account still has no password');
  t.equal((await login('victim@example.test', ATTACKER, 'clinic-b')).statusCode, 401);

  // The person's own first invitation still works and sets their password.
  const joined = await accept(tokenA, REAL);
  t.equal(joined.statusCode, 200);
  t.match(joined.json().membership, { clinicSlug: 'clinic-a', role: 'doctor' });
  // Then B's invitation needs that password.
  t.equal((await accept(tokenB, ATTACKER)).statusCode, 401, "not the attacker's");
  t.same(
    await membershipsOf(db, 'victim@example.test'),
    [
      ['clinic-a', 'active'],
      ['clinic-b', 'invited'],
    ],
    'the refused acceptance activated nothing',
  );
  const joinedB = await accept(tokenB, REAL);
  t.equal(joinedB.statusCode, 200, 'the real one');
  t.match(joinedB.json().membership, { clinicSlug: 'clinic-b', role: 'clinic_admin' });
  t.equal((await login('victim@example.test', REAL, 'clinic-a')).statusCode, 200);
  t.equal((await login('victim@example.test', ATTACKER, 'clinic-a')).statusCode, 401);
});

t.test('a password reset works for an invited account without a password; the invitation then needs it', async (t) => {
  const { db, post, accept, invite, adminA } = await setUp(t);
  await invite('clinic-a', adminA, 'new@example.test', 'nurse');
  const invitation = await latestInvitationToken(db, 'new@example.test');
  t.equal((await post('/auth/password/reset-request', { email: 'new@example.test' })).statusCode, 202);
  const { rows } = await db.admin.query(`select payload ->> 'token' as token from app_private.notification_outbox where kind = 'password_reset'`);
  t.equal(rows.length, 1, 'the reset goes to the e-mail');
  t.equal((await post('/auth/password/reset', { token: rows[0].token, password: REAL })).statusCode, 204);
  t.equal(await unsetHash(db, 'new@example.test'), false, 'the reset set the first password');
  t.equal((await accept(invitation, ATTACKER)).statusCode, 401, 'the invitation no longer sets a password');
  t.same(await membershipsOf(db, 'new@example.test'), [['clinic-a', 'invited']], 'and, refused, activated nothing');
  t.equal((await accept(invitation, REAL)).statusCode, 200, 'it takes the one the person set');
});

t.test('accepting answers alike whether or not the e-mail has an account', async (t) => {
  const { db, accept, invite, adminA } = await setUp(t);
  await createPerson(db, 'existing@example.test', PASSWORD);
  await invite('clinic-a', adminA, 'existing@example.test', 'nurse');
  await invite('clinic-a', adminA, 'newcomer@example.test', 'nurse');
  const withAccount = await accept(await latestInvitationToken(db, 'existing@example.test'), 'short');
  const withoutAccount = await accept(await latestInvitationToken(db, 'newcomer@example.test'), 'short');
  const expected = {
    type: 'https://clinicbase.dev/problems/validation-failed',
    title: 'The request is invalid',
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: 'The request is invalid',
    errors: [{ path: 'body.password', message: 'must be at least 12 characters' }],
  };
  for (const [who, response] of [
    ['an e-mail with an account', withAccount],
    ['an e-mail without one', withoutAccount],
  ] as const) {
    t.equal(response.statusCode, 400, who);
    const { requestId, ...body } = response.json();
    t.ok(requestId);
    t.same(body, expected, `${who}: the same answer`);
  }
});
