// `npm run bench:graphql`: what GraphQL costs against REST for the same read over HTTP (issue 10,
// point 7). A patient with their last 10 appointments and last 10 visits:
//
//   graphql  POST /graphql with PATIENT_HISTORY (below) and the member's real token: the clinic
//            guard, grafserv, grafast's plan, PostGraphile's SQL through our adaptor
//            (src/db/graphql-adaptor.ts) under RLS
//   rest     GET /bench/patients/{id}/history on the same app instance and token: a route the
//            bench registers itself (scripts/bench-graphql-app.ts, which builds the app as
//            src/server.ts does), written as a module would write it: the same guard, withTenant,
//            one Kysely statement per table, answering the same JSON
//
// Consultations are not in the data model yet (clinical care brings them): visits stand in as the
// consultation-shaped rows. When consultations exist, they join PATIENT_HISTORY and the REST route
// as one more list of the same shape.
//
// Starts a throwaway embedded cluster, migrates it (migrations/current.sql too while it holds work
// in progress), seeds BENCH_CLINICS clinics of BENCH_PATIENTS patients, each with 12 appointments and
// 12 visits (more than a page of 10), plus one patient of clinic-1 with one of each; then, before
// timing, checks that both routes answer the same JSON, and counts the statements and round trips
// each request costs on the wire, for the full patient and the one with one row of each: a count
// that grows with the rows is an N+1, and fails the run. The count runs on a server of its own whose
// database connections go through a counting proxy (test/helpers/round-trips.ts); the timed server
// connects directly. Then graphql and rest saturated, interleaved round after round (taking turns at
// going first), and both paced at half the slower one's rate (open loop, as bench:http) for p50/p99.
//
// Options: BENCH_SECONDS (per target and round, default 5), BENCH_ROUNDS (4), BENCH_CONNECTIONS (16),
// BENCH_LOG_LEVEL (the server's LOG_LEVEL, default info), BENCH_CLINICS (5), BENCH_PATIENTS (200 per
// clinic), BENCH_COUNTED (requests per count, default 20).
// BENCH_AGAINST=<another checkout of this repository with this bench, its dependencies installed>:
// that checkout's server (its scripts/bench-graphql-app.ts) runs on the same database and key, and
// its GraphQL route is one more saturated target, the three taking turns at going first (before and
// after a change of the GraphQL path, measured in one run).
// BENCH_PROFILE=graphql (or =rest): no rounds; that target alone with the server's CPU profiler on,
// summarised as bench:http does.
// Not a test: a report (Markdown on stdout, progress on stderr).
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { hashPassword } from '../src/auth/passwords.ts';
import { generateSigningKey } from '../src/auth/keys.ts';
import { formatDataKey, generateDataKey } from '../src/crypto/data-keys.ts';
import { startThrowawayCluster } from '../src/db/embedded.ts';
import { holdsWorkInProgress, readCurrentMigration, runCurrentMigration } from '../src/db/migrate.ts';
import { setupDatabase, withDatabase } from '../src/db/setup.ts';
import { wireCounter } from '../test/helpers/round-trips.ts';
import {
  againstColumns,
  type Column,
  drive,
  inTurn,
  type Load,
  log,
  logIn,
  median,
  PASSWORD,
  paced,
  POOL_SIZE,
  profile,
  ROOT,
  row,
  saturate,
  type Server,
  startServer as startBenchServer,
  type Target,
} from './http-load.ts';

const option = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const SECONDS = option('BENCH_SECONDS', 5);
const ROUNDS = option('BENCH_ROUNDS', 4);
const CONNECTIONS = option('BENCH_CONNECTIONS', 16);
const CLINICS = option('BENCH_CLINICS', 5);
const PATIENTS = option('BENCH_PATIENTS', 200);
const COUNTED = option('BENCH_COUNTED', 20);
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'info';
const AGAINST = process.env.BENCH_AGAINST ? path.resolve(process.env.BENCH_AGAINST) : undefined;
const PROFILE = ({ graphql: 'graphql', rest: 'rest' } as const)[process.env.BENCH_PROFILE ?? ''];
/** Rows of each kind per seeded patient: more than the page of 10 the query asks for. */
const ROWS_PER_PATIENT = 12;
const EXEMPT_ROLE = 'bench_graphql_rls_exempt';
const MEMBER = { email: 'bench-graphql@clinicbase.test', password: 'bench graphql member passphrase' };
const driving = { seconds: SECONDS, connections: CONNECTIONS };

