// Break-glass support, consented: a clinic admin grants an operator time-limited read access;
// the operator's clinic token reads but never writes, every use is audited, and the access ends
// at revocation or expiry, at once.
import t from 'tap';
import { currentTotp } from '../../src/auth/two-factor.ts';
import { buildTestApp } from '../helpers/app.ts';
import { testClient } from '../helpers/client.ts';
import { nextSecond } from '../helpers/clock.ts';
import { createClinics, createTestDatabase } from '../helpers/db.ts';
import { createOperator, createPerson } from '../helpers/people.ts';
import { decodeToken } from '../helpers/tokens.ts';

const PASSWORD = 'a long and correct password';

t.test('grant, use read-only, audit, revoke, expire', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const adminId = await createPerson(db, 'admin@example.test', PASSWORD, [[clinics.a, 'clinic_admin']]);
  await createPerson(db, 'nurse@example.test', PASSWORD, [[clinics.a, 'nurse']]);
  const operatorId = await createOperator(db, 'ops@example.test', PASSWORD);
  await createOperator(db, 'other.ops@example.test', PASSWORD);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const client = testClient(app);
  const { call } = client;
  const clinicLogin = async (email: string) => (await client.login(email, PASSWORD, 'clinic-a')).json().accessToken as string;
  const platformLogin = async (email: string) => (await client.platformLogin(email, PASSWORD)).json().accessToken as string;
  const [admin, nurse, operator, otherOperator] = [
    await clinicLogin('admin@example.test'),
    await clinicLogin('nurse@example.test'),
    await platformLogin('ops@example.test'),
    await platformLogin('other.ops@example.test'),
  ];
  const grants = '/api/v1/clinics/clinic-a/support-access';
  const request = { operatorEmail: 'ops@example.test', reason: 'Ticket 4711: appointments do not load', hours: 2 };
  const grantRows = async () => (await db.admin.query(`select operator_account_id, revoked_at from app_public.support_access_grants order by created_at`)).rows;

  t.same((await call('GET', '/api/v1/platform/support-access', operator)).json(), [], 'no grant, nothing to use');
  t.equal((await call('POST', grants, nurse, request)).statusCode, 403, 'only clinic admins grant');
  t.equal((await call('GET', grants, nurse)).statusCode, 403, 'or see grants');
  const unknown = await call('POST', grants, admin, { ...request, operatorEmail: 'nurse@example.test' });
  t.equal(unknown.statusCode, 400);
  t.match(unknown.json(), { errors: [{ path: 'body.operatorEmail', message: 'is not a platform operator' }] });
  t.equal((await call('POST', grants, admin, { ...request, hours: 169 })).statusCode, 400, 'a week at most');
  t.same(await grantRows(), [], 'the refused grants (a nurse, not an operator, too long) wrote nothing');

  const granted = await call('POST', grants, admin, request);
  t.equal(granted.statusCode, 201);
  const grant = granted.json();
  t.match(grant, { operatorAccountId: operatorId, grantedBy: adminId, reason: request.reason, revokedAt: null });
  t.ok(Math.abs(new Date(grant.expiresAt).getTime() - Date.now() - 2 * 3_600_000) < 60_000, 'expires in two hours');
  t.match((await call('GET', grants, admin)).json(), [{ id: grant.id }]);

  const held = (await call('GET', '/api/v1/platform/support-access', operator)).json();
  t.match(held, [{ grantId: grant.id, clinicSlug: 'clinic-a', clinicName: 'Clinic A', reason: request.reason }]);
  t.equal((await call('POST', `/api/v1/platform/support-access/${grant.id}/token`, otherOperator)).statusCode, 404, 'another operator cannot use the grant');
  const issued = await call('POST', `/api/v1/platform/support-access/${grant.id}/token`, operator);
  t.equal(issued.statusCode, 200);
  t.match(issued.json(), { tokenType: 'Bearer', clinicSlug: 'clinic-a', readOnly: true, expiresIn: 300 });
  const support = issued.json().accessToken as string;

  t.equal((await call('GET', '/api/v1/clinics/clinic-a/departments', support)).statusCode, 200, 'the support token reads the clinic');
  t.equal((await call('GET', '/api/v1/clinics/clinic-a/members', support)).statusCode, 200);
  const write = await call('POST', '/api/v1/clinics/clinic-a/departments', support, { code: 'SUP', name: 'Support was here' });
  t.equal(write.statusCode, 403);
  t.match(write.json(), { detail: 'Support access is read-only.' });
  t.equal((await call('POST', grants, support, request)).statusCode, 403, 'nor grant itself more');
  t.same(await grantRows(), [{ operator_account_id: operatorId, revoked_at: null }], 'still the one grant');
  const { rows: departments } = await db.admin.query('select name from app_public.departments');
  t.same(departments, [], 'and no department');
  t.equal((await call('GET', '/api/v1/clinics/clinic-b/departments', support)).statusCode, 404, 'only the granting clinic');
  t.equal((await call('GET', '/api/v1/auth/me', support)).statusCode, 401, 'no session routes: it is not a membership');
  t.equal((await call('POST', '/api/v1/auth/switch', support, { clinicSlug: 'clinic-b' })).statusCode, 401);

  const { rows: audit } = await db.admin.query<{
    action: string;
    clinic_id: string;
    actor_user_id: string;
    request_id: string;
    details: Record<string, string>;
  }>(`select action, clinic_id, actor_user_id, request_id, details from app_audit.audit_log where action like 'support.access.%' order by id`);
  // Four requests reached clinic A's routes (two reads, two refused writes); the clinic-B one
  // stopped at the slug, before any use.
  t.same(
    audit.map((r) => r.action),
    ['support.access.token_issued', ...Array(4).fill('support.access.used')],
    'the token and every request made with it in the clinic are audited, refused writes too',
  );
  t.match(audit[1], {
    clinic_id: clinics.a,
    actor_user_id: operatorId,
    request_id: String,
    details: { grant: grant.id, method: 'GET', route: '/api/v1/clinics/:slug/departments' },
  });
  const created = await db.admin.query(
    `select 1 from app_audit.audit_log where table_name = 'app_public.support_access_grants' and action = 'INSERT' and actor_user_id = $1`,
    [adminId],
  );
  t.equal(created.rowCount, 1, 'the grant itself is audited as a row change by the admin');

  const revoked = await call('POST', `${grants}/${grant.id}/revoke`, admin);
  t.equal(revoked.statusCode, 200);
  t.match(revoked.json(), { revokedBy: adminId, revokedAt: String });
  t.equal((await call('GET', '/api/v1/clinics/clinic-a/departments', support)).statusCode, 401, 'revocation ends the token at once');
  t.equal((await call('POST', `/api/v1/platform/support-access/${grant.id}/token`, operator)).statusCode, 404, 'and no new token');
  t.same((await call('GET', '/api/v1/platform/support-access', operator)).json(), []);
  const revokedAt = (await grantRows())[0].revoked_at as Date;
  t.equal((await call('POST', `${grants}/${grant.id}/revoke`, admin)).statusCode, 404, 'a revoked grant stays revoked');
  t.same(await grantRows(), [{ operator_account_id: operatorId, revoked_at: revokedAt }], 'its revocation time unchanged');

  const second = (await call('POST', grants, admin, request)).json();
  const secondToken = (await call('POST', `/api/v1/platform/support-access/${second.id}/token`, operator)).json().accessToken as string;
  await db.admin.query(
    `update app_public.support_access_grants set created_at = now() - interval '2 hours', expires_at = now() - interval '1 second' where id = $1`,
    [second.id],
  );
  t.equal((await call('GET', '/api/v1/clinics/clinic-a/departments', secondToken)).statusCode, 401, 'expiry ends the token at once');
});

