// A role change takes effect at once: a clinic admin demoted to receptionist cannot go on acting
// as an admin with the access token they already hold (change settings, invite a new admin,
// promote themselves back), and a promotion is not held against the new token.
import t from 'tap';
import { buildTestApp } from '../helpers/app.ts';
import { testClient } from '../helpers/client.ts';
import { createClinics, createTestDatabase } from '../helpers/db.ts';
import { createPerson } from '../helpers/people.ts';
import { decodeToken } from '../helpers/tokens.ts';

const PASSWORD = 'a long and correct password';

t.test("a demoted admin's old token is refused; the new one carries the new role", async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const alice = await createPerson(db, 'alice@a.test', PASSWORD, [[clinics.a, 'clinic_admin']]);
  await createPerson(db, 'bob@a.test', PASSWORD, [[clinics.a, 'clinic_admin']]);
  await db.admin.query(`insert into app_public.clinic_settings (clinic_id, currency) values ($1, 'USD')`, [clinics.a]);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const client = testClient(app, '/api/v1/clinics/clinic-a');
  const { call } = client;
  const post = (url: string, payload: object) => app.inject({ method: 'POST', url: `/api/v1/auth${url}`, payload });
  const login = async (email: string) => (await client.login(email, PASSWORD, 'clinic-a')).json();
  const roleOf = (accessToken: string) => decodeToken<{ role: string }>(accessToken).payload.role;
  const aliceMember = (await db.admin.query(`select id from app_public.clinic_members where account_id = $1`, [alice])).rows[0].id as string;

  const old = await login('alice@a.test');
  t.equal(roleOf(old.accessToken), 'clinic_admin');
  const bobToken = (await login('bob@a.test')).accessToken as string;
  t.equal((await call('PATCH', `/members/${aliceMember}`, bobToken, { role: 'receptionist' })).statusCode, 200, 'Bob demotes Alice');

  // Everything Alice tries as an admin with the token from before.
  const attempts = {
    settings: await call('PATCH', '/settings', old.accessToken, { currency: 'EUR' }),
    invite: await call('POST', '/members/invitations', old.accessToken, { email: 'mallory@evil.test', role: 'clinic_admin', displayName: 'Mallory' }),
    promote: await call('PATCH', `/members/${aliceMember}`, old.accessToken, { role: 'clinic_admin' }),
  };
  for (const [what, response] of Object.entries(attempts)) {
    t.equal(response.statusCode, 401, `${what}: the old token is refused`);
    t.match(response.json(), { code: 'UNAUTHENTICATED', detail: 'Your role in this clinic has changed; refresh the session or log in again.' });
    t.equal(response.headers['www-authenticate'], 'Bearer');
  }
  const stateNow = async () =>
    (
      await db.admin.query(
        `select (select currency from app_public.clinic_settings where clinic_id = $1) as currency,
            (select role from app_public.clinic_members where id = $2) as role,
            (select count(*)::int from app_private.accounts where email = 'mallory@evil.test') as mallory,
            (select count(*)::int from app_private.notification_outbox) as messages,
            (select count(*)::int from app_audit.audit_log where actor_user_id = $3 and table_name is not null) as changes_by_alice`,
        [clinics.a, aliceMember, alice],
      )
    ).rows;
  const unchanged = [{ currency: 'USD', role: 'receptionist', mallory: 0, messages: 0, changes_by_alice: 0 }];
  t.same(await stateNow(), unchanged, 'nothing changed');

  // A refresh (and a new login) builds the token from the membership's role now: a receptionist's,
  // refused by the permission check.
  const refreshed = await post('/refresh', { refreshToken: old.refreshToken });
  t.equal(refreshed.statusCode, 200);
  t.equal(roleOf(refreshed.json().accessToken), 'receptionist', "the refreshed token is a receptionist's");
  t.equal(roleOf((await login('alice@a.test')).accessToken), 'receptionist', "so is a new login's");
  const receptionist = refreshed.json().accessToken as string;
  t.equal((await call('PATCH', '/settings', receptionist, { currency: 'EUR' })).statusCode, 403);
  t.equal((await call('POST', '/members/invitations', receptionist, { email: 'mallory@evil.test', role: 'clinic_admin', displayName: 'M' })).statusCode, 403);
  t.equal((await call('PATCH', `/members/${aliceMember}`, receptionist, { role: 'clinic_admin' })).statusCode, 403);
  t.same(await stateNow(), unchanged, 'the refused receptionist changed nothing either');
  t.equal((await call('GET', '/settings', receptionist)).statusCode, 200, 'and works as a receptionist');

  // A promotion made elsewhere (another process, or SQL) reaches this process on its next re-read:
  // the receptionist's token stops, a new one works with the new role.
  await db.admin.query(`update app_public.clinic_members set role = 'clinic_admin' where id = $1`, [aliceMember]);
  await app.refreshBlockedAccess();
  t.equal((await call('GET', '/settings', receptionist)).statusCode, 401, 'the receptionist token is refused once promoted');
  const promoted = await post('/refresh', { refreshToken: refreshed.json().refreshToken });
  t.equal(roleOf(promoted.json().accessToken), 'clinic_admin');
  t.equal((await call('PATCH', '/settings', promoted.json().accessToken, { currency: 'EUR' })).statusCode, 200, 'the new token is not held back');
  t.equal((await call('GET', '/settings', bobToken)).statusCode, 200, 'tokens of members whose role did not change are untouched');
});
