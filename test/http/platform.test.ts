// Platform operators: created only with the owner's rights (CLI) or by the one-time bootstrap;
// they log in with tokens of their own audience, onboard a clinic with its first admin, and
// suspend it. The admin's invitation works once.
import t from 'tap';
import { hashPassword } from '../../src/auth/passwords.ts';
import { withContext } from '../../src/db/tenant.ts';
import { bootstrapOperator } from '../../src/auth/queries.ts';
import { buildTestApp } from '../helpers/app.ts';
import { testClient } from '../helpers/client.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { createOperator, createPerson } from '../helpers/people.ts';
import { cli } from '../helpers/cli.ts';
import { latestInvitationToken } from '../helpers/outbox.ts';

const OPERATOR_PASSWORD = 'operators keep the lights on';
const ADMIN_PASSWORD = 'clinic admin night shift';

t.test('operators, onboarding, invitations, suspension', async (t) => {
  const db = await createTestDatabase(t);
  t.equal((await cli(db, ['operator:create', '--email', 'ops@example.test'], 'password123\n')).code, 2, 'a weak password is refused');
  t.equal((await cli(db, ['operator:create'], OPERATOR_PASSWORD)).code, 2, 'the e-mail is required');
  const created = await cli(db, ['operator:create', '--email', 'ops@example.test'], `${OPERATOR_PASSWORD}\n`);
  t.equal(created.code, 0, created.output);

  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const client = testClient(app);
  const { post } = client;
  const get = (url: string, token: string) => client.call('GET', url, token);

  const login = await post('/api/v1/platform/auth/login', { email: 'ops@example.test', password: OPERATOR_PASSWORD });
  t.equal(login.statusCode, 200);
  const operatorToken = login.json().accessToken as string;
  t.equal((await post('/api/v1/platform/auth/login', { email: 'ops@example.test', password: 'not the operator password' })).statusCode, 401);

  const onboarded = await post(
    '/api/v1/platform/clinics',
    {
      slug: 'sunrise',
      name: 'Sunrise Clinic',
      timezone: 'Asia/Kolkata',
      admin: { email: 'Admin@Sunrise.test', displayName: 'Dr Admin' },
    },
    operatorToken,
  );
  t.equal(onboarded.statusCode, 201);
  t.match(onboarded.json(), { clinic: { slug: 'sunrise', status: 'active', members: 1, timezone: 'Asia/Kolkata' }, invitation: { expiresAt: String } });
  t.same(Object.keys(onboarded.json().invitation), ['expiresAt'], "the operator gets no token: it goes to the admin's e-mail only");
  const invitation = await latestInvitationToken(db, 'admin@sunrise.test');
  const {
    rows: [message],
  } = await db.admin.query(`select recipient, payload from app_private.notification_outbox where kind = 'invitation'`);
  t.match(message, {
    recipient: 'Admin@Sunrise.test',
    payload: { clinic_slug: 'sunrise', clinic_name: 'Sunrise Clinic', role: 'clinic_admin', sets_password: true, expires_at: String },
  });
  const pending = await cli(db, ['outbox:pending', '--email', 'admin@sunrise.test']);
  t.equal(pending.code, 0, pending.output);
  t.ok(pending.output.includes(`"token":"${invitation}"`), 'a developer reads the token from the outbox with the CLI');
  t.equal(
    (await post('/api/v1/platform/clinics', { slug: 'sunrise', name: 'Again', admin: { email: 'x@sunrise.test', displayName: 'X' } }, operatorToken))
      .statusCode,
    409,
    'slugs are unique',
  );
  t.equal((await post('/api/v1/platform/clinics', { slug: 'x', name: 'Bad', admin: { email: 'x@y.test', displayName: 'X' } }, operatorToken)).statusCode, 400);
  const { rows: clinicsNow } = await db.admin.query('select slug, name from app_public.clinics');
  t.same(clinicsNow, [{ slug: 'sunrise', name: 'Sunrise Clinic' }], 'the refused onboardings created no clinic and renamed none');
  const { rows: accountsNow } = await db.admin.query('select email from app_private.accounts order by email');
  t.same(accountsNow, [{ email: 'Admin@Sunrise.test' }, { email: 'ops@example.test' }], 'nor an account');
  const { rows: sent } = await db.admin.query('select recipient from app_private.notification_outbox');
  t.same(sent, [{ recipient: 'Admin@Sunrise.test' }], 'nor sent an invitation');

  t.equal(
    (await post('/api/v1/auth/login', { email: 'admin@sunrise.test', password: ADMIN_PASSWORD, clinicSlug: 'sunrise' })).statusCode,
    401,
    'no login before the invitation is accepted',
  );
  const weak = await post('/api/v1/auth/invitations/accept', { token: invitation, password: 'sunrise12345' });
  t.equal(weak.statusCode, 400);
  t.match(weak.json(), { errors: [{ path: 'body.password' }] });
  const adminAccount = async () =>
    (
      await db.admin.query(
        `select a.password_hash, m.status from app_private.accounts a join app_public.clinic_members m on m.account_id = a.id where a.email = 'Admin@Sunrise.test'`,
      )
    ).rows[0];
  t.same(await adminAccount(), { password_hash: '$argon2id$unset', status: 'invited' }, 'the refused acceptance set no password and activated nothing');
  const accepted = await post('/api/v1/auth/invitations/accept', { token: invitation, password: ADMIN_PASSWORD });
  t.equal(accepted.statusCode, 200);
  t.match(accepted.json().membership, { clinicSlug: 'sunrise', role: 'clinic_admin' });
  const acceptedOnce = await adminAccount();
  t.equal((await post('/api/v1/auth/invitations/accept', { token: invitation, password: ADMIN_PASSWORD })).statusCode, 404, 'an invitation works once');
  t.same(await adminAccount(), acceptedOnce, 'the second use set no new password');
  t.equal(acceptedOnce.status, 'active');
  const adminToken = accepted.json().accessToken as string;
  t.equal(
    (await post('/api/v1/clinics/sunrise/departments', { code: 'OPD', name: 'Outpatients' }, adminToken)).statusCode,
    201,
    'the admin works in the clinic',
  );

  t.equal((await get('/api/v1/platform/clinics', adminToken)).statusCode, 401, 'a clinic token does not open platform routes');
  t.equal((await get('/api/v1/clinics/sunrise/departments', operatorToken)).statusCode, 401, 'an operator token does not open clinic routes');
  const overview = await get('/api/v1/platform/clinics', operatorToken);
  t.same(
    overview.json().map((c: { slug: string; members: number }) => [c.slug, c.members]),
    [['sunrise', 1]],
    'operators see metadata and counts',
  );
  t.notMatch(overview.body, /Outpatients|Dr Admin/, "and nothing of the clinic's data");

  t.equal((await post('/api/v1/platform/clinics/sunrise/suspend', undefined, operatorToken)).statusCode, 204);
  const refused = await get('/api/v1/clinics/sunrise/departments', adminToken);
  t.equal(refused.statusCode, 403, 'a token issued before the suspension is refused at once');
  t.match(refused.json(), { code: 'FORBIDDEN', detail: 'This clinic is suspended.' });
  t.equal(
    (await post('/api/v1/auth/login', { email: 'admin@sunrise.test', password: ADMIN_PASSWORD, clinicSlug: 'sunrise' })).statusCode,
    401,
    'a suspended clinic cannot be entered',
  );
  t.equal((await post('/api/v1/auth/refresh', { refreshToken: accepted.json().refreshToken })).statusCode, 401, 'nor refreshed');
  t.equal((await post('/api/v1/platform/clinics/sunrise/reactivate', undefined, operatorToken)).statusCode, 204);
  t.equal((await post('/api/v1/auth/login', { email: 'admin@sunrise.test', password: ADMIN_PASSWORD, clinicSlug: 'sunrise' })).statusCode, 200, 'reactivated');
  t.equal((await get('/api/v1/clinics/sunrise/departments', adminToken)).statusCode, 200, 'and its tokens work again');

  // A suspension made elsewhere (another process, or SQL) reaches this process on its next re-read.
  await db.admin.query(`update app_public.clinics set status = 'suspended' where slug = 'sunrise'`);
  await app.refreshBlockedAccess();
  t.equal((await get('/api/v1/clinics/sunrise/departments', adminToken)).statusCode, 403, 'after the periodic re-read');
  await db.admin.query(`update app_public.clinics set status = 'active' where slug = 'sunrise'`);
  t.equal((await post('/api/v1/platform/clinics/nowhere/suspend', undefined, operatorToken)).statusCode, 404);
  t.equal(
    (await post('/api/v1/platform/auth/login', { email: 'admin@sunrise.test', password: ADMIN_PASSWORD })).statusCode,
    401,
    'a clinic admin is not an operator',
  );
});

