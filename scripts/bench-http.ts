// `npm run bench:http`: what the request path costs over HTTP. Starts the real server (src/server.ts,
// NODE_ENV=production, the default LOG_LEVEL info as production runs it, logs to /dev/null) on a
// throwaway embedded cluster, logs in through the API, then drives it with autocannon from this
// process, the targets interleaved round after round so machine noise hits them alike:
//
//   api    GET /api/v1/clinics/{slug}/departments/{id} with the member's access token: the guard,
//          withTenant under RLS, zod serialisation, logging, every hook the app has
//   bare   the same read on a bare Fastify route in the same server process (scripts/bench-http-bare.ts,
//          preloaded; never part of the app): one explicit-WHERE statement on a plain pg pool of
//          the same size, as a role exempt from RLS
//   live   GET /health/live (no database), and ready: GET /health/ready (select 1), for reference
//   half   api again at half the rate it reached in the same round, requests sent evenly spaced
//          (open loop: each latency counts from when its request was due): p50 and p99; and bare
//          at that same rate, for what the machine itself adds to the latencies
//
// Besides requests per second, the server's CPU time per request (user + system, from /proc) of api
// and bare: steadier than throughput on a machine that others load, and the figure to judge a
// change of the request path by.
//
// Why not autocannon's own pacing for `half`: its overallRate gives each connection a budget per
// second, sent back to back from the start of each second, so at "half the rate" the server is
// saturated half of every second and the latencies are those of saturation. BENCH_PACER=autocannon
// measures `half` that way instead, to see it.
//
// Options: BENCH_SECONDS (per target and round, default 5), BENCH_ROUNDS (4), BENCH_CONNECTIONS (16),
// BENCH_LOG_LEVEL (the server's LOG_LEVEL, default info).
// BENCH_AGAINST=<another checkout of this repository, its dependencies installed>: a second server
// runs that checkout's src/server.ts on the same database and key, and its api route is one more
// target, interleaved like the others (before/after a change, measured in one run).
// BENCH_PROFILE=1 (or =bare): only the api target (or the bare one) is driven, with V8's CPU
// profiler on in the server for the timed rounds (switched through the bare port); the profile is
// written to a file and summarised by self time (scripts/cpu-profile-summary.ts).
// Not a test: a report (Markdown on stdout, progress on stderr).
import type autocannon from 'autocannon';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { hashPassword } from '../src/auth/passwords.ts';
import { generateSigningKey } from '../src/auth/keys.ts';
import { formatDataKey, generateDataKey } from '../src/crypto/data-keys.ts';
import { startThrowawayCluster } from '../src/db/embedded.ts';
import { setupDatabase, withDatabase } from '../src/db/setup.ts';
import {
  againstColumns,
  type Column,
  drive as driveWith,
  inTurn,
  type Load,
  log,
  logIn,
  median,
  PASSWORD,
  paced as pacedEvenly,
  POOL_SIZE,
  profile,
  ROOT,
  saturate as saturateWith,
  type Server,
  startServer as startBenchServer,
  type Target,
} from './http-load.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'info';
const PROFILE = ({ '1': 'api', api: 'api', bare: 'bare' } as const)[process.env.BENCH_PROFILE ?? ''];
const AUTOCANNON_PACING = process.env.BENCH_PACER === 'autocannon';
const AGAINST = process.env.BENCH_AGAINST ? path.resolve(process.env.BENCH_AGAINST) : undefined;
const CLINICS = 50;
const DEPARTMENTS_PER_CLINIC = 200;
const EXEMPT_ROLE = 'bench_http_rls_exempt';
const MEMBER = { email: 'bench-member@clinicbase.test', password: 'bench http member passphrase', role: 'doctor' };

interface Seeded {
  clinicId: string;
  slug: string;
  departmentIds: string[];
}

type Targets = Record<'api' | 'bare' | 'live' | 'ready', Target> & { against?: Target };

interface Round {
  api: Load;
  bare: Load;
  against: Load | undefined;
  live: number;
  ready: number;
  half: { rate: number; p50: number; p99: number };
  /** bare, paced at the same rate as `half`. */
  bareHalf: { p50: number; p99: number };
}

const loadBefore = os.loadavg();
const cluster = await startThrowawayCluster();
const servers: Server[] = [];
try {
  const url = withDatabase(cluster.adminUrl, 'clinicbase');
  await setupDatabase({ adminUrl: url, rolePassword: PASSWORD });
  const seeded = await seed(url);
  const key = generateSigningKey();
  const server = await startServer(ROOT, url, key);
  servers.push(server);
  const other = AGAINST ? await startServer(AGAINST, url, key) : undefined;
  if (other) servers.push(other);
  const token = await logIn(server.api, MEMBER, seeded.slug);
  const targets = targetsFor(server, other, seeded, token);
  await checkAnswers(targets);
  if (PROFILE) await profile(targets[PROFILE], { seconds: SECONDS, connections: CONNECTIONS }, ROUNDS, LOG_LEVEL);
  else report(await measure(targets), loadBefore, os.loadavg());
} finally {
  for (const server of servers) await server.stop();
  await cluster.stop();
}