/**
 * The GraphQL side of the comparison, in one place: the document and its variables. The clinic comes
 * from the token, as in REST. Consultations join here (and in the REST route) when clinical care adds
 * them.
 */
const PATIENT_HISTORY = {
  query: `query PatientHistory($id: UUID!) {
  patient(rowId: $id) {
    rowId patientNumber fullName dateOfBirth sex status
    appointments(first: 10, orderBy: [STARTS_AT_DESC]) {
      nodes { rowId doctorId startsAt endsAt status reason }
    }
    visits(first: 10, orderBy: [VISIT_DATE_DESC]) {
      nodes { rowId appointmentId doctorId visitDate tokenNumber status checkedInAt completedAt }
    }
  }
}`,
  variables: (id: string) => ({ id }),
};
/** scripts/bench-graphql-app.ts's route. */
const restPath = (id: string) => `/bench/patients/${id}/history`;

interface Seeded {
  url: string;
  patientIds: string[];
  /** The patient of clinic-1 with one appointment and one visit. */
  sparseId: string;
}

interface Targets {
  graphql: Target;
  rest: Target;
  /** BENCH_AGAINST's GraphQL route. */
  against?: Target;
}

interface Round {
  graphql: Load;
  rest: Load;
  against: Load | undefined;
  rate: number;
  graphqlPaced: { p50: number; p99: number };
  restPaced: { p50: number; p99: number };
}

/** Statements and round trips per request, for the full patient and the sparse one. */
type Counts = Record<'graphql' | 'rest', Record<'full' | 'sparse', { statements: number; roundTrips: number }>>;

const loadBefore = os.loadavg();
const cluster = await startThrowawayCluster();
const servers: Server[] = [];
try {
  const seeded = await seed(withDatabase(cluster.adminUrl, 'clinicbase'));
  const key = generateSigningKey();
  const dataKey = formatDataKey(generateDataKey());
  const counts = await countStatements(seeded, key, dataKey);
  const server = await startServer(seeded.url, key, dataKey);
  servers.push(server);
  const other = AGAINST ? await startServer(seeded.url, key, dataKey, AGAINST) : undefined;
  if (other) servers.push(other);
  const token = await logIn(server.api, MEMBER, 'clinic-1');
  const targets = targetsFor(server, seeded, token);
  if (other) targets.against = { ...targetsFor(other, seeded, token).graphql, name: 'against' };
  const startup = (await (await fetch(`${server.api}/bench/startup`)).json()) as Startup;
  if (PROFILE) await profile(targets[PROFILE], driving, ROUNDS, LOG_LEVEL);
  else report(await measure(targets), counts, startup, loadBefore, os.loadavg());
} finally {
  for (const server of servers) await server.stop();
  await cluster.stop();
}

