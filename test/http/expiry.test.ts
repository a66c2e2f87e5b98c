// Every secret token expires, checked at the boundary with a controlled clock: the stored times
// are moved into the past (test/helpers/clock.ts), so a token just inside its lifetime works and
// one just outside is refused, with nothing changed in the database. Refresh tokens: the idle
// timeout (the clinic's setting, 15 minutes by default) and 12 hours from the login however
// active; password resets: 30 minutes; invitations: 7 days.
import t, { type Test } from 'tap';
import { hashSecretToken } from '../../src/auth/tokens.ts';
import { buildTestApp } from '../helpers/app.ts';
import { testClient } from '../helpers/client.ts';
import { ageAccountRows } from '../helpers/clock.ts';
import { createClinics, createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { latestInvitationToken } from '../helpers/outbox.ts';
import { createPerson } from '../helpers/people.ts';

const PASSWORD = 'a long and correct password';
const NEW_PASSWORD = 'a brand new long passphrase';

async function setUp(t: Test) {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const client = testClient(app, '/api/v1');
  const login = (email: string, clinicSlug: string, password = PASSWORD) => client.login(email, password, clinicSlug);
  return { db, clinics, post: client.post, login };
}

/**
 * The account's refresh tokens, oldest first: `idle` is how long each lives unused, `absolute` how
 * long after its family's login (the first token) it ends.
 */
async function refreshTokens(db: TestDatabase, accountId: string) {
  const { rows } = await db.admin.query<{ hash: string; idle: string; absolute: string; rotated: boolean; revoked: boolean }>(
    `select encode(token_hash, 'hex') as hash, (idle_expires_at - created_at)::text as idle,
            (absolute_expires_at - min(created_at) over (partition by family_id))::text as absolute,
            rotated_at is not null as rotated, revoked_at is not null as revoked
     from app_private.refresh_tokens where account_id = $1 order by created_at, rotated_at nulls last`,
    [accountId],
  );
  return rows;
}

const hex = (token: string) => hashSecretToken(token).toString('hex');

/** app_hidden.accept_invitation called as the app's role, without a password: the clinic slugs it returns. */
async function acceptAsTheApp(db: TestDatabase, token: string): Promise<unknown[]> {
  const client = await db.admin.connect();
  try {
    await client.query('begin');
    await client.query('set local role app_user');
    const { rows } = await client.query('select clinic_slug from app_hidden.accept_invitation($1, null)', [hashSecretToken(token)]);
    await client.query('commit');
    return rows;
  } finally {
    client.release();
  }
}

t.test("a refresh token idle for its clinic's timeout is refused; a few seconds less is not", async (t) => {
  const { db, clinics, post, login } = await setUp(t);
  // Clinic A has no settings row (the default, 15 minutes); clinic B sets 60.
  await db.admin.query('insert into app_public.clinic_settings (clinic_id, session_idle_minutes) values ($1, 60)', [clinics.b]);
  const cases = [
    { slug: 'clinic-a', clinicId: clinics.a, idle: '00:15:00', justInside: '14 minutes 55 seconds', timeout: '15 minutes' },
    { slug: 'clinic-b', clinicId: clinics.b, idle: '01:00:00', justInside: '59 minutes 55 seconds', timeout: '60 minutes' },
  ];
  for (const { slug, clinicId, idle, justInside, timeout } of cases) {
    const email = `idle@${slug}.test`;
    const accountId = await createPerson(db, email, PASSWORD, [[clinicId, 'nurse']]);
    const session = (await login(email, slug)).json();
    t.same(
      await refreshTokens(db, accountId),
      [{ hash: hex(session.refreshToken), idle, absolute: '12:00:00', rotated: false, revoked: false }],
      `${slug}: the token idles out after ${idle}, and its session ends 12 hours after the login`,
    );

    await ageAccountRows(db, 'app_private.refresh_tokens', accountId, justInside);
    const inside = await post('/auth/refresh', { refreshToken: session.refreshToken });
    t.equal(inside.statusCode, 200, `${slug}: idle ${justInside}: the token still refreshes`);
    const successor = inside.json().refreshToken as string;

    await ageAccountRows(db, 'app_private.refresh_tokens', accountId, timeout);
    const before = await refreshTokens(db, accountId);
    const outside = await post('/auth/refresh', { refreshToken: successor });
    t.equal(outside.statusCode, 401, `${slug}: idle ${timeout}: refused`);
    t.match(outside.json(), { code: 'UNAUTHENTICATED' });
    t.same(await refreshTokens(db, accountId), before, `${slug}: the refused token is not rotated and no successor is stored`);
    t.same(
      before.map((r) => ({ hash: r.hash, rotated: r.rotated })),
      [
        { hash: hex(session.refreshToken), rotated: true },
        { hash: hex(successor), rotated: false },
      ],
    );
  }
});

t.test('a session refreshed every 10 minutes ends 12 hours after its login, not later', async (t) => {
  const { db, clinics, post, login } = await setUp(t);
  const accountId = await createPerson(db, 'busy@clinic-a.test', PASSWORD, [[clinics.a, 'doctor']]);
  let token = (await login('busy@clinic-a.test', 'clinic-a')).json().refreshToken as string;
  const refresh = async (step: string) => {
    await ageAccountRows(db, 'app_private.refresh_tokens', accountId, step);
    const response = await post('/auth/refresh', { refreshToken: token });
    if (response.statusCode === 200) token = response.json().refreshToken;
    return response.statusCode;
  };
  const statuses: number[] = [];
  for (let i = 0; i < 71; i += 1) statuses.push(await refresh('10 minutes'));
  t.same(new Set(statuses), new Set([200]), '71 refreshes, 10 minutes apart, up to 11 h 50 min after the login: all 200');
  t.equal(await refresh('9 minutes 55 seconds'), 200, '11 h 59 min 55 s after the login: still 200');

  const before = await refreshTokens(db, accountId);
  t.equal(before.length, 73, 'one token per login and refresh');
  t.same(new Set(before.map((r) => r.absolute)), new Set(['12:00:00']), 'every successor keeps the end of its login');
  const finalHash = hex(token);
  t.equal(await refresh('5 seconds'), 401, '12 hours after the login: refused, although used 5 seconds ago');
  const after = await refreshTokens(db, accountId);
  t.same(after, before, 'the refused token is not rotated and no successor is stored');
  t.same(after.at(-1), { hash: finalHash, idle: '00:15:00', absolute: '12:00:00', rotated: false, revoked: false });
});

t.test('a password-reset token expires 30 minutes after it was sent', async (t) => {
  const { db, clinics, post, login } = await setUp(t);
  const accountId = await createPerson(db, 'pat@example.test', PASSWORD, [[clinics.a, 'doctor']]);
  const requestReset = async () => {
    t.equal((await post('/auth/password/reset-request', { email: 'pat@example.test' })).statusCode, 202);
    const { rows } = await db.admin.query<{ token: string }>(
      `select payload->>'token' as token from app_private.notification_outbox where kind = 'password_reset' order by id desc limit 1`,
    );
    return rows[0]!.token;
  };
  const state = async () =>
    (
      await db.admin.query(
        `select a.password_hash, r.used_at is not null as used, (r.expires_at - r.created_at)::text as lifetime
       from app_private.accounts a join app_private.password_resets r on r.account_id = a.id where a.id = $1 order by r.created_at`,
        [accountId],
      )
    ).rows;

  const late = await requestReset();
  await ageAccountRows(db, 'app_private.password_resets', accountId, '30 minutes');
  const before = await state();
  t.match(before, [{ used: false, lifetime: '00:30:00' }], 'stored with a 30-minute lifetime');
  const refused = await post('/auth/password/reset', { token: late, password: NEW_PASSWORD });
  t.equal(refused.statusCode, 404, 'sent 30 minutes ago: refused');
  t.match(refused.json(), { code: 'NOT_FOUND', detail: 'The reset token is unknown, used or expired.' });
  t.same(await state(), before, 'the password and the token are as they were');
  t.equal((await login('pat@example.test', 'clinic-a')).statusCode, 200, 'the old password still works');

  const inTime = await requestReset();
  await ageAccountRows(db, 'app_private.password_resets', accountId, '29 minutes 55 seconds');
  t.equal((await post('/auth/password/reset', { token: inTime, password: NEW_PASSWORD })).statusCode, 204, 'sent 29 min 55 s ago: the reset works');
  t.equal((await login('pat@example.test', 'clinic-a', NEW_PASSWORD)).statusCode, 200, 'the new password works');
});

t.test('an invitation expires 7 days after it was sent', async (t) => {
  const { db, clinics, post, login } = await setUp(t);
  await createPerson(db, 'admin@clinic-a.test', PASSWORD, [[clinics.a, 'clinic_admin']]);
  const admin = (await login('admin@clinic-a.test', 'clinic-a')).json().accessToken as string;
  const invite = async (email: string) => {
    const invited = await post('/clinics/clinic-a/members/invitations', { email, role: 'nurse', displayName: email }, admin);
    t.equal(invited.statusCode, 201);
    const { rows } = await db.admin.query<{ id: string }>('select id from app_private.accounts where email = $1', [email]);
    return { accountId: rows[0]!.id, token: await latestInvitationToken(db, email) };
  };
  const state = async (accountId: string) =>
    (
      await db.admin.query(
        `select a.password_hash, m.status, i.accepted_at is not null as accepted, (i.expires_at - i.created_at)::text as lifetime
       from app_private.accounts a
       join app_private.invitations i on i.account_id = a.id
       join app_public.clinic_members m on m.account_id = a.id and m.clinic_id = i.clinic_id
       where a.id = $1`,
        [accountId],
      )
    ).rows;

  const late = await invite('late@clinic-a.test');
  await ageAccountRows(db, 'app_private.invitations', late.accountId, '7 days');
  const before = await state(late.accountId);
  t.same(before, [{ password_hash: '$argon2id$unset', status: 'invited', accepted: false, lifetime: '7 days' }], 'stored with a 7-day lifetime');
  const refused = await post('/auth/invitations/accept', { token: late.token, password: PASSWORD });
  t.equal(refused.statusCode, 404, 'sent 7 days ago: refused');
  t.match(refused.json(), { code: 'NOT_FOUND', detail: 'The invitation is unknown, used or expired.' });
  t.same(await state(late.accountId), before, 'no password set, the membership still invited, the invitation unused');

  // The accepting function checks the expiry again by itself: the invitation may expire while
  // the password is being hashed, between the look-up and the acceptance.
  t.same(await acceptAsTheApp(db, late.token), [], 'app_hidden.accept_invitation alone refuses it too');
  t.same(await state(late.accountId), before, 'and changes nothing');

  const inTime = await invite('in-time@clinic-a.test');
  await ageAccountRows(db, 'app_private.invitations', inTime.accountId, '6 days 23 hours 59 minutes 55 seconds');
  const accepted = await post('/auth/invitations/accept', { token: inTime.token, password: PASSWORD });
  t.equal(accepted.statusCode, 200, 'sent 6 d 23 h 59 min 55 s ago: accepted');
  t.match(await state(inTime.accountId), [{ status: 'active', accepted: true }]);
});