async function seed(url: string): Promise<Seeded> {
  log(`seeding ${CLINICS} clinics × ${DEPARTMENTS_PER_CLINIC} departments and one member of clinic-1`);
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await admin.query(`
      create role ${EXEMPT_ROLE} login bypassrls password '${PASSWORD}';
      grant connect on database clinicbase to ${EXEMPT_ROLE};
      grant usage on schema app_public to ${EXEMPT_ROLE};
      grant select on app_public.departments to ${EXEMPT_ROLE};
      insert into app_public.clinics (slug, name) select 'clinic-' || g, 'Clinic ' || g from generate_series(1, ${CLINICS}) g;
      insert into app_public.clinic_settings (clinic_id) select id from app_public.clinics;
      insert into app_public.departments (clinic_id, code, name)
        select c.id, 'D' || g, 'Department ' || g from app_public.clinics c, generate_series(1, ${DEPARTMENTS_PER_CLINIC}) g;`);
    const clinic = (await admin.query<{ id: string; slug: string }>(`select id, slug from app_public.clinics where slug = 'clinic-1'`)).rows[0]!;
    const account = await admin.query<{ id: string }>('insert into app_private.accounts (email, password_hash) values ($1, $2) returning id', [
      MEMBER.email,
      await hashPassword(MEMBER.password),
    ]);
    await admin.query('insert into app_public.clinic_members (clinic_id, account_id, role, display_name) values ($1, $2, $3, $4)', [
      clinic.id,
      account.rows[0]!.id,
      MEMBER.role,
      'Bench Member',
    ]);
    await admin.query('analyze');
    const departments = await admin.query<{ id: string }>('select id from app_public.departments where clinic_id = $1 order by code', [clinic.id]);
    return { clinicId: clinic.id, slug: clinic.slug, departmentIds: departments.rows.map((r) => r.id) };
  } finally {
    await admin.end();
  }
}

/** The server of a checkout (this one, or BENCH_AGAINST's) on the bench database, with the bare route. */
function startServer(root: string, databaseUrl: string, key: { privateKeyPem: string; keyId: string }): Promise<Server> {
  return startBenchServer({ root, databaseUrl, key, dataKey: formatDataKey(generateDataKey()), logLevel: LOG_LEVEL, exemptRole: EXEMPT_ROLE });
}

function targetsFor(server: Server, other: Server | undefined, seeded: Seeded, token: string): Targets {
  const authorization = `Bearer ${token}`;
  const apiOn = (name: string, on: Server): Target => ({
    name,
    server: on,
    origin: on.api,
    requests: seeded.departmentIds.map((id) => ({ method: 'GET', path: `/api/v1/clinics/${seeded.slug}/departments/${id}`, headers: { authorization } })),
  });
  return {
    api: apiOn('api', server),
    bare: {
      name: 'bare',
      server,
      origin: server.bare,
      requests: seeded.departmentIds.map((id) => ({ method: 'GET', path: `/bare/clinics/${seeded.clinicId}/departments/${id}` })),
    },
    live: { name: 'live', server, origin: server.api, requests: [{ method: 'GET', path: '/health/live' }] },
    ready: { name: 'ready', server, origin: server.api, requests: [{ method: 'GET', path: '/health/ready' }] },
    ...(other ? { against: apiOn('against', other) } : {}),
  };
}

/** Before timing anything: every api route and the bare one return the same department, the health checks 200. */
async function checkAnswers(targets: Targets): Promise<void> {
  const answer = async (target: Target, i = 0) => {
    const request = target.requests[i]!;
    const response = await fetch(target.origin + request.path, { headers: request.headers ?? {} });
    if (response.status !== 200) throw new Error(`${target.name} answered ${response.status}: ${await response.text()}`);
    return JSON.stringify(await response.json());
  };
  for (const i of [0, targets.api.requests.length - 1]) {
    const expected = await answer(targets.bare, i);
    for (const target of [targets.api, targets.against]) {
      const got = target && (await answer(target, i));
      if (got !== undefined && got !== expected) throw new Error(`${target!.name} and the bare route answer differently:\n${got}\n${expected}`);
    }
  }
  await answer(targets.live);
  await answer(targets.ready);
}

function drive(target: Target, seconds: number, rate?: number): Promise<autocannon.Result> {
  return driveWith(target, { seconds, connections: CONNECTIONS }, rate);
}

function saturate(target: Target): Promise<Load> {
  return saturateWith(target, { seconds: SECONDS, connections: CONNECTIONS });
}

/** api and against back to back, taking turns at going first; api alone without BENCH_AGAINST. */
async function apiInTurn(round: number, api: Target, against: Target | undefined): Promise<[Load, Load | undefined]> {
  return against ? inTurn(round, api, against, { seconds: SECONDS, connections: CONNECTIONS }) : [await saturate(api), undefined];
}

