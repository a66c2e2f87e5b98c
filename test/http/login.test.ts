// Logging in, refreshing, switching clinics and logging out, against real accounts and memberships.
import t from 'tap';
import type { ClinicRole } from '../../src/db/tenant.ts';
import { buildTestApp } from '../helpers/app.ts';
import { testClient } from '../helpers/client.ts';
import { createClinics, createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { createPerson } from '../helpers/people.ts';
import { decodeToken } from '../helpers/tokens.ts';

const PASSWORD = 'a long and correct password';

const person = (db: TestDatabase, email: string, memberships: [string, ClinicRole][]) => createPerson(db, email, PASSWORD, memberships);

t.test('login, refresh, switch, logout', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const {
    rows: [c],
  } = await db.admin.query<{ id: string }>(`insert into app_public.clinics (slug, name) values ('clinic-c', 'Clinic C') returning id`);
  const accountId = await person(db, 'Pat@Example.test', [
    [clinics.a, 'clinic_admin'],
    [clinics.b, 'doctor'],
  ]);
  await person(db, 'nurse@example.test', [[clinics.a, 'nurse']]);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const { post } = testClient(app, '/api/v1/auth');
  const { call } = testClient(app);
  const get = (url: string, token: string) => call('GET', url, token);

  const choice = await post('/login', { email: 'pat@example.test', password: PASSWORD });
  t.equal(choice.statusCode, 200);
  t.same(
    choice.json(),
    {
      clinics: [
        { clinicSlug: 'clinic-a', clinicName: 'Clinic A', role: 'clinic_admin' },
        { clinicSlug: 'clinic-b', clinicName: 'Clinic B', role: 'doctor' },
      ],
    },
    'without a clinic: the clinics to choose from, e-mail case-insensitive, no tokens',
  );

  const login = await post('/login', { email: 'pat@example.test', password: PASSWORD, clinicSlug: 'clinic-a' });
  t.equal(login.statusCode, 200);
  const session = login.json();
  t.match(session, {
    tokenType: 'Bearer',
    expiresIn: 300,
    accessToken: String,
    refreshToken: String,
    membership: { clinicSlug: 'clinic-a', role: 'clinic_admin' },
  });
  const claims = decodeToken(session.accessToken);
  t.match(claims.payload, { sub: accountId, clinic_id: clinics.a, clinic_slug: 'clinic-a', role: 'clinic_admin', jti: String });
  t.equal(claims.header.alg, 'EdDSA');
  t.equal((await get('/api/v1/clinics/clinic-a/departments', session.accessToken)).statusCode, 200);
  t.equal((await get('/api/v1/clinics/clinic-b/departments', session.accessToken)).statusCode, 404, 'clinic B is invisible from a clinic-A token');
  t.match((await get('/api/v1/auth/me', session.accessToken)).json(), { accountId, membership: { clinicSlug: 'clinic-a' } });

  const refused = [
    await post('/login', { email: 'pat@example.test', password: 'a wrong password entirely', clinicSlug: 'clinic-a' }),
    await post('/login', { email: 'nobody@example.test', password: PASSWORD, clinicSlug: 'clinic-a' }),
    await post('/login', { email: 'pat@example.test', password: PASSWORD, clinicSlug: 'clinic-c' }),
    await post('/login', { email: 'nurse@example.test', password: PASSWORD, clinicSlug: 'clinic-b' }),
  ];
  const bodies = refused.map((r) => ({ status: r.statusCode, ...r.json(), requestId: null }));
  t.equal(bodies[0]!.status, 401);
  t.ok(
    bodies.every((b) => JSON.stringify(b) === JSON.stringify(bodies[0])),
    'wrong password, unknown e-mail and foreign clinic answer alike',
  );
  t.ok(c, 'clinic C exists, Pat is just not a member');

  const bad = await post('/login', { email: 'pat@example.test' });
  t.equal(bad.statusCode, 400);
  t.match(bad.json(), { code: 'VALIDATION_FAILED', errors: [{ path: 'body.password' }] });

  const refreshed = await post('/refresh', { refreshToken: session.refreshToken });
  t.equal(refreshed.statusCode, 200, 'a refresh token rotates');
  t.not(refreshed.json().refreshToken, session.refreshToken);
  const reused = await post('/refresh', { refreshToken: session.refreshToken });
  t.equal(reused.statusCode, 401, 'the old token is refused');
  t.equal((await post('/refresh', { refreshToken: refreshed.json().refreshToken })).statusCode, 401, 'and its reuse revoked the whole family');

  const switched = await post('/switch', { clinicSlug: 'clinic-b' }, session.accessToken);
  t.equal(switched.statusCode, 200);
  t.match(switched.json().membership, { clinicSlug: 'clinic-b', role: 'doctor' });
  t.equal((await get('/api/v1/clinics/clinic-b/departments', switched.json().accessToken)).statusCode, 200, 'the new token opens clinic B');
  t.equal((await get('/api/v1/clinics/clinic-a/departments', switched.json().accessToken)).statusCode, 404, 'and only clinic B');
  t.equal((await post('/switch', { clinicSlug: 'clinic-c' }, session.accessToken)).statusCode, 404, 'no switching into a clinic one does not belong to');

  t.equal((await post('/logout', { refreshToken: switched.json().refreshToken })).statusCode, 204);
  t.equal((await post('/refresh', { refreshToken: switched.json().refreshToken })).statusCode, 401, 'after logout the refresh token is dead');

  const again = (await post('/login', { email: 'pat@example.test', password: PASSWORD, clinicSlug: 'clinic-a' })).json();
  // Another admin first: a clinic keeps at least one active admin.
  await db.admin.query(`update app_public.clinic_members set role = 'clinic_admin' where clinic_id = $1 and role = 'nurse'`, [clinics.a]);
  await db.admin.query(`update app_public.clinic_members set status = 'deactivated' where clinic_id = $1 and account_id = $2`, [clinics.a, accountId]);
  t.equal((await post('/refresh', { refreshToken: again.refreshToken })).statusCode, 401, 'a deactivated membership cannot refresh');
  t.equal((await get('/api/v1/auth/me', again.accessToken)).statusCode, 401, 'and /me refuses its token');
  t.equal((await post('/login', { email: 'pat@example.test', password: PASSWORD, clinicSlug: 'clinic-a' })).statusCode, 401, 'nor log in there');

  await db.admin.query(`update app_public.clinics set status = 'suspended' where id = $1`, [clinics.b]);
  t.equal(
    (await post('/login', { email: 'pat@example.test', password: PASSWORD, clinicSlug: 'clinic-b' })).statusCode,
    401,
    'a suspended clinic cannot be entered',
  );
});

