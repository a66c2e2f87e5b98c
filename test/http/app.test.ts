// The HTTP skeleton through the real app: health, problem+json errors, request ids, logs.
import t from 'tap';
import { freePort } from '../../src/db/embedded.ts';
import { PROBLEM_CONTENT_TYPE } from '../../src/plugins/errors.ts';
import { buildTestApp } from '../helpers/app.ts';
import { createTestDatabase } from '../helpers/db.ts';

t.test('health endpoints', async (t) => {
  const db = await createTestDatabase(t);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const live = await app.inject({ method: 'GET', url: '/health/live' });
  t.equal(live.statusCode, 200);
  t.same(live.json(), { status: 'ok' });
  const ready = await app.inject({ method: 'GET', url: '/health/ready' });
  t.equal(ready.statusCode, 200);
  t.same(ready.json(), { status: 'ok', checks: { database: 'ok' } });
});

t.test('readiness fails with 503 problem+json when the database is unreachable', async (t) => {
  const port = await freePort();
  const { app } = await buildTestApp(t, `postgres://app_authenticator:x@127.0.0.1:${port}/nowhere`);
  const ready = await app.inject({ method: 'GET', url: '/health/ready' });
  t.equal(ready.statusCode, 503);
  t.equal(ready.headers['content-type'], PROBLEM_CONTENT_TYPE);
  t.match(ready.json(), { status: 503, code: 'SERVICE_UNAVAILABLE', type: /service-unavailable$/, requestId: String });
  t.notMatch(ready.body, /ECONNREFUSED|127\.0\.0\.1/, 'no internals in the body');
  const live = await app.inject({ method: 'GET', url: '/health/live' });
  t.equal(live.statusCode, 200, 'liveness does not depend on the database');
});

t.test('unknown routes and bad bodies are problem+json with stable codes and the request id', async (t) => {
  const db = await createTestDatabase(t);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  app.post('/test/echo', async (request) => request.body);
  const missing = await app.inject({ method: 'GET', url: '/api/v1/nothing-here', headers: { 'x-request-id': 'trace-123' } });
  t.equal(missing.statusCode, 404);
  t.equal(missing.headers['content-type'], PROBLEM_CONTENT_TYPE);
  t.equal(missing.headers['x-request-id'], 'trace-123', 'a well-formed caller id is echoed');
  t.same(missing.json(), {
    type: 'https://clinicbase.dev/problems/not-found',
    title: 'Not found',
    status: 404,
    code: 'NOT_FOUND',
    detail: 'Not found',
    errors: [],
    requestId: 'trace-123',
  });
  const minted = await app.inject({ method: 'GET', url: '/x', headers: { 'x-request-id': 'bad id with spaces' } });
  t.match(minted.headers['x-request-id'], /^[0-9a-f-]{36}$/, 'a malformed caller id is replaced');

  const malformed = await app.inject({ method: 'POST', url: '/test/echo', headers: { 'content-type': 'application/json' }, payload: '{"a":' });
  t.equal(malformed.statusCode, 400);
  t.match(malformed.json(), { code: 'MALFORMED_BODY' });
  const wrongType = await app.inject({ method: 'POST', url: '/test/echo', headers: { 'content-type': 'application/xml' }, payload: '<a/>' });
  t.equal(wrongType.statusCode, 415);
  t.match(wrongType.json(), { code: 'UNSUPPORTED_MEDIA_TYPE' });
  const tooBig = await app.inject({
    method: 'POST',
    url: '/test/echo',
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify({ a: 'x'.repeat(2 * 1024 * 1024) }),
  });
  t.equal(tooBig.statusCode, 413);
  t.match(tooBig.json(), { code: 'PAYLOAD_TOO_LARGE' });
});

