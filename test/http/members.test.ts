// Staff management: an admin invites, the invited person joins, the admin changes roles and
// deactivates; the last active admin stays; patients never see other patients.
import t from 'tap';
import { buildTestApp } from '../helpers/app.ts';
import { testClient } from '../helpers/client.ts';
import { createClinics, createTestDatabase } from '../helpers/db.ts';
import { latestInvitationToken } from '../helpers/outbox.ts';
import { createPerson } from '../helpers/people.ts';

const PASSWORD = 'a long and correct password';

t.test('inviting, joining, changing and deactivating members', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  await createPerson(db, 'admin@a.test', PASSWORD, [[clinics.a, 'clinic_admin']]);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const client = testClient(app, '/api/v1/clinics/clinic-a/members');
  const { call } = client;
  const login = async (email: string) => (await client.login(email, PASSWORD, 'clinic-a')).json();
  const accept = async (email: string) =>
    app.inject({ method: 'POST', url: '/api/v1/auth/invitations/accept', payload: { token: await latestInvitationToken(db, email), password: PASSWORD } });
  const adminToken = (await login('admin@a.test')).accessToken as string;
  // Clinic A's memberships and what reached the outbox, as the database holds them.
  const memberRows = async () =>
    (
      await db.admin.query(
        `select a.email, m.role, m.status, m.display_name from app_public.clinic_members m
       join app_private.accounts a on a.id = m.account_id where m.clinic_id = $1 order by a.email`,
        [clinics.a],
      )
    ).rows;
  const sentTo = async (email: string) =>
    (await db.admin.query(`select count(*)::int as n from app_private.notification_outbox where lower(recipient) = $1`, [email])).rows[0].n;
  const admin = { email: 'admin@a.test', role: 'clinic_admin', status: 'active', display_name: 'admin@a.test as clinic_admin' };

  const invitedDoctor = await call('POST', '/invitations', adminToken, { email: 'doc@a.test', role: 'doctor', displayName: 'Dr Doc' });
  t.equal(invitedDoctor.statusCode, 201);
  t.match(invitedDoctor.json(), { member: { role: 'doctor', status: 'invited', displayName: 'Dr Doc' }, invitation: { expiresAt: String } });
  t.same(Object.keys(invitedDoctor.json().invitation), ['expiresAt'], 'the admin gets no token: it goes to the e-mail only');
  t.equal(
    (await call('POST', '/invitations', adminToken, { email: 'doc@a.test', role: 'nurse', displayName: 'Again' })).statusCode,
    409,
    'one membership per person and clinic',
  );
  t.same(
    await memberRows(),
    [admin, { email: 'doc@a.test', role: 'doctor', status: 'invited', display_name: 'Dr Doc' }],
    'the refused second invitation changed no membership',
  );
  t.equal(await sentTo('doc@a.test'), 1, 'and sent nothing');
  const doctor = (await accept('doc@a.test')).json();
  t.match(doctor.membership, { role: 'doctor', clinicSlug: 'clinic-a' }, 'the doctor joins');

  for (const [email, role] of [
    ['p1@a.test', 'patient'],
    ['p2@a.test', 'patient'],
  ] as const) {
    await call('POST', '/invitations', adminToken, { email, role, displayName: email });
    await accept(email);
  }
  const patientToken = (await login('p1@a.test')).accessToken as string;
  const seenByPatient = (await call('GET', '?limit=50', patientToken)).json().items.map((m: { displayName: string }) => m.displayName);
  t.same(seenByPatient.sort(), ['admin@a.test as clinic_admin', 'Dr Doc', 'p1@a.test'].sort(), 'a patient sees the staff and themselves');
  const seenByDoctor = (await call('GET', '?limit=50', doctor.accessToken)).json().items.length;
  t.equal(seenByDoctor, 4, 'staff see everyone');
  const firstPage = (await call('GET', '?limit=2', doctor.accessToken)).json();
  const secondPage = (await call('GET', `?limit=2&after=${firstPage.nextCursor}`, doctor.accessToken)).json();
  t.equal(new Set([...firstPage.items, ...secondPage.items].map((m: { id: string }) => m.id)).size, 4, 'pages cover the list once');

  const staffBefore = await memberRows();
  t.equal(
    (await call('POST', '/invitations', doctor.accessToken, { email: 'x@a.test', role: 'nurse', displayName: 'X' })).statusCode,
    403,
    'only admins invite',
  );
  const doctorId = invitedDoctor.json().member.id as string;
  t.equal((await call('PATCH', `/${doctorId}`, doctor.accessToken, { role: 'clinic_admin' })).statusCode, 403, 'nobody promotes themselves');
  const {
    rows: [x],
  } = await db.admin.query(`select count(*)::int as n from app_private.accounts where email = 'x@a.test'`);
  t.equal(x.n, 0, 'the refused invitation created no account');
  t.equal(await sentTo('x@a.test'), 0, 'and sent nothing');
  t.same(
    staffBefore.map((m) => [m.email, m.role]),
    [
      ['admin@a.test', 'clinic_admin'],
      ['doc@a.test', 'doctor'],
      ['p1@a.test', 'patient'],
      ['p2@a.test', 'patient'],
    ],
  );
  t.same(await memberRows(), staffBefore, 'the doctor is still a doctor, and no member was added');
  const changed = await call('PATCH', `/${doctorId}`, adminToken, {
    specialisation: 'Cardiology',
    licenceNumber: 'MC-1',
    consultationFee: 500,
    officeHours: { mon: [['09:00', '13:00']], thu: [['14:00', '18:00']] },
  });
  t.equal(changed.statusCode, 200);
  t.match(changed.json(), { specialisation: 'Cardiology', licenceNumber: 'MC-1', consultationFee: 500, officeHours: { mon: [['09:00', '13:00']] } });
  const badHours = await call('PATCH', `/${doctorId}`, adminToken, { officeHours: { mon: [['9am', '1pm']] } });
  t.match(badHours.json(), { status: 400, errors: [{ path: 'body.officeHours.mon.0.0' }] }, 'office hours are HH:MM ranges');
  t.equal((await call('PATCH', `/${doctorId}`, adminToken, {})).statusCode, 400, 'an empty change is refused');
  const {
    rows: [doc],
  } = await db.admin.query(
    `select role, status, specialisation, licence_number, consultation_fee::int as fee, office_hours from app_public.clinic_members where id = $1`,
    [doctorId],
  );
  t.same(
    doc,
    {
      role: 'doctor',
      status: 'active',
      specialisation: 'Cardiology',
      licence_number: 'MC-1',
      fee: 500,
      office_hours: { mon: [['09:00', '13:00']], thu: [['14:00', '18:00']] },
    },
    'the refused changes left the profile as the accepted one set it',
  );

  t.equal((await call('GET', '', doctor.accessToken)).statusCode, 200, 'the doctor works');
  t.equal((await call('PATCH', `/${doctorId}`, adminToken, { status: 'deactivated' })).statusCode, 200);
  t.equal((await call('GET', '', doctor.accessToken)).statusCode, 401, "a deactivated member's unexpired access token is refused at once");
  t.equal(
    (await app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken: doctor.refreshToken } })).statusCode,
    401,
    'a deactivated member cannot refresh',
  );

  const adminMemberId = (await call('GET', '?limit=50', adminToken)).json().items.find((m: { role: string }) => m.role === 'clinic_admin').id;
  const demote = await call('PATCH', `/${adminMemberId}`, adminToken, { role: 'doctor' });
  t.equal(demote.statusCode, 409, 'the last active admin stays');
  t.match(demote.json(), { code: 'CONFLICT', detail: /at least one active admin/ });
  t.same((await memberRows())[0], admin, 'the admin is still an active admin');

  const { rows } = await db.admin.query(
    `select action, actor_role, changed_columns from app_audit.audit_log where table_name = 'app_public.clinic_members' and action = 'UPDATE' order by id`,
  );
  t.ok(
    rows.some((r) => r.changed_columns.includes('status') && r.actor_role === 'clinic_admin'),
    'the deactivation is audited',
  );
});
