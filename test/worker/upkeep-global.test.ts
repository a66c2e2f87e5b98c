// The upkeep of no clinic: expired account secrets and lockouts removed a day after they expired,
// a second on either side of that; a second run and a concurrent one; requests refused; and the
// crontab as graphile-worker reads it.
import { parseCrontab } from 'graphile-worker';
import { sql } from 'kysely';
import t from 'tap';
import { withContext } from '../../src/db/tenant.ts';
import { CRONTAB } from '../../src/worker/crontab.ts';
import { createTestDatabase, sqlstateOf } from '../helpers/db.ts';
import { callAsRequest, callAsWorker, upkeepClinics } from '../helpers/upkeep.ts';
import { workerPool } from '../helpers/worker.ts';

const DAY = 86_400_000;

t.test('expired account secrets and lockouts', async (t) => {
  const db = await createTestDatabase(t);
  const { a } = await upkeepClinics(db);
  const run = await callAsWorker(t, db);
  // Behind the database's clock, which bounds `at`; the horizon is a day before it.
  const at = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
  const horizon = at.getTime() - DAY;
  const around = (offsetMs: number) => new Date(horizon + offsetMs);
  const { rows: accounts } = await db.admin.query<{ id: string }>(
    `insert into app_private.accounts (email, password_hash) select 'upkeep-' || n || '@example.test', '$argon2id$v=19$upkeep' from generate_series(1, 2) n returning id`,
  );
  const [first, second] = accounts.map((r) => r.id) as [string, string];
  let hashes = 0;
  const hash = () => Buffer.alloc(32, ++hashes);

  const secrets = async (table: string) =>
    (await db.admin.query(`select get_byte(token_hash, 0) as n from app_private.${table} order by 1`)).rows.map((r) => r.n);
  for (const offset of [-1000, 1000]) {
    await db.admin.query('insert into app_private.invitations (token_hash, clinic_id, account_id, expires_at) values ($1, $2, $3, $4)', [
      hash(),
      a.id,
      first,
      around(offset),
    ]);
    await db.admin.query('insert into app_private.password_resets (token_hash, account_id, expires_at) values ($1, $2, $3)', [hash(), first, around(offset)]);
  }
  // Family 1: every token expired a second before the horizon. Family 2: its older token (rotated)
  // is long expired, its newest idles out a second after the horizon: kept whole, so the rotated
  // one still betrays a replay. Family 3: its absolute expiry is a second after the horizon.
  const family = async (familyId: string, tokens: [idle: number, absolute: number, rotated: boolean][]) => {
    for (const [idle, absolute, rotated] of tokens) {
      await db.admin.query(
        `insert into app_private.refresh_tokens (token_hash, family_id, account_id, clinic_id, idle_expires_at, absolute_expires_at, rotated_at)
         values ($1, $2, $3, $4, $5, $6, case when $7 then now() end)`,
        [hash(), familyId, first, a.id, around(idle), around(absolute), rotated],
      );
    }
  };
  await family('00000000-0000-4000-8000-000000000001', [
    [-5 * DAY, -1000, true],
    [-1000, -1000, false],
  ]);
  await family('00000000-0000-4000-8000-000000000002', [
    [-5 * DAY, 10 * DAY, true],
    [1000, 10 * DAY, false],
  ]);
  await family('00000000-0000-4000-8000-000000000003', [[10 * DAY, 1000, false]]);
  const families = async () =>
    (await db.admin.query('select family_id, count(*)::int as n from app_private.refresh_tokens group by 1 order by 1')).rows.map(
      (r) => `${r.family_id.slice(-1)}: ${r.n}`,
    );

  // The longest login-failure window is an hour: a window that started over a day and an hour ago
  // and a lock that ended over a day ago are gone; a lock still running or a window inside keeps the row.
  const failure = (key: string, windowStarted: number, lockedUntil: number | null) =>
    db.admin.query(`insert into app_private.login_failures (scope, key, failures, window_started_at, locked_until) values ('email', $1, 5, $2, $3)`, [
      key,
      around(windowStarted - 3600_000),
      lockedUntil === null ? null : around(lockedUntil),
    ]);
  await failure('old', -1000, null);
  await failure('old-locked', -1000, -1000);
  await failure('lock-inside', -1000, 1000);
  await failure('window-inside', 1000, null);
  await db.admin.query('update app_private.accounts set sessions_ended_at = $2 where id = $1', [first, around(-1000)]);
  await db.admin.query('update app_private.accounts set sessions_ended_at = $2 where id = $1', [second, around(1000)]);
  const failures = async () => (await db.admin.query('select key from app_private.login_failures order by key')).rows.map((r) => r.key);
  const endedSessions = async () => (await db.admin.query('select id from app_private.accounts where sessions_ended_at is not null')).rows.map((r) => r.id);

  t.same(
    await run(null, 'app_hidden.expire_account_secrets', at),
    { result: { invitations: 1, passwordResets: 1, refreshTokens: 2, loginFailures: 2, endedSessions: 1 } },
    'what expired a second past the horizon',
  );
  t.same(await secrets('invitations'), [3], 'the invitation a second inside the horizon stays');
  t.same(await secrets('password_resets'), [4], 'the reset a second inside stays');
  t.same(await families(), ['2: 2', '3: 1'], 'refresh tokens: the dead family goes whole, the living one keeps its rotated token');
  t.same(await failures(), ['lock-inside', 'window-inside']);
  t.same(await endedSessions(), [second], 'the blocked-access list keeps the stamp a second inside');
  t.same(
    await run(null, 'app_hidden.expire_account_secrets', at),
    { result: { invitations: 0, passwordResets: 0, refreshTokens: 0, loginFailures: 0, endedSessions: 0 } },
    'a second run removes nothing',
  );
  t.same(
    await run(null, 'app_hidden.expire_account_secrets', new Date(at.getTime() + 30 * DAY)),
    { result: { invitations: 1, passwordResets: 1, refreshTokens: 3, loginFailures: 2, endedSessions: 1 } },
    "an `at` ahead is held to the database's clock, a minute past `at`: the rest, expired by a second",
  );

  t.equal(await sqlstateOf(callAsRequest(db, a, 'app_hidden.expire_account_secrets', at)), '42501', 'a request cannot call it');
});

