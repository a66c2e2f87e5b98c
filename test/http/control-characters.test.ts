// Control characters in text: Postgres text cannot hold NUL (22021), and no field wants a bell or
// an escape. Every text field of every route refuses them with a 400 naming the field, cursors too;
// a value that slips past validation is still a 400, never a 500. Real text (accents, scripts,
// emoji, line breaks where a field has lines) is untouched.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import t from 'tap';
import { sql } from 'kysely';
import { fromDatabaseError } from '../../src/errors.ts';
import { withTenant } from '../../src/db/tenant.ts';
import { buildTestApp } from '../helpers/app.ts';
import { testClient } from '../helpers/client.ts';
import { createClinics, createTestDatabase } from '../helpers/db.ts';
import { rawMultipart } from '../helpers/multipart.ts';
import { createOperator, createPerson } from '../helpers/people.ts';
import { filesUnder } from '../helpers/storage.ts';

const PASSWORD = 'a long and correct password';
const CONTROLS = ['\u0000', '\u0007', '\u001b', '\u007f'];

type Caller = 'nobody' | 'admin' | 'doctor' | 'lab' | 'patient' | 'operator';
interface Route {
  method: 'POST' | 'PATCH';
  url: string;
  caller: Caller;
  body: Record<string, unknown>;
  /** Dotted paths inside the body of every text field the route takes. */
  fields: string[];
}

const cursorOf = (key: unknown[]) => Buffer.from(JSON.stringify(key)).toString('base64url');

function withValue(body: Record<string, unknown>, path: string, value: string): Record<string, unknown> {
  const copy = structuredClone(body);
  const keys = path.split('.');
  let target = copy;
  for (const key of keys.slice(0, -1)) target = target[key] as Record<string, unknown>;
  target[keys.at(-1)!] = value;
  return copy;
}

/** The problem document, or nothing for a success without a body (204). */
const problemOf = (response: { statusCode: number; body: string }) => (response.body ? (JSON.parse(response.body) as object) : {});

function valueAt(body: Record<string, unknown>, path: string): string {
  return path.split('.').reduce<unknown>((value, key) => (value as Record<string, unknown>)[key], body) as string;
}

const prescriptionItem = {
  medicineName: 'Amoxicillin',
  genericName: 'amoxicillin',
  strength: '500 mg',
  doseForm: 'capsule',
  dose: '1 capsule',
  frequency: 'custom',
  frequencyCustom: 'every 8 hours',
  route: 'oral',
  quantity: 15,
  instructions: 'After meals',
};
const PRESCRIPTION_ITEM_FIELDS = ['medicineName', 'genericName', 'strength', 'dose', 'frequencyCustom', 'instructions'].map((field) => `items.0.${field}`);

