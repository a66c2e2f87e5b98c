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
import autocannon from 'autocannon';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';
import { hashPassword } from '../src/auth/passwords.ts';
import { generateSigningKey } from '../src/auth/keys.ts';
import { roleUrl } from '../src/config.ts';
import { formatDataKey, generateDataKey } from '../src/crypto/data-keys.ts';
import { freePort, startThrowawayCluster } from '../src/db/embedded.ts';
import { setupDatabase, withDatabase } from '../src/db/setup.ts';
import { formatSummary, summariseProfile, type CpuProfile } from './cpu-profile-summary.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'info';
const PROFILE = ({ '1': 'api', api: 'api', bare: 'bare' } as const)[process.env.BENCH_PROFILE ?? ''];
const AUTOCANNON_PACING = process.env.BENCH_PACER === 'autocannon';
const AGAINST = process.env.BENCH_AGAINST ? path.resolve(process.env.BENCH_AGAINST) : undefined;
/** DATABASE_POOL_SIZE's default, for the API's pool and the bare route's alike. */
const POOL_SIZE = 8;
const CLINICS = 50;
const DEPARTMENTS_PER_CLINIC = 200;
const PASSWORD = 'clinicbase-bench-only';
const EXEMPT_ROLE = 'bench_http_rls_exempt';
const MEMBER = { email: 'bench-member@clinicbase.test', password: 'bench http member passphrase', role: 'doctor' };
/** The unit of /proc/<pid>/stat's CPU times. */
const CLOCK_TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BARE = pathToFileURL(path.join(ROOT, 'scripts/bench-http-bare.ts')).href;

const log = (message: string) => console.error(`# ${message}`);

interface Seeded {
  clinicId: string;
  slug: string;
  departmentIds: string[];
}

interface Server {
  api: string;
  bare: string;
  /** The server process's CPU time so far (user + system, all threads), in seconds. */
  cpuSeconds(): Promise<number>;
  stop(): Promise<void>;
}

/** One thing to drive: the server it runs on, and the requests it cycles through. */
interface Target {
  name: string;
  server: Server;
  origin: string;
  requests: { method: 'GET'; path: string; headers?: Record<string, string> }[];
}

type Targets = Record<'api' | 'bare' | 'live' | 'ready', Target> & { against?: Target };

/** Requests per second, and the server's CPU microseconds per request. */
interface Load {
  rate: number;
  cpuMicros: number;
}

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
  const token = await logIn(server.api, seeded.slug);
  const targets = targetsFor(server, other, seeded, token);
  await checkAnswers(targets);
  if (PROFILE) await profile(targets[PROFILE]);
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

/**
 * `node --import scripts/bench-http-bare.ts src/server.ts` in `root` with a production
 * environment: the app exactly as `npm start` serves it, plus the bare route in the same process.
 * Only the variables below reach it (none of this shell's). Its log lines go to /dev/null.
 */
