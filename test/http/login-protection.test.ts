// Lockout per e-mail and address (known or not), the slower limit per e-mail that spares the
// networks its owner signed in from, the per-address limit, failed current passwords, and the
// security events that logins leave in the audit log.
import type { LightMyRequestResponse } from 'fastify';
import t from 'tap';
import { buildApp } from '../../src/app.ts';
import { buildTestApp, TEST_FIELD_CIPHER, TEST_KEYS } from '../helpers/app.ts';
import { testClient } from '../helpers/client.ts';
import { createClinics, createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { createPerson } from '../helpers/people.ts';
import { temporaryStorageDir } from '../helpers/storage.ts';

const PASSWORD = 'a long and correct password';

const member = (db: TestDatabase, email: string, clinicId: string) => createPerson(db, email, PASSWORD, [[clinicId, 'doctor']]);

t.test('five failures from one address lock the e-mail there, whether or not it has an account', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const accountId = await member(db, 'locked@example.test', clinics.a);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const client = testClient(app);
  const login = (email: string, password: string) => client.login(email, password, 'clinic-a');

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
  t.same(
    known.map((r) => r.action),
    [...Array(5).fill('auth.login.failed'), 'auth.login.locked'],
    'failures and the lock are audited',
  );
  t.match(known[0], { client_ip: '127.0.0.1', request_id: String, details: { reason: 'credentials' } });
  t.equal(rows.filter((r) => r.actor_user_id === null && r.action === 'auth.login.failed').length, 5, 'unknown e-mails are audited without an actor');
  t.notMatch(JSON.stringify(rows), /wrong password|correct password/, 'no password reaches the log');

  await db.admin.query(`update app_private.login_failures set locked_until = now() - interval '1 second'`);
  const after = await login('locked@example.test', PASSWORD);
  t.equal(after.statusCode, 200, 'the lock ends');
  const success = await db.admin.query(`select clinic_id from app_audit.audit_log where action = 'auth.login.succeeded'`);
  t.same(success.rows, [{ clinic_id: clinics.a }], 'the login is audited with its clinic');
  const { rows: throttle } = await db.admin.query(`select key from app_private.login_failures where scope = 'email_network'`);
  t.same(throttle, [{ key: 'nobody@example.test 127.0.0.1' }], 'a success clears the failures of its e-mail and address');
});

t.test('thirty failures from one address lock the address, whatever the e-mails', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  await member(db, 'innocent@example.test', clinics.a);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const client = testClient(app);
  const login = (email: string, password: string, remoteAddress = '203.0.113.7') => client.login(email, password, 'clinic-a', { remoteAddress });

  const statuses: number[] = [];
  for (let i = 0; i < 30; i++) statuses.push((await login(`guess${i % 10}@example.test`, 'a guessed password')).statusCode);
  t.same(statuses, [...Array(29).fill(401), 429], 'spread over ten e-mails (three each, none locked), the thirtieth locks the address');
  const locked = await login('innocent@example.test', PASSWORD);
  t.equal(locked.statusCode, 429, 'from that address even a right password waits');
  t.ok(Number(locked.headers['retry-after']) > 800, 'about 15 minutes');
  t.equal((await login('innocent@example.test', PASSWORD, '198.51.100.20')).statusCode, 200, 'other addresses are not affected');
  const { rows } = await db.admin.query(`select key, failures from app_private.login_failures where scope = 'network'`);
  t.same(rows, [{ key: '203.0.113.7', failures: 30 }], 'counted per address, in the database every API process shares');
});

t.test('a stranger failing from many addresses cannot lock the owner out; the slower limit per e-mail spares known networks', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  await member(db, 'owner@example.test', clinics.a);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const client = testClient(app);
  const login = (password: string, remoteAddress: string) => client.login('owner@example.test', password, 'clinic-a', { remoteAddress });
  const OWNER_ADDRESS = '198.51.100.10';
  t.equal((await login(PASSWORD, OWNER_ADDRESS)).statusCode, 200, 'the owner signs in from their usual address');
  const strangerFails = async (addresses: string[]) => {
    for (const address of addresses) {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await login('a guessed password', address)).statusCode);
      t.same(statuses, [401, 401, 401, 401, 429], `${address}: the fifth failure locks the stranger's own pair`);
    }
  };

  await strangerFails(['203.0.113.1', '203.0.113.2', '203.0.113.3', '203.0.113.4', '203.0.113.5']);
  t.equal((await login(PASSWORD, '203.0.113.1')).statusCode, 429, 'the locked pair waits even with the right password');
  t.equal((await login(PASSWORD, OWNER_ADDRESS)).statusCode, 200, 'the owner is not locked out by 25 failures from 5 other addresses');
  t.equal((await login(PASSWORD, '192.0.2.1')).statusCode, 200, 'nor from a new address, below the slower limit');

  await strangerFails(['203.0.113.6', '203.0.113.7', '203.0.113.8', '203.0.113.9', '203.0.113.10']);
  const global = await login(PASSWORD, '192.0.2.200');
  t.equal(global.statusCode, 429, 'after 50 failures within the hour, a new address waits');
  t.ok(Number(global.headers['retry-after']) > 800, 'about 15 minutes');
  t.equal((await login(PASSWORD, OWNER_ADDRESS)).statusCode, 200, "the owner's usual address does not");
  t.equal((await login(PASSWORD, '192.0.2.1')).statusCode, 200, 'nor one the owner signed in from since');
  const { rows } = await db.admin.query(
    `select host(n.network) as network from app_private.login_networks n join app_private.accounts a on a.id = n.account_id order by 1`,
  );
  t.same(
    rows.map((r) => r.network),
    ['192.0.2.1', OWNER_ADDRESS],
    'the networks the account signed in from',
  );
});

