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
// and clinical care, in the same rounds, as the same doctor (a second table):
//
//   history  GET …/patients/{id}/history of a patient with 50 past visits, each with its signed
//            consultation (vitals, two diagnoses), a prescription every other visit, a test request
//            with its released report every fifth, follow-ups, an allergy: saturated (autocannon)
//   open     POST …/consultations {visitId}: the doctor opens a consultation of a waiting visit of
//            today (the visit moves to in_consultation); each visit once (BENCH_WRITES per round)
//   issue    POST …/prescriptions/{id}/issue (If-Match) of a draft prescription with two medicines
//            (numbered, locked, the allergy check); each draft once (BENCH_WRITES per round)
//
// The writes go out in a closed loop over the same connections (http-load.ts `consume`: autocannon
// would send each of them once per connection); their latencies are those of saturation.
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
// BENCH_LOG_LEVEL (the server's LOG_LEVEL, default info), BENCH_WRITES (consultations opened and
// prescriptions issued per round, default 300), BENCH_CLINICAL=0 (the department read alone).
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
import { holdsWorkInProgress, readCurrentMigration, runCurrentMigration } from '../src/db/migrate.ts';
import { setupDatabase, withDatabase } from '../src/db/setup.ts';
import {
  againstColumns,
  type Column,
  consume,
  drive as driveWith,
  inTurn,
  type Load,
  log,
  type OneShot,
  type OneShotLoad,
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
const CLINICAL = process.env.BENCH_CLINICAL !== '0';
const WRITES = Number(process.env.BENCH_WRITES ?? 300);
/** One-shot writes spent before the rounds: the answers checked, then warming up. */
const WARM_WRITES = 50;
const HISTORY_VISITS = 50;

interface Seeded {
  clinicId: string;
  slug: string;
  departmentIds: string[];
  clinical: Clinical | undefined;
}

/** The clinical rows of clinic-1, all the bench member's (a doctor). */
interface Clinical {
  /** The patient with HISTORY_VISITS past visits. */
  historyPatientId: string;
  /** Waiting visits of today, one per patient: one consultation opened of each. */
  waitingVisitIds: string[];
  /** Draft prescriptions (two items each, version 1) of signed consultations: each issued once. */
  draftPrescriptionIds: string[];
}

/** The clinical targets' loads in one round. */
interface ClinicalRound {
  history: OneShotLoad;
  open: OneShotLoad;
  issue: OneShotLoad;
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
  clinical: ClinicalRound | undefined;
}

const loadBefore = os.loadavg();
const cluster = await startThrowawayCluster();
const servers: Server[] = [];
try {
  const url = withDatabase(cluster.adminUrl, 'clinicbase');
  const { ownerUrl } = await setupDatabase({ adminUrl: url, rolePassword: PASSWORD });
  if (holdsWorkInProgress(await readCurrentMigration())) {
    log('applying migrations/current.sql (work in progress)');
    await runCurrentMigration(ownerUrl!);
  }
  const seeded = await seed(url);
  const key = generateSigningKey();
  const server = await startServer(ROOT, url, key);
  servers.push(server);
  const other = AGAINST ? await startServer(AGAINST, url, key) : undefined;
  if (other) servers.push(other);
  const token = await logIn(server.api, MEMBER, seeded.slug);
  const targets = targetsFor(server, other, seeded, token);
  await checkAnswers(targets);
  const clinical = seeded.clinical && clinicalTargetsFor(server, seeded.slug, seeded.clinical, token);
  if (clinical) await checkClinicalAnswers(clinical);
  if (PROFILE) await profile(targets[PROFILE], { seconds: SECONDS, connections: CONNECTIONS }, ROUNDS, LOG_LEVEL);
  else report(await measure(targets, clinical), loadBefore, os.loadavg());
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
    const clinical = CLINICAL ? await seedClinical(admin, clinic.id) : undefined;
    await admin.query('analyze');
    const departments = await admin.query<{ id: string }>('select id from app_public.departments where clinic_id = $1 order by code', [clinic.id]);
    return { clinicId: clinic.id, slug: clinic.slug, departmentIds: departments.rows.map((r) => r.id), clinical };
  } finally {
    await admin.end();
  }
}