async function seed(url: string): Promise<Seeded> {
  const { ownerUrl } = await setupDatabase({ adminUrl: url, rolePassword: PASSWORD });
  if (holdsWorkInProgress(await readCurrentMigration())) {
    log('applying migrations/current.sql (work in progress)');
    await runCurrentMigration(ownerUrl!);
  }
  log(`seeding ${CLINICS} clinics × ${PATIENTS} patients × ${ROWS_PER_PATIENT} appointments and visits, one doctor member of every clinic`);
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    // The bare route's role (scripts/bench-http-bare.ts is preloaded into every bench server).
    await admin.query(`create role ${EXEMPT_ROLE} login bypassrls password '${PASSWORD}'; grant connect on database clinicbase to ${EXEMPT_ROLE}`);
    await admin.query(`
      insert into app_public.clinics (slug, name, plan, plan_status) select 'clinic-' || g, 'Clinic ' || g, 'enterprise', 'active' from generate_series(1, ${CLINICS}) g;
      insert into app_public.clinic_settings (clinic_id) select id from app_public.clinics;`);
    await admin.query(
      `with account as (insert into app_private.accounts (email, password_hash) values ($1, $2) returning id)
       insert into app_public.clinic_members (clinic_id, account_id, role, display_name) select c.id, a.id, 'doctor', 'Bench Doctor' from app_public.clinics c, account a`,
      [MEMBER.email, await hashPassword(MEMBER.password)],
    );
    // Triggers off for the rows (session_replication_role = replica): the schedule checks and the
    // audit rows are not what is measured; every constraint still holds.
    await admin.query(`
      set session_replication_role = replica;
      insert into app_public.patients (clinic_id, patient_number, full_name, date_of_birth, sex, status)
        select c.id, 'PT-2026-' || lpad(g::text, 5, '0'), 'Patient ' || g, date '1950-01-01' + g * 37, 'unknown', 'registered'
        from app_public.clinics c, generate_series(1, ${PATIENTS}) g;
      insert into app_public.patients (clinic_id, patient_number, full_name, date_of_birth, sex, status)
        select id, 'PT-2026-99999', 'Sparse Patient', date '1980-02-29', 'unknown', 'registered' from app_public.clinics where slug = 'clinic-1';
      with numbered as (
        select p.clinic_id, p.id, m.id as doctor_id, row_number() over (partition by p.clinic_id order by p.patient_number) as n,
          case when p.full_name = 'Sparse Patient' then 1 else ${ROWS_PER_PATIENT} end as rows
        from app_public.patients p join app_public.clinic_members m on m.clinic_id = p.clinic_id),
      appointments as (
        insert into app_public.appointments (clinic_id, patient_id, doctor_id, starts_at, ends_at, status, booked_by)
          select clinic_id, id, doctor_id, s, s + interval '15 minutes', 'completed', doctor_id
          from numbered, generate_series(1, rows) j, lateral (select timestamptz '2025-01-06 08:00Z' + j * interval '7 days' + n * interval '15 minutes' as s) slot)
      insert into app_public.visits (clinic_id, patient_id, doctor_id, visit_date, token_number, status, checked_in_at, completed_at)
        select clinic_id, id, doctor_id, date '2025-01-06' + j * 7, n, 'completed', s, s + interval '20 minutes'
        from numbered, generate_series(1, rows) j, lateral (select timestamptz '2025-01-06 08:00Z' + j * interval '7 days' + n * interval '15 minutes' as s) slot;
      set session_replication_role = origin;
      analyze;`);
    const clinic = (await admin.query<{ id: string }>(`select id from app_public.clinics where slug = 'clinic-1'`)).rows[0]!;
    const patients = await admin.query<{ id: string; full_name: string }>(
      'select id, full_name from app_public.patients where clinic_id = $1 order by patient_number',
      [clinic.id],
    );
    const sparse = patients.rows.find((p) => p.full_name === 'Sparse Patient')!;
    return { url, patientIds: patients.rows.filter((p) => p !== sparse).map((p) => p.id), sparseId: sparse.id };
  } finally {
    await admin.end();
  }
}

function startServer(databaseUrl: string, key: { privateKeyPem: string; keyId: string }, dataKey: string, root = ROOT): Promise<Server> {
  return startBenchServer({
    root,
    databaseUrl,
    key,
    dataKey,
    logLevel: LOG_LEVEL,
    exemptRole: EXEMPT_ROLE,
    entry: 'scripts/bench-graphql-app.ts',
    // One member sends every request: the per-caller limit of GraphQL operations at its highest
    // (still counted, as in production; the REST route has no such limit).
    env: { GRAPHQL_OPERATIONS_PER_MINUTE: '100000' },
  });
}

function targetsFor(server: Server, seeded: Seeded, token: string, ids = seeded.patientIds): Targets {
  const headers = { authorization: `Bearer ${token}` };
  return {
    graphql: {
      name: 'graphql',
      server,
      origin: server.api,
      requests: ids.map((id) => ({
        method: 'POST',
        path: '/graphql',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify({ query: PATIENT_HISTORY.query, variables: PATIENT_HISTORY.variables(id) }),
      })),
    },
    rest: { name: 'rest', server, origin: server.api, requests: ids.map((id) => ({ method: 'GET', path: restPath(id), headers })) },
  };
}

/** The answer of a target's `i`th request: GraphQL's `data`, REST's body; an error fails the run. */
async function answer(target: Target, i: number): Promise<unknown> {
  const request = target.requests[i]!;
  const response = await fetch(target.origin + request.path, { method: request.method, headers: request.headers ?? {}, body: request.body ?? null });
  const body = (await response.json()) as { data?: unknown; errors?: unknown };
  if (response.status !== 200 || body.errors) throw new Error(`${target.name} answered ${response.status}: ${JSON.stringify(body)}`);
  return target.name === 'rest' ? body : body.data;
}

/** Timestamps compared as instants: PostGraphile writes `+00:00` where JSON.stringify(Date) writes `.000Z`. */
function normalised(value: unknown): string {
  return JSON.stringify(value, (_, v) => (typeof v === 'string' && /^\d{4}-\d\d-\d\dT/.test(v) ? Date.parse(v) : v));
}

