// withTenant's transaction shapes: reads before any write run as read-only implicit
// transactions, the first write opens the transaction every later statement joins; a write
// hidden behind a SELECT is still transactional; prepared statements survive migrations; one
// table of settings feeds the context statement and the settings map; isolation levels; locks
// stay with the transaction that took them; round trips per shape.
import { randomUUID } from 'node:crypto';
import { CompiledQuery, sql } from 'kysely';
import pg from 'pg';
import t from 'tap';
import { createPool } from '../../src/db/pool.ts';
import { contextSettings, withTenant, type TenantContext, type TenantDb, type TransactionOptions } from '../../src/db/tenant.ts';
import { fromDatabaseError } from '../../src/errors.ts';
import { createClinics, createTestDatabase, sqlstateOf } from '../helpers/db.ts';
import { countRoundTrips } from '../helpers/round-trips.ts';

t.test('transaction shapes', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const admin: TenantContext = { clinicId: clinics.a, userId: randomUUID(), role: 'clinic_admin' };
  const count = async () => (await db.admin.query('select count(*)::int as n from app_public.departments')).rows[0].n as number;

  const shapes = await withTenant(db.pool, admin, async (trx) => {
    const readOnly = () => trx.selectNoFrom(sql<string>`current_setting('transaction_read_only')`.as('ro')).executeTakeFirstOrThrow();
    const before = await readOnly();
    await trx.insertInto('appPublic.departments').values({ code: 'W1', name: 'Written' }).execute();
    const after = await readOnly();
    return { before: before.ro, after: after.ro };
  });
  t.same(shapes, { before: 'on', after: 'off' }, 'reads before the first write are read-only; the write opens a read-write transaction');

  await t.rejects(
    withTenant(db.pool, admin, async (trx) => {
      await trx.selectFrom('appPublic.departments').selectAll().execute();
      await trx.insertInto('appPublic.departments').values({ code: 'W2', name: 'Rolled back' }).execute();
      await trx.insertInto('appPublic.departments').values({ code: 'W3', name: 'Rolled back too' }).execute();
      throw new Error('handler failed after writing');
    }),
    /handler failed/,
  );
  t.equal(await count(), 1, 'a read, two writes, then a throw: both writes rolled back');

  await db.admin.query(`
    create function app_public.write_behind_select() returns int language sql volatile
      as $$ insert into app_public.departments (code, name) values ('HIDDEN', 'Hidden write') returning 1 $$;
    grant execute on function app_public.write_behind_select() to app_user`);
  await t.rejects(
    withTenant(db.pool, admin, async (trx) => {
      await trx.selectNoFrom(sql<number>`app_public.write_behind_select()`.as('n')).execute();
      throw new Error('handler failed after a select that wrote');
    }),
    /select that wrote/,
  );
  t.equal(await count(), 1, 'a write inside a SELECT is refused read-only, re-run in the transaction and rolled back');
  const kept = await withTenant(db.pool, admin, (trx) => trx.selectNoFrom(sql<number>`app_public.write_behind_select()`.as('n')).executeTakeFirst());
  t.same(kept, { n: 1 });
  t.equal(await count(), 2, 'and committed when the handler succeeds');
});

t.test('prepared statements survive a migration that changes a table', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const pool = createPool({ url: db.authenticatorUrl, size: 1 });
  t.teardown(() => pool.end());
  const ctx: TenantContext = { clinicId: clinics.a, userId: null, role: 'doctor' };
  const readAll = () => withTenant(pool, ctx, (trx) => trx.selectFrom('appPublic.departments').selectAll().execute());
  await readAll();
  await readAll();
  await db.admin.query('alter table app_public.departments add column floor int');
  t.same(await readAll(), [], 'the first read after the change is re-sent and works');
  t.same(await readAll(), [], 'and so does the next, on a fresh connection');
  const writeAfterMigration = withTenant(pool, { ...ctx, role: 'clinic_admin' }, async (trx) => {
    await trx.insertInto('appPublic.departments').values({ code: 'X', name: 'X' }).execute();
    return trx.selectFrom('appPublic.departments').selectAll().execute();
  });
  t.equal((await writeAfterMigration).length, 1, 'statements inside a transaction are prepared afresh on the new connection');
});