t.test('database errors map to stable codes without leaking values', async (t) => {
  const db = await createTestDatabase(t);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const clinic = (await db.admin.query(`insert into app_public.clinics (slug, name) values ('c-one', 'One') returning id`)).rows[0].id;
  app.post('/test/departments', async (request) => {
    const body = request.body as { code: string; name: string };
    return app.withTenant({ clinicId: clinic, userId: null, role: 'clinic_admin' }, (trx) =>
      trx.insertInto('appPublic.departments').values(body).returning('id').executeTakeFirstOrThrow(),
    );
  });
  const created = await app.inject({ method: 'POST', url: '/test/departments', payload: { code: 'LAB', name: 'Laboratory' } });
  t.equal(created.statusCode, 200);
  const duplicate = await app.inject({ method: 'POST', url: '/test/departments', payload: { code: 'LAB', name: 'Other' } });
  t.equal(duplicate.statusCode, 409);
  t.match(duplicate.json(), { code: 'CONFLICT', errors: [{ path: 'body.code', message: 'is already taken' }] });
  t.notMatch(duplicate.body, /LAB|clinic_id|Key \(/, 'the conflicting value is not echoed');
  const invalid = await app.inject({ method: 'POST', url: '/test/departments', payload: { code: 'lower case', name: 'X' } });
  t.equal(invalid.statusCode, 422);
  t.match(invalid.json(), { code: 'CONSTRAINT_VIOLATION', errors: [{ path: 'body.code' }] });
  // Database errors name fields as validation errors do: body.<camelCaseField>.
  const missing = await app.inject({ method: 'POST', url: '/test/departments', payload: { code: 'NUL', name: 'Z', is_active: null } });
  t.equal(missing.statusCode, 422);
  t.same(missing.json().errors, [{ path: 'body.isActive', message: 'is required' }]);
  const crash = await app.inject({ method: 'POST', url: '/test/departments', payload: { code: 'OK', name: 'Y', nope: 1 } });
  t.equal(crash.statusCode, 500);
  t.same(Object.keys(crash.json()).sort(), ['code', 'detail', 'errors', 'requestId', 'status', 'title', 'type']);
  t.match(crash.json(), { code: 'INTERNAL', detail: 'Internal error' });
  t.notMatch(crash.body, /nope|column/, 'a 500 carries no internals');
});

t.test('a failed database statement is logged by code, never by its text', async (t) => {
  const db = await createTestDatabase(t);
  const { app, logs } = await buildTestApp(t, db.authenticatorUrl);
  app.get('/test/leak', async () =>
    app.withTenant({ clinicId: null, userId: null, role: null }, async (trx) => {
      const { sql } = await import('kysely');
      return sql`select 'jane_doe_5550100'::regclass`.execute(trx);
    }),
  );
  const response = await app.inject({ method: 'GET', url: '/test/leak' });
  t.equal(response.statusCode, 500);
  const text = JSON.stringify(logs());
  t.match(text, /"code":"42P01"/, 'the SQLSTATE is logged');
  t.notMatch(text, /jane_doe|5550100/, 'the values quoted by the database message are not');
});

t.test('logs are JSON with the request id and without secrets or query strings', async (t) => {
  const db = await createTestDatabase(t);
  const { app, logs } = await buildTestApp(t, db.authenticatorUrl);
  await app.inject({
    method: 'GET',
    url: '/health/live?patient=Jane%20Doe&phone=5550100',
    headers: { authorization: 'Bearer secret-token-value', cookie: 'session=secret-cookie', 'x-request-id': 'log-check-1' },
  });
  const lines = logs().filter((line) => line.requestId === 'log-check-1');
  t.ok(lines.length >= 2, 'request and response are logged with the request id');
  const text = JSON.stringify(logs());
  for (const secret of ['Jane', '5550100', 'secret-token-value', 'secret-cookie']) {
    t.notMatch(text, secret, `${secret} is not logged`);
  }
  t.match(lines[0], { req: { method: 'GET', url: '/health/live' } });

  app.log.info({ patient: { name: 'Jane Doe', phone: '5550100', email: 'jane@example.test' } }, 'an object logged on purpose');
  const onPurpose = JSON.stringify(logs().find((line) => line.msg === 'an object logged on purpose'));
  t.notMatch(onPurpose, /Jane|5550100|jane@/, 'names, phones and e-mails inside logged objects are redacted');
});