/** Before counting or timing: both routes answer the same patient the same way, 10 of each row for a full one. */
async function checkAnswers(targets: Targets, full: number[], sparse?: number): Promise<void> {
  for (const i of sparse === undefined ? full : [...full, sparse]) {
    const [graphql, rest] = [await answer(targets.graphql, i), await answer(targets.rest, i)];
    if (normalised(graphql) !== normalised(rest)) throw new Error(`graphql and rest answer differently:\n${JSON.stringify(graphql)}\n${JSON.stringify(rest)}`);
    if (targets.against && normalised(await answer(targets.against, i)) !== normalised(rest)) throw new Error('against and rest answer differently');
    const { patient } = graphql as { patient: { appointments: { nodes: unknown[] }; visits: { nodes: unknown[] } } };
    const expected = i === sparse ? 1 : 10;
    if (patient.appointments.nodes.length !== expected || patient.visits.nodes.length !== expected) {
      throw new Error(`request ${i}: ${patient.appointments.nodes.length} appointments and ${patient.visits.nodes.length} visits, not ${expected} of each`);
    }
  }
}

/**
 * Statements and round trips per request of each target, on a server whose connections go through
 * the counting proxy: COUNTED requests one after the other, the least of three batches (the
 * server's own periodic reads may fall into one).
 */
async function countStatements(seeded: Seeded, key: { privateKeyPem: string; keyId: string }, dataKey: string): Promise<Counts> {
  const counter = await wireCounter(seeded.url);
  const server = await startServer(counter.url, key, dataKey);
  try {
    const token = await logIn(server.api, MEMBER, 'clinic-1');
    const targets = targetsFor(server, seeded, token, [...seeded.patientIds.slice(0, 2), seeded.sparseId]);
    await checkAnswers(targets, [0, 1], 2);
    const perRequest = async (target: Target, i: number) => {
      const batches = [];
      for (let batch = 0; batch < 3; batch++) {
        counter.takeBoth();
        for (let n = 0; n < COUNTED; n++) await answer(target, i);
        const { statements, roundTrips } = counter.takeBoth();
        batches.push({ statements: statements / COUNTED, roundTrips: roundTrips / COUNTED });
      }
      return batches.reduce((least, b) => (b.statements < least.statements ? b : least));
    };
    const counts = {} as Counts;
    for (const name of ['graphql', 'rest'] as const) {
      counts[name] = { full: await perRequest(targets[name], 0), sparse: await perRequest(targets[name], 2) };
      const { full, sparse } = counts[name];
      log(
        `${name}: ${full.statements} statements, ${full.roundTrips} round trips per request (10 rows of each); ${sparse.statements}, ${sparse.roundTrips} (1 of each)`,
      );
      if (full.statements !== sparse.statements) throw new Error(`${name}: the statements per request grow with the rows (N+1)`);
    }
    return counts;
  } finally {
    await server.stop();
    await counter.close();
  }
}

interface Startup {
  /** buildApp(), from its call to its return. */
  buildAppMs: number;
  /** From buildApp's call until the GraphQL schema was built. */
  schemaReadyMs: number;
}

async function measure(targets: Targets): Promise<Round[]> {
  await checkAnswers(targets, [0, targets.rest.requests.length - 1]);
  log(`warming up; then ${ROUNDS} rounds × ${SECONDS}s per target, ${CONNECTIONS} connections, pool ${POOL_SIZE}`);
  for (const target of Object.values(targets)) await drive(target, { ...driving, seconds: 1 });
  const rounds: Round[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const [graphql, rest, against] = await saturatedInTurn(round, targets);
    const rate = Math.max(1, Math.round(Math.min(graphql.rate, rest.rate) / 2));
    const graphqlPaced = await paced(targets.graphql, driving, rate);
    const restPaced = await paced(targets.rest, driving, rate);
    rounds.push({ graphql, rest, against, rate, graphqlPaced, restPaced });
    const load = (l: Load) => `${Math.round(l.rate)}/s (${Math.round(l.cpuMicros)} µs CPU each)`;
    log(
      `round ${round}: graphql ${load(graphql)}, rest ${load(rest)}, ratio ${(graphql.rate / rest.rate).toFixed(2)}${against ? `, against ${load(against)}` : ''}; at ${rate}/s: ` +
        `graphql p50 ${graphqlPaced.p50} ms, p99 ${graphqlPaced.p99} ms, rest p50 ${restPaced.p50} ms, p99 ${restPaced.p99} ms`,
    );
  }
  return rounds;
}

