// Lockout per e-mail (known or not), the per-address limit, and the security events that logins
// leave in the audit log.
import t from 'tap';
import { buildApp } from '../../src/app.ts';
import { buildTestApp, TEST_KEYS } from '../helpers/app.ts';
import { createClinics, createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { createPerson } from '../helpers/people.ts';

const PASSWORD = 'a long and correct password';

const member = (db: TestDatabase, email: string, clinicId: string) => createPerson(db, email, PASSWORD, [[clinicId, 'doctor']]);

t.test('five failures lock an e-mail, whether or not it has an account', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const accountId = await member(db, 'locked@example.test', clinics.a);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const login = (email: string, password: string) =>
    app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password, clinicSlug: 'clinic-a' } });

  for (const email of ['locked@example.test', 'nobody@example.test']) {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await login(email, 'wrong password, try again')).statusCode);
    t.same(statuses, [401, 401, 401, 401, 429], `${email}: the fifth failure locks`);
    const whileLocked = await login(email, PASSWORD);
    t.equal(whileLocked.statusCode, 429, `${email}: even the right password waits`);
    t.match(whileLocked.json(), { code: 'RATE_LIMITED' });
    t.ok(Number(whileLocked.headers['retry-after']) > 800, `${email}: Retry-After says about 15 minutes`);
  }

  const { rows } = await db.admin.query(
    `select action, actor_user_id, host(client_ip) as client_ip, request_id, details from app_audit.audit_log where action like 'auth.%' order by id`,
  );
  const known = rows.filter((r) => r.actor_user_id === accountId);
  t.same(known.map((r) => r.action), [...Array(5).fill('auth.login.failed'), 'auth.login.locked'], 'failures and the lock are audited');
  t.match(known[0], { client_ip: '127.0.0.1', request_id: String, details: { reason: 'credentials' } });
  t.equal(rows.filter((r) => r.actor_user_id === null && r.action === 'auth.login.failed').length, 5, 'unknown e-mails are audited without an actor');
  t.notMatch(JSON.stringify(rows), /wrong password|correct password/, 'no password reaches the log');

  await db.admin.query(`update app_private.login_throttle set locked_until = now() - interval '1 second'`);
  const after = await login('locked@example.test', PASSWORD);
  t.equal(after.statusCode, 200, 'the lock ends');
  const success = await db.admin.query(`select clinic_id from app_audit.audit_log where action = 'auth.login.succeeded'`);
  t.same(success.rows, [{ clinic_id: clinics.a }], 'the login is audited with its clinic');
  const { rows: throttle } = await db.admin.query(`select email_key from app_private.login_throttle`);
  t.same(throttle, [{ email_key: 'nobody@example.test' }], 'a success clears the e-mail\'s failures');
});

t.test('thirty failures from one address lock the address, whatever the e-mails', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  await member(db, 'innocent@example.test', clinics.a);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const login = (email: string, password: string, remoteAddress = '203.0.113.7') =>
    app.inject({ method: 'POST', url: '/api/v1/auth/login', remoteAddress, payload: { email, password, clinicSlug: 'clinic-a' } });

  const statuses: number[] = [];
  for (let i = 0; i < 30; i++) statuses.push((await login(`guess${i % 10}@example.test`, 'a guessed password')).statusCode);
  t.same(statuses, [...Array(29).fill(401), 429], 'spread over ten e-mails (three each, none locked), the thirtieth locks the address');
  const locked = await login('innocent@example.test', PASSWORD);
  t.equal(locked.statusCode, 429, 'from that address even a right password waits');
  t.ok(Number(locked.headers['retry-after']) > 800, 'about 15 minutes');
  t.equal((await login('innocent@example.test', PASSWORD, '198.51.100.20')).statusCode, 200, 'other addresses are not affected');
  const { rows } = await db.admin.query(`select host(address) as address, failures from app_private.address_throttle order by address`);
  t.same(rows, [{ address: '203.0.113.7', failures: 30 }], 'counted per address, in the database every API process shares');
});

t.test('behind a trusted proxy the client address comes from X-Forwarded-For', async (t) => {
  const db = await createTestDatabase(t);
  await createClinics(db);
  const app = await buildApp({
    env: 'test', logLevel: 'silent', trustProxy: ['127.0.0.1'], database: { authenticatorUrl: db.authenticatorUrl, poolSize: 2 },
    auth: { keys: TEST_KEYS, accessTokenTtlSeconds: 300, loginAttemptsPerMinute: 1000 },
  });
  t.teardown(() => app.close());
  const fail = (forwardedFor: string) => app.inject({
    method: 'POST', url: '/api/v1/auth/login', headers: { 'x-forwarded-for': forwardedFor }, payload: { email: 'x@example.test', password: 'wrong' },
  });
  await fail('203.0.113.50');
  await fail('192.0.2.1, 203.0.113.51');
  const { rows } = await db.admin.query(`select host(address) as address from app_private.address_throttle order by 1`);
  t.same(rows.map((r) => r.address), ['203.0.113.50', '203.0.113.51'], 'the nearest untrusted hop is the client, not the proxy');
});

t.test('per client address, login is rate limited', async (t) => {
  const db = await createTestDatabase(t);
  await createClinics(db);
  const { app } = await buildTestApp(t, db.authenticatorUrl, TEST_KEYS, 3);
  const statuses: number[] = [];
  let last;
  for (let i = 0; i < 4; i++) {
    last = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: `n${i}@example.test`, password: 'x' } });
    statuses.push(last.statusCode);
  }
  t.same(statuses, [401, 401, 401, 429]);
  t.match(last!.json(), { code: 'RATE_LIMITED' });
  t.ok(Number(last!.headers['retry-after']) > 0, 'with Retry-After');
});

t.test('row changes and token reuse record the address and the request', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  await member(db, 'doc@example.test', clinics.a);
  await db.admin.query(`update app_public.clinic_members set role = 'clinic_admin'`);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const session = (await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'doc@example.test', password: PASSWORD, clinicSlug: 'clinic-a' } })).json();
  const created = await app.inject({
    method: 'POST', url: '/api/v1/clinics/clinic-a/departments', payload: { code: 'ER', name: 'Emergency' },
    headers: { authorization: `Bearer ${session.accessToken}`, 'x-request-id': 'create-er' },
  });
  t.equal(created.statusCode, 201);
  const { rows: change } = await db.admin.query(`select host(client_ip) as client_ip, request_id, actor_role from app_audit.audit_log where table_name = 'app_public.departments'`);
  t.same(change, [{ client_ip: '127.0.0.1', request_id: 'create-er', actor_role: 'clinic_admin' }]);

  await app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken: session.refreshToken } });
  await app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken: session.refreshToken } });
  const { rows: reuse } = await db.admin.query(`select clinic_id from app_audit.audit_log where action = 'auth.refresh.reused'`);
  t.same(reuse, [{ clinic_id: clinics.a }], 'a reused refresh token is audited');
});
