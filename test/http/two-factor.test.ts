// TOTP second factor: set-up, login with a code or a recovery code (each works once), recovery
// codes replaced, turned off; and a clinic that requires it.
import t from 'tap';
import { currentTotp } from '../../src/auth/two-factor.ts';
import { buildTestApp } from '../helpers/app.ts';
import { testClient } from '../helpers/client.ts';
import { cli } from '../helpers/cli.ts';
import { nextSecond } from '../helpers/clock.ts';
import { createClinics, createTestDatabase } from '../helpers/db.ts';
import { latestInvitationToken } from '../helpers/outbox.ts';
import { createOperator, createPerson } from '../helpers/people.ts';
import { decodeToken } from '../helpers/tokens.ts';

const PASSWORD = 'a long and correct password';
const EMAIL = 'two.factor@example.test';

t.test('set up, log in with codes, replace recovery codes, turn off', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const accountId = await createPerson(db, EMAIL, PASSWORD, [[clinics.a, 'doctor']]);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const client = testClient(app, '/api/v1/auth');
  const { post } = client;
  const credentials = { email: EMAIL, password: PASSWORD };
  const login = (otp?: string) => client.login(EMAIL, PASSWORD, 'clinic-a', { otp });
  // The account's second factor as the database holds it: its secret, whether it is on, recovery codes unused.
  const secondFactor = async () =>
    (
      await db.admin.query(
        `select f.secret, f.enabled_at is not null as enabled,
              (select count(*)::int from app_private.recovery_codes c where c.account_id = $1 and c.used_at is null) as codes
       from app_private.two_factor f where f.account_id = $1`,
        [accountId],
      )
    ).rows;

  t.equal((await post('/two-factor/setup', { ...credentials, password: 'not the right password' })).statusCode, 401, 'set-up proves the password');
  t.same(await secondFactor(), [], 'the refused set-up stored no secret');
  const setup = await post('/two-factor/setup', credentials);
  t.equal(setup.statusCode, 200);
  const { secret, otpauthUri } = setup.json();
  t.match(secret, /^[A-Z2-7]{32}$/);
  t.match(otpauthUri, /^otpauth:\/\/totp\/clinicbase:two\.factor%40example\.test\?/, 'an otpauth URI for authenticator apps');
  t.equal((await login()).statusCode, 200, 'an unconfirmed set-up changes nothing yet');

  const wrong = await post('/two-factor/enable', { ...credentials, code: '000000' === currentTotp(secret) ? '111111' : '000000' });
  t.equal(wrong.statusCode, 400);
  t.match(wrong.json(), { errors: [{ path: 'body.code' }] });
  t.same(await secondFactor(), [{ secret, enabled: false, codes: 0 }], 'a wrong code enables nothing');
  const enableCode = currentTotp(secret);
  const enabled = await post('/two-factor/enable', { ...credentials, code: enableCode });
  t.equal(enabled.statusCode, 200);
  const { recoveryCodes } = enabled.json() as { recoveryCodes: string[] };
  t.equal(recoveryCodes.length, 10);
  t.equal(new Set(recoveryCodes).size, 10);
  t.match(recoveryCodes[0], /^[0-9a-v]{4}-[0-9a-v]{4}-[0-9a-v]{4}$/);
  t.equal((await post('/two-factor/setup', credentials)).statusCode, 409, 'no second set-up while it is on');
  t.same(await secondFactor(), [{ secret, enabled: true, codes: 10 }], 'the refused set-up kept the secret and the codes');

  const missing = await login();
  t.equal(missing.statusCode, 401);
  t.match(missing.json(), { code: 'ONE_TIME_CODE_REQUIRED' }, 'the right password alone asks for a code');
  t.equal((await login(enableCode)).statusCode, 401, 'the code that confirmed the set-up cannot be used again');
  const nextCode = currentTotp(secret, Date.now() + 30_000);
  const withCode = await login(nextCode);
  t.equal(withCode.statusCode, 200, "the next period's code is accepted (clock drift)");
  const claims = decodeToken<{ amr: string[] }>(withCode.json().accessToken).payload;
  t.same(claims.amr, ['pwd', 'otp'], 'the token says a second factor was used');
  t.equal((await login(nextCode)).statusCode, 401, 'a code works once');

  t.equal((await login(recoveryCodes[0]!.toUpperCase())).statusCode, 200, 'a recovery code logs in (case does not matter)');
  t.equal((await login(recoveryCodes[0])).statusCode, 401, 'once');

  const replaced = await post('/two-factor/recovery-codes', { ...credentials, otp: recoveryCodes[1] });
  t.equal(replaced.statusCode, 200);
  const fresh = (replaced.json() as { recoveryCodes: string[] }).recoveryCodes;
  t.equal((await login(recoveryCodes[2])).statusCode, 401, 'replaced recovery codes stop working');
  t.equal((await login(fresh[0])).statusCode, 200, 'the new ones work');

  t.equal((await post('/two-factor/disable', { ...credentials, otp: 'zzzz-zzzz-zzzz' })).statusCode, 401, 'turning it off needs a valid code');
  t.same(await secondFactor(), [{ secret, enabled: true, codes: 9 }], 'the refused call left it on, with the unused new codes');
  t.equal((await post('/two-factor/disable', { ...credentials, otp: fresh[1] })).statusCode, 204);
  const plain = await login();
  t.equal(plain.statusCode, 200, 'off: the password alone logs in again');
  t.same(decodeToken<{ amr: string[] }>(plain.json().accessToken).payload.amr, ['pwd']);
  t.equal((await post('/two-factor/disable', { ...credentials, otp: fresh[2] })).statusCode, 409, 'nothing to turn off');

  const { rows } = await db.admin.query<{ action: string }>(
    `select action from app_audit.audit_log where actor_user_id = $1 and action like 'auth.two_factor.%' order by id`,
    [accountId],
  );
  t.same(
    rows.map((r) => r.action),
    [
      'auth.two_factor.enabled',
      'auth.two_factor.recovery_code_used',
      'auth.two_factor.recovery_code_used',
      'auth.two_factor.recovery_codes_replaced',
      'auth.two_factor.recovery_code_used',
      'auth.two_factor.recovery_code_used',
      'auth.two_factor.disabled',
    ],
    'every change and every recovery code used is audited',
  );
  const failures = await db.admin.query(
    `select 1 from app_audit.audit_log where actor_user_id = $1 and action = 'auth.login.failed'
    and details ->> 'reason' = 'second_factor'`,
    [accountId],
  );
  t.ok(failures.rowCount! >= 4, 'wrong codes count as failed logins (and towards the lock)');
  const stored = await db.admin.query(`select count(*)::int as n from app_private.two_factor where account_id = $1`, [accountId]);
  t.equal(stored.rows[0].n, 0, 'turning it off deletes the secret');
});