t.test('every text field refuses control characters with a 400 naming it', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const adminId = await createPerson(db, 'admin@example.test', PASSWORD, [[clinics.a, 'clinic_admin']]);
  const patientId = await createPerson(db, 'patient@example.test', PASSWORD, [[clinics.a, 'patient']]);
  const doctorId = await createPerson(db, 'doctor@example.test', PASSWORD, [[clinics.a, 'doctor']]);
  const labId = await createPerson(db, 'lab@example.test', PASSWORD, [[clinics.a, 'lab_technician']]);
  const operatorId = await createOperator(db, 'ops@example.test', PASSWORD);
  const memberId = (await db.admin.query(`select id from app_public.clinic_members where account_id = $1`, [adminId])).rows[0].id as string;
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const client = testClient(app);
  const clinicToken = (sub: string, role: 'clinic_admin' | 'doctor' | 'lab_technician' | 'patient') =>
    client.clinicToken(role, { id: clinics.a, slug: 'clinic-a' }, sub);
  const tokens: Record<Caller, string | undefined> = {
    nobody: undefined,
    admin: await clinicToken(adminId, 'clinic_admin'),
    doctor: await clinicToken(doctorId, 'doctor'),
    lab: await clinicToken(labId, 'lab_technician'),
    patient: await clinicToken(patientId, 'patient'),
    operator: await app.signPlatformToken({ accountId: operatorId, twoFactor: false }),
  };

  const credentials = { email: 'someone@example.test', password: 'any password at all' };
  const profile = {
    name: 'Clinic',
    address: '1 High Street',
    contactEmail: 'desk@example.test',
    contactPhone: '+44 20 7946 0000',
    registrationNumber: 'REG-1',
    taxId: 'TAX-1',
  };
  const patientFields = {
    fullName: 'Amara Okafor',
    dateOfBirth: '1984-07-19',
    sex: 'female',
    phone: '+234 803 555 0142',
    email: 'amara@example.test',
    address: '12 Marina Road',
    emergencyContactName: 'Chidi Okafor',
    emergencyContactPhone: '+234 803 555 0199',
    bloodGroup: 'O+',
    identificationType: 'passport',
    identificationNumber: 'A1234567',
  };
  const routes: Route[] = [
    {
      method: 'POST',
      url: '/api/v1/auth/login',
      caller: 'nobody',
      body: { ...credentials, clinicSlug: 'clinic-a', otp: '123456' },
      fields: ['email', 'password', 'otp'],
    },
    { method: 'POST', url: '/api/v1/auth/refresh', caller: 'nobody', body: { refreshToken: 'r'.repeat(43) }, fields: ['refreshToken'] },
    { method: 'POST', url: '/api/v1/auth/logout', caller: 'nobody', body: { refreshToken: 'r'.repeat(43) }, fields: ['refreshToken'] },
    {
      method: 'POST',
      url: '/api/v1/auth/invitations/accept',
      caller: 'nobody',
      body: { token: 't'.repeat(43), password: PASSWORD, otp: '123456' },
      fields: ['token', 'password', 'otp'],
    },
    { method: 'POST', url: '/api/v1/auth/password/reset-request', caller: 'nobody', body: { email: credentials.email }, fields: ['email'] },
    {
      method: 'POST',
      url: '/api/v1/auth/password/reset',
      caller: 'nobody',
      body: { token: 't'.repeat(43), password: PASSWORD },
      fields: ['token', 'password'],
    },
    {
      method: 'POST',
      url: '/api/v1/auth/password',
      caller: 'admin',
      body: { currentPassword: 'not the current password', newPassword: `${PASSWORD} anew` },
      fields: ['currentPassword', 'newPassword'],
    },
    { method: 'POST', url: '/api/v1/auth/two-factor/setup', caller: 'nobody', body: credentials, fields: ['email', 'password'] },
    {
      method: 'POST',
      url: '/api/v1/auth/two-factor/enable',
      caller: 'nobody',
      body: { ...credentials, code: '123456' },
      fields: ['email', 'password', 'code'],
    },
    { method: 'POST', url: '/api/v1/auth/two-factor/disable', caller: 'nobody', body: { ...credentials, otp: '123456' }, fields: ['email', 'password', 'otp'] },
    {
      method: 'POST',
      url: '/api/v1/auth/two-factor/recovery-codes',
      caller: 'nobody',
      body: { ...credentials, otp: '123456' },
      fields: ['email', 'password', 'otp'],
    },
    { method: 'POST', url: '/api/v1/platform/auth/login', caller: 'nobody', body: { ...credentials, otp: '123456' }, fields: ['email', 'password', 'otp'] },
    {
      method: 'POST',
      url: '/api/v1/platform/clinics',
      caller: 'operator',
      body: { slug: 'new-clinic', ...profile, timezone: 'UTC', admin: { email: 'first@example.test', displayName: 'First Admin' } },
      fields: ['name', 'timezone', 'address', 'contactEmail', 'contactPhone', 'registrationNumber', 'taxId', 'admin.email', 'admin.displayName'],
    },
    {
      method: 'PATCH',
      url: '/api/v1/platform/clinics/clinic-a',
      caller: 'operator',
      body: { ...profile, timezone: 'UTC' },
      fields: ['name', 'timezone', 'address', 'contactEmail', 'contactPhone', 'registrationNumber', 'taxId'],
    },
    {
      method: 'POST',
      url: '/api/v1/clinics/clinic-a/departments',
      caller: 'admin',
      body: { code: 'NEW', name: 'New', description: 'About it' },
      fields: ['code', 'name', 'description'],
    },
    {
      method: 'POST',
      url: '/api/v1/clinics/clinic-a/members/invitations',
      caller: 'admin',
      body: { email: 'new@example.test', role: 'nurse', displayName: 'New Nurse' },
      fields: ['email', 'displayName'],
    },
    {
      method: 'PATCH',
      url: `/api/v1/clinics/clinic-a/members/${memberId}`,
      caller: 'admin',
      body: { displayName: 'Dr Admin', specialisation: 'Cardiology', licenceNumber: 'LIC-1', qualification: 'MBBS' },
      fields: ['displayName', 'specialisation', 'licenceNumber', 'qualification'],
    },
    {
      method: 'PATCH',
      url: '/api/v1/clinics/clinic-a/settings',
      caller: 'admin',
      body: { currency: 'USD', brandPrimaryColour: '#000000', brandLogoUrl: 'https://cdn.example.test/logo.png', notificationSenderName: 'Front Desk' },
      fields: ['currency', 'brandPrimaryColour', 'brandLogoUrl', 'notificationSenderName'],
    },
    {
      method: 'POST',
      url: '/api/v1/clinics/clinic-a/appointments',
      caller: 'admin',
      body: { patientId: randomUUID(), doctorId: randomUUID(), startsAt: '2027-02-01T09:00:00Z', reason: 'Check-up' },
      fields: ['startsAt', 'reason'],
    },
    {
      method: 'PATCH',
      url: `/api/v1/clinics/clinic-a/appointments/${randomUUID()}`,
      caller: 'admin',
      body: { startsAt: '2027-02-01T09:00:00Z' },
      fields: ['startsAt'],
    },
    {
      method: 'POST',
      url: `/api/v1/clinics/clinic-a/appointments/${randomUUID()}/cancel`,
      caller: 'admin',
      body: { reason: 'Patient called' },
      fields: ['reason'],
    },
    {
      method: 'POST',
      url: `/api/v1/clinics/clinic-a/doctors/${randomUUID()}/time-off`,
      caller: 'admin',
      body: { startsAt: '2027-02-01T09:00:00Z', endsAt: '2027-02-01T10:00:00Z', reason: 'Conference' },
      fields: ['startsAt', 'endsAt', 'reason'],
    },
    {
      method: 'POST',
      url: '/api/v1/clinics/clinic-a/prescriptions',
      caller: 'doctor',
      body: { consultationId: randomUUID(), notes: 'Take with food', items: [prescriptionItem] },
      fields: ['notes', ...PRESCRIPTION_ITEM_FIELDS],
    },
    {
      method: 'PATCH',
      url: `/api/v1/clinics/clinic-a/prescriptions/${randomUUID()}`,
      caller: 'doctor',
      body: { notes: 'Take with food', items: [prescriptionItem] },
      fields: ['notes', ...PRESCRIPTION_ITEM_FIELDS],
    },
    {
      method: 'POST',
      url: `/api/v1/clinics/clinic-a/prescriptions/${randomUUID()}/issue`,
      caller: 'doctor',
      body: { allergyAcknowledgements: [{ allergyId: randomUUID(), note: 'Tolerated before' }] },
      fields: ['allergyAcknowledgements.0.note'],
    },
    {
      method: 'POST',
      url: `/api/v1/clinics/clinic-a/prescriptions/${randomUUID()}/cancel`,
      caller: 'doctor',
      body: { reason: 'Wrong medicine' },
      fields: ['reason'],
    },
    {
      method: 'POST',
      url: '/api/v1/clinics/clinic-a/support-access',
      caller: 'admin',
      body: { operatorEmail: 'ops@example.test', reason: 'Ticket 42', hours: 1 },
      fields: ['operatorEmail', 'reason'],
    },
    {
      method: 'POST',
      url: '/api/v1/clinics/clinic-a/visits',
      caller: 'admin',
      body: { patientId: randomUUID(), purpose: 'Follow-up' },
      fields: ['purpose'],
    },
    {
      method: 'POST',
      url: '/api/v1/clinics/clinic-a/consultations',
      caller: 'doctor',
      body: { visitId: randomUUID(), chiefComplaint: 'Headache', symptoms: 'Throbbing', findings: 'Normal', clinicalNotes: 'None', treatmentPlan: 'Rest' },
      fields: ['chiefComplaint', 'symptoms', 'findings', 'clinicalNotes', 'treatmentPlan'],
    },
    {
      method: 'POST',
      url: `/api/v1/clinics/clinic-a/consultations/${randomUUID()}/diagnoses`,
      caller: 'doctor',
      body: { icd10Code: 'R51.9', description: 'Headache' },
      fields: ['icd10Code', 'description'],
    },
    {
      method: 'POST',
      url: `/api/v1/clinics/clinic-a/consultations/${randomUUID()}/addenda`,
      caller: 'doctor',
      body: { body: 'Correction' },
      fields: ['body'],
    },
    {
      method: 'POST',
      url: '/api/v1/clinics/clinic-a/icd10',
      caller: 'doctor',
      body: { code: 'U99.1', description: 'Local code' },
      fields: ['code', 'description'],
    },
    {
      method: 'POST',
      url: '/api/v1/clinics/clinic-a/patients',
      caller: 'admin',
      body: patientFields,
      fields: Object.keys(patientFields).filter((field) => !['dateOfBirth', 'sex', 'bloodGroup', 'identificationType'].includes(field)),
    },
    {
      method: 'PATCH',
      url: `/api/v1/clinics/clinic-a/patients/${randomUUID()}`,
      caller: 'admin',
      body: patientFields,
      fields: Object.keys(patientFields).filter((field) => !['dateOfBirth', 'sex', 'bloodGroup', 'identificationType'].includes(field)),
    },
    {
      method: 'POST',
      url: `/api/v1/clinics/clinic-a/patients/${randomUUID()}/history`,
      caller: 'doctor',
      body: { kind: 'allergy', name: 'Penicillin', detail: 'Rash' },
      fields: ['name', 'detail'],
    },
    {
      method: 'PATCH',
      url: `/api/v1/clinics/clinic-a/patients/${randomUUID()}/history/${randomUUID()}`,
      caller: 'doctor',
      body: { name: 'Penicillin', detail: 'Rash' },
      fields: ['name', 'detail'],
    },
    {
      method: 'POST',
      url: '/api/v1/clinics/clinic-a/follow-ups',
      caller: 'doctor',
      body: { consultationId: randomUUID(), inDays: 14, reason: 'Review the results' },
      fields: ['reason'],
    },
    {
      method: 'POST',
      url: '/api/v1/clinics/clinic-a/test-requests',
      caller: 'doctor',
      body: {
        consultationId: randomUUID(),
        testName: 'Full blood count',
        testCode: 'FBC-1',
        category: 'haematology',
        requiredBy: '2030-01-01',
        clinicalNote: 'Anaemia?',
      },
      fields: ['testName', 'testCode', 'requiredBy', 'clinicalNote'],
    },
    {
      method: 'POST',
      url: '/api/v1/clinics/clinic-a/test-reports',
      caller: 'lab',
      body: { testRequestId: randomUUID(), conclusion: 'Normal count', results: [{ analyte: 'Haemoglobin', valueText: 'Normal', unit: 'g/L' }] },
      fields: ['conclusion', 'results.0.analyte', 'results.0.valueText', 'results.0.unit'],
    },
    {
      method: 'PATCH',
      url: `/api/v1/clinics/clinic-a/test-reports/${randomUUID()}`,
      caller: 'lab',
      body: { conclusion: 'Normal count', results: [{ analyte: 'Haemoglobin', valueText: 'Normal', unit: 'g/L' }] },
      fields: ['conclusion', 'results.0.analyte', 'results.0.valueText', 'results.0.unit'],
    },
  ];

  for (const route of routes) {
    for (const field of route.fields) {
      for (const control of CONTROLS) {
        const original = valueAt(route.body, field);
        const value = `${original.slice(0, 3)}${control}${original.slice(3)}`;
        const response = await client.call(route.method, route.url, tokens[route.caller], withValue(route.body, field, value));
        const name = `${route.method} ${route.url} ${field} with U+${control.codePointAt(0)!.toString(16).padStart(4, '0')}`;
        t.equal(response.statusCode, 400, `${name}: 400`);
        t.match(problemOf(response), { code: 'VALIDATION_FAILED', errors: [{ path: `body.${field}` }] }, `${name}: names body.${field}`);
      }
    }
  }

  for (const [resource, caller] of [
    ['departments', 'admin'],
    ['members', 'patient'],
    ['appointments', 'admin'],
    ['patients', 'admin'],
    [`patients/${randomUUID()}/access-log`, 'admin'],
    ['follow-ups', 'doctor'],
    [`patients/${randomUUID()}/history`, 'doctor'],
  ] as const) {
    for (const control of CONTROLS) {
      const after = cursorOf([`Z${control}`, randomUUID()]);
      const response = await client.call('GET', `/api/v1/clinics/clinic-a/${resource}?after=${after}`, tokens[caller]);
      t.equal(response.statusCode, 400, `${resource} cursor as ${caller}: 400`);
      t.match(problemOf(response), { code: 'VALIDATION_FAILED', errors: [{ path: 'querystring.after' }] }, `${resource} cursor: names querystring.after`);
    }
  }
  for (const control of CONTROLS) {
    const response = await client.call('GET', `/api/v1/clinics/clinic-a/visits?date=2025${encodeURIComponent(control)}-01-01`, tokens.admin);
    t.equal(response.statusCode, 400, 'visits date with a control character: 400');
    t.match(problemOf(response), { code: 'VALIDATION_FAILED', errors: [{ path: 'querystring.date' }] }, 'visits date: names querystring.date');
  }
  for (const parameter of ['q', 'phone', 'patientNumber', 'identificationNumber']) {
    for (const control of CONTROLS) {
      const response = await client.call('GET', `/api/v1/clinics/clinic-a/patients?${parameter}=${encodeURIComponent(`+12${control}345678`)}`, tokens.admin);
      t.equal(response.statusCode, 400, `patients?${parameter} with U+${control.codePointAt(0)!.toString(16).padStart(4, '0')}: 400`);
      t.match(problemOf(response), { code: 'VALIDATION_FAILED', errors: [{ path: `querystring.${parameter}` }] }, `names querystring.${parameter}`);
    }
  }
  const { rows } = await db.admin.query(
    `select (select count(*)::int from app_public.departments) as departments,
            (select count(*)::int from app_public.patients) as patients,
            (select count(*)::int from app_public.patient_history) as history,
            (select string_agg(slug || ' ' || name, ', ' order by slug) from app_public.clinics) as clinics,
            (select string_agg(display_name, ', ' order by display_name) from app_public.clinic_members) as members,
            (select count(*)::int from app_private.accounts) as accounts,
            (select count(*)::int from app_private.two_factor) as second_factors,
            (select count(*)::int from app_public.clinic_settings) as settings,
            (select count(*)::int from app_public.support_access_grants) as grants,
            (select count(*)::int from app_private.notification_outbox) as messages`,
  );
  t.same(
    rows,
    [
      {
        departments: 0,
        patients: 0,
        history: 0,
        clinics: 'clinic-a Clinic A, clinic-b Clinic B',
        members: 'admin@example.test as clinic_admin, doctor@example.test as doctor, lab@example.test as lab_technician, patient@example.test as patient',
        accounts: 5,
        second_factors: 0,
        settings: 0,
        grants: 0,
        messages: 0,
      },
    ],
    'nothing was written',
  );
});