t.test('an IPv6 client is counted by its /64', async (t) => {
  const db = await createTestDatabase(t);
  await createClinics(db);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const client = testClient(app);
  const fail = (remoteAddress: string) => client.login('x@example.test', 'a guessed password', undefined, { remoteAddress });
  const statuses: number[] = [];
  for (let i = 1; i <= 5; i++) statuses.push((await fail(`2001:db8:1:2::${i}`)).statusCode);
  t.same(statuses, [401, 401, 401, 401, 429], 'five addresses of one /64 are one client');
  t.equal((await fail('2001:db8:1:2:ffff::9')).statusCode, 429, 'the whole /64 waits');
  t.equal((await fail('2001:db8:1:3::1')).statusCode, 401, 'the next /64 does not');
});

t.test('wrong current passwords on a password change count like failed logins', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const accountId = await member(db, 'changer@example.test', clinics.a);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const client = testClient(app);
  const login = (remoteAddress = '127.0.0.1') => client.login('changer@example.test', PASSWORD, 'clinic-a', { remoteAddress });
  const accessToken = (await login()).json().accessToken as string;
  const change = (currentPassword: string) => client.post('/api/v1/auth/password', { currentPassword, newPassword: 'a new and long passphrase' }, accessToken);

  const responses = [];
  for (let i = 0; i < 5; i++) responses.push(await change(`guess number ${i}`));
  t.same(
    responses.map((r) => r.statusCode),
    [400, 400, 400, 400, 429],
    'the fifth wrong current password locks',
  );
  t.match(responses[0]!.json(), { code: 'VALIDATION_FAILED', errors: [{ path: 'body.currentPassword' }] });
  t.match(responses[4]!.json(), { code: 'RATE_LIMITED' });
  t.ok(Number(responses[4]!.headers['retry-after']) > 800, 'with Retry-After');
  t.equal((await change(PASSWORD)).statusCode, 429, 'even the right current password waits');
  t.equal((await login()).statusCode, 429, 'and so does a login from that address');
  t.equal((await login('198.51.100.30')).statusCode, 200, 'but not from elsewhere');
  const { rows } = await db.admin.query(`select action from app_audit.audit_log where actor_user_id = $1 and action like 'auth.login.%' order by id`, [
    accountId,
  ]);
  t.same(
    rows.map((r) => r.action),
    ['auth.login.succeeded', ...Array(5).fill('auth.login.failed'), 'auth.login.locked', 'auth.login.succeeded'],
    'audited as failed logins',
  );
});

t.test('behind a trusted proxy the client address comes from X-Forwarded-For', async (t) => {
  const db = await createTestDatabase(t);
  await createClinics(db);
  const app = await buildApp({
    env: 'test',
    logLevel: 'silent',
    storageDir: await temporaryStorageDir(t),
    trustProxy: ['127.0.0.1'],
    database: { authenticatorUrl: db.authenticatorUrl, poolSize: 2 },
    auth: { keys: TEST_KEYS, accessTokenTtlSeconds: 300, loginAttemptsPerMinute: 1000 },
    fieldCipher: TEST_FIELD_CIPHER,
  });
  t.teardown(() => app.close());
  const client = testClient(app);
  const fail = (forwardedFor: string) => client.login('x@example.test', 'wrong', undefined, { forwardedFor });
  await fail('203.0.113.50');
  await fail('192.0.2.1, 203.0.113.51');
  const { rows } = await db.admin.query(`select key from app_private.login_failures where scope = 'network' order by 1`);
  t.same(
    rows.map((r) => r.key),
    ['203.0.113.50', '203.0.113.51'],
    'the nearest untrusted hop is the client, not the proxy',
  );
});

t.test('per client address, login is rate limited', async (t) => {
  const db = await createTestDatabase(t);
  await createClinics(db);
  const { app } = await buildTestApp(t, db.authenticatorUrl, TEST_KEYS, 3);
  const client = testClient(app);
  const statuses: number[] = [];
  let last: LightMyRequestResponse | undefined;
  for (let i = 0; i < 4; i++) {
    last = await client.login(`n${i}@example.test`, 'x');
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
  const client = testClient(app);
  const session = (await client.login('doc@example.test', PASSWORD, 'clinic-a')).json();
  const created = await app.inject({
    method: 'POST',
    url: '/api/v1/clinics/clinic-a/departments',
    payload: { code: 'ER', name: 'Emergency' },
    headers: { authorization: `Bearer ${session.accessToken}`, 'x-request-id': 'create-er' },
  });
  t.equal(created.statusCode, 201);
  const { rows: change } = await db.admin.query(
    `select host(client_ip) as client_ip, request_id, actor_role from app_audit.audit_log where table_name = 'app_public.departments'`,
  );
  t.same(change, [{ client_ip: '127.0.0.1', request_id: 'create-er', actor_role: 'clinic_admin' }]);

  await client.post('/api/v1/auth/refresh', { refreshToken: session.refreshToken });
  await client.post('/api/v1/auth/refresh', { refreshToken: session.refreshToken });
  const { rows: reuse } = await db.admin.query(`select clinic_id from app_audit.audit_log where action = 'auth.refresh.reused'`);
  t.same(reuse, [{ clinic_id: clinics.a }], 'a reused refresh token is audited');
});
