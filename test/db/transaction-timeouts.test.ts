// Every withTenant transaction carries its statement, lock and idle-in-transaction timeouts, set
// transaction-local by the context statement in the same protocol message as the first query: a
// runaway statement, a lock wait or a stalled handler cannot hold a pooled connection for long.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import pg from 'pg';
import t from 'tap';
import { createPool } from '../../src/db/pool.ts';
import { withTenant, type TenantContext, type TenantDb } from '../../src/db/tenant.ts';
import { createClinics, createTestDatabase, holdLock, sqlstateOf } from '../helpers/db.ts';

const TIMEOUTS = `select current_setting('statement_timeout') as statement, current_setting('lock_timeout') as lock,
  current_setting('idle_in_transaction_session_timeout') as idle`;

/** The SQLSTATE of a rejection or of its causes (a lost connection's error wraps the server's). */
async function sqlstateInChain(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return 'resolved';
  } catch (error) {
    for (let e: unknown = error; e instanceof Error; e = e.cause) {
      const code = (e as { code?: unknown }).code;
      if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
    }
    return undefined;
  }
}

/** How long `promise` takes to settle, and its SQLSTATE ('resolved' when it did not reject). */
async function timed(promise: Promise<unknown>): Promise<{ code: string; ms: number }> {
  const started = performance.now();
  const code = await sqlstateOf(promise);
  return { code, ms: performance.now() - started };
}

t.test('each transaction runs with the configured timeouts; the connection keeps only its login defaults', async (t) => {
  const db = await createTestDatabase(t);
  const pool = createPool({ url: db.authenticatorUrl, size: 1 });
  t.teardown(() => pool.end());
  const nobody: TenantContext = { clinicId: null, userId: null, role: null };
  const read = (trx: TenantDb) =>
    sql
      .raw(TIMEOUTS)
      .execute(trx)
      .then((r) => r.rows[0]);

  t.same(await withTenant(pool, nobody, read), { statement: '5s', lock: '2s', idle: '10s' }, 'defaults');
  t.same(
    await withTenant(pool, nobody, read, { statementTimeoutMs: 1500, lockTimeoutMs: 250, idleInTransactionTimeoutMs: 60_000 }),
    { statement: '1500ms', lock: '250ms', idle: '1min' },
    'or what the caller sets for this transaction',
  );
  const session = await pool.query('show statement_timeout');
  t.same(session.rows, [{ statement_timeout: '30s' }], 'outside withTenant: the login role’s backstop, nothing carried over');
  const login = new pg.Client({ connectionString: db.authenticatorUrl });
  await login.connect();
  t.teardown(() => login.end());
  t.same(
    (await login.query(TIMEOUTS)).rows,
    [{ statement: '30s', lock: '10s', idle: '1min' }],
    'app_authenticator’s own sessions (readiness probe, psql) have a backstop too',
  );

  for (const wrong of [0, -1, 1.5, Number.NaN]) {
    await t.rejects(
      withTenant(pool, nobody, read, { statementTimeoutMs: wrong }),
      /invalid transaction settings: statementTimeoutMs/,
      `${wrong} is refused before any SQL`,
    );
  }
});

t.test('a statement_timeout set by the context cuts off the statement after it in the same message', async (t) => {
  const db = await createTestDatabase(t);
  const nobody: TenantContext = { clinicId: null, userId: null, role: null };
  const settings = { statementTimeoutMs: 150 };
  // A read before any write: [context, query, Sync], one implicit transaction.
  const read = await timed(withTenant(db.pool, nobody, (trx) => trx.selectNoFrom(sql<string>`pg_sleep(3)`.as('slept')).execute(), settings));
  t.equal(read.code, '57014', 'read: cancelled by statement_timeout');
  t.ok(read.ms < 1500, `read: after about 150 ms (${Math.round(read.ms)} ms)`);
  // Raw SQL opens the explicit transaction: [begin, context, query, Sync].
  const written = await timed(withTenant(db.pool, nobody, (trx) => sql`select pg_sleep(3)`.execute(trx), settings));
  t.equal(written.code, '57014', 'transaction: cancelled by statement_timeout');
  t.ok(written.ms < 1500, `transaction: after about 150 ms (${Math.round(written.ms)} ms)`);
});

t.test('a statement waiting for a lock gives up after lock_timeout and frees its connection', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const pool = createPool({ url: db.authenticatorUrl, size: 1 });
  t.teardown(() => pool.end());
  const doctor: TenantContext = { clinicId: clinics.a, userId: randomUUID(), role: 'doctor' };
  const release = await holdLock(db.admin, 'app_public.departments');
  t.teardown(release);

  const blocked = await timed(withTenant(pool, doctor, (trx) => trx.selectFrom('appPublic.departments').selectAll().execute(), { lockTimeoutMs: 200 }));
  t.equal(blocked.code, '55P03', 'lock_timeout');
  t.ok(blocked.ms < 1500, `after about 200 ms, not when the lock is released (${Math.round(blocked.ms)} ms)`);
  t.same(
    await withTenant(pool, doctor, (trx) => trx.selectFrom('appPublic.clinics').select('slug').execute()),
    [{ slug: 'clinic-a' }],
    'the pool’s one connection serves the next transaction while the lock is still held',
  );
});

t.test('a transaction left idle past idle_in_transaction_session_timeout ends with nothing written', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const pool = createPool({ url: db.authenticatorUrl, size: 1 });
  t.teardown(() => pool.end());
  const admin: TenantContext = { clinicId: clinics.a, userId: randomUUID(), role: 'clinic_admin' };
  const stalled = withTenant(
    pool,
    admin,
    async (trx) => {
      await trx.insertInto('appPublic.departments').values({ code: 'IDLE1', name: 'Written before the stall' }).execute();
      await sleep(600); // a handler stalled mid-transaction (a slow upstream call, a blocked event loop)
      await trx.insertInto('appPublic.departments').values({ code: 'IDLE2', name: 'Written after the stall' }).execute();
    },
    { idleInTransactionTimeoutMs: 150 },
  );
  t.equal(await sqlstateInChain(stalled), '25P03', 'the transaction fails: its session ended (idle_in_transaction_session_timeout)');
  const { rows } = await db.admin.query('select count(*)::int as n from app_public.departments');
  t.same(rows, [{ n: 0 }], 'nothing half-written: the first insert went with the session');
  const after = await withTenant(pool, admin, (trx) =>
    trx.insertInto('appPublic.departments').values({ code: 'NEXT', name: 'Next' }).returning('code').execute(),
  );
  t.same(after, [{ code: 'NEXT' }], 'the pool replaced the connection and keeps serving');
});
