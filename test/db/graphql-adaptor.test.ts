// PostGraphile's adaptor over the app's pool (src/db/graphql-adaptor.ts): a GraphQL read costs one
// round trip and a mutation two, counted on the wire; nothing outlives a transaction on the pooled
// connection; a write fails whole; savepoints travel with the next message; a lost connection
// fails a request, not the process; named statements are capped per connection, and none at all
// are prepared when prepared statements are off.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import t, { type Test } from 'tap';
import { tenantWithPgClient } from '../../src/db/graphql-adaptor.ts';
import { PREPARED_PER_CONNECTION } from '../../src/db/pg-wire.ts';
import { createPool } from '../../src/db/pool.ts';
import { contextSettings, type TenantContext, withTenant } from '../../src/db/tenant.ts';
import { buildTestApp } from '../helpers/app.ts';
import { testClient } from '../helpers/client.ts';
import { createClinics, createTestDatabase, sqlstateOf, type TestDatabase } from '../helpers/db.ts';
import { graphql } from '../helpers/graphql.ts';
import { countRoundTrips } from '../helpers/round-trips.ts';

const DEPARTMENTS = '{ departments { nodes { code } } }';
const createDepartment = (code: string) =>
  `mutation { createDepartment(input: { department: { code: "${code}", name: "Department ${code}" } }) { department { code } } }`;

async function clinicApp(t: Test, db: TestDatabase, url: string, database: Parameters<typeof buildTestApp>[4] = {}, clinics?: { a: string; b: string }) {
  clinics ??= await createClinics(db);
  const { app } = await buildTestApp(t, url, undefined, 1000, database);
  const token = await testClient(app).clinicToken('clinic_admin', { id: clinics.a, slug: 'clinic-a' });
  return { app, clinics, token };
}

const departmentCodes = async (db: TestDatabase) =>
  (await db.admin.query<{ code: string }>('select code from app_public.departments order by code')).rows.map((r) => r.code);

t.test('a GraphQL read is one round trip, a mutation two', async (t) => {
  const db = await createTestDatabase(t);
  const wire = await countRoundTrips(t, db.authenticatorUrl);
  const { app, token } = await clinicApp(t, db, wire.url);
  // The schema's introspection, the connections' first statements: before counting.
  t.same((await graphql(app, token, createDepartment('D1'))).data, { createDepartment: { department: { code: 'D1' } } });
  t.same((await graphql(app, token, DEPARTMENTS)).data, { departments: { nodes: [{ code: 'D1' }] } });
  // The app reads blocked accounts in the background every few seconds: the least of three.
  const least = async (request: () => Promise<unknown>) => {
    const counts = [];
    for (let i = 0; i < 3; i++) {
      wire.takeBoth();
      await request();
      counts.push(wire.takeBoth());
    }
    return counts.reduce((a, b) => (b.statements < a.statements ? b : a));
  };
  t.same(await least(() => graphql(app, token, DEPARTMENTS)), { roundTrips: 1, statements: 2 }, 'read: [context, select, Sync], no BEGIN, no COMMIT');
  let n = 1;
  t.same(
    await least(() => graphql(app, token, createDepartment(`D${++n}`))),
    { roundTrips: 2, statements: 4 },
    'mutation: [BEGIN, context, insert, Sync], then [COMMIT, Sync]',
  );
  t.same(await departmentCodes(db), ['D1', 'D2', 'D3', 'D4']);
});

t.test('nothing is set at session level: the pooled connection is as a new one after GraphQL', async (t) => {
  const db = await createTestDatabase(t);
  const { app, token } = await clinicApp(t, db, db.authenticatorUrl, { poolSize: 1 });
  const SETTINGS = `select current_user, pg_backend_pid() as pid, current_setting('app.clinic_id', true) as clinic, current_setting('app.role', true) as role,
    current_setting('jit_optimize_above_cost') as jit, current_setting('transaction_read_only') as read_only, current_setting('statement_timeout') as statement_timeout,
    current_setting('lock_timeout') as lock_timeout, current_setting('idle_in_transaction_session_timeout') as idle_timeout`;
  const onPool = async () => {
    const client = await app.pool.connect();
    try {
      return (await client.query(SETTINGS)).rows[0];
    } finally {
      client.release();
    }
  };
  const before = await onPool();
  t.equal((await graphql(app, token, createDepartment('S1'))).status, 200);
  t.same((await graphql(app, token, DEPARTMENTS)).data, { departments: { nodes: [{ code: 'S1' }] } });
  const after = await onPool();
  t.equal(after.pid, before.pid, 'the same backend served the requests (a pool of one)');
  const fresh = new pg.Client({ connectionString: db.authenticatorUrl });
  await fresh.connect();
  t.teardown(() => fresh.end());
  const { rows } = await fresh.query(SETTINGS);
  const { pid: _a, clinic, role, ...rest } = after;
  const { pid: _b, clinic: _c, role: _r, ...asNew } = rows[0];
  t.same(rest, asNew, 'role, jit, read-only and timeouts as on a new connection');
  t.equal(rest.current_user, 'app_authenticator');
  t.notOk(clinic, 'no clinic left on the connection');
  t.notOk(role, 'no app role left on the connection');
});

