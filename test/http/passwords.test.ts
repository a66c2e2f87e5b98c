// Password reset (a single-use, expiring token through the notification outbox) and change; both
// end every session of the account.
import t from 'tap';
import { buildTestApp } from '../helpers/app.ts';
import { testClient } from '../helpers/client.ts';
import { createClinics, createTestDatabase } from '../helpers/db.ts';
import { createPerson } from '../helpers/people.ts';

const OLD = 'the old and long password';
const NEW = 'a brand new long passphrase';

t.test('reset and change', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  await createPerson(db, 'pat@example.test', OLD, [[clinics.a, 'doctor']]);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const client = testClient(app, '/api/v1/auth');
  const { post } = client;
  const login = (password: string) => client.login('pat@example.test', password, 'clinic-a');
  const outbox = async () => (await db.admin.query(`select kind, recipient, payload from app_private.notification_outbox order by id`)).rows;
  // The stored hash, the reset tokens used so far and the sessions still open, as the database holds them.
  const account = async () =>
    (
      await db.admin.query(
        `select a.password_hash,
              (select count(*)::int from app_private.password_resets r where r.account_id = a.id and r.used_at is not null) as resets_used,
              (select count(*)::int from app_private.refresh_tokens t where t.account_id = a.id and t.revoked_at is null) as open_sessions
       from app_private.accounts a where a.email = 'pat@example.test'`,
      )
    ).rows[0];

  const session = (await login(OLD)).json();
  t.equal((await post('/password/reset-request', { email: 'Pat@Example.test' })).statusCode, 202);
  t.equal((await post('/password/reset-request', { email: 'nobody@example.test' })).statusCode, 202, 'the same answer for an unknown e-mail');
  const messages = await outbox();
  t.equal(messages.length, 1, 'only a real account gets a message');
  t.match(messages[0], { kind: 'password_reset', recipient: 'pat@example.test', payload: { token: String } });
  const token = messages[0].payload.token as string;

  const original = await account();
  t.match(original, { resets_used: 0, open_sessions: 1 });
  const weak = await post('/password/reset', { token, password: 'password1234' });
  t.equal(weak.statusCode, 400);
  t.match(weak.json(), { errors: [{ path: 'body.password' }] });
  t.same(await account(), original, 'the refused reset spent no token, changed no password and ended no session');
  t.equal((await post('/password/reset', { token, password: NEW })).statusCode, 204);
  const reset = await account();
  t.match(reset, { resets_used: 1, open_sessions: 0 });
  t.equal((await post('/password/reset', { token, password: NEW })).statusCode, 404, 'a reset token works once');
  t.same(await account(), reset, 'the refused second use hashed no new password');
  t.equal((await post('/refresh', { refreshToken: session.refreshToken })).statusCode, 401, 'the reset ended the sessions');
  t.equal((await login(OLD)).statusCode, 401, 'the old password is gone');
  const fresh = (await login(NEW)).json();
  t.ok(fresh.accessToken, 'the new one works');

  const wrongCurrent = await post('/password', { currentPassword: OLD, newPassword: 'yet another long passphrase' }, fresh.accessToken);
  t.equal(wrongCurrent.statusCode, 400);
  t.match(wrongCurrent.json(), { errors: [{ path: 'body.currentPassword' }] });
  const weakNew = await post('/password', { currentPassword: NEW, newPassword: 'qwerty123456' }, fresh.accessToken);
  t.match(weakNew.json(), { errors: [{ path: 'body.newPassword' }] });
  t.same(await account(), { ...reset, open_sessions: 1 }, 'the refused changes kept the password and the session');
  t.equal((await post('/password', { currentPassword: NEW, newPassword: 'yet another long passphrase' }, fresh.accessToken)).statusCode, 204);
  t.equal((await post('/refresh', { refreshToken: fresh.refreshToken })).statusCode, 401, 'a change ends the sessions too');
  t.equal((await login('yet another long passphrase')).statusCode, 200);

  const { rows: events } = await db.admin.query(`select action from app_audit.audit_log where action like 'auth.password.%' order by id`);
  t.same(
    events.map((e) => e.action),
    ['auth.password.reset', 'auth.password.changed'],
  );
  t.notMatch(
    JSON.stringify(await db.admin.query(`select * from app_audit.audit_log`).then((r) => r.rows)),
    /passphrase|\$argon2id/,
    'no password or hash in the audit log',
  );
});

t.test('a new password spends every pending reset token of the account', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  await createPerson(db, 'pat@example.test', OLD, [[clinics.a, 'doctor']]);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const client = testClient(app, '/api/v1/auth');
  const { post } = client;
  const login = (password: string) => client.login('pat@example.test', password, 'clinic-a');
  const requestReset = async () => {
    t.equal((await post('/password/reset-request', { email: 'pat@example.test' })).statusCode, 202);
    const { rows } = await db.admin.query(`select payload ->> 'token' as token from app_private.notification_outbox order by id desc limit 1`);
    return rows[0].token as string;
  };

  const older = await requestReset();
  const newer = await requestReset();
  t.equal((await post('/password/reset', { token: newer, password: NEW })).statusCode, 204, 'the newer token works');
  const {
    rows: [afterNewer],
  } = await db.admin.query(`select password_hash from app_private.accounts where email = 'pat@example.test'`);
  const stale = await post('/password/reset', { token: older, password: 'an attacker would like this one' });
  t.equal(stale.statusCode, 404, 'the older one is spent with it');
  const {
    rows: [afterStale],
  } = await db.admin.query(`select password_hash from app_private.accounts where email = 'pat@example.test'`);
  t.equal(afterStale.password_hash, afterNewer.password_hash, 'the refused token set nothing');
  t.match(stale.json(), { code: 'NOT_FOUND', detail: 'The reset token is unknown, used or expired.' });
  t.equal((await login('an attacker would like this one')).statusCode, 401);
  const session = (await login(NEW)).json();
  t.ok(session.accessToken, 'the password is the one the newer token set');

  // A password change spends pending tokens too.
  const pending = await requestReset();
  t.equal((await post('/password', { currentPassword: NEW, newPassword: 'yet another long passphrase' }, session.accessToken)).statusCode, 204);
  t.equal((await post('/password/reset', { token: pending, password: 'an attacker would like this one' })).statusCode, 404, 'a change spends it');
  t.equal((await login('yet another long passphrase')).statusCode, 200);
});