t.test('wrong codes lock the e-mail like wrong passwords', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  await createPerson(db, EMAIL, PASSWORD, [[clinics.a, 'nurse']]);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const { post } = testClient(app, '/api/v1/auth');
  const { secret } = (await post('/two-factor/setup', { email: EMAIL, password: PASSWORD })).json();
  t.equal((await post('/two-factor/enable', { email: EMAIL, password: PASSWORD, code: currentTotp(secret) })).statusCode, 200);
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++)
    statuses.push((await post('/login', { email: EMAIL, password: PASSWORD, clinicSlug: 'clinic-a', otp: 'aaaa-bbbb-cccc' })).statusCode);
  t.same(statuses, [401, 401, 401, 401, 429, 429], 'five wrong codes lock the e-mail, even with the right password');
});

t.test('a clinic that requires two-factor authentication', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  await createPerson(db, 'admin.b@example.test', PASSWORD, [[clinics.b, 'clinic_admin']]);
  await createPerson(db, 'plain@example.test', PASSWORD, [
    [clinics.a, 'nurse'],
    [clinics.b, 'nurse'],
  ]);
  await createPerson(db, EMAIL, PASSWORD, [
    [clinics.a, 'doctor'],
    [clinics.b, 'doctor'],
  ]);
  await createOperator(db, 'operator@example.test', PASSWORD);
  await db.admin.query('insert into app_public.clinic_settings (clinic_id) values ($1)', [clinics.b]);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const client = testClient(app, '/api/v1');
  const { post } = client;
  const login = (email: string, clinicSlug: string, otp?: string) => client.login(email, PASSWORD, clinicSlug, { otp });

  const plainInB = (await login('plain@example.test', 'clinic-b')).json();
  const plainInA = (await login('plain@example.test', 'clinic-a')).json();
  const { secret } = (await post('/auth/two-factor/setup', { email: EMAIL, password: PASSWORD })).json();
  t.equal((await post('/auth/two-factor/enable', { email: EMAIL, password: PASSWORD, code: currentTotp(secret) })).statusCode, 200);
  const secureInA = (await login(EMAIL, 'clinic-a', currentTotp(secret, Date.now() + 30_000))).json();

  const admin = (await login('admin.b@example.test', 'clinic-b')).json();
  const turnedOn = await client.call('PATCH', '/clinics/clinic-b/settings', admin.accessToken, { requireTwoFactor: true });
  t.equal(turnedOn.statusCode, 200);

  const refused = await login('plain@example.test', 'clinic-b');
  t.equal(refused.statusCode, 403);
  t.match(refused.json(), { code: 'TWO_FACTOR_REQUIRED', detail: /two-factor\/setup/ }, 'a login without a second factor is told to set one up');
  t.equal((await login('plain@example.test', 'clinic-a')).statusCode, 200, 'clinic A does not require it');
  t.equal((await post('/auth/refresh', { refreshToken: plainInB.refreshToken })).statusCode, 401, 'sessions without a second factor stop refreshing at once');
  t.equal((await post('/auth/switch', { clinicSlug: 'clinic-b' }, plainInA.accessToken)).statusCode, 403, 'nor can they switch in');

  const switched = await post('/auth/switch', { clinicSlug: 'clinic-b' }, secureInA.accessToken);
  t.equal(switched.statusCode, 200, 'a session that passed a second factor switches in');
  const refreshed = await post('/auth/refresh', { refreshToken: switched.json().refreshToken });
  t.equal(refreshed.statusCode, 200, 'and refreshes, keeping its second factor');
  t.same(decodeToken<{ amr: string[] }>(refreshed.json().accessToken).payload.amr, ['pwd', 'otp']);

  // A newcomer accepts an invitation into clinic B: the membership is active, the session waits
  // for a second factor.
  const invited = await post(
    '/clinics/clinic-b/members/invitations',
    { email: 'new@example.test', role: 'nurse', displayName: 'New Nurse' },
    admin.accessToken,
  );
  t.equal(invited.statusCode, 201);
  const newcomerToken = await latestInvitationToken(db, 'new@example.test');
  const accepted = await post('/auth/invitations/accept', { token: newcomerToken, password: PASSWORD });
  t.match(accepted.json(), { status: 403, code: 'TWO_FACTOR_REQUIRED' }, 'accepting gives no session without a second factor');
  t.equal((await post('/auth/invitations/accept', { token: newcomerToken, password: PASSWORD })).statusCode, 404, 'the invitation is used');
  const newcomer = (await post('/auth/two-factor/setup', { email: 'new@example.test', password: PASSWORD })).json();
  await post('/auth/two-factor/enable', { email: 'new@example.test', password: PASSWORD, code: currentTotp(newcomer.secret) });
  t.equal((await login('new@example.test', 'clinic-b', currentTotp(newcomer.secret, Date.now() + 30_000))).statusCode, 200, 'set up, the newcomer logs in');

  // Operators too: once they turn it on, platform login asks for a code.
  const operatorSetup = (await post('/auth/two-factor/setup', { email: 'operator@example.test', password: PASSWORD })).json();
  await post('/auth/two-factor/enable', { email: 'operator@example.test', password: PASSWORD, code: currentTotp(operatorSetup.secret) });
  const platform = (otp?: string) => post('/platform/auth/login', { email: 'operator@example.test', password: PASSWORD, ...(otp && { otp }) });
  t.match((await platform()).json(), { status: 401, code: 'ONE_TIME_CODE_REQUIRED' });
  t.equal((await platform(currentTotp(operatorSetup.secret, Date.now() + 30_000))).statusCode, 200);
});