t.test('a read-only context (support access) cannot write, whatever the code does', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const support: TenantContext = { clinicId: clinics.a, userId: randomUUID(), role: 'clinic_admin', readOnly: true };
  const seen = await withTenant(db.pool, support, (trx) => trx.selectFrom('appPublic.departments').select('id').execute());
  t.same(seen, [], 'it reads');
  await t.rejects(
    withTenant(db.pool, support, (trx) => trx.insertInto('appPublic.departments').values({ code: 'RO', name: 'Refused' }).execute()),
    { code: '25006' },
    'a write as the first statement is refused by Postgres',
  );
  await t.rejects(
    withTenant(db.pool, support, async (trx) => {
      await sql`select app_public.current_clinic_id()`.execute(trx);
      await trx.updateTable('appPublic.departments').set({ name: 'x' }).execute();
    }),
    { code: '25006' },
    'so is one after raw SQL opened the transaction',
  );
  await t.rejects(
    withTenant(db.pool, support, (trx) => sql`set transaction read write`.execute(trx)),
    { code: '25001' },
    'and the mode cannot be switched back inside the transaction',
  );
  await t.rejects(
    withTenant(db.pool, support, (trx) => trx.selectFrom('appPublic.departments').select('id').forUpdate().execute()),
    { code: '25006' },
    'nor can it lock rows (SELECT … FOR UPDATE)',
  );
  const { rows } = await db.admin.query('select count(*)::int as n from app_public.departments');
  t.equal(rows[0].n, 0, 'nothing was written');
});

t.test('prepared statements off: every message stands alone, nothing named stays on the server connection', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const pool = createPool({ url: db.authenticatorUrl, size: 1 });
  t.teardown(() => pool.end());
  const admin: TenantContext = { clinicId: clinics.a, userId: randomUUID(), role: 'clinic_admin' };
  const work = async (trx: TenantDb) => {
    const before = await trx.selectFrom('appPublic.departments').select('code').execute();
    await trx
      .insertInto('appPublic.departments')
      .values({ code: `P${before.length}`, name: `Department ${before.length}` })
      .execute();
    return trx.selectFrom('appPublic.departments').select('code').orderBy('code').execute();
  };
  const named = async () => (await pool.query('select name from pg_prepared_statements order by name')).rows.map((r) => r.name as string);

  t.same(await withTenant(pool, admin, work, { preparedStatements: false }), [{ code: 'P0' }], 'reads and writes work unprepared');
  t.same(await named(), [], 'no named statement on the connection: a transaction-mode pooler may hand it to anyone');
  t.same(await withTenant(pool, admin, work), [{ code: 'P0' }, { code: 'P1' }], 'and prepared, the default');
  const prepared = await named();
  t.same(
    prepared.filter((name) => !name.startsWith('cb_')),
    ['clinicbase_begin', 'clinicbase_context'],
    'which prepares the context statements',
  );
  t.equal(prepared.filter((name) => name.startsWith('cb_')).length, 3, 'and each Kysely statement on the connection');
});

/** Each setting as Postgres shows it inside the transaction. */
const SHOW_SETTINGS = 'select n as name, current_setting(n) as value from unnest($1::text[]) as n';

t.test('one table of settings: the context statement sets what the plain settings map says', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const userId = randomUUID();
  const ctx: TenantContext = { clinicId: clinics.a, userId, role: 'doctor', requestId: 'req-7', clientIp: '192.0.2.7' };
  const timeouts = { statementTimeoutMs: 1500, lockTimeoutMs: 250, idleInTransactionTimeoutMs: 60_000 };

  const map = contextSettings(ctx, 'app_user', timeouts);
  t.same(
    map,
    {
      'app.clinic_id': clinics.a,
      'app.user_id': userId,
      'app.role': 'doctor',
      'app.request_id': 'req-7',
      role: 'app_user',
      transaction_read_only: 'off',
      'app.client_ip': '192.0.2.7',
      statement_timeout: '1500',
      lock_timeout: '250',
      idle_in_transaction_session_timeout: '60000',
    },
    'the settings map (PostGraphile pgSettings, the worker)',
  );

  const asPostgresShowsThem = {
    'app.clinic_id': clinics.a,
    'app.user_id': userId,
    'app.role': 'doctor',
    'app.request_id': 'req-7',
    role: 'app_user',
    transaction_read_only: 'off',
    'app.client_ip': '192.0.2.7',
    statement_timeout: '1500ms',
    lock_timeout: '250ms',
    idle_in_transaction_session_timeout: '1min',
  };
  const names = Object.keys(asPostgresShowsThem);
  const shown = (rows: { name: string; value: string }[]) => Object.fromEntries(rows.map((r) => [r.name, r.value]));
  const inWithTenant = await withTenant(
    db.pool,
    ctx,
    (trx) => trx.executeQuery<{ name: string; value: string }>(CompiledQuery.raw(SHOW_SETTINGS, [names])),
    timeouts,
  );
  t.same(shown(inWithTenant.rows), asPostgresShowsThem, 'withTenant’s context statement sets them');

  // PostGraphile applies pgSettings like this: set_config(key, value, true) for each entry, in a transaction.
  const client = new pg.Client({ connectionString: db.authenticatorUrl });
  await client.connect();
  t.teardown(() => client.end());
  await client.query('begin');
  await client.query('select set_config(el->>0, el->>1, true) from json_array_elements($1::json) as el', [JSON.stringify(Object.entries(map))]);
  const applied = await client.query(SHOW_SETTINGS, [names]);
  const visible = await client.query('select slug from app_public.clinics');
  await client.query('rollback');
  t.same(shown(applied.rows), asPostgresShowsThem, 'the map applied as pgSettings gives the same transaction');
  t.same(visible.rows, [{ slug: 'clinic-a' }], 'and RLS sees that clinic only');

  t.equal(contextSettings({ ...ctx, readOnly: true }, 'app_user').transaction_read_only, 'on', 'a read-only context stays read-only in the map');
  t.throws(() => contextSettings({ ...ctx, clinicId: "x' or true --" }, 'app_user'), /invalid tenant context: clinicId/, 'the map validates the context too');
  t.throws(() => contextSettings(ctx, 'app_user', { lockTimeoutMs: 0 }), /invalid transaction settings: lockTimeoutMs/, 'and the timeouts');
});