async function startServer(root: string, databaseUrl: string, key: { privateKeyPem: string; keyId: string }): Promise<Server> {
  const [port, barePort] = [await freePort(), await freePort()];
  const env = {
    PATH: process.env.PATH ?? '',
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: String(port),
    LOG_LEVEL,
    DATABASE_AUTHENTICATOR_URL: roleUrl(databaseUrl, 'app_authenticator', PASSWORD),
    DATABASE_POOL_SIZE: String(POOL_SIZE),
    JWT_PRIVATE_KEY: key.privateKeyPem,
    JWT_KEY_ID: key.keyId,
    DATA_ENCRYPTION_KEY: formatDataKey(generateDataKey()),
    // Longer than production's 900 s default only so that a long run keeps its one login.
    JWT_ACCESS_TOKEN_TTL_SECONDS: '3600',
    BENCH_BARE_PORT: String(barePort),
    BENCH_BARE_DATABASE_URL: roleUrl(databaseUrl, EXEMPT_ROLE, PASSWORD),
  };
  const child = spawn(process.execPath, ['--import', BARE, 'src/server.ts'], { cwd: root, env, stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const server: Server = {
    api: `http://127.0.0.1:${port}`,
    bare: `http://127.0.0.1:${barePort}`,
    cpuSeconds: () => cpuSecondsOf(child.pid!),
    // SIGTERM: the server closes gracefully (close-with-grace) and exits.
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
  log(`server pid ${child.pid} (${root}): api ${server.api}, bare ${server.bare}, LOG_LEVEL=${LOG_LEVEL}`);
  try {
    await Promise.race([
      untilReady(`${server.api}/health/ready`),
      exited.then(() => Promise.reject(new Error('the server exited while starting (its stderr is above)'))),
    ]);
  } catch (error) {
    await server.stop();
    throw error;
  }
  return server;
}

/** utime + stime of a process (proc(5): the 14th and 15th fields of /proc/<pid>/stat, after the command's closing parenthesis). */
async function cpuSecondsOf(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

async function untilReady(url: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const ok = await fetch(url).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} was not ready within 60 s`);
}

/** A real session: the member logs in to clinic-1 through the API, as a client would. */
async function logIn(api: string, slug: string): Promise<string> {
  const response = await fetch(`${api}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: MEMBER.email, password: MEMBER.password, clinicSlug: slug }),
  });
  if (!response.ok) throw new Error(`login answered ${response.status}: ${await response.text()}`);
  return ((await response.json()) as { accessToken: string }).accessToken;
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

/**
 * Drives `target` for `seconds` with CONNECTIONS keep-alive connections; `rate`: paced at that many
 * requests per second over all connections (autocannon's overallRate) instead of as fast as it answers.
 * Any answer but 2xx, an error or a timeout fails the run: a fast 401 would measure nothing.
 */
async function drive(target: Target, seconds: number, rate?: number): Promise<autocannon.Result> {
  const result = await autocannon({
    url: target.origin,
    connections: CONNECTIONS,
    duration: seconds,
    requests: target.requests,
    ...(rate ? { overallRate: rate } : {}),
  });
  if (result.non2xx || result.errors || result.timeouts) {
    throw new Error(`${target.name}: ${result.non2xx} answers not 2xx, ${result.errors} errors, ${result.timeouts} timeouts`);
  }
  return result;
}

/** Saturated: as many requests as the server answers, with the server's CPU time per request. */
async function saturate(target: Target): Promise<Load> {
  const cpuBefore = await target.server.cpuSeconds();
  const result = await drive(target, SECONDS);
  const cpu = (await target.server.cpuSeconds()) - cpuBefore;
  return { rate: result.requests.average, cpuMicros: (cpu * 1e6) / result.requests.total };
}

/** Both targets saturated back to back, the first going first in odd rounds and second in even ones. */
async function inTurn(round: number, first: Target, second: Target | undefined): Promise<[Load, Load | undefined]> {
  if (!second) return [await saturate(first), undefined];
  if (round % 2 === 1) {
    const a = await saturate(first);
    return [a, await saturate(second)];
  }
  const b = await saturate(second);
  return [await saturate(first), b];
}

/**
 * `rate` requests per second for `seconds`, evenly spaced whatever the answers (open loop), over up
 * to CONNECTIONS keep-alive connections; a request that finds them all busy waits for one, and that
 * wait is in its latency, which counts from when the request was due.
 */
async function paced(target: Target, seconds: number, rate: number): Promise<{ p50: number; p99: number }> {
  if (AUTOCANNON_PACING) {
    const { latency } = await drive(target, seconds, rate);
    return { p50: latency.p50, p99: latency.p99 };
  }
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  const latencies: number[] = [];
  const answers: Promise<void>[] = [];
  const total = Math.round(rate * seconds);
  const start = performance.now();
  for (let sent = 0; sent < total; ) {
    for (; sent < total && start + (sent * 1000) / rate <= performance.now(); sent++) {
      const due = start + (sent * 1000) / rate;
      const request = target.requests[sent % target.requests.length]!;
      answers.push(get(agent, target.origin + request.path, request.headers).then(() => void latencies.push(performance.now() - due)));
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await Promise.all(answers);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => Number(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!.toFixed(1));
  return { p50: at(0.5), p99: at(0.99) };
}

/** One GET whose answer is read to its end; anything but 200 fails the run. */
function get(agent: http.Agent, url: string, headers: Record<string, string> = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent, headers }, (response) => {
        response.resume();
        response.once('end', () => (response.statusCode === 200 ? resolve() : reject(new Error(`${url} answered ${response.statusCode}`))));
      })
      .once('error', reject);
  });
}