t.test('an operator turns off the second factor of a person who lost it (owner rights, audited)', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const accountId = await createPerson(db, EMAIL, PASSWORD, [[clinics.a, 'nurse']]);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const { post } = testClient(app, '/api/v1/auth');
  const { secret } = (await post('/two-factor/setup', { email: EMAIL, password: PASSWORD })).json();
  await post('/two-factor/enable', { email: EMAIL, password: PASSWORD, code: currentTotp(secret) });
  const login = () => post('/login', { email: EMAIL, password: PASSWORD, clinicSlug: 'clinic-a' });
  t.equal((await login()).statusCode, 401);

  t.equal((await cli(db, ['account:two-factor-off', '--email', EMAIL])).code, 2, 'a reason is required');
  t.equal((await cli(db, ['account:two-factor-off', '--email', 'nobody@example.test', '--reason', 'x'])).code, 1, 'an unknown e-mail is an error');
  const off = await cli(db, ['account:two-factor-off', '--email', EMAIL.toUpperCase(), '--reason', 'Ticket 88: phone lost, ID checked at the desk']);
  t.equal(off.code, 0, off.output);
  t.equal((await login()).statusCode, 200, 'the password alone logs in again');
  const { rows } = await db.admin.query(
    `select details ->> 'reason' as reason, db_role from app_audit.audit_log where actor_user_id = $1 and action = 'auth.two_factor.turned_off_by_operator'`,
    [accountId],
  );
  t.match(rows, [{ reason: 'Ticket 88: phone lost, ID checked at the desk', db_role: /app_owner/ }]);
});

