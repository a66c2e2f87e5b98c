// The permission matrix through the API: every clinic route (each declares the resource and
// action it needs, or the app refuses to start) × every clinic role, against a table of expected
// statuses written out here by hand, never computed from PERMISSIONS (the code under test) nor
// read from docs/permissions.md (generated from it). A refused role gets 403 before its input is even read; an allowed one gets past the
// guard to the route's own answer for an empty body and unknown ids (400, 404) or a listing (200).
// A route that is not in the table fails the test: add its row. The same matrix is held against
// the SQL policies by test/db/isolation.test.ts (test/helpers/matrix.ts).
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { PERMISSIONS } from '../../src/auth/permissions.ts';
import { buildTestApp } from '../helpers/app.ts';
import { type Method, testClient } from '../helpers/client.ts';
import { createClinics, createTestDatabase } from '../helpers/db.ts';
import { ROLES } from '../helpers/matrix.ts';

type Statuses = readonly [clinicAdmin: number, doctor: number, nurse: number, receptionist: number, labTechnician: number, patient: number];

/** Route → status per role, in the order of ROLES; ids in the URL are unknown, bodies are `{}`. */
const EXPECTED: Record<string, Statuses> = {
  //                                                     admin  doctor nurse  recep. lab    patient
  'GET /api/v1/clinics/:slug/appointments': [200, 200, 200, 200, 403, 200],
  'POST /api/v1/clinics/:slug/appointments': [400, 403, 403, 400, 403, 400],
  'GET /api/v1/clinics/:slug/appointments/:id': [404, 404, 404, 404, 403, 404],
  'PATCH /api/v1/clinics/:slug/appointments/:id': [400, 403, 403, 400, 403, 400],
  'POST /api/v1/clinics/:slug/appointments/:id/cancel': [400, 403, 403, 400, 403, 400],
  'POST /api/v1/clinics/:slug/appointments/:id/complete': [404, 403, 403, 404, 403, 404],
  'POST /api/v1/clinics/:slug/appointments/:id/no-show': [404, 403, 403, 404, 403, 404],
  // Consultations: the visit's doctor opens (an empty body: 400); the author's writes need If-Match (428 before the
  // unknown id is looked up); vital signs by the author or a nurse ({} is a valid reading to the schema: the unknown id, 404).
  'GET /api/v1/clinics/:slug/consultations': [200, 200, 200, 403, 403, 200],
  'POST /api/v1/clinics/:slug/consultations': [403, 400, 403, 403, 403, 403],
  'GET /api/v1/clinics/:slug/consultations/:id': [404, 404, 404, 403, 403, 404],
  'PATCH /api/v1/clinics/:slug/consultations/:id': [403, 428, 403, 403, 403, 403],
  'POST /api/v1/clinics/:slug/consultations/:id/sign': [403, 428, 403, 403, 403, 403],
  'POST /api/v1/clinics/:slug/consultations/:id/vitals': [403, 404, 404, 403, 403, 403],
  'POST /api/v1/clinics/:slug/consultations/:id/diagnoses': [403, 400, 403, 403, 403, 403],
  'PATCH /api/v1/clinics/:slug/consultations/:id/diagnoses/:diagnosisId': [403, 404, 403, 403, 403, 403],
  'POST /api/v1/clinics/:slug/consultations/:id/addenda': [403, 400, 403, 403, 403, 403],
  'GET /api/v1/clinics/:slug/doctors/:memberId/availability': [400, 400, 400, 400, 400, 400],
  'GET /api/v1/clinics/:slug/doctors/:memberId/time-off': [404, 404, 404, 404, 404, 403],
  'POST /api/v1/clinics/:slug/doctors/:memberId/time-off': [400, 400, 403, 400, 403, 403],
  'DELETE /api/v1/clinics/:slug/time-off/:id': [404, 404, 403, 404, 403, 403],
  'GET /api/v1/clinics/:slug/departments': [200, 200, 200, 200, 200, 200],
  'POST /api/v1/clinics/:slug/departments': [400, 403, 403, 403, 403, 403],
  'GET /api/v1/clinics/:slug/departments/:id': [404, 404, 404, 404, 404, 404],
  'GET /api/v1/clinics/:slug/members': [200, 200, 200, 200, 200, 200],
  'POST /api/v1/clinics/:slug/members/invitations': [400, 403, 403, 403, 403, 403],
  'PATCH /api/v1/clinics/:slug/members/:id': [400, 403, 403, 403, 403, 403],
  'GET /api/v1/clinics/:slug/settings': [200, 200, 200, 200, 200, 200],
  'PATCH /api/v1/clinics/:slug/settings': [400, 403, 403, 403, 403, 403],
  'GET /api/v1/clinics/:slug/support-access': [200, 403, 403, 403, 403, 403],
  // Prescriptions: clinicians and the patient read (a list names its patient: 400 without); the doctor writes.
  'GET /api/v1/clinics/:slug/prescriptions': [400, 400, 400, 403, 403, 400],
  'POST /api/v1/clinics/:slug/prescriptions': [403, 400, 403, 403, 403, 403],
  'GET /api/v1/clinics/:slug/prescriptions/:id': [404, 404, 404, 403, 403, 404],
  'PATCH /api/v1/clinics/:slug/prescriptions/:id': [403, 400, 403, 403, 403, 403],
  'POST /api/v1/clinics/:slug/prescriptions/:id/issue': [403, 428, 403, 403, 403, 403],
  'POST /api/v1/clinics/:slug/prescriptions/:id/complete': [403, 428, 403, 403, 403, 403],
  'POST /api/v1/clinics/:slug/prescriptions/:id/cancel': [403, 400, 403, 403, 403, 403],
  'GET /api/v1/clinics/:slug/prescriptions/:id/pdf': [404, 404, 404, 403, 403, 404],
  'POST /api/v1/clinics/:slug/support-access': [400, 403, 403, 403, 403, 403],
  'POST /api/v1/clinics/:slug/support-access/:id/revoke': [404, 403, 403, 403, 403, 403],
  // The lab: doctors request and cancel, lab technicians move requests and write reports; receptionists read none.
  // A report's write needs If-Match before anything else (428).
  'GET /api/v1/clinics/:slug/test-requests': [200, 200, 200, 403, 200, 200],
  'POST /api/v1/clinics/:slug/test-requests': [403, 400, 403, 403, 403, 403],
  'GET /api/v1/clinics/:slug/test-requests/:id': [404, 404, 404, 403, 404, 404],
  'POST /api/v1/clinics/:slug/test-requests/:id/collect': [403, 404, 403, 403, 404, 403],
  'POST /api/v1/clinics/:slug/test-requests/:id/start': [403, 404, 403, 403, 404, 403],
  'POST /api/v1/clinics/:slug/test-requests/:id/cancel': [403, 404, 403, 403, 404, 403],
  'GET /api/v1/clinics/:slug/test-reports': [200, 200, 200, 403, 200, 200],
  'POST /api/v1/clinics/:slug/test-reports': [403, 403, 403, 403, 400, 403],
  'GET /api/v1/clinics/:slug/test-reports/:id': [404, 404, 404, 403, 404, 404],
  'PATCH /api/v1/clinics/:slug/test-reports/:id': [403, 403, 403, 403, 428, 403],
  'POST /api/v1/clinics/:slug/test-reports/:id/release': [403, 403, 403, 403, 428, 403],
  'POST /api/v1/clinics/:slug/test-reports/:id/file': [403, 403, 403, 403, 428, 403],
  'GET /api/v1/clinics/:slug/visits': [200, 200, 200, 200, 403, 200],
  'POST /api/v1/clinics/:slug/visits': [400, 403, 403, 400, 403, 403],
  'GET /api/v1/clinics/:slug/visits/:id': [404, 404, 404, 404, 403, 404],
  // Moves of the state machine: a doctor may update the visits of their own queue (404 for others').
  'POST /api/v1/clinics/:slug/visits/:id/call': [404, 404, 403, 404, 403, 403],
  'POST /api/v1/clinics/:slug/visits/:id/skip': [404, 404, 403, 404, 403, 403],
  'POST /api/v1/clinics/:slug/visits/:id/start': [404, 404, 403, 404, 403, 403],
  'POST /api/v1/clinics/:slug/visits/:id/complete': [404, 404, 403, 404, 403, 403],
  'POST /api/v1/clinics/:slug/visits/:id/no-show': [404, 404, 403, 404, 403, 403],
  'POST /api/v1/clinics/:slug/visits/:id/cancel': [404, 404, 403, 404, 403, 403],
  // The queue is staff's: a patient reads their own place through visits/{id} (the database refuses them the queue).
  'GET /api/v1/clinics/:slug/doctors/:memberId/queue': [404, 404, 404, 404, 403, 403],
  'POST /api/v1/clinics/:slug/doctors/:memberId/queue/next': [404, 404, 403, 404, 403, 403],
  'GET /api/v1/clinics/:slug/doctors/:memberId/queue/stream': [404, 404, 404, 404, 403, 403],
  // Files: uploaders get past the guard to the form, which an empty JSON body is not (415); the list needs its patientId (400).
  'GET /api/v1/clinics/:slug/files': [400, 400, 400, 400, 403, 400],
  'POST /api/v1/clinics/:slug/files': [403, 415, 415, 415, 415, 403],
  'GET /api/v1/clinics/:slug/files/:id': [404, 404, 404, 404, 403, 404],
  'GET /api/v1/clinics/:slug/files/:id/content': [404, 404, 404, 404, 403, 404],
  // The ICD-10 look-up: clinicians (q is required: 400); clinic admins and doctors add codes.
  'GET /api/v1/clinics/:slug/icd10': [400, 400, 400, 403, 403, 403],
  'POST /api/v1/clinics/:slug/icd10': [400, 400, 403, 403, 403, 403],
  // Follow-ups (footnote 8: never the receptionist): doctors ask for and move them; the patient reads their own.
  'GET /api/v1/clinics/:slug/follow-ups': [200, 200, 200, 403, 403, 200],
  'POST /api/v1/clinics/:slug/follow-ups': [403, 400, 403, 403, 403, 403],
  'GET /api/v1/clinics/:slug/follow-ups/:id': [404, 404, 404, 403, 403, 404],
  'POST /api/v1/clinics/:slug/follow-ups/:id/complete': [403, 404, 403, 403, 403, 403],
  'POST /api/v1/clinics/:slug/follow-ups/:id/cancel': [403, 404, 403, 403, 403, 403],
  'POST /api/v1/clinics/:slug/follow-ups/:id/miss': [403, 404, 403, 403, 403, 403],
  'GET /api/v1/clinics/:slug/patients': [200, 200, 200, 200, 403, 200],
  'POST /api/v1/clinics/:slug/patients': [400, 403, 403, 400, 403, 403],
  'GET /api/v1/clinics/:slug/patients/me': [404, 404, 404, 404, 403, 404],
  // A patient's own export (the patient actor has no record here: 404); staff have records of their own to read elsewhere.
  'GET /api/v1/clinics/:slug/patients/me/export': [403, 403, 403, 403, 403, 404],
  // Whole-clinic exports: admins only. An admin requests one as their own membership, which these tokens
  // (a random subject) do not have: the insert policy refuses it (test/http/exports.test.ts: 202 for a real admin).
  'POST /api/v1/clinics/:slug/exports': [403, 403, 403, 403, 403, 403],
  'GET /api/v1/clinics/:slug/exports': [200, 403, 403, 403, 403, 403],
  'GET /api/v1/clinics/:slug/exports/:id': [404, 403, 403, 403, 403, 403],
  'GET /api/v1/clinics/:slug/exports/:id/download': [404, 403, 403, 403, 403, 403],
  'GET /api/v1/clinics/:slug/patients/:id': [404, 404, 404, 404, 403, 404],
  'PATCH /api/v1/clinics/:slug/patients/:id': [400, 403, 403, 400, 403, 403],
  'POST /api/v1/clinics/:slug/patients/:id/archive': [404, 403, 403, 404, 403, 403],
  // Merging: clinic admins only, though receptionists may change patients.
  'POST /api/v1/clinics/:slug/patients/:id/merge': [400, 403, 403, 403, 403, 403],
  'GET /api/v1/clinics/:slug/patients/:id/history': [404, 404, 404, 403, 403, 404],
  'POST /api/v1/clinics/:slug/patients/:id/history': [403, 400, 400, 403, 403, 403],
  'PATCH /api/v1/clinics/:slug/patients/:id/history/:entryId': [403, 400, 400, 403, 403, 403],
  'GET /api/v1/clinics/:slug/patients/:id/access-log': [404, 403, 403, 403, 403, 404],
};