async function measure(targets: Targets): Promise<Round[]> {
  log(`warming up; then ${ROUNDS} rounds × ${SECONDS}s per target, ${CONNECTIONS} connections, pool ${POOL_SIZE}`);
  for (const target of Object.values(targets)) await drive(target, 1);
  const rounds: Round[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    // api and against back to back, taking turns at going first (the second of two runs of the
    // same code measured up to a tenth slower here).
    const [api, against] = await inTurn(round, targets.api, targets.against);
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

/** One target alone, the server's CPU profiler on for the timed rounds only; prints the summary. */
async function profile(target: Target): Promise<void> {
  log(`profiling: warming up, then ${ROUNDS} × ${SECONDS}s of the ${target.name} target alone, ${CONNECTIONS} connections`);
  await drive(target, 1);
  const profiler = async (what: 'start' | 'stop') => {
    const response = await fetch(`${target.server.bare}/bench/profile/${what}`, { method: 'POST' });
    if (!response.ok) throw new Error(`profiler ${what} answered ${response.status}`);
    return response;
  };
  await profiler('start');
  let answered = 0;
  for (let round = 1; round <= ROUNDS; round++) {
    const { requests } = await drive(target, SECONDS);
    answered += requests.total;
    log(`round ${round}: ${target.name} ${Math.round(requests.average)}/s`);
  }
  const recorded = (await (await profiler('stop')).json()) as CpuProfile;
  const summary = summariseProfile(recorded);
  const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'clinicbase-bench-profile-')), `${target.name}.cpuprofile`);
  await writeFile(file, JSON.stringify(recorded));
  console.log(`${formatSummary(summary)}

${answered} requests answered: ${Math.round((summary.busyMs * 1000) / answered)} µs of the main thread's busy time each.
${ROUNDS} × ${SECONDS}s of the ${target.name} target, ${CONNECTIONS} connections, LOG_LEVEL=${LOG_LEVEL}, load average ${os
    .loadavg()
    .map((v) => v.toFixed(2))
    .join(', ')}.
Profile: ${file} (Chrome DevTools' Performance panel opens it; \`node scripts/cpu-profile-summary.ts ${file} 30\` lists more).`);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function report(rounds: Round[], loadBefore: number[], loadAfter: number[]): void {
  const n = (value: number) => Math.round(value).toLocaleString('en');
  const withAgainst = rounds[0]!.against !== undefined;
  const columns: [string, (r: Round) => number, (v: number) => string][] = [
    ['api req/s', (r) => r.api.rate, n],
    ['bare req/s', (r) => r.bare.rate, n],
    ['api / bare', (r) => r.api.rate / r.bare.rate, (v) => v.toFixed(2)],
    ['api CPU µs/req', (r) => r.api.cpuMicros, n],
    ['bare CPU µs/req', (r) => r.bare.cpuMicros, n],
    ['bare / api CPU', (r) => r.bare.cpuMicros / r.api.cpuMicros, (v) => v.toFixed(2)],
    ...(withAgainst
      ? ([
          ['against req/s', (r) => r.against!.rate, n],
          ['against CPU µs/req', (r) => r.against!.cpuMicros, n],
          ['api / against req/s', (r) => r.api.rate / r.against!.rate, (v) => v.toFixed(2)],
          ['against / api CPU', (r) => r.against!.cpuMicros / r.api.cpuMicros, (v) => v.toFixed(2)],
        ] as [string, (r: Round) => number, (v: number) => string][])
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
