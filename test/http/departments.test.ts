// The first clinic resource over REST: the guard and the SQL policies agree, other clinics'
// ids are 404, bad input is a 400 naming the field, and nothing is written by a refused call.
import { randomUUID } from 'node:crypto';
import t from 'tap';
import type { ClinicRole } from '../../src/db/tenant.ts';
import { buildTestApp } from '../helpers/app.ts';
import { testClient } from '../helpers/client.ts';
import { createClinics, createTestDatabase } from '../helpers/db.ts';

t.test('departments over REST', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const client = testClient(app);
  const call = async (method: 'GET' | 'POST', url: string, role: ClinicRole, payload?: object, clinic: 'a' | 'b' = 'a') =>
    client.call(
      method,
      `/api/v1/clinics/clinic-${clinic}/departments${url}`,
      await client.clinicToken(role, { id: clinics[clinic], slug: `clinic-${clinic}` }),
      payload,
    );
  const count = async () => (await db.admin.query('select count(*)::int as n from app_public.departments')).rows[0].n as number;

  const created = await call('POST', '', 'clinic_admin', { code: 'CARD', name: 'Cardiology', description: 'Heart' });
  t.equal(created.statusCode, 201);
  t.match(created.json(), { id: String, code: 'CARD', name: 'Cardiology', description: 'Heart', isActive: true, createdAt: String });
  const id = created.json().id as string;
  for (const code of ['ENT', 'LAB', 'OPD']) await call('POST', '', 'clinic_admin', { code, name: `Dept ${code}` });
  const theirs = await call('POST', '', 'clinic_admin', { code: 'CARD', name: 'Their cardiology' }, 'b');
  t.equal(theirs.statusCode, 201, 'clinic B may use the same code');

  // docs/permissions.md: every member reads departments, only clinic admins create them.
  const expected: Record<ClinicRole, { list: number; create: number }> = {
    clinic_admin: { list: 200, create: 201 },
    doctor: { list: 200, create: 403 },
    nurse: { list: 200, create: 403 },
    receptionist: { list: 200, create: 403 },
    lab_technician: { list: 200, create: 403 },
    patient: { list: 200, create: 403 },
  };
  for (const [role, { list, create }] of Object.entries(expected) as [ClinicRole, { list: number; create: number }][]) {
    const listed = await call('GET', '?limit=10', role);
    t.equal(listed.statusCode, list, `${role} lists per the matrix`);
    const before = await count();
    const attempt = await call('POST', '', role, { code: `X${role.length}`, name: `By ${role}` });
    t.equal(attempt.statusCode, create, `${role} creates per the matrix`);
    if (create !== 201) t.equal(await count(), before, `${role}: nothing written`);
  }

  const page1 = await call('GET', '?limit=2', 'nurse');
  t.same(
    page1.json().items.map((d: { code: string }) => d.code),
    ['CARD', 'ENT'],
  );
  const page2 = await call('GET', `?limit=2&after=${page1.json().nextCursor}`, 'nurse');
  t.same(
    page2.json().items.map((d: { code: string }) => d.code),
    ['LAB', 'OPD'],
    'the cursor continues where the page ended',
  );
  t.ok(
    page2.json().items.every((d: { name: string }) => d.name !== 'Their cardiology'),
    "clinic B's rows never appear",
  );

  t.equal((await call('GET', `/${id}`, 'receptionist')).statusCode, 200);
  const foreign = await call('GET', `/${theirs.json().id}`, 'clinic_admin');
  const unknown = await call('GET', `/${randomUUID()}`, 'clinic_admin');
  t.equal(foreign.statusCode, 404, "clinic B's department is 404 for clinic A");
  t.same({ ...foreign.json(), requestId: null }, { ...unknown.json(), requestId: null }, 'indistinguishable from an id that does not exist');

  const before = await count();
  const cases: [string, object, string][] = [
    ['lower-case code', { code: 'card', name: 'X' }, 'body.code'],
    ['missing name', { code: 'NEW' }, 'body.name'],
    ['name too long', { code: 'NEW', name: 'x'.repeat(121) }, 'body.name'],
  ];
  for (const [name, payload, path] of cases) {
    const response = await call('POST', '', 'clinic_admin', payload);
    t.equal(response.statusCode, 400, `${name}: 400`);
    t.match(response.json(), { code: 'VALIDATION_FAILED', errors: [{ path }] }, `${name}: names ${path}`);
  }
  const unknownField = await call('POST', '', 'clinic_admin', { code: 'NEW', name: 'X', clinicId: clinics.b });
  t.equal(unknownField.statusCode, 400, 'unknown fields are refused (no clinic from the body)');
  t.match(unknownField.json().errors[0].message, /clinicId/);
  const duplicate = await call('POST', '', 'clinic_admin', { code: 'CARD', name: 'Again' });
  t.equal(duplicate.statusCode, 409);
  t.match(duplicate.json(), { code: 'CONFLICT', errors: [{ path: 'body.code' }] });
  t.equal((await call('GET', '?limit=500', 'nurse')).statusCode, 400, 'limit is bounded');
  t.equal((await call('GET', '?after=bm9wZQ', 'nurse')).statusCode, 400, 'a forged cursor is refused');
  t.equal(await count(), before, 'no refused call wrote anything');
});