/**
 * clinic-1's clinical rows, all the bench member's, written set-wise as superuser with triggers off
 * (session_replication_role = replica: the numbering, locks and audit rows are not what is
 * measured, and past visits cannot be checked in through the app); every constraint still holds.
 * The one-shot targets get (ROUNDS + 1) × WRITES rows each (the rounds, and the checks and warm-up).
 */
async function seedClinical(admin: pg.Client, clinicId: string): Promise<Clinical> {
  const n = (ROUNDS + 1) * WRITES;
  log(`seeding a patient with ${HISTORY_VISITS} past visits, ${n} waiting visits to open and ${n} draft prescriptions to issue`);
  const doctorId = (
    await admin.query<{ id: string }>('select m.id from app_public.clinic_members m join app_private.accounts a on a.id = m.account_id where a.email = $1', [
      MEMBER.email,
    ])
  ).rows[0]!.id;
  // current_date as the clinic's (UTC, the default): visits of today are the clinic's today.
  await admin.query(`set timezone = 'UTC'; set session_replication_role = replica`);
  let historyPatientId: string;
  try {
    await admin.query(
      `insert into app_public.patients (clinic_id, patient_number, full_name, date_of_birth, sex, status)
         select $1, 'PT-2026-' || lpad(g::text, 5, '0'), case when g = 1 then 'History Patient' else 'Bench Patient ' || g end,
                date '1940-01-01' + (g * 37) % 25000, 'unknown', 'registered'
         from generate_series(1, 1 + 2 * $2::int) g`,
      [clinicId, n],
    );
    historyPatientId = (
      await admin.query<{ id: string }>(`select id from app_public.patients where clinic_id = $1 and full_name = 'History Patient'`, [clinicId])
    ).rows[0]!.id;
    // The history: one visit a week going back from a week ago, each with a signed consultation,
    // vitals and two diagnoses; a prescription every other visit (the latest five still issued, the
    // rest completed), a completed test request with a released report of three results every
    // fifth, a follow-up every fifth (the latest pending); one allergy.
    await admin.query(
      literal(
        `insert into app_public.patient_history (clinic_id, patient_id, kind, name, severity, recorded_by)
         values ($1, $2, 'allergy', 'Penicillin', 'severe', $3);
       insert into app_public.visits (clinic_id, patient_id, doctor_id, visit_date, token_number, status, checked_in_at, called_at, consultation_started_at, completed_at)
         select $1, $2, $3, day, 1, 'completed', at, at + interval '5 minutes', at + interval '10 minutes', at + interval '25 minutes'
         from generate_series(1, $4::int) g, lateral (select current_date - 7 * g as day) d, lateral (select (day + time '09:00') at time zone 'UTC' as at) t;
       insert into app_public.consultations (clinic_id, visit_id, patient_id, doctor_id, status, chief_complaint, symptoms, findings, treatment_plan,
                                            signed_at, created_at, updated_at)
         select clinic_id, id, patient_id, doctor_id, 'signed', 'Review of asthma', 'Wheeze at night, dry cough', 'Scattered wheeze, no crackles',
                'Inhaler technique reviewed; step up if no better', completed_at, consultation_started_at, completed_at
         from app_public.visits where clinic_id = $1 and patient_id = $2;
       insert into app_public.vitals (clinic_id, consultation_id, patient_id, recorded_by, measured_at, systolic_mmhg, diastolic_mmhg, heart_rate_bpm,
                                     temperature_c, spo2_percent, weight_kg)
         select clinic_id, id, patient_id, doctor_id, created_at, 128, 82, 76, 36.8, 97, 71.5 from app_public.consultations where clinic_id = $1 and patient_id = $2;
       insert into app_public.diagnoses (clinic_id, consultation_id, patient_id, icd10_code, description, is_primary)
         select clinic_id, id, patient_id, code, description, is_primary from app_public.consultations,
           (values ('J45.909', 'Asthma, unspecified, uncomplicated', true), ('I10', 'Essential (primary) hypertension', false)) v(code, description, is_primary)
         where clinic_id = $1 and patient_id = $2;`,
        [clinicId, historyPatientId, doctorId, HISTORY_VISITS],
      ),
    );
    await admin.query(
      literal(
        `with numbered as (
         select c.*, row_number() over (order by c.created_at desc) as k from app_public.consultations c where c.clinic_id = $1 and c.patient_id = $2),
       prescriptions as (
         insert into app_public.prescriptions (clinic_id, consultation_id, patient_id, doctor_id, prescription_number, status, issued_at, completed_at, created_at, updated_at)
           select clinic_id, id, patient_id, doctor_id, 'RX-' || extract(year from signed_at) || '-' || (90000 + k), case when k <= 10 then 'issued' else 'completed' end,
                  signed_at, case when k > 10 then signed_at + interval '30 days' end, signed_at, signed_at
           from numbered where k % 2 = 1
           returning clinic_id, id, patient_id)
       insert into app_public.prescription_items (clinic_id, prescription_id, patient_id, position, medicine_name, generic_name, strength, dose_form, dose,
                                                 frequency, route, duration_days, quantity, refills, instructions)
         select clinic_id, id, patient_id, position, medicine, generic, strength, form, dose, frequency, route, days, quantity, 0, 'Rinse mouth after use'
         from prescriptions, (values (1, 'Clenil Modulite', 'Beclometasone', '100 micrograms', 'inhaler', '2 puffs', 'BD', 'inhaled', 30, 1),
                                     (2, 'Ventolin Evohaler', 'Salbutamol', '100 micrograms', 'inhaler', '2 puffs', 'PRN', 'inhaled', null, 1))
                               v(position, medicine, generic, strength, form, dose, frequency, route, days, quantity);
       with numbered as (
         select c.*, row_number() over (order by c.created_at desc) as k from app_public.consultations c where c.clinic_id = $1 and c.patient_id = $2),
       requests as (
         insert into app_public.test_requests (clinic_id, consultation_id, patient_id, requested_by, test_name, test_code, category, status,
                                              collected_at, started_at, completed_at, created_at, updated_at)
           select clinic_id, id, patient_id, doctor_id, 'Full blood count', 'FBC', 'haematology', 'completed',
                  signed_at, signed_at + interval '1 hour', signed_at + interval '1 day', signed_at, signed_at + interval '1 day'
           from numbered where k % 5 = 1
           returning clinic_id, id, patient_id, completed_at),
       reports as (
         insert into app_public.test_reports (clinic_id, test_request_id, patient_id, technician_id, conclusion, status, released_at, created_at, updated_at)
           select clinic_id, id, patient_id, $3, 'Within normal limits', 'released', completed_at, completed_at, completed_at from requests
           returning clinic_id, id, patient_id)
       insert into app_public.test_results (clinic_id, test_report_id, patient_id, position, analyte, value_numeric, unit, reference_low, reference_high)
         select clinic_id, id, patient_id, position, analyte, value, unit, low, high
         from reports, (values (1, 'Haemoglobin', 138, 'g/L', 120, 160), (2, 'White cell count', 6.2, '10^9/L', 4.0, 11.0),
                               (3, 'Platelets', 250, '10^9/L', 150, 400)) v(position, analyte, value, unit, low, high);
       with numbered as (
         select c.*, row_number() over (order by c.created_at desc) as k from app_public.consultations c where c.clinic_id = $1 and c.patient_id = $2)
       insert into app_public.follow_ups (clinic_id, consultation_id, patient_id, doctor_id, due_date, reason, status, created_at, updated_at)
         select clinic_id, id, patient_id, doctor_id, (signed_at + interval '28 days')::date, 'Asthma review', case when k = 1 then 'pending' else 'completed' end,
                signed_at, signed_at
         from numbered where k % 5 = 1;`,
        [clinicId, historyPatientId, doctorId],
      ),
    );
    // To open: a waiting visit of today per patient. To issue: yesterday's visit of another patient,
    // its signed consultation and a draft prescription of two medicines.
    await admin.query(
      literal(
        `with patients as (
         select id, row_number() over (order by patient_number) as k from app_public.patients
         where clinic_id = $1 and full_name <> 'History Patient')
       insert into app_public.visits (clinic_id, patient_id, doctor_id, visit_date, token_number, status, checked_in_at)
         select $1, id, $2, case when k <= $3 then current_date else current_date - 1 end, case when k <= $3 then k else k - $3 end,
                case when k <= $3 then 'waiting' else 'completed' end, now() - interval '1 day' + k * interval '1 second'
         from patients;
       update app_public.visits set called_at = checked_in_at, consultation_started_at = checked_in_at, completed_at = checked_in_at + interval '15 minutes'
         where clinic_id = $1 and status = 'completed' and visit_date = current_date - 1;
       with signed as (
         insert into app_public.consultations (clinic_id, visit_id, patient_id, doctor_id, status, chief_complaint, signed_at, created_at, updated_at)
           select clinic_id, id, patient_id, doctor_id, 'signed', 'Sore throat', completed_at, consultation_started_at, completed_at
           from app_public.visits where clinic_id = $1 and status = 'completed' and visit_date = current_date - 1
           returning clinic_id, id, patient_id, doctor_id),
       drafts as (
         insert into app_public.prescriptions (clinic_id, consultation_id, patient_id, doctor_id)
           select clinic_id, id, patient_id, doctor_id from signed
           returning clinic_id, id, patient_id)
       insert into app_public.prescription_items (clinic_id, prescription_id, patient_id, position, medicine_name, generic_name, strength, dose_form, dose,
                                                 frequency, route, duration_days, quantity, instructions)
         select clinic_id, id, patient_id, position, medicine, generic, strength, 'tablet', dose, frequency, 'oral', days, quantity, instructions
         from drafts, (values (1, 'Paracetamol', 'Paracetamol', '500 mg', '2 tablets', 'QID', 5, 40, 'No more than 8 tablets in 24 hours'),
                              (2, 'Ibuprofen', 'Ibuprofen', '400 mg', '1 tablet', 'TDS', 5, 15, 'With food'))
                        v(position, medicine, generic, strength, dose, frequency, days, quantity, instructions);`,
        [clinicId, doctorId, n],
      ),
    );
  } finally {
    await admin.query('set session_replication_role = origin');
  }
  const waiting = await admin.query<{ id: string }>(
    `select id from app_public.visits where clinic_id = $1 and status = 'waiting' and visit_date = current_date order by token_number`,
    [clinicId],
  );
  const drafts = await admin.query<{ id: string }>(`select id from app_public.prescriptions where clinic_id = $1 and status = 'draft' order by id`, [clinicId]);
  return { historyPatientId, waitingVisitIds: waiting.rows.map((r) => r.id), draftPrescriptionIds: drafts.rows.map((r) => r.id) };
}