t.test('an isolation level makes the whole handler one explicit transaction at that level', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const admin: TenantContext = { clinicId: clinics.a, userId: randomUUID(), role: 'clinic_admin' };
  const shape = (trx: TenantDb) =>
    trx
      .selectNoFrom([sql<string>`current_setting('transaction_isolation')`.as('level'), sql<string>`current_setting('transaction_read_only')`.as('ro')])
      .executeTakeFirstOrThrow();
  t.same(await withTenant(db.pool, admin, shape), { level: 'read committed', ro: 'on' }, 'default: a first read runs alone, read-only');
  t.same(await withTenant(db.pool, admin, shape, { isolationLevel: 'read committed' }), { level: 'read committed', ro: 'on' }, 'read committed is the default');
  t.same(
    await withTenant(db.pool, admin, shape, { isolationLevel: 'repeatable read' }),
    { level: 'repeatable read', ro: 'off' },
    'repeatable read: the first read already runs in the explicit transaction',
  );
  t.same(await withTenant(db.pool, admin, shape, { isolationLevel: 'serializable' }), { level: 'serializable', ro: 'off' }, 'serializable likewise');
  t.same(
    await withTenant(db.pool, { ...admin, readOnly: true }, shape, { isolationLevel: 'serializable' }),
    { level: 'serializable', ro: 'on' },
    'a read-only context stays read-only',
  );

  let added = 0;
  const countTwice = (options: { isolationLevel?: 'repeatable read' }) =>
    withTenant(
      db.pool,
      admin,
      async (trx) => {
        const count = async () =>
          Number(
            (
              await trx
                .selectFrom('appPublic.departments')
                .select((eb) => eb.fn.countAll().as('n'))
                .executeTakeFirstOrThrow()
            ).n,
          );
        const before = await count();
        added++;
        await db.admin.query(`insert into app_public.departments (clinic_id, code, name) values ($1, $2, $2)`, [clinics.a, `M${added}`]);
        return [before, await count()];
      },
      options,
    );
  t.same(await countTwice({}), [0, 1], 'read committed: each read sees what committed before it');
  t.same(await countTwice({ isolationLevel: 'repeatable read' }), [1, 1], 'repeatable read: every read sees the first one’s snapshot');

  await t.rejects(
    withTenant(db.pool, admin, shape, { isolationLevel: 'chaos' as never }),
    /invalid transaction options: isolationLevel/,
    'an unknown level is refused',
  );
});