t.test("a clinic that requires a second factor requires it of the operator's login too", async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  await createPerson(db, 'admin@example.test', PASSWORD, [[clinics.a, 'clinic_admin']]);
  await createOperator(db, 'ops@example.test', PASSWORD);
  await db.admin.query('insert into app_public.clinic_settings (clinic_id) values ($1)', [clinics.a]);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const post = (url: string, payload?: object, token?: string) =>
    app.inject({ method: 'POST', url, ...(payload && { payload }), headers: token ? { authorization: `Bearer ${token}` } : {} });
  const departments = (token: string) => app.inject({ url: '/api/v1/clinics/clinic-a/departments', headers: { authorization: `Bearer ${token}` } });
  const admin = (await post('/api/v1/auth/login', { email: 'admin@example.test', password: PASSWORD, clinicSlug: 'clinic-a' })).json().accessToken;
  const grant = (await post('/api/v1/clinics/clinic-a/support-access', { operatorEmail: 'ops@example.test', reason: 'Ticket 9', hours: 1 }, admin)).json();
  const passwordOnly = (await post('/api/v1/platform/auth/login', { email: 'ops@example.test', password: PASSWORD })).json().accessToken;
  const earlyToken = (await post(`/api/v1/platform/support-access/${grant.id}/token`, undefined, passwordOnly)).json().accessToken;
  t.equal((await departments(earlyToken)).statusCode, 200, 'before the clinic requires it, a password-only login will do');

  await db.admin.query('update app_public.clinic_settings set require_two_factor = true where clinic_id = $1', [clinics.a]);
  const listed = await app.inject({ url: '/api/v1/platform/support-access', headers: { authorization: `Bearer ${passwordOnly}` } });
  t.match(listed.json(), [{ grantId: grant.id, requiresTwoFactor: true }], 'the operator sees that the clinic requires it');
  const refused = await post(`/api/v1/platform/support-access/${grant.id}/token`, undefined, passwordOnly);
  t.match(refused.json(), { status: 403, code: 'TWO_FACTOR_REQUIRED' }, 'no token for a password-only platform login');
  const { rows: issuedSoFar } = await db.admin.query(`select count(*)::int as n from app_audit.audit_log where action = 'support.access.token_issued'`);
  t.same(issuedSoFar, [{ n: 1 }], 'only the token issued before the setting is on record');
  t.equal((await departments(earlyToken)).statusCode, 401, 'a password-only token issued before the setting stops at once');

  const { secret } = (await post('/api/v1/auth/two-factor/setup', { email: 'ops@example.test', password: PASSWORD })).json();
  await post('/api/v1/auth/two-factor/enable', { email: 'ops@example.test', password: PASSWORD, code: currentTotp(secret) });
  const withCode = (
    await post('/api/v1/platform/auth/login', { email: 'ops@example.test', password: PASSWORD, otp: currentTotp(secret, Date.now() + 30_000) })
  ).json().accessToken;
  const issued = await post(`/api/v1/platform/support-access/${grant.id}/token`, undefined, withCode);
  t.equal(issued.statusCode, 200, 'a platform login with a code gets one');
  t.same(decodeToken<{ amr: string[] }>(issued.json().accessToken).payload.amr, ['pwd', 'otp']);
  t.equal((await departments(issued.json().accessToken)).statusCode, 200);

  await nextSecond();
  await db.admin.query(`select app_private.turn_off_two_factor('ops@example.test', 'test')`);
  await app.refreshBlockedAccess();
  t.equal((await departments(issued.json().accessToken)).statusCode, 401, 'turning the second factor off ends the tokens that claimed it');
  t.equal(
    (await app.inject({ url: '/api/v1/platform/support-access', headers: { authorization: `Bearer ${withCode}` } })).statusCode,
    401,
    'the platform token too',
  );
});