/** `GET /api/v1/clinics/:slug/departments/` and `…/departments` are one route to a client. */
const routeKey = (method: string, url: string) => `${method} ${url.replace(/\/$/, '')}`;

t.test('every clinic route × every role, as the matrix says', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  // Onboarding creates a clinic's settings; createClinics does not.
  await db.admin.query('insert into app_public.clinic_settings (clinic_id) values ($1)', [clinics.a]);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const client = testClient(app);
  await app.ready();
  t.ok(app.clinicRoutes.length >= 10, `${app.clinicRoutes.length} clinic routes found`);
  t.same(
    [...new Set(app.clinicRoutes.map((route) => routeKey(route.method, route.url)))].sort(),
    Object.keys(EXPECTED).sort(),
    'every clinic route has a row in the table of expected statuses, and every row a route',
  );

  for (const route of app.clinicRoutes) {
    t.ok(PERMISSIONS[route.resource], `${route.method} ${route.url} guards a resource of the matrix (${route.resource})`);
    const expected = EXPECTED[routeKey(route.method, route.url)];
    if (!expected) continue;
    const url = route.url.replace(':slug', 'clinic-a').replace(/:\w+/g, randomUUID());
    for (const [index, role] of ROLES.entries()) {
      const token = await client.clinicToken(role, { id: clinics.a, slug: 'clinic-a' });
      const response = await client.call(route.method as Method, url, token, route.method === 'GET' ? undefined : {});
      t.equal(response.statusCode, expected[index], `${role}: ${route.method} ${route.url} (${route.action} ${route.resource}) is ${expected[index]}`);
    }
  }
  const { rows: written } = await db.admin.query(
    `select (select count(*)::int from app_public.departments) as departments,
            (select count(*)::int from app_public.clinic_members) as members,
            (select count(*)::int from app_public.patients) as patients,
            (select count(*)::int from app_public.support_access_grants) as grants,
            (select count(*)::int from app_private.accounts) as accounts,
            (select count(*)::int from app_private.notification_outbox) as messages,
            (select count(*)::int from app_public.visits) as visits,
            (select count(*)::int from app_public.files) as files,
            (select count(*)::int from app_public.patient_access_log) as "accessLog",
            (select currency from app_public.clinic_settings where clinic_id = $1) as currency`,
    [clinics.a],
  );
  t.same(
    written,
    [{ departments: 0, members: 0, patients: 0, grants: 0, accounts: 0, messages: 0, visits: 0, files: 0, accessLog: 0, currency: 'USD' }],
    'no refused or invalid call wrote anything',
  );
});

t.test('a clinic route that declares no permission cannot be added', async (t) => {
  const db = await createTestDatabase(t);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  t.throws(() => app.get('/api/v1/clinics/:slug/anything', async () => 'open to every member'), /declares no permission/);
  t.doesNotThrow(() => app.get('/api/v1/elsewhere', async () => 'not a clinic route'));
});

t.test('a clinic route that does not name its clinic by :slug cannot be added', async (t) => {
  const db = await createTestDatabase(t);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const departments = app.permission('app_public.departments', 'select');
  t.throws(() => app.get('/api/v1/clinics/everything', departments, async () => 'the guard would not compare a slug'), /does not name its clinic/);
  t.throws(() => app.get('/api/v1/clinics/:clinic/departments', departments, async () => 'another parameter name'), /does not name its clinic/);
  t.doesNotThrow(() => app.get('/api/v1/clinics/:slug/anything-else', departments, async () => 'names it'));
});