t.test('serializable: of two transactions that conflict, one fails with 40001, which the API answers 503 retry', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const admin: TenantContext = { clinicId: clinics.a, userId: randomUUID(), role: 'clinic_admin' };
  let arrive!: () => void;
  const bothRead = new Promise<void>((resolve) => {
    let arrived = 0;
    arrive = () => ++arrived === 2 && resolve();
  });
  // Write skew: each adds a department only if it saw none, so at most one may commit.
  const addFirst = (code: string) =>
    withTenant(
      db.pool,
      admin,
      async (trx) => {
        const seen = await trx.selectFrom('appPublic.departments').select('id').execute();
        arrive();
        await bothRead;
        if (seen.length === 0) await trx.insertInto('appPublic.departments').values({ code, name: code }).execute();
      },
      { isolationLevel: 'serializable' },
    );
  const outcomes = await Promise.allSettled([addFirst('FIRST1'), addFirst('FIRST2')]);
  t.same(outcomes.map((o) => o.status).sort(), ['fulfilled', 'rejected'], 'one commits, one fails');
  const failure = outcomes.find((o) => o.status === 'rejected')?.reason;
  t.equal(failure?.code, '40001', 'serialization failure');
  t.match(fromDatabaseError(failure), { status: 503, code: 'SERVICE_UNAVAILABLE', headers: { 'retry-after': '1' } }, 'answered 503 with Retry-After');
  const { rows } = await db.admin.query('select count(*)::int as n from app_public.departments');
  t.same(rows, [{ n: 1 }], 'one department, not two');
});

t.test('a lock taken inside withTenant is held by its transaction until commit', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  await db.admin.query(`insert into app_public.departments (clinic_id, code, name) values ($1, 'L1', 'Locked')`, [clinics.a]);
  const admin: TenantContext = { clinicId: clinics.a, userId: randomUUID(), role: 'clinic_admin' };
  // Probes from another session: can it take the same lock right now?
  const advisory = async () => ((await db.admin.query('select pg_try_advisory_xact_lock(8) as got')).rows[0].got ? 'free' : 'held');
  const row = async () =>
    (await sqlstateOf(db.admin.query(`select 1 from app_public.departments where code = 'L1' for update nowait`))) === '55P03' ? 'held' : 'free';
  const table = async () => {
    const other = await db.admin.connect();
    try {
      await other.query('begin');
      return (await sqlstateOf(other.query('lock table app_public.departments in access exclusive mode nowait'))) === '55P03' ? 'held' : 'free';
    } finally {
      await other.query('rollback');
      other.release();
    }
  };
  // A builder SELECT after the lock runs in the transaction holding it: it sees the lock as its own.
  const ownsAdvisoryLock = (trx: TenantDb) =>
    trx
      .selectNoFrom(sql<boolean>`exists (select from pg_locks where locktype = 'advisory' and objid = 8 and pid = pg_backend_pid() and granted)`.as('owns'))
      .executeTakeFirstOrThrow();
  const ways: Record<string, { take: (trx: TenantDb) => Promise<unknown>; probe: () => Promise<string> }> = {
    'a builder SELECT calling pg_advisory_xact_lock': {
      take: (trx) => trx.selectNoFrom(sql`pg_advisory_xact_lock(8)`.as('locked')).execute(),
      probe: advisory,
    },
    'raw SQL pg_advisory_xact_lock, then a builder SELECT': {
      take: async (trx) => {
        await sql`select pg_advisory_xact_lock(8)`.execute(trx);
        t.same(await ownsAdvisoryLock(trx), { owns: true }, 'the builder SELECT runs in the transaction holding the lock');
      },
      probe: advisory,
    },
    'a builder SELECT … FOR UPDATE': {
      take: (trx) => trx.selectFrom('appPublic.departments').select('id').where('code', '=', 'L1').forUpdate().execute(),
      probe: row,
    },
    'raw SQL lock table, then a builder SELECT': {
      take: async (trx) => {
        await sql`lock table app_public.departments in access share mode`.execute(trx);
        await trx.selectFrom('appPublic.departments').select('id').execute();
      },
      probe: table,
    },
  };
  for (const [way, { take, probe }] of Object.entries(ways)) {
    let locked!: () => void;
    const tookLock = new Promise<void>((resolve) => (locked = resolve));
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const holder = withTenant(db.pool, admin, async (trx) => {
      await take(trx);
      locked();
      await finished;
    });
    await Promise.race([tookLock, holder]);
    t.equal(await probe(), 'held', `${way}: another session cannot take the lock while the handler runs`);
    finish();
    await holder;
    t.equal(await probe(), 'free', `${way}: and can once the transaction committed`);
  }
});