/** graphql and rest saturated back to back, taking turns at going first; with BENCH_AGAINST, the three in rotation. */
async function saturatedInTurn(round: number, targets: Targets): Promise<[Load, Load, Load | undefined]> {
  if (!targets.against) return [...(await inTurn(round, targets.graphql, targets.rest, driving)), undefined];
  const order = [targets.graphql, targets.rest, targets.against];
  const loads = new Map<Target, Load>();
  for (let i = 0; i < order.length; i++) {
    const target = order[(round - 1 + i) % order.length]!;
    loads.set(target, await saturate(target, driving));
  }
  return [loads.get(targets.graphql)!, loads.get(targets.rest)!, loads.get(targets.against)];
}

function report(rounds: Round[], counts: Counts, startup: Startup, loadBefore: number[], loadAfter: number[]): void {
  const n = (value: number) => Math.round(value).toLocaleString('en');
  const ms = (v: number) => v.toFixed(1);
  const columns: Column<Round>[] = [
    ['graphql req/s', (r) => r.graphql.rate, n],
    ['rest req/s', (r) => r.rest.rate, n],
    ['graphql / rest', (r) => r.graphql.rate / r.rest.rate, (v) => v.toFixed(2)],
    ['graphql CPU µs/req', (r) => r.graphql.cpuMicros, n],
    ['rest CPU µs/req', (r) => r.rest.cpuMicros, n],
    ...(rounds[0]!.against
      ? againstColumns<Round>(
          'graphql',
          (r) => r.graphql,
          (r) => r.against!,
        )
      : []),
    ['paced at (req/s)', (r) => r.rate, n],
    ['graphql p50 (ms)', (r) => r.graphqlPaced.p50, ms],
    ['graphql p99 (ms)', (r) => r.graphqlPaced.p99, ms],
    ['rest p50 (ms)', (r) => r.restPaced.p50, ms],
    ['rest p99 (ms)', (r) => r.restPaced.p99, ms],
  ];
  const load = (l: number[]) => l.map((v) => v.toFixed(2)).join(', ');
  const counted = (name: keyof Counts) =>
    row([name, ...(['full', 'sparse'] as const).flatMap((k) => [String(counts[name][k].statements), String(counts[name][k].roundTrips)])]);
  console.log(`
${row(['round', ...columns.map(([title]) => title)])}
${row(['---', ...columns.map(() => '---')])}
${rounds.map((r, i) => row([String(i + 1), ...columns.map(([, value, format]) => format(value(r)))])).join('\n')}
${row(['**median**', ...columns.map(([, value, format]) => format(median(rounds.map(value))))])}

Target: graphql / rest ≥ 0.6. The median row is the median of each column (ratios: of the per-round ratios).
CPU µs/req: the server process's user + system time over the saturated run, divided by the requests answered (Postgres not included).
Paced: both targets at half the slower one's saturated rate of the round, requests evenly spaced (open loop), latency from when each was due.

Per request, counted on the wire (Execute and simple Query messages; Sync and simple Query for round trips), the guard's included:

${row(['target', 'statements (10 rows each)', 'round trips (10 rows each)', 'statements (1 row each)', 'round trips (1 row each)'])}
${row(['---', '---', '---', '---', '---'])}
${counted('graphql')}
${counted('rest')}

${rounds[0]!.against ? `against: the GraphQL route of ${AGAINST}, in its own server process, same database and key.\n` : ''}Start-up of the timed server: buildApp ${n(startup.buildAppMs)} ms; GraphQL schema ready ${n(startup.schemaReadyMs)} ms after buildApp was called.
${ROUNDS} interleaved rounds of ${SECONDS}s per target, ${CONNECTIONS} connections (autocannon), pool ${POOL_SIZE}, LOG_LEVEL=${LOG_LEVEL}, NODE_ENV=production, Node ${process.versions.node}, embedded Postgres 18, ${os.cpus().length} CPUs.
Data: ${CLINICS} clinics × ${PATIENTS} patients × ${ROWS_PER_PATIENT} appointments and ${ROWS_PER_PATIENT} visits; requests cycle through clinic-1's patients.
Load average (1, 5, 15 min) before: ${load(loadBefore)}; after: ${load(loadAfter)}.`);
}