t.test('the second factor cannot be sidestepped: invitations, old tokens, set-up calls', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const accountId = await createPerson(db, EMAIL, PASSWORD, [[clinics.a, 'doctor']]);
  await createPerson(db, 'admin.b@example.test', PASSWORD, [[clinics.b, 'clinic_admin']]);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const { post } = testClient(app, '/api/v1');
  const credentials = { email: EMAIL, password: PASSWORD };

  const before = (await post('/auth/login', { ...credentials, clinicSlug: 'clinic-a' })).json();
  const { secret } = (await post('/auth/two-factor/setup', credentials)).json();
  const { recoveryCodes } = (await post('/auth/two-factor/enable', { ...credentials, code: currentTotp(secret) })).json();
  t.equal((await post('/auth/refresh', { refreshToken: before.refreshToken })).statusCode, 401, 'turning it on ends the password-only sessions');

  // Clinic B's admin invites the same person; accepting takes their password and their code.
  const adminB = (await post('/auth/login', { email: 'admin.b@example.test', password: PASSWORD, clinicSlug: 'clinic-b' })).json().accessToken;
  await post('/clinics/clinic-b/members/invitations', { email: EMAIL, role: 'nurse', displayName: 'Nurse' }, adminB);
  const invitation = await latestInvitationToken(db, EMAIL);
  const noCode = await post('/auth/invitations/accept', { token: invitation, password: PASSWORD });
  t.match(noCode.json(), { status: 401, code: 'ONE_TIME_CODE_REQUIRED' }, 'knowing the password is not enough to accept for them');
  const { rows: inB } = await db.admin.query(
    `select m.status, i.accepted_at from app_public.clinic_members m join app_private.invitations i using (clinic_id, account_id) where m.clinic_id = $1`,
    [clinics.b],
  );
  t.same(inB, [{ status: 'invited', accepted_at: null }], 'the refused acceptance activated nothing');
  const accepted = await post('/auth/invitations/accept', { token: invitation, password: PASSWORD, otp: recoveryCodes[0] });
  t.equal(accepted.statusCode, 200, 'with a code it is');
  t.same(decodeToken<{ amr: string[] }>(accepted.json().accessToken).payload.amr, ['pwd', 'otp']);

  const switched = await post('/auth/switch', { clinicSlug: 'clinic-b' }, before.accessToken);
  // Refused by the guard (issued before the sessions ended, once that second has passed) or by the
  // session check (its amr no longer matches the account): 401 either way.
  t.equal(switched.statusCode, 401, 'a token from before it was on cannot switch clinics');

  // Set-up calls prove the password only, so they must not reset the count of wrong codes.
  for (let i = 0; i < 4; i++) await post('/auth/login', { ...credentials, clinicSlug: 'clinic-a', otp: 'wrong-code-1' });
  t.equal((await post('/auth/two-factor/setup', credentials)).statusCode, 409);
  const { rows: kept } = await db.admin.query('select secret from app_private.two_factor where account_id = $1', [accountId]);
  t.same(kept, [{ secret }], 'the refused set-up kept the secret');
  const fifth = await post('/auth/login', { ...credentials, clinicSlug: 'clinic-a', otp: 'wrong-code-2' });
  t.equal(fifth.statusCode, 429, 'the fifth wrong code locks the e-mail (from this address), set-up call or not');

  await db.admin.query('delete from app_private.login_failures');
  const secure = (await post('/auth/login', { ...credentials, clinicSlug: 'clinic-a', otp: recoveryCodes[1] })).json();
  t.equal((await post('/auth/two-factor/disable', { ...credentials, otp: recoveryCodes[2] })).statusCode, 204);
  t.equal((await post('/auth/refresh', { refreshToken: secure.refreshToken })).statusCode, 401, 'turning it off ends the sessions that passed it');

  await db.admin.query('insert into app_public.clinic_settings (clinic_id, require_two_factor) values ($1, true)', [clinics.a]);
  t.equal((await post('/auth/login', { ...credentials, clinicSlug: 'clinic-a' })).statusCode, 403);
  const { rows } = await db.admin.query(
    `select details ->> 'reason' as reason from app_audit.audit_log where action = 'auth.login.failed' and actor_user_id = $1 and clinic_id = $2`,
    [accountId, clinics.a],
  );
  t.same(rows, [{ reason: 'two_factor_required' }], 'a login refused for want of a second factor is on record');
});

