// The identity issue's end-to-end flow: an operator onboards a clinic; its admin invites a
// doctor, a receptionist and a lab technician; each gets what the matrix allows; a person in two
// clinics switches between them and never sees one from the other.
import t from 'tap';
import { buildTestApp } from '../helpers/app.ts';
import { testClient } from '../helpers/client.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { latestInvitationToken } from '../helpers/outbox.ts';
import { createOperator } from '../helpers/people.ts';

const PASSWORD = 'a long and correct password';

/** What each role gets on the departments of its clinic, written out by hand, not asked of the code. */
const EXPECTED = {
  clinic_admin: { list: 200, create: 201 },
  doctor: { list: 200, create: 403 },
  receptionist: { list: 200, create: 403 },
  lab_technician: { list: 200, create: 403 },
} as const;
type StaffRole = keyof typeof EXPECTED;

t.test('onboard, invite, work, switch', async (t) => {
  const db = await createTestDatabase(t);
  await createOperator(db, 'ops@example.test', PASSWORD);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const client = testClient(app);
  const { call } = client;
  const ops = (await client.platformLogin('ops@example.test', PASSWORD)).json().accessToken;
  const onboard = async (slug: string, adminEmail: string) =>
    (await call('POST', '/api/v1/platform/clinics', ops, { slug, name: slug, plan: 'basic', admin: { email: adminEmail, displayName: 'Admin' } })).json();
  const accept = async (email: string) =>
    (await call('POST', '/api/v1/auth/invitations/accept', undefined, { token: await latestInvitationToken(db, email), password: PASSWORD })).json();

  await onboard('north', 'admin@north.test');
  const admin = await accept('admin@north.test');
  const staff: Partial<Record<StaffRole, string>> = { clinic_admin: admin.accessToken };
  for (const role of ['doctor', 'receptionist', 'lab_technician'] as const) {
    const invited = await call('POST', '/api/v1/clinics/north/members/invitations', admin.accessToken, {
      email: `${role}@north.test`,
      role,
      displayName: role,
    });
    t.equal(invited.statusCode, 201, `the admin invites a ${role}`);
    await accept(`${role}@north.test`);
    const login = await client.login(`${role}@north.test`, PASSWORD, 'north');
    t.equal(login.statusCode, 200, `the ${role} logs in`);
    staff[role] = login.json().accessToken;
  }
  t.same(Object.keys(staff).sort(), Object.keys(EXPECTED).sort(), 'every role of the table has a token');
  for (const [role, token] of Object.entries(staff) as [StaffRole, string][]) {
    const list = await call('GET', '/api/v1/clinics/north/departments', token);
    t.equal(list.statusCode, EXPECTED[role].list, `${role} reads departments: ${EXPECTED[role].list}`);
    const create = await call('POST', '/api/v1/clinics/north/departments', token, { code: `D_${role.toUpperCase()}`, name: `By ${role}` });
    t.equal(create.statusCode, EXPECTED[role].create, `${role} creates a department: ${EXPECTED[role].create}`);
  }
  const { rows: created } = await db.admin.query(
    `select d.name from app_public.departments d join app_public.clinics c on c.id = d.clinic_id where c.slug = 'north' order by d.name`,
  );
  t.same(
    created.map((d) => d.name),
    ['By clinic_admin'],
    "only the admin's department exists: the refused creates wrote nothing",
  );

  await onboard('south', 'doctor@north.test');
  const southAdmin = await accept('doctor@north.test');
  t.match(southAdmin.membership, { clinicSlug: 'south', role: 'clinic_admin' }, 'the doctor of north is the admin of south');
  await call('POST', '/api/v1/clinics/south/departments', southAdmin.accessToken, { code: 'SOUTH', name: 'Southern ward' });
  const choices = await call('POST', '/api/v1/auth/login', undefined, { email: 'doctor@north.test', password: PASSWORD });
  t.same(
    choices.json().clinics.map((c: { clinicSlug: string; role: string }) => [c.clinicSlug, c.role]),
    [
      ['north', 'doctor'],
      ['south', 'clinic_admin'],
    ],
  );

  const inNorth = staff.doctor!;
  const switched = (await call('POST', '/api/v1/auth/switch', inNorth, { clinicSlug: 'south' })).json();
  const southNames = (await call('GET', '/api/v1/clinics/south/departments', switched.accessToken)).json().items.map((d: { name: string }) => d.name);
  const northNames = (await call('GET', '/api/v1/clinics/north/departments', inNorth)).json().items.map((d: { name: string }) => d.name);
  t.same(southNames, ['Southern ward'], 'in south: only south');
  t.notOk(northNames.includes('Southern ward'), 'in north: nothing of south');
  t.equal((await call('GET', '/api/v1/clinics/north/departments', switched.accessToken)).statusCode, 404, 'a south token cannot open north');
  t.equal((await call('GET', '/api/v1/clinics/south/departments', inNorth)).statusCode, 404, 'a north token cannot open south');
});
