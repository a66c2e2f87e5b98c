// Timeouts over HTTP. A statement that runs too long, a lock held elsewhere and a transaction left
// idle each answer 503 SERVICE_UNAVAILABLE with Retry-After within about the configured timeout,
// write nothing, and leave the pool serving. The app runs with a pool of one connection, so a
// connection still held by the failed request would show in the next one.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Test } from 'tap';
import t from 'tap';
import type { TransactionSettings } from '../../src/db/tenant.ts';
import { TEST_KEYS, buildTestApp } from '../helpers/app.ts';
import { testClient } from '../helpers/client.ts';
import { createClinics, createTestDatabase, holdLock } from '../helpers/db.ts';

async function clinicApp(t: Test, transactions: Partial<TransactionSettings>) {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const { app, logs } = await buildTestApp(t, db.authenticatorUrl, TEST_KEYS, 1000, { poolSize: 1, transactions });
  const admin = { clinicId: clinics.a, userId: randomUUID(), role: 'clinic_admin' as const };
  const client = testClient(app);
  const token = await client.clinicToken('clinic_admin', { id: clinics.a, slug: 'clinic-a' }, admin.userId);
  const listDepartments = () => client.call('GET', '/api/v1/clinics/clinic-a/departments', token);
  /** SQLSTATEs of the failures logged so far (the log keeps the code, never the message). */
  const failedWith = () =>
    logs()
      .filter((l) => l.msg === 'request failed')
      .map((l) => (l.db as { code?: string } | undefined)?.code);
  return { db, app, admin, listDepartments, failedWith };
}

async function timed<T>(request: Promise<T>): Promise<{ response: T; ms: number }> {
  const started = performance.now();
  const response = await request;
  return { response, ms: performance.now() - started };
}

function assertRetryLater(t: Test, response: { statusCode: number; headers: Record<string, unknown>; json: () => unknown }, what: string) {
  t.equal(response.statusCode, 503, `${what}: 503`);
  t.equal(response.headers['retry-after'], '1', `${what}: Retry-After`);
  t.match(response.headers['content-type'], /^application\/problem\+json/);
  t.match(response.json(), { code: 'SERVICE_UNAVAILABLE', status: 503 });
}

t.test('a statement longer than statement_timeout answers 503 with Retry-After', async (t) => {
  const { db, listDepartments, failedWith } = await clinicApp(t, { statementTimeoutMs: 200, lockTimeoutMs: 10_000 });
  t.equal((await listDepartments()).statusCode, 200, 'serves first');
  // Waiting for a lock counts towards statement_timeout too; lock_timeout is set far above it here.
  const release = await holdLock(db.admin, 'app_public.departments');
  t.teardown(release);
  const { response, ms } = await timed(listDepartments());
  assertRetryLater(t, response, 'statement cancelled');
  t.ok(ms < 1500, `after about 200 ms (${Math.round(ms)} ms)`);
  t.same(failedWith(), ['57014'], 'cancelled by statement_timeout');
  await release();
  t.equal((await listDepartments()).statusCode, 200, 'the next request is served');
});

t.test('a lock held elsewhere answers 503 with Retry-After after lock_timeout, and frees the connection', async (t) => {
  const { db, app, listDepartments, failedWith } = await clinicApp(t, { lockTimeoutMs: 200, statementTimeoutMs: 10_000 });
  const release = await holdLock(db.admin, 'app_public.departments');
  t.teardown(release);
  const { response, ms } = await timed(listDepartments());
  assertRetryLater(t, response, 'lock not granted');
  t.ok(ms < 1500, `after about 200 ms, not when the lock is released (${Math.round(ms)} ms)`);
  t.same(failedWith(), ['55P03'], 'given up by lock_timeout');
  t.equal((await app.inject({ url: '/health/ready' })).statusCode, 200, 'the one pooled connection is free while the lock is still held');
  await release();
  t.equal((await listDepartments()).statusCode, 200, 'and the request succeeds once the lock is gone');
});

t.test('a transaction left idle past idle_in_transaction_session_timeout answers 503 and writes nothing', async (t) => {
  const { db, app, admin, listDepartments } = await clinicApp(t, { idleInTransactionTimeoutMs: 200 });
  // No route of the API waits inside a transaction; this one stands in for a handler that stalls
  // mid-transaction (a slow upstream call, a blocked event loop).
  app.post('/test/stalled-write', () =>
    app.withTenant(admin, async (trx) => {
      await trx.insertInto('appPublic.departments').values({ code: 'IDLE1', name: 'Before the stall' }).execute();
      await sleep(600);
      await trx.insertInto('appPublic.departments').values({ code: 'IDLE2', name: 'After the stall' }).execute();
      return { written: 2 };
    }),
  );
  assertRetryLater(t, await app.inject({ method: 'POST', url: '/test/stalled-write' }), 'session ended');
  const { rows } = await db.admin.query('select count(*)::int as n from app_public.departments');
  t.same(rows, [{ n: 0 }], 'nothing half-written');
  t.equal((await listDepartments()).statusCode, 200, 'the pool replaced the connection and keeps serving');
});
