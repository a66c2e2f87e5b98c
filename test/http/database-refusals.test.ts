// A refusal by the database itself (SQLSTATE 42501: a row-level security policy or a missing
// privilege) reaches the client as 403 problem+json, never a 500, and writes nothing. The route
// guards refuse first in normal operation, so the test makes the database stricter than the
// guard in its own private database, as a policy that has drifted from PERMISSIONS would be.
import t from 'tap';
import { buildTestApp } from '../helpers/app.ts';
import { testClient } from '../helpers/client.ts';
import { createClinics, createTestDatabase } from '../helpers/db.ts';

const FORBIDDEN = {
  type: 'https://clinicbase.dev/problems/forbidden',
  title: 'This action is not allowed',
  status: 403,
  code: 'FORBIDDEN',
  detail: 'This action is not allowed',
  errors: [],
};

t.test('a refusal by the database is a 403, not a 500', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const { app, logs } = await buildTestApp(t, db.authenticatorUrl);
  const client = testClient(app, '/api/v1/clinics/clinic-a/departments');
  const token = await client.clinicToken('clinic_admin', { id: clinics.a, slug: 'clinic-a' });
  const call = (method: 'GET' | 'POST', payload?: object) => client.call(method, '', token, payload);
  const departments = async () => (await db.admin.query('select count(*)::int as n from app_public.departments')).rows[0].n as number;

  t.equal((await call('POST', { code: 'CARD', name: 'Cardiology' })).statusCode, 201, 'control: the admin creates a department');

  // "new row violates row-level security policy": the insert policy refuses what the guard allowed.
  await db.admin.query('alter policy insert_admins on app_public.departments with check (false)');
  const byPolicy = await call('POST', { code: 'ENT', name: 'Ear, nose and throat' });
  t.equal(byPolicy.statusCode, 403, 'a row-level security refusal: 403');
  t.equal(byPolicy.headers['content-type'], 'application/problem+json; charset=utf-8');
  t.same({ ...byPolicy.json(), requestId: null }, { ...FORBIDDEN, requestId: null }, 'the catalogue problem, no database message');
  t.equal(await departments(), 1, 'nothing was written');

  // "permission denied for table departments": the role lost its grant.
  await db.admin.query('revoke select on app_public.departments from app_user');
  const byPrivilege = await call('GET');
  t.equal(byPrivilege.statusCode, 403, 'a missing privilege: 403');
  t.equal(byPrivilege.headers['content-type'], 'application/problem+json; charset=utf-8');
  t.same({ ...byPrivilege.json(), requestId: null }, { ...FORBIDDEN, requestId: null }, 'the catalogue problem, no database message');

  const refusals = logs().filter((line) => line.msg === 'request refused');
  t.same(
    refusals.map((line) => [line.code, line.status]),
    [
      ['FORBIDDEN', 403],
      ['FORBIDDEN', 403],
    ],
    'logged as refusals',
  );
  t.notOk(
    logs().some((line) => line.msg === 'request failed'),
    'no request failed with a 500',
  );
});