t.test('a write fails whole; a nested transaction is a savepoint that costs no round trip', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const wire = await countRoundTrips(t, db.authenticatorUrl);
  const pool = createPool({ url: wire.url, size: 1 });
  t.teardown(() => pool.end());
  const withPgClient = tenantWithPgClient({ pool, preparedStatements: true });
  const admin: TenantContext = { clinicId: clinics.a, userId: randomUUID(), role: 'clinic_admin' };
  const settings = contextSettings(admin, 'app_user');
  const insert = (code: string) => ({ text: `insert into app_public.departments (code, name) values ($1, 'Department ' || $1)`, values: [code] });

  const failing = withPgClient(settings, async (client) => {
    await client.query(insert('F1'));
    await client.query(insert('F2'));
    await client.query(insert('F1'));
  });
  t.equal(await sqlstateOf(failing), '23505', 'the third insert is refused');
  t.same(await departmentCodes(db), [], 'and the two before it are gone with it');
  const thrown = withPgClient(settings, async (client) => {
    await client.query(insert('F3'));
    throw new Error('the callback failed after writing');
  });
  await t.rejects(thrown, /failed after writing/);
  t.same(await departmentCodes(db), [], 'a callback that throws after a write: rolled back');

  wire.take();
  await withPgClient(settings, (client) =>
    client.withTransaction(async (tx) => {
      await tx.query(insert('N1'));
    }),
  );
  t.equal(wire.take(), 2, '[BEGIN, context, SAVEPOINT, insert, Sync], then [RELEASE, COMMIT, Sync]');
  await withPgClient(settings, async (client) => {
    await client.query(insert('N2'));
    const inner = client.withTransaction(async (tx) => {
      await tx.query(insert('N3'));
      await tx.query(insert('N2'));
    });
    t.equal(await sqlstateOf(inner), '23505', 'the nested transaction fails');
    await client.query(insert('N4'));
  });
  t.equal(wire.take(), 5, 'insert, insert, failing insert, [ROLLBACK TO, insert], COMMIT: no round trip for the savepoint statements');
  t.same(await departmentCodes(db), ['N1', 'N2', 'N4'], 'the savepoint took back its own insert only');

  const readOnly = withPgClient(contextSettings({ ...admin, readOnly: true }, 'app_user'), (client) => client.query(insert('R1')));
  t.equal(await sqlstateOf(readOnly), '25006', 'a read-only context refuses the write');
});

t.test('a write behind a SELECT runs in the explicit transaction', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  await db.admin.query(`
    create function app_public.adaptor_probe_write(code text) returns text language sql volatile as
      $$ insert into app_public.departments (code, name) values (code, 'Probe ' || code) returning code $$;
    grant execute on function app_public.adaptor_probe_write(text) to app_user`);
  const wire = await countRoundTrips(t, db.authenticatorUrl);
  const pool = createPool({ url: wire.url, size: 1 });
  t.teardown(() => pool.end());
  const withPgClient = tenantWithPgClient({ pool, preparedStatements: true });
  const admin: TenantContext = { clinicId: clinics.a, userId: randomUUID(), role: 'clinic_admin' };
  const probe = (code: string, name?: string) => ({ text: 'select app_public.adaptor_probe_write($1) as code', values: [code], ...(name ? { name } : {}) });
  await withPgClient(contextSettings(admin, 'app_user'), (client) => client.query({ text: 'select 1', values: [] }));

  // PostGraphile sends a mutation's statement unnamed: a function exposed as a mutation.
  wire.take();
  t.same((await withPgClient(contextSettings(admin, 'app_user'), (client) => client.query(probe('H1')))).rows, [{ code: 'H1' }]);
  t.equal(wire.take(), 2, 'unnamed: [BEGIN, context, select, Sync], then COMMIT; the function runs once');
  // Named, as PostGraphile names its reads: tried alone, refused by the read-only mode, run again.
  t.same((await withPgClient(contextSettings(admin, 'app_user'), (client) => client.query(probe('H2', 'probe_read')))).rows, [{ code: 'H2' }]);
  t.equal(wire.take(), 3, 'named: refused alone (25006), then [BEGIN, context, select, Sync], then COMMIT');
  t.same(await departmentCodes(db), ['H1', 'H2']);
  wire.take();
  const refused = withPgClient(contextSettings({ ...admin, readOnly: true }, 'app_user'), (client) => client.query(probe('H3', 'probe_read')));
  t.equal(await sqlstateOf(refused), '25006', 'a read-only context refuses it');
  t.equal(wire.take(), 1, 'and the refusal is final: not tried again in a transaction');
  t.same(await departmentCodes(db), ['H1', 'H2']);
});

