// The permission matrix through the API, generated: every clinic route (each declares the
// resource and action it needs, or the app refuses to start) × every clinic role. A refused role
// gets 403 before its input is even read; an allowed one gets past the guard. The same matrix is
// held against the SQL policies by test/db/isolation.test.ts.
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { isAllowed, PERMISSIONS } from '../../src/auth/permissions.ts';
import { CLINIC_ROLES } from '../../src/db/tenant.ts';
import { buildTestApp } from '../helpers/app.ts';
import { createClinics, createTestDatabase } from '../helpers/db.ts';

t.test('every clinic route × every role, as the matrix says', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  await app.ready();
  t.ok(app.clinicRoutes.length >= 10, `${app.clinicRoutes.length} clinic routes found`);

  for (const route of app.clinicRoutes) {
    t.ok(PERMISSIONS[route.resource], `${route.method} ${route.url} guards a resource of the matrix (${route.resource})`);
    const url = route.url.replace(':slug', 'clinic-a').replace(/:\w+/g, randomUUID());
    for (const role of CLINIC_ROLES) {
      const token = await app.signAccessToken({ sub: randomUUID(), clinic_id: clinics.a, clinic_slug: 'clinic-a', role, jti: randomUUID(), amr: ['pwd'] });
      const response = await app.inject({
        method: route.method as 'GET', url, headers: { authorization: `Bearer ${token}` },
        ...(route.method === 'GET' ? {} : { payload: {} }),
      });
      const allowed = isAllowed(route.resource, route.action, role);
      if (allowed) {
        t.not(response.statusCode, 403, `${role} may ${route.method} ${route.url} (${route.action} ${route.resource})`);
        t.not(response.statusCode, 401, `${role}: ${route.method} ${route.url} authenticates`);
      } else {
        t.equal(response.statusCode, 403, `${role} may not ${route.method} ${route.url} (${route.action} ${route.resource})`);
      }
    }
  }
});

t.test('a clinic route that declares no permission cannot be added', async (t) => {
  const db = await createTestDatabase(t);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  t.throws(() => app.get('/api/v1/clinics/:slug/anything', async () => 'open to every member'), /declares no permission/);
  t.doesNotThrow(() => app.get('/api/v1/elsewhere', async () => 'not a clinic route'));
});