t.test('real text passes untouched: accents, scripts, emoji, line breaks in multi-line fields', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const password = 'Ünïcødé pässwörd — 心臓 🔐 with spaces';
  const adminId = await createPerson(db, 'admin@example.test', password, [[clinics.a, 'clinic_admin']]);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const client = testClient(app);
  const login = await client.login('admin@example.test', password, 'clinic-a');
  t.equal(login.statusCode, 200, 'a password of printable Unicode logs in');

  const token = await client.clinicToken('clinic_admin', { id: clinics.a, slug: 'clinic-a' }, adminId);
  const department = { code: 'CARD', name: 'Cardiología – 心臓 ❤️', description: 'Floor 2\nWard B\r\n\tRoom 12' };
  const created = await client.post('/api/v1/clinics/clinic-a/departments', department, token);
  t.equal(created.statusCode, 201);
  t.match(created.json(), department, 'stored and returned exactly');
  const lineBreakInName = await client.post('/api/v1/clinics/clinic-a/departments', { code: 'X', name: 'Line\nbreak' }, token);
  t.equal(lineBreakInName.statusCode, 400, 'a single-line field refuses a line break');
  t.match(lineBreakInName.json(), { errors: [{ path: 'body.name' }] });
});

t.test('a NUL byte that reaches Postgres (22021) is a 400, not a 500', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const admin = { clinicId: clinics.a, userId: null, role: 'clinic_admin' as const };
  let raised: unknown;
  try {
    await withTenant(db.pool, admin, (trx) => sql`select ${'a\u0000b'}::text`.execute(trx));
  } catch (error) {
    raised = error;
  }
  t.equal((raised as { code?: string }).code, '22021', 'Postgres refuses the value: character_not_in_repertoire');
  t.match(fromDatabaseError(raised), { code: 'VALIDATION_FAILED', status: 400 }, 'mapped to a 400');

  const { app } = await buildTestApp(t, db.authenticatorUrl);
  // A route without validation, as a last line of defence: the database error alone decides.
  app.post('/test/unvalidated', async (request) =>
    app.withTenant(admin, (trx) =>
      trx
        .insertInto('appPublic.departments')
        .values(request.body as { code: string; name: string })
        .returning('id')
        .executeTakeFirstOrThrow(),
    ),
  );
  const response = await app.inject({ method: 'POST', url: '/test/unvalidated', payload: { code: 'NUL', name: 'a\u0000b' } });
  t.equal(response.statusCode, 400);
  t.match(response.json(), { code: 'VALIDATION_FAILED' });
  t.notMatch(response.body, /0x00|byte sequence|UTF8/, 'the database message is not echoed');
});