t.test('an invitation to a person who already has an account asks for their password', async (t) => {
  const db = await createTestDatabase(t);
  await createOperator(db, 'ops@example.test', OPERATOR_PASSWORD);
  await createPerson(db, 'doc@example.test', ADMIN_PASSWORD);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const client = testClient(app);
  const operatorToken = (await client.platformLogin('ops@example.test', OPERATOR_PASSWORD)).json().accessToken;
  const onboarded = await client.post(
    '/api/v1/platform/clinics',
    { slug: 'second', name: 'Second', admin: { email: 'doc@example.test', displayName: 'Dr Doc' } },
    operatorToken,
  );
  t.equal(onboarded.statusCode, 201);
  const token = await latestInvitationToken(db, 'doc@example.test');
  const accept = (password: string) => client.post('/api/v1/auth/invitations/accept', { token, password });
  t.equal((await accept('a different but strong passphrase')).statusCode, 401, 'not with another password');
  const { rows: pending } = await db.admin.query(
    `select m.status, i.accepted_at from app_public.clinic_members m join app_private.invitations i using (clinic_id, account_id)`,
  );
  t.same(pending, [{ status: 'invited', accepted_at: null }], 'the refused acceptance activated nothing');
  t.equal((await accept(ADMIN_PASSWORD)).statusCode, 200, 'with their own');
});