t.test('a lost connection fails the request, not the process', async (t) => {
  const db = await createTestDatabase(t);
  const { app, token } = await clinicApp(t, db, db.authenticatorUrl, { poolSize: 1 });
  t.equal((await graphql(app, token, DEPARTMENTS)).status, 200);
  // Killed while idle in the pool, then while a request holds it.
  await db.admin.query(
    `select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and usename = 'app_authenticator' and pid <> pg_backend_pid()`,
    [db.name],
  );
  const afterIdle = await graphql(app, token, DEPARTMENTS);
  t.equal(afterIdle.status, 200, 'answered');
  const withPgClient = tenantWithPgClient({ pool: app.pool, preparedStatements: true });
  const admin = contextSettings({ clinicId: null, userId: null, role: null }, 'app_user');
  const lost = withPgClient(admin, async (client) => {
    // Named reads, as PostGraphile's: each runs alone, so there is no transaction whose ROLLBACK would fail.
    const { rows } = await client.query<[number]>({ text: 'select pg_backend_pid()', values: [], arrayMode: true, name: 'probe_pid' });
    await db.admin.query('select pg_terminate_backend($1)', [rows[0]![0]]);
    await client.query({ text: 'select 1', values: [], name: 'probe_one' });
  });
  t.not(await sqlstateOf(lost), 'resolved', 'the statement after the kill fails');
  t.equal(app.pool.totalCount, 0, 'its connection was destroyed, not put back in the pool');
  t.same((await graphql(app, token, DEPARTMENTS)).data, { departments: { nodes: [] } }, 'the next request gets a new connection');
});

t.test('named statements: capped per connection, none when prepared statements are off', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const named = `select count(*)::int as n from pg_prepared_statements where name not like 'clinicbase\\_%'`;
  const settings = contextSettings({ clinicId: clinics.a, userId: randomUUID(), role: 'clinic_admin' }, 'app_user');
  const pool = createPool({ url: db.authenticatorUrl, size: 1 });
  t.teardown(() => pool.end());
  const withPgClient = tenantWithPgClient({ pool, preparedStatements: true });
  const prepared = await withPgClient(settings, async (client) => {
    for (let i = 0; i < PREPARED_PER_CONNECTION; i++) await client.query({ text: `select ${i} as n`, values: [], name: `graphql_cap_probe_${i}` });
    return (await client.query<{ n: number }>({ text: named, values: [] })).rows[0]!.n;
  });
  t.equal(prepared, 250, "PostGraphile names each text; past 250 on a connection (half of withTenant's cap of 500) the rest run unnamed");
  await withTenant(pool, { clinicId: clinics.a, userId: randomUUID(), role: 'clinic_admin' }, (db) =>
    db.selectFrom('appPublic.departments').select('code').execute(),
  );
  const pooled = await pool.connect();
  try {
    const { rows } = await pooled.query(`select count(*)::int as n from pg_prepared_statements where name like 'cb\\_%'`);
    t.equal(rows[0].n, 1, "withTenant's statement is still prepared: GraphQL's documents did not take its places");
  } finally {
    pooled.release();
  }

  const { app, token } = await clinicApp(t, db, db.authenticatorUrl, { poolSize: 1, transactions: { preparedStatements: false } }, clinics);
  t.same((await graphql(app, token, createDepartment('U1'))).data, { createDepartment: { department: { code: 'U1' } } });
  t.same((await graphql(app, token, DEPARTMENTS)).data, { departments: { nodes: [{ code: 'U1' }] } });
  const client = await app.pool.connect();
  try {
    t.equal((await client.query('select count(*)::int as n from pg_prepared_statements')).rows[0].n, 0, 'nothing prepared on the connection');
  } finally {
    client.release();
  }
});