t.test('ending sessions ends access tokens too (password change, second factor on or off)', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  await createPerson(db, EMAIL, PASSWORD, [
    [clinics.a, 'doctor'],
    [clinics.b, 'doctor'],
  ]);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const client = testClient(app, '/api/v1');
  const { post } = client;
  const me = (token: string) => client.call('GET', '/auth/me', token);
  const credentials = { email: EMAIL, password: PASSWORD };

  const first = (await post('/auth/login', { ...credentials, clinicSlug: 'clinic-a' })).json();
  await nextSecond();
  const { secret } = (await post('/auth/two-factor/setup', credentials)).json();
  const { recoveryCodes } = (await post('/auth/two-factor/enable', { ...credentials, code: currentTotp(secret) })).json();
  t.equal((await me(first.accessToken)).statusCode, 401, 'turning it on ends the access tokens issued before, at once');

  const secure = (await post('/auth/login', { ...credentials, clinicSlug: 'clinic-a', otp: recoveryCodes[0] })).json();
  t.equal((await me(secure.accessToken)).statusCode, 200);
  await nextSecond();
  t.equal((await post('/auth/two-factor/disable', { ...credentials, otp: recoveryCodes[1] })).statusCode, 204);
  t.equal((await me(secure.accessToken)).statusCode, 401, 'turning it off ends the tokens that claimed it');
  t.equal((await post('/auth/switch', { clinicSlug: 'clinic-b' }, secure.accessToken)).statusCode, 401, 'so they cannot switch into a new session');

  const plain = (await post('/auth/login', { ...credentials, clinicSlug: 'clinic-a' })).json();
  await nextSecond();
  const changed = await post('/auth/password', { currentPassword: PASSWORD, newPassword: 'another long and correct password' }, plain.accessToken);
  t.equal(changed.statusCode, 204);
  t.equal((await me(plain.accessToken)).statusCode, 401, 'a new password ends the access tokens too');
  const fresh = (await post('/auth/login', { email: EMAIL, password: 'another long and correct password', clinicSlug: 'clinic-a' })).json();
  t.equal((await me(fresh.accessToken)).statusCode, 200, 'a login after it works at once');
});