const listFiles = (app: FastifyInstance, authorization: string, query: string) =>
  app.inject({ method: 'GET', url: `/api/v1/clinics/clinic-a/files${query}`, headers: { authorization } });

t.test('the upload form: control characters in its fields and in the file name are a 400 naming the field, with nothing stored', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const receptionistId = await createPerson(db, 'desk@example.test', PASSWORD, [[clinics.a, 'receptionist']]);
  const { rows } = await db.admin.query<{ id: string }>(
    `insert into app_public.patients (clinic_id, full_name, date_of_birth, sex) values ($1, 'File Owner', '1970-07-07', 'male') returning id`,
    [clinics.a],
  );
  const patientId = rows[0]!.id;
  const { app, storageDir } = await buildTestApp(t, db.authenticatorUrl);
  const token = await testClient(app).clinicToken('receptionist', { id: clinics.a, slug: 'clinic-a' }, receptionistId);
  const authorization = `Bearer ${token}`;
  const send = (fields: { patientId: string; category: string; fileName: string }) => {
    const { headers, payload } = rawMultipart([
      { name: 'patientId', value: fields.patientId },
      { name: 'category', value: fields.category },
      { name: 'file', fileName: fields.fileName, value: 'plain notes\n' },
    ]);
    return app.inject({ method: 'POST', url: '/api/v1/clinics/clinic-a/files', headers: { ...headers, authorization }, payload });
  };
  const valid = { patientId, category: 'other', fileName: 'notes.txt' };
  const fields: [keyof typeof valid, string][] = [
    ['patientId', 'body.patientId'],
    ['category', 'body.category'],
    ['fileName', 'body.file'],
  ];
  for (const [field, path] of fields) {
    // A quote or a line break would end the part's header itself: those are the parser's 400.
    for (const control of CONTROLS.filter((c) => c !== '\u0000')) {
      const value = `${valid[field].slice(0, 3)}${control}${valid[field].slice(3)}`;
      const response = await send({ ...valid, [field]: value });
      const name = `${field} with U+${control.codePointAt(0)!.toString(16).padStart(4, '0')}`;
      t.equal(response.statusCode, 400, `${name}: 400`);
      t.match(problemOf(response), { code: 'VALIDATION_FAILED', errors: [{ path }] }, `${name}: names ${path}`);
    }
  }
  const nul = await send({ ...valid, fileName: 'no\u0000tes.txt' });
  t.equal(nul.statusCode, 400, 'a NUL in the file name: 400');

  for (const control of CONTROLS) {
    const after = cursorOf([`2026-01-01T00:00:00Z${control}`, randomUUID()]);
    const listed = await listFiles(app, authorization, `?patientId=${patientId}&after=${after}`);
    t.match(problemOf(listed), { code: 'VALIDATION_FAILED', errors: [{ path: 'querystring.after' }] }, 'the files cursor: names querystring.after');
    const byPatient = await listFiles(app, authorization, `?patientId=${encodeURIComponent(`${patientId.slice(0, 3)}${control}${patientId.slice(3)}`)}`);
    t.match(problemOf(byPatient), { code: 'VALIDATION_FAILED', errors: [{ path: 'querystring.patientId' }] }, 'the patient: names querystring.patientId');
  }
  const stored = await db.admin.query('select count(*)::int as n from app_public.files');
  t.same(stored.rows, [{ n: 0 }], 'no row');
  t.same(await filesUnder(storageDir), [], 'no blob, nothing staged');
  const sent = await send(valid);
  t.equal(sent.statusCode, 201, 'the same form without them is stored (the refusals were about the characters)');
});