t.test('an unknown e-mail costs about what a wrong password costs', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  await person(db, 'timed@example.test', [[clinics.a, 'nurse']]);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const { login } = testClient(app);
  const timed = async (email: string) => {
    const samples: number[] = [];
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      await login(email, 'not the password at all', 'clinic-a');
      samples.push(performance.now() - started);
    }
    return samples.sort((a, b) => a - b)[2]!;
  };
  await timed('timed@example.test');
  const [wrong, unknown] = [await timed('timed@example.test'), await timed('nobody@example.test')];
  // Without the dummy hash an unknown e-mail would skip argon2 and answer an order of magnitude faster.
  t.ok(unknown > wrong / 3, `unknown ${unknown.toFixed(1)} ms vs wrong password ${wrong.toFixed(1)} ms`);
});

t.test('an invited account without a password costs what an unknown e-mail costs', async (t) => {
  const db = await createTestDatabase(t);
  await createClinics(db);
  // Invited, never activated: the account holds the placeholder that no password matches.
  const invited = Array.from({ length: 6 }, (_, i) => `invited${i}@example.test`);
  await db.admin.query(`insert into app_private.accounts (email, password_hash) select e, app_private.unset_password_hash() from unnest($1::text[]) e`, [
    invited,
  ]);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const { login } = testClient(app);
  // One e-mail per login, so that no lock cuts a refusal short.
  const timed = async (email: string) => {
    const started = performance.now();
    const response = await login(email, 'not the password at all', 'clinic-a');
    const ms = performance.now() - started;
    t.equal(response.statusCode, 401, email);
    return ms;
  };
  const median = (samples: number[]) => samples.sort((a, b) => a - b)[Math.floor(samples.length / 2)]!;
  await timed(invited[5]!);
  await timed('warm-up@example.test');
  const invitedMs: number[] = [];
  const unknownMs: number[] = [];
  for (let i = 0; i < 5; i++) {
    invitedMs.push(await timed(invited[i]!));
    unknownMs.push(await timed(`unknown${i}@example.test`));
  }
  // Without the dummy's work for the placeholder hash the ratio is about 0.15.
  const [a, b] = [median(invitedMs), median(unknownMs)];
  t.ok(a >= 0.5 * b, `invited ${a.toFixed(1)} ms vs unknown ${b.toFixed(1)} ms (medians of 5)`);
});