t.test('a single-statement transaction: its own implicit transaction, read-write, atomic, alone', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const admin: TenantContext = { clinicId: clinics.a, userId: randomUUID(), role: 'clinic_admin', requestId: 'req-single-1' };
  const codes = async () => (await db.admin.query('select code from app_public.departments order by code')).rows.map((r) => r.code);

  // A read that writes a record of itself, as the chart access log does: a data-modifying CTE.
  const readAndRecord = (trx: TenantDb, code: string) =>
    trx
      .with('recorded', (q) => q.insertInto('appPublic.departments').values({ code, name: `Recorded by read ${code}` }))
      .selectNoFrom([sql<string>`current_setting('transaction_read_only')`.as('readOnly'), sql<string>`current_setting('app.request_id')`.as('requestId')])
      .executeTakeFirstOrThrow();
  t.same(await withTenant(db.pool, admin, (trx) => readAndRecord(trx, 'S1'), { singleStatement: true }), { readOnly: 'off', requestId: 'req-single-1' });
  t.same(await codes(), ['S1'], 'committed with the statement, in the context');

  await t.rejects(
    withTenant(
      db.pool,
      admin,
      async (trx) => {
        await readAndRecord(trx, 'S2');
        await readAndRecord(trx, 'S3');
      },
      { singleStatement: true },
    ),
    /declared a single statement/,
    'a second statement is refused',
  );
  t.same(await codes(), ['S1', 'S2'], 'the first had committed on its own; the second never reached the database');

  const duplicate = await sqlstateOf(withTenant(db.pool, admin, (trx) => readAndRecord(trx, 'S1'), { singleStatement: true }));
  t.equal(duplicate, '23505', 'a failing statement fails whole');
  t.same(await codes(), ['S1', 'S2'], 'and writes nothing');

  const support: TenantContext = { ...admin, readOnly: true };
  t.equal(
    await sqlstateOf(withTenant(db.pool, support, (trx) => readAndRecord(trx, 'S4'), { singleStatement: true })),
    '25006',
    'a read-only context stays read-only',
  );
  t.same(await codes(), ['S1', 'S2']);

  await t.rejects(
    withTenant(db.pool, admin, (trx) => readAndRecord(trx, 'S5'), { singleStatement: true, isolationLevel: 'serializable' }),
    /singleStatement runs under read committed/,
  );
});

t.test('round trips: one per read, one for the statement that opens the transaction and each after it, one for COMMIT', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  await db.admin.query(`insert into app_public.departments (clinic_id, code, name) values ($1, 'R1', 'Read')`, [clinics.a]);
  const wire = await countRoundTrips(t, db.authenticatorUrl);
  const pool = createPool({ url: wire.url, size: 1 });
  t.teardown(() => pool.end());
  const admin: TenantContext = { clinicId: clinics.a, userId: randomUUID(), role: 'clinic_admin' };
  const read = (trx: TenantDb) => trx.selectFrom('appPublic.departments').select('code').execute();
  let written = 0;
  const write = (trx: TenantDb) =>
    trx
      .insertInto('appPublic.departments')
      .values({ code: `W${++written}`, name: `Written ${written}` })
      .execute();
  await withTenant(pool, admin, (trx) => read(trx).then(() => write(trx))); // connect and prepare first
  wire.take();

  const shapes: [string, (trx: TenantDb) => Promise<unknown>, TransactionOptions, number][] = [
    ['a read', read, {}, 1],
    ['two reads', (trx) => read(trx).then(() => read(trx)), {}, 2],
    ['a write, then COMMIT', write, {}, 2],
    [
      'a read, a write, a read, then COMMIT',
      (trx) =>
        read(trx)
          .then(() => write(trx))
          .then(() => read(trx)),
      {},
      4,
    ],
    ['a SELECT … FOR UPDATE, then COMMIT', (trx) => trx.selectFrom('appPublic.departments').select('code').forUpdate().execute(), {}, 2],
    ['a builder SELECT taking an advisory lock, then COMMIT', (trx) => trx.selectNoFrom(sql`pg_advisory_xact_lock(9)`.as('locked')).execute(), {}, 2],
    ['a read under serializable, then COMMIT', read, { isolationLevel: 'serializable' }, 2],
    ['a read under repeatable read, then COMMIT', read, { isolationLevel: 'repeatable read' }, 2],
    ['a read, prepared statements off', read, { preparedStatements: false }, 1],
    ['a write with prepared statements off, then COMMIT', write, { preparedStatements: false }, 2],
    ['a single statement that writes', write, { singleStatement: true }, 1],
    ['a single statement that writes, prepared statements off', write, { preparedStatements: false, singleStatement: true }, 1],
    ['a single read', read, { singleStatement: true }, 1],
  ];
  for (const [shape, fn, options, expected] of shapes) {
    await withTenant(pool, admin, fn, options);
    t.equal(wire.take(), expected, shape);
  }
});