t.test('a page that reaches the end of the list has no next cursor', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const client = testClient(app, '/api/v1/clinics/clinic-a/departments');
  const token = await client.clinicToken('clinic_admin', { id: clinics.a, slug: 'clinic-a' });
  const call = (method: 'GET' | 'POST', query = '', payload?: object) => client.call(method, query, token, payload);
  for (const code of ['ENT', 'LAB', 'OPD', 'RAD']) t.equal((await call('POST', '', { code, name: `Dept ${code}` })).statusCode, 201);
  const codes = (body: { items: { code: string }[] }) => body.items.map((d) => d.code);

  const whole = (await call('GET', '?limit=4')).json();
  t.same(codes(whole), ['ENT', 'LAB', 'OPD', 'RAD'], 'limit 4 of 4: every department');
  t.equal(whole.nextCursor, null, 'limit 4 of 4: exactly the limit is left, so no next page');

  const first = (await call('GET', '?limit=2')).json();
  t.same(codes(first), ['ENT', 'LAB']);
  t.type(first.nextCursor, 'string', 'two more after the first page: a cursor');
  const last = (await call('GET', `?limit=2&after=${first.nextCursor}`)).json();
  t.same(codes(last), ['OPD', 'RAD'], 'the second page holds the last two');
  t.equal(last.nextCursor, null, 'a full last page has no next cursor');

  const short = (await call('GET', `?limit=3&after=${first.nextCursor}`)).json();
  t.same(codes(short), ['OPD', 'RAD']);
  t.equal(short.nextCursor, null, 'a last page shorter than the limit has no next cursor');
});

t.test('the OpenAPI document comes from the same schemas', async (t) => {
  const db = await createTestDatabase(t);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const doc = (await app.inject({ url: '/openapi.json' })).json();
  t.equal(doc.openapi, '3.1.0');
  const path = doc.paths['/api/v1/clinics/{slug}/departments/'] ?? doc.paths['/api/v1/clinics/{slug}/departments'];
  t.ok(path?.get && path?.post, 'list and create are documented');
  t.match(JSON.stringify(path.post.requestBody), /"code"/, 'the request body schema is the zod schema');
  for (const documented of [
    '/api/v1/auth/two-factor/setup',
    '/api/v1/clinics/{slug}/support-access/{id}/revoke',
    '/api/v1/platform/support-access/{grantId}/token',
  ]) {
    t.ok(doc.paths[documented], `${documented} is documented`);
  }
  t.ok((await app.inject({ url: '/docs/' })).statusCode < 400, '/docs serves the UI');
});
