// `npm run bench:tenancy`: what tenant isolation costs on a primary-key read, measured in one
// run with the variants interleaved (so machine noise hits them alike). Not a test: a report.
//
//   rls         withTenant(): pipelined [context + query] in one message; RLS filters
//   unprepared  the same, with prepared statements off (DATABASE_PREPARED_STATEMENTS=false: every
//               statement parsed unnamed in its message, as behind PgBouncer < 1.21 in transaction mode)
//   where       same transaction shape, but a role exempt from RLS and an explicit clinic filter
//   single      one statement with an explicit WHERE clinic_id = $1, role exempt from RLS (Kysely)
//   raw         the same single statement on the bare pg driver
//   prepared    the same single statement, prepared once per connection (bare pg driver)
//
// Options: BENCH_SECONDS (per round, default 2), BENCH_ROUNDS (default 5), BENCH_CONCURRENCY (16).
import { randomUUID } from 'node:crypto';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { roleUrl } from '../src/config.ts';
import { startThrowawayCluster } from '../src/db/embedded.ts';
import { camelCase } from '../src/db/context-connection.ts';
import { createPool } from '../src/db/pool.ts';
import { setupDatabase, withDatabase } from '../src/db/setup.ts';
import { withContext, withTenant, type DbRole, type TenantContext, type TenantDb } from '../src/db/tenant.ts';
import type { DB } from '../src/db/types.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const POOL_SIZE = 8;
const CLINICS = 50;
const DEPARTMENTS_PER_CLINIC = 200;
const PASSWORD = 'clinicbase-bench-only';
/** Bench-only role: same grants as app_user on departments, but exempt from RLS. */
const EXEMPT_ROLE = 'bench_rls_exempt';
const USER_ID = randomUUID();

const log = (message: string) => console.error(`# ${message}`);
const cluster = await startThrowawayCluster();
try {
  const url = withDatabase(cluster.adminUrl, 'clinicbase');
  await setupDatabase({ adminUrl: url, rolePassword: PASSWORD });
  const targets = await seed(url);
  const results = await measure(url, targets);
  report(results);
} finally {
  await cluster.stop();
}

interface Target {
  clinicId: string;
  id: string;
}

async function seed(url: string): Promise<Target[]> {
  log(`seeding ${CLINICS} clinics × ${DEPARTMENTS_PER_CLINIC} departments`);
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`
    do $$ begin
      if not exists (select 1 from pg_roles where rolname = '${EXEMPT_ROLE}') then
        create role ${EXEMPT_ROLE} login bypassrls password '${PASSWORD}';
      end if;
    end $$;
    grant connect on database clinicbase to ${EXEMPT_ROLE};
    grant usage on schema app_public to ${EXEMPT_ROLE};
    grant select on app_public.departments to ${EXEMPT_ROLE};
    grant ${EXEMPT_ROLE} to app_authenticator;
    insert into app_public.clinics (slug, name) select 'clinic-' || g, 'Clinic ' || g from generate_series(1, ${CLINICS}) g;
    insert into app_public.departments (clinic_id, code, name)
      select c.id, 'D' || g, 'Department ' || g from app_public.clinics c, generate_series(1, ${DEPARTMENTS_PER_CLINIC}) g;
    analyze;`);
  const { rows } = await admin.query<{ clinic_id: string; id: string }>('select clinic_id, id from app_public.departments');
  await admin.end();
  return rows.map((r) => ({ clinicId: r.clinic_id, id: r.id }));
}

type Variant = (target: Target) => Promise<unknown>;

function readDepartment(db: TenantDb, t: Target) {
  return db.selectFrom('appPublic.departments').selectAll().where('id', '=', t.id).executeTakeFirst();
}