t.test('the bootstrap creates the first operator only', async (t) => {
  const db = await createTestDatabase(t);
  const hash = await hashPassword(OPERATOR_PASSWORD);
  const bootstrap = (email: string) =>
    withContext(db.pool, 'app_platform', { clinicId: null, userId: null, role: null }, (trx) => bootstrapOperator(trx, email, hash));
  t.equal(await bootstrap('first@example.test'), true);
  t.equal(await bootstrap('second@example.test'), false);
  const { rows } = await db.admin.query('select a.email from app_private.platform_operators o join app_private.accounts a on a.id = o.account_id');
  t.same(rows, [{ email: 'first@example.test' }]);
});

t.test("a clinic's registration profile: set at onboarding, edited by operators", async (t) => {
  const db = await createTestDatabase(t);
  await createOperator(db, 'ops@example.test', OPERATOR_PASSWORD);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const client = testClient(app, '/api/v1/platform');
  const operatorToken = (await client.platformLogin('ops@example.test', OPERATOR_PASSWORD)).json().accessToken as string;
  const call = (method: 'POST' | 'PATCH', url: string, payload: object) => client.call(method, url, operatorToken, payload);
  const profile = {
    address: '12 Harbour Road, Kochi 682001',
    contactEmail: 'front.desk@harbour.test',
    contactPhone: '+91 484 123 4567',
    registrationNumber: 'KL/CE/2024/0042',
    taxId: '32ABCDE1234F1Z5',
  };

  const onboarded = await call('POST', '/clinics', {
    slug: 'harbour',
    name: 'Harbour Clinic',
    plan: 'basic',
    ...profile,
    admin: { email: 'a@harbour.test', displayName: 'Dr A' },
  });
  t.equal(onboarded.statusCode, 201);
  t.match(onboarded.json().clinic, { slug: 'harbour', plan: 'basic', ...profile });

  const bad = await call('PATCH', '/clinics/harbour', { contactPhone: 'call us', contactEmail: 'nope' });
  t.equal(bad.statusCode, 400);
  t.match(bad.json().errors, [{ path: 'body.contactEmail' }, { path: 'body.contactPhone' }], 'every wrong field is named');
  t.equal((await call('PATCH', '/clinics/harbour', { slug: 'renamed' })).statusCode, 400, 'the slug is for good');
  const {
    rows: [unchanged],
  } = await db.admin.query('select slug, name, contact_email, contact_phone from app_public.clinics');
  t.same(
    unchanged,
    { slug: 'harbour', name: 'Harbour Clinic', contact_email: profile.contactEmail, contact_phone: profile.contactPhone },
    'the refused edits changed nothing',
  );

  const edited = await call('PATCH', '/clinics/harbour', { name: 'Harbour Family Clinic', taxId: null });
  t.equal(edited.statusCode, 200);
  t.match(edited.json(), { name: 'Harbour Family Clinic', taxId: null, address: profile.address });
  t.equal((await call('PATCH', '/clinics/nowhere', { name: 'Ghost' })).statusCode, 404);
  const { rows } = await db.admin.query(
    `select changed_columns from app_audit.audit_log where table_name = 'app_public.clinics' and action = 'UPDATE' order by id desc limit 1`,
  );
  t.same(rows[0].changed_columns, ['name', 'tax_id', 'updated_at'], 'the edit is audited');
});
