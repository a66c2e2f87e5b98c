// Plans limit the staff a clinic may have (in the database), operators change plans, and each
// clinic's settings belong to its admins, with the idle timeout applied to refresh tokens.
import t from 'tap';
import { buildTestApp } from '../helpers/app.ts';
import { testClient } from '../helpers/client.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { latestInvitationToken } from '../helpers/outbox.ts';
import { createOperator } from '../helpers/people.ts';

const PASSWORD = 'a long and correct password';

t.test('plans, limits and settings', async (t) => {
  const db = await createTestDatabase(t);
  await createOperator(db, 'ops@example.test', PASSWORD);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const client = testClient(app);
  const { call } = client;
  const ops = (await client.platformLogin('ops@example.test', PASSWORD)).json().accessToken;
  const onboarded = (
    await call('POST', '/api/v1/platform/clinics', ops, { slug: 'alpha', name: 'Alpha', admin: { email: 'admin@alpha.test', displayName: 'Admin' } })
  ).json();
  t.match(onboarded.clinic, { plan: 'trial', planStatus: 'trial' }, 'a new clinic starts on the trial plan');
  const admin = (
    await call('POST', '/api/v1/auth/invitations/accept', undefined, { token: await latestInvitationToken(db, 'admin@alpha.test'), password: PASSWORD })
  ).json();
  const invite = (email: string, role: string) =>
    call('POST', '/api/v1/clinics/alpha/members/invitations', admin.accessToken, { email, role, displayName: email });
  // Alpha's staff and plan, and the accounts that exist, as the database holds them.
  const staff = async () =>
    (
      await db.admin.query(
        `select a.email, m.role, m.status from app_public.clinic_members m join app_private.accounts a on a.id = m.account_id
       join app_public.clinics c on c.id = m.clinic_id where c.slug = 'alpha' order by a.email`,
      )
    ).rows.map((r) => `${r.email} ${r.role} ${r.status}`);
  const accountExists = async (email: string) => (await db.admin.query('select 1 from app_private.accounts where email = $1', [email])).rowCount === 1;
  const plan = async () => (await db.admin.query(`select plan, plan_status from app_public.clinics where slug = 'alpha'`)).rows[0];

  const defaults = await call('GET', '/api/v1/clinics/alpha/settings', admin.accessToken);
  t.equal(defaults.statusCode, 200);
  t.match(defaults.json(), { currency: 'USD', sessionIdleMinutes: 15, requireTwoFactor: false, taxRate: 0 });

  t.same([(await invite('d1@alpha.test', 'doctor')).statusCode, (await invite('d2@alpha.test', 'doctor')).statusCode], [201, 201]);
  const third = await invite('d3@alpha.test', 'doctor');
  t.equal(third.statusCode, 409, 'the trial plan allows two doctors');
  t.match(third.json(), { code: 'CONFLICT', detail: /plan allows no more/ });
  t.equal((await invite('r1@alpha.test', 'receptionist')).statusCode, 201);
  t.equal((await invite('r2@alpha.test', 'receptionist')).statusCode, 409, 'and one receptionist');
  t.equal((await invite('n1@alpha.test', 'nurse')).statusCode, 201, 'nurses are not limited');
  t.same(
    await staff(),
    [
      'admin@alpha.test clinic_admin active',
      'd1@alpha.test doctor invited',
      'd2@alpha.test doctor invited',
      'n1@alpha.test nurse invited',
      'r1@alpha.test receptionist invited',
    ],
    'the refused invitations added no membership',
  );
  t.same([await accountExists('d3@alpha.test'), await accountExists('r2@alpha.test')], [false, false], 'nor an account');

  const members = (await call('GET', '/api/v1/clinics/alpha/members?limit=50', admin.accessToken)).json().items;
  const d1 = members.find((m: { displayName: string }) => m.displayName === 'd1@alpha.test');
  t.equal((await call('PATCH', `/api/v1/clinics/alpha/members/${d1.id}`, admin.accessToken, { status: 'deactivated' })).statusCode, 200);
  t.equal((await invite('d3@alpha.test', 'doctor')).statusCode, 201, 'a deactivated doctor frees the seat');
  t.equal(
    (await call('PATCH', `/api/v1/clinics/alpha/members/${d1.id}`, admin.accessToken, { status: 'active' })).statusCode,
    409,
    'and cannot come back over the limit',
  );
  t.ok((await staff()).includes('d1@alpha.test doctor deactivated'), 'the refused reactivation left d1 deactivated');

  t.equal((await call('PATCH', '/api/v1/platform/clinics/alpha/plan', ops, { plan: 'gold' })).statusCode, 400);
  t.equal((await call('PATCH', '/api/v1/platform/clinics/alpha/plan', admin.accessToken, { plan: 'basic' })).statusCode, 401, 'only operators change plans');
  t.same(await plan(), { plan: 'trial', plan_status: 'trial' }, 'the refused plan changes changed nothing');
  t.equal((await call('PATCH', '/api/v1/platform/clinics/alpha/plan', ops, { plan: 'basic', planStatus: 'active' })).statusCode, 204);
  t.equal((await call('PATCH', `/api/v1/clinics/alpha/members/${d1.id}`, admin.accessToken, { status: 'active' })).statusCode, 200, 'the basic plan has room');
  const listed = (await call('GET', '/api/v1/platform/clinics', ops)).json();
  t.match(listed[0], { slug: 'alpha', plan: 'basic', planStatus: 'active' });

  const changed = await call('PATCH', '/api/v1/clinics/alpha/settings', admin.accessToken, {
    currency: 'INR',
    taxRate: 18,
    sessionIdleMinutes: 5,
    operatingHours: { mon: [['09:00', '17:00']] },
    brandPrimaryColour: '#0a7cff',
    brandLogoUrl: 'https://cdn.alpha.test/logo.svg',
  });
  t.equal(changed.statusCode, 200);
  t.match(changed.json(), {
    currency: 'INR',
    taxRate: 18,
    sessionIdleMinutes: 5,
    operatingHours: { mon: [['09:00', '17:00']] },
    brandLogoUrl: 'https://cdn.alpha.test/logo.svg',
  });
  const insecureLogo = await call('PATCH', '/api/v1/clinics/alpha/settings', admin.accessToken, { brandLogoUrl: 'http://cdn.alpha.test/logo.svg' });
  t.match(insecureLogo.json(), { status: 400, errors: [{ path: 'body.brandLogoUrl' }] }, 'the logo is served over HTTPS only');
  const bad = await call('PATCH', '/api/v1/clinics/alpha/settings', admin.accessToken, { currency: 'rupees' });
  t.equal(bad.statusCode, 400);
  t.match(bad.json(), { errors: [{ path: 'body.currency' }] });

  const nurseToken = await client.clinicToken('nurse', { id: admin.membership.clinicId, slug: 'alpha' });
  t.equal((await call('PATCH', '/api/v1/clinics/alpha/settings', nurseToken, { currency: 'EUR' })).statusCode, 403, 'only admins change settings');
  const {
    rows: [settings],
  } = await db.admin.query(
    `select s.currency, s.tax_rate::int as tax_rate, s.session_idle_minutes, s.brand_logo_url from app_public.clinic_settings s
     join app_public.clinics c on c.id = s.clinic_id where c.slug = 'alpha'`,
  );
  t.same(
    settings,
    { currency: 'INR', tax_rate: 18, session_idle_minutes: 5, brand_logo_url: 'https://cdn.alpha.test/logo.svg' },
    'the refused changes (http logo, bad currency, a nurse) left the settings as the admin set them',
  );
  t.equal((await call('GET', '/api/v1/clinics/alpha/settings', nurseToken)).statusCode, 200, 'every member reads them');

  await client.login('admin@alpha.test', PASSWORD, 'alpha');
  const { rows } = await db.admin.query(
    `select extract(epoch from idle_expires_at - created_at)::int as idle from app_private.refresh_tokens order by created_at desc limit 1`,
  );
  t.equal(rows[0].idle, 300, "the clinic's idle timeout applies to new sessions");
});