/** Latencies at `rate`, paced evenly (or by autocannon's overallRate with BENCH_PACER=autocannon). */
async function paced(target: Target, seconds: number, rate: number): Promise<{ p50: number; p99: number }> {
  if (!AUTOCANNON_PACING) return pacedEvenly(target, { seconds, connections: CONNECTIONS }, rate);
  const { latency } = await drive(target, seconds, rate);
  return { p50: latency.p50, p99: latency.p99 };
}

async function measure(targets: Targets): Promise<Round[]> {
  log(`warming up; then ${ROUNDS} rounds × ${SECONDS}s per target, ${CONNECTIONS} connections, pool ${POOL_SIZE}`);
  for (const target of Object.values(targets)) await drive(target, 1);
  const rounds: Round[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    // api and against back to back, taking turns at going first (the second of two runs of the
    // same code measured up to a tenth slower here).
    const [api, against] = await apiInTurn(round, targets.api, targets.against);
    const bare = await saturate(targets.bare);
    const live = (await drive(targets.live, SECONDS)).requests.average;
    const ready = (await drive(targets.ready, SECONDS)).requests.average;
    const rate = Math.max(1, Math.round(api.rate / 2));
    const half = { rate, ...(await paced(targets.api, SECONDS, rate)) };
    const bareHalf = await paced(targets.bare, SECONDS, rate);
    rounds.push({ api, bare, against, live, ready, half, bareHalf });
    const load = (l: Load) => `${Math.round(l.rate)}/s (${Math.round(l.cpuMicros)} µs CPU each)`;
    log(
      `round ${round}: api ${load(api)}, bare ${load(bare)}, ratio ${(api.rate / bare.rate).toFixed(2)}${against ? `, against ${load(against)}` : ''}, ` +
        `live ${Math.round(live)}/s, ready ${Math.round(ready)}/s, at ${rate}/s: api p50 ${half.p50} ms, p99 ${half.p99} ms, bare p50 ${bareHalf.p50} ms, p99 ${bareHalf.p99} ms`,
    );
  }
  return rounds;
}

function report(rounds: Round[], loadBefore: number[], loadAfter: number[]): void {
  const n = (value: number) => Math.round(value).toLocaleString('en');
  const withAgainst = rounds[0]!.against !== undefined;
  const columns: Column<Round>[] = [
    ['api req/s', (r) => r.api.rate, n],
    ['bare req/s', (r) => r.bare.rate, n],
    ['api / bare', (r) => r.api.rate / r.bare.rate, (v) => v.toFixed(2)],
    ['api CPU µs/req', (r) => r.api.cpuMicros, n],
    ['bare CPU µs/req', (r) => r.bare.cpuMicros, n],
    ['bare / api CPU', (r) => r.bare.cpuMicros / r.api.cpuMicros, (v) => v.toFixed(2)],
    ...(withAgainst
      ? againstColumns<Round>(
          'api',
          (r) => r.api,
          (r) => r.against!,
        )
      : []),
    ['/health/live req/s', (r) => r.live, n],
    ['/health/ready req/s', (r) => r.ready, n],
    ['half rate (req/s)', (r) => r.half.rate, n],
    ['api p50 at half (ms)', (r) => r.half.p50, (v) => v.toFixed(1)],
    ['api p99 at half (ms)', (r) => r.half.p99, (v) => v.toFixed(1)],
    ['bare p50 at that rate (ms)', (r) => r.bareHalf.p50, (v) => v.toFixed(1)],
    ['bare p99 at that rate (ms)', (r) => r.bareHalf.p99, (v) => v.toFixed(1)],
  ];
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  const load = (l: number[]) => l.map((v) => v.toFixed(2)).join(', ');
  console.log(`
${line(['round', ...columns.map(([title]) => title)])}
${line(['---', ...columns.map(() => '---')])}
${rounds.map((r, i) => line([String(i + 1), ...columns.map(([, value, format]) => format(value(r)))])).join('\n')}
${line(['**median**', ...columns.map(([, value, format]) => format(median(rounds.map(value))))])}

Targets: api / bare ≥ 0.5, p99 at half load ≤ 10 ms. The median row is the median of each column (ratios: of the per-round ratios).
CPU µs/req: the server process's user + system time over the saturated run, divided by the requests answered (Postgres not included).
Half load: ${AUTOCANNON_PACING ? "autocannon's overallRate (each connection's budget per second sent back to back)" : 'requests sent evenly spaced (open loop), latency from when each was due'}; bare is paced at the api's half rate too.${withAgainst ? `\nagainst: the api route of ${AGAINST}, in its own server process, same database and key.` : ''}
${ROUNDS} interleaved rounds of ${SECONDS}s per target, ${CONNECTIONS} connections (autocannon), pool ${POOL_SIZE}, LOG_LEVEL=${LOG_LEVEL}, NODE_ENV=production, Node ${process.versions.node}, embedded Postgres 18, ${os.cpus().length} CPUs.
Load average (1, 5, 15 min) before: ${load(loadBefore)}; after: ${load(loadAfter)}.`);
}