/** Several statements in one simple query (no parameters there): $n replaced by the n-th value, uuids quoted, numbers as they are. */
function literal(text: string, values: (string | number)[]): string {
  return text.replace(/\$(\d+)/g, (_, i: string) => {
    const value = values[Number(i) - 1]!;
    if (typeof value === 'number') return String(value);
    if (!/^[0-9a-f-]{36}$/.test(value)) throw new Error(`not a uuid: ${value}`);
    return `'${value}'::uuid`;
  });
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

interface ClinicalTargets {
  history: Target;
  /** Each round's one-shot requests, and those spent before the rounds. */
  open: { warm: OneShot[]; rounds: OneShot[][] };
  issue: { warm: OneShot[]; rounds: OneShot[][] };
}

function clinicalTargetsFor(server: Server, slug: string, clinical: Clinical, token: string): ClinicalTargets {
  const authorization = `Bearer ${token}`;
  const base = `/api/v1/clinics/${slug}`;
  const split = (requests: OneShot[]) => ({
    warm: requests.slice(0, WARM_WRITES),
    rounds: Array.from({ length: ROUNDS }, (_, i) => requests.slice(WRITES + i * WRITES, WRITES + (i + 1) * WRITES)),
  });
  return {
    history: {
      name: 'history',
      server,
      origin: server.api,
      // All 50 visits in one page: the whole history in one call.
      requests: [{ method: 'GET', path: `${base}/patients/${clinical.historyPatientId}/history?limit=${HISTORY_VISITS}`, headers: { authorization } }],
    },
    open: split(
      clinical.waitingVisitIds.map((visitId) => ({
        method: 'POST',
        path: `${base}/consultations`,
        headers: { authorization },
        body: JSON.stringify({ visitId, chiefComplaint: 'Sore throat for three days' }),
        expected: 201,
      })),
    ),
    issue: split(
      clinical.draftPrescriptionIds.map((id) => ({
        method: 'POST',
        path: `${base}/prescriptions/${id}/issue`,
        headers: { authorization, 'if-match': '"1"' },
        body: '{}',
        expected: 200,
      })),
    ),
  };
}

/**
 * Before timing: the history holds the patient's 50 visits in one page, the allergy, the five
 * issued prescriptions, the ten test requests with their reports, the ten follow-ups; an opened
 * consultation is a draft of the visit; an issued prescription has its number.
 */
async function checkClinicalAnswers(targets: ClinicalTargets): Promise<void> {
  const history = targets.history.requests[0]!;
  const response = await fetch(targets.history.origin + history.path, { headers: history.headers ?? {} });
  const body = (await response.json()) as Record<string, unknown>;
  const visits = body.visits as { items: unknown[]; nextCursor: string | null } | undefined;
  const count = (key: string) => (Array.isArray(body[key]) ? (body[key] as unknown[]).length : -1);
  if (
    response.status !== 200 ||
    visits?.items.length !== HISTORY_VISITS ||
    visits.nextCursor !== null ||
    count('items') !== 1 ||
    count('activePrescriptions') !== 5 ||
    count('testRequests') !== 10 ||
    count('followUps') !== 10
  ) {
    throw new Error(`the history answered ${response.status}, not the seeded history: ${JSON.stringify(body).slice(0, 1000)}`);
  }
  log(
    `history: ${visits.items.length} visits, ${count('activePrescriptions')} active prescriptions, ${count('testRequests')} test requests, ${count('followUps')} follow-ups`,
  );
  const first = async (request: OneShot) => {
    const answer = await fetch(targets.history.origin + request.path, {
      method: request.method,
      headers: { ...request.headers, 'content-type': 'application/json' },
      body: request.body ?? '{}',
    });
    const json = (await answer.json()) as Record<string, unknown>;
    if (answer.status !== request.expected) throw new Error(`${request.path} answered ${answer.status}: ${JSON.stringify(json)}`);
    return json;
  };
  const opened = await first(targets.open.warm[0]!);
  if (opened.status !== 'draft' || opened.version !== 1) throw new Error(`the opened consultation is not a draft at version 1: ${JSON.stringify(opened)}`);
  const issued = await first(targets.issue.warm[0]!);
  if (issued.status !== 'issued' || !/^RX-\d{4}-\d{5,}$/.test(String(issued.prescriptionNumber))) {
    throw new Error(`the prescription was not issued with a number: ${JSON.stringify(issued)}`);
  }
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

/** Saturated, with the latencies autocannon measured. */
async function saturateWithLatency(target: Target): Promise<OneShotLoad> {
  const cpuBefore = await target.server.cpuSeconds();
  const result = await drive(target, SECONDS);
  const cpu = (await target.server.cpuSeconds()) - cpuBefore;
  return { rate: result.requests.average, cpuMicros: (cpu * 1e6) / result.requests.total, p50: result.latency.p50, p99: result.latency.p99 };
}

async function measureClinical(round: number, clinical: ClinicalTargets): Promise<ClinicalRound> {
  const history = await saturateWithLatency(clinical.history);
  const open = await consume(clinical.history.server, clinical.history.origin, clinical.open.rounds[round - 1]!, CONNECTIONS);
  const issue = await consume(clinical.history.server, clinical.history.origin, clinical.issue.rounds[round - 1]!, CONNECTIONS);
  return { history, open, issue };
}

async function measure(targets: Targets, clinical: ClinicalTargets | undefined): Promise<Round[]> {
  log(`warming up; then ${ROUNDS} rounds × ${SECONDS}s per target, ${CONNECTIONS} connections, pool ${POOL_SIZE}`);
  for (const target of Object.values(targets)) await drive(target, 1);
  if (clinical) {
    await drive(clinical.history, 1);
    // The first of each was spent by the checks.
    await consume(clinical.history.server, clinical.history.origin, clinical.open.warm.slice(1), CONNECTIONS);
    await consume(clinical.history.server, clinical.history.origin, clinical.issue.warm.slice(1), CONNECTIONS);
  }
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
    const clinicalRound = clinical ? await measureClinical(round, clinical) : undefined;
    rounds.push({ api, bare, against, live, ready, half, bareHalf, clinical: clinicalRound });
    const load = (l: Load) => `${Math.round(l.rate)}/s (${Math.round(l.cpuMicros)} µs CPU each)`;
    log(
      `round ${round}: api ${load(api)}, bare ${load(bare)}, ratio ${(api.rate / bare.rate).toFixed(2)}${against ? `, against ${load(against)}` : ''}, ` +
        `live ${Math.round(live)}/s, ready ${Math.round(ready)}/s, at ${rate}/s: api p50 ${half.p50} ms, p99 ${half.p99} ms, bare p50 ${bareHalf.p50} ms, p99 ${bareHalf.p99} ms` +
        (clinicalRound ? `; history ${load(clinicalRound.history)}, open ${load(clinicalRound.open)}, issue ${load(clinicalRound.issue)}` : ''),
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
  const table = (cols: Column<Round>[]) => `${line(['round', ...cols.map(([title]) => title)])}
${line(['---', ...cols.map(() => '---')])}
${rounds.map((r, i) => line([String(i + 1), ...cols.map(([, value, format]) => format(value(r)))])).join('\n')}
${line(['**median**', ...cols.map(([, value, format]) => format(median(rounds.map(value))))])}`;
  // Per clinical target: rate, CPU, CPU against the department read's, and "p50 / p99" in one cell.
  const of = (name: keyof ClinicalRound) => (r: Round) => r.clinical![name];
  const clinicalColumns = (['history', 'open', 'issue'] as const).flatMap((name): [string, (pick: (value: (r: Round) => number) => number) => string][] => {
    const load = of(name);
    return [
      [`${name} req/s`, (pick) => n(pick((r) => load(r).rate))],
      [`${name} CPU µs/req`, (pick) => n(pick((r) => load(r).cpuMicros))],
      [`${name} / api CPU`, (pick) => pick((r) => load(r).cpuMicros / r.api.cpuMicros).toFixed(1)],
      [`${name} p50 / p99 (ms)`, (pick) => `${pick((r) => load(r).p50).toFixed(1)} / ${pick((r) => load(r).p99).toFixed(1)}`],
    ];
  });
  const clinicalTable = () =>
    [
      line(['round', ...clinicalColumns.map(([title]) => title)]),
      line(['---', ...clinicalColumns.map(() => '---')]),
      ...rounds.map((r, i) => line([String(i + 1), ...clinicalColumns.map(([, cell]) => cell((value) => value(r)))])),
      line(['**median**', ...clinicalColumns.map(([, cell]) => cell((value) => median(rounds.map(value))))]),
    ].join('\n');
  const withClinical = rounds[0]!.clinical !== undefined;
  console.log(`
${table(columns)}

Targets: api / bare ≥ 0.5, p99 at half load ≤ 10 ms. The median row is the median of each column (ratios: of the per-round ratios).
CPU µs/req: the server process's user + system time over the saturated run, divided by the requests answered (Postgres not included).
Half load: ${AUTOCANNON_PACING ? "autocannon's overallRate (each connection's budget per second sent back to back)" : 'requests sent evenly spaced (open loop), latency from when each was due'}; bare is paced at the api's half rate too.${withAgainst ? `\nagainst: the api route of ${AGAINST}, in its own server process, same database and key.` : ''}
${ROUNDS} interleaved rounds of ${SECONDS}s per target, ${CONNECTIONS} connections (autocannon), pool ${POOL_SIZE}, LOG_LEVEL=${LOG_LEVEL}, NODE_ENV=production, Node ${process.versions.node}, embedded Postgres 18, ${os.cpus().length} CPUs.
Load average (1, 5, 15 min) before: ${load(loadBefore)}; after: ${load(loadAfter)}.${
    withClinical
      ? `

Clinical care, the same doctor in the same rounds (history saturated for ${SECONDS}s; open and issue: ${WRITES} one-shot writes per round in a closed loop over ${CONNECTIONS} connections):

${clinicalTable()}

history: GET …/patients/{id}/history of a patient with ${HISTORY_VISITS} visits (signed consultations, vitals, diagnoses, prescriptions, test reports, follow-ups); open: POST …/consultations of a waiting visit; issue: POST …/prescriptions/{id}/issue of a two-medicine draft. "/ api CPU": CPU per request against the department read's in the same round; latencies at saturation.`
      : ''
  }`);
}