async function measure(url: string, targets: Target[]): Promise<Record<string, number[]>> {
  const authenticator = createPool({ url: roleUrl(url, 'app_authenticator', PASSWORD), size: POOL_SIZE });
  // The single-statement baselines log in as the exempt role itself: no policies, one round trip.
  const exemptPool = new pg.Pool({ connectionString: roleUrl(url, EXEMPT_ROLE, PASSWORD), max: POOL_SIZE, idleTimeoutMillis: 0 });
  exemptPool.on('error', () => {}); // connections still closing when the cluster stops
  const exemptDb = new Kysely<DB>({ dialect: new PostgresDialect({ pool: exemptPool }), plugins: [camelCase] });
  const ctx = (t: Target): TenantContext => ({ clinicId: t.clinicId, userId: USER_ID, role: 'doctor', requestId: 'bench' });

  const variants: Record<string, Variant> = {
    rls: (t) => withTenant(authenticator, ctx(t), (db) => readDepartment(db, t)),
    unprepared: (t) => withTenant(authenticator, ctx(t), (db) => readDepartment(db, t), { preparedStatements: false }),
    where: (t) =>
      withContext(authenticator, EXEMPT_ROLE as DbRole, ctx(t), (db) =>
        db.selectFrom('appPublic.departments').selectAll().where('clinicId', '=', t.clinicId).where('id', '=', t.id).executeTakeFirst(),
      ),
    single: (t) => exemptDb.selectFrom('appPublic.departments').selectAll().where('clinicId', '=', t.clinicId).where('id', '=', t.id).executeTakeFirst(),
    raw: (t) => exemptPool.query('select * from app_public.departments where clinic_id = $1 and id = $2', [t.clinicId, t.id]),
    prepared: (t) =>
      exemptPool.query({ name: 'bench_read', text: 'select * from app_public.departments where clinic_id = $1 and id = $2', values: [t.clinicId, t.id] }),
  };

  // Correctness first: every variant returns the row.
  for (const [name, run] of Object.entries(variants)) {
    const row = await run(targets[0]!);
    const found = row && ('rows' in (row as object) ? (row as pg.QueryResult).rows[0] : row);
    if (!found) throw new Error(`variant ${name} did not return the row`);
  }
  log(`warming up; then ${ROUNDS} rounds × ${SECONDS}s per variant, ${CONCURRENCY} concurrent callers, pool ${POOL_SIZE}`);
  for (const run of Object.values(variants)) await throughput(run, targets, 0.5);

  const results: Record<string, number[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [name, run] of Object.entries(variants)) {
      results[name]!.push(await throughput(run, targets, SECONDS));
    }
    log(
      `round ${round}: ${Object.entries(results)
        .map(([k, v]) => `${k}=${Math.round(v.at(-1)!)}/s`)
        .join(' ')}`,
    );
  }
  await exemptDb.destroy();
  await authenticator.end();
  return results;
}

async function throughput(run: Variant, targets: Target[], seconds: number): Promise<number> {
  const deadline = performance.now() + seconds * 1000;
  let done = 0;
  const worker = async () => {
    while (performance.now() < deadline) {
      await run(targets[Math.floor(Math.random() * targets.length)]!);
      done++;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return done / ((performance.now() - started) / 1000);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function report(results: Record<string, number[]>): void {
  const m = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v)])) as Record<string, number>;
  // Ratios per round (the variants of one round ran back to back, under the same machine load),
  // then the median and the range over rounds.
  const ratio = (a: string, b: string) => {
    const perRound = results[a]!.map((value, i) => value / results[b]![i]!);
    return `${median(perRound).toFixed(2)} (${Math.min(...perRound).toFixed(2)}–${Math.max(...perRound).toFixed(2)})`;
  };
  console.log(`
| variant | reads/s (median of ${ROUNDS}) | round trips per read |
|---|---|---|
| rls: withTenant, RLS policy | ${Math.round(m.rls!)} | 1 ([context + query] in one message, implicit read-only transaction) |
| unprepared: the same, prepared statements off | ${Math.round(m.unprepared!)} | 1 (the same message, each statement parsed unnamed) |
| where: same path, explicit WHERE, role exempt from RLS | ${Math.round(m.where!)} | 1 |
| single: one statement, explicit WHERE, no RLS (Kysely) | ${Math.round(m.single!)} | 1 |
| raw: one statement on the bare pg driver | ${Math.round(m.raw!)} | 1 |
| prepared: one prepared statement on the bare pg driver | ${Math.round(m.prepared!)} | 1 |

| ratio (median of per-round ratios, range) | value | target |
|---|---|---|
| rls / single (withTenant vs explicit-WHERE statement) | ${ratio('rls', 'single')} | ≥ 0.80 |
| rls / where (RLS itself, same round trips) | ${ratio('rls', 'where')} | ≥ 0.95 |
| single / raw (Kysely overhead) | ${ratio('single', 'raw')} | |
| rls / raw | ${ratio('rls', 'raw')} | |
| rls / prepared (against the best single statement) | ${ratio('rls', 'prepared')} | |
| unprepared / rls (what turning prepared statements off costs) | ${ratio('unprepared', 'rls')} | |
| unprepared / single (unprepared withTenant vs explicit-WHERE statement) | ${ratio('unprepared', 'single')} | |

Postgres: embedded 18, pool ${POOL_SIZE}, ${CONCURRENCY} concurrent callers, ${ROUNDS} interleaved rounds of ${SECONDS}s.`);
}