t.test('two runs at once remove each row once', async (t) => {
  const db = await createTestDatabase(t);
  const { a } = await upkeepClinics(db);
  const pool = await workerPool(t, db);
  await db.admin.query(
    `insert into app_private.invitations (token_hash, clinic_id, account_id, expires_at)
     select sha256(n::text::bytea), $1, (select id from app_private.accounts limit 1), now() - interval '2 days' from generate_series(1, 40) n`,
    [a.id],
  );
  const at = new Date(Date.now() - 60_000);
  const asJob = () =>
    withContext(pool, 'app_user', { clinicId: null, userId: null, role: null, requestId: 'job-3' }, async (first) => {
      const call = async (trx: typeof first) =>
        (await sql<{ result: { invitations: number } }>`select app_hidden.expire_account_secrets(${at}) as result`.execute(trx)).rows[0]!.result.invitations;
      const held = await call(first);
      const meanwhile = await withContext(pool, 'app_user', { clinicId: null, userId: null, role: null, requestId: 'job-4' }, call, { lockTimeoutMs: 1000 });
      return [held, meanwhile];
    });
  t.same(await asJob(), [40, 0], 'the second skips the rows the first holds, without waiting');
  t.same((await db.admin.query('select count(*)::int as n from app_private.invitations')).rows, [{ n: 0 }]);
});

t.test('the crontab', async (t) => {
  const items = parseCrontab(CRONTAB);
  t.same(
    items.map(({ identifier, task, options, payload }) => ({ identifier, task, options, payload })),
    [
      {
        identifier: 'clinics__upkeep_fan_out',
        task: 'clinics__upkeep_fan_out',
        options: { backfillPeriod: 2 * 3600_000, maxAttempts: 5, jobKey: 'clinics__upkeep_fan_out', jobKeyMode: 'replace' },
        payload: null,
      },
      {
        identifier: 'accounts__upkeep',
        task: 'accounts__upkeep',
        options: { backfillPeriod: 2 * 3600_000, maxAttempts: 5, jobKey: 'accounts__upkeep', jobKeyMode: 'replace' },
        payload: null,
      },
    ],
  );
  const at = (min: number, hour: number) => ({ min, hour, date: 1, month: 12, dow: 2 });
  const fires = (item: (typeof items)[number]) => [at(5, 0), at(5, 13), at(35, 0), at(35, 23), at(6, 0)].map((digest) => item.match(digest));
  t.same(fires(items[0]!), [true, true, false, false, false], 'the fan-out at five past every hour');
  t.same(fires(items[1]!), [false, false, true, true, false], 'the accounts at twenty-five to every hour');
});
