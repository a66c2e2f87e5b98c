// `npm run bench:front-desk`: the front desk's requests over HTTP at a realistic size (issue 9,
// point 8). Starts a throwaway embedded cluster with three databases, generates the patients set-wise
// in SQL (progress on stderr), starts the real server (src/server.ts, NODE_ENV=production, the bare
// baseline preloaded as in bench:http) on each, and measures, the parts interleaved round after round:
//
//   (a) read     GET /api/v1/clinics/{slug}/patients/{id} with a receptionist's real token (JWT check,
//                clinic guard, withTenant under RLS, the chart access log written in the same
//                transaction) against the bare Fastify + pg route doing the explicit-WHERE select
//                (scripts/bench-http-bare.ts): requests per second, CPU per request, and p50/p99 of
//                the API at half its saturated rate (open loop, as bench:http), bare at that rate too;
//                and bench:http's department read on the same server and token, for reference.
//   (b) search   GET …/patients?q=<a name with a typo> in a clinic of BENCH_SEARCH_PATIENTS patients, in
//                a database of BENCH_TOTAL_PATIENTS: p50/p95 latency, one query at a time, full names and
//                surnames alone, and how often the intended patient is on the first page; the plan of
//                the name search (auto_explain of the statement inside the search function).
//   (c) booking  POST …/appointments over HTTP, each request a distinct free slot of one of
//                BENCH_DOCTORS doctors: bookings per second and latency; and the same insert workload
//                at SQL level into two scratch copies of app_public.appointments (CREATE TABLE … LIKE
//                … INCLUDING ALL), one with the exclusion constraint appointments_starts_at_excl and one
//                without it, side by side: what the double-booking guarantee costs an insert.
//   (d) tenants  the read of (a) on two more databases and servers, one holding 1 clinic and one holding
//                BENCH_CLINICS clinics, every clinic with BENCH_CLINIC_PATIENTS patients: saturated
//                requests per second and CPU per request, in alternating halves (ABBA).
//
// Synthetic patients: inserted set-wise with generate_series by the superuser of this throwaway
// cluster with session_replication_role = replica, so no trigger runs for them (the patient number
// trigger, the plan quota, the audit, and the foreign keys' triggers). They stay valid under every
// constraint and rule all the same: patient numbers PT-<the clinic's local year>-00001… consecutive
// per clinic with the clinic's counter row set to the last one (the next registration continues the
// series: checked through the API before timing), clinics on the plan without a patient limit, every
// clinic_id an existing clinic (checked after the load), check constraints enforced as always. Only
// their audit rows are missing. Secondary indexes are dropped for the load and rebuilt from their own
// definitions (pg_get_indexdef) afterwards, then the table is vacuumed and analysed.
//
// Options: BENCH_SECONDS (per timed run, default 5), BENCH_ROUNDS (3), BENCH_CONNECTIONS (16),
// BENCH_LOG_LEVEL (the servers' LOG_LEVEL, default info), BENCH_SEARCH_PATIENTS (100000: patients of
// the measured clinic), BENCH_TOTAL_PATIENTS (1000000: patients in that database in all, the others in
// clinics of BENCH_CLINIC_PATIENTS), BENCH_CLINICS (1000) and BENCH_CLINIC_PATIENTS (1000) for (d),
// BENCH_SEARCH_QUERIES (200 per round), BENCH_DOCTORS (50), BENCH_SQL_BOOKINGS (20000 rows per variant
// and round), BENCH_SQL_BACKGROUND (100000 active appointments in each scratch copy before timing),
// BENCH_PARTS (default a,b,c,d: the parts to run). BENCH_PROFILE=1 (or =bare): no rounds; the
// patient read of (a) alone (or its bare route) with the server's CPU profiler on, summarised as
// bench:http does (BENCH_PARTS=a skips the databases of (d)).
// Not a test: a report (Markdown on stdout, progress on stderr).
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import os from 'node:os';
import pg from 'pg';
import { generateSigningKey } from '../src/auth/keys.ts';
import { hashPassword } from '../src/auth/passwords.ts';
import { type DataKey, formatDataKey, generateDataKey } from '../src/crypto/data-keys.ts';
import { createFieldCipher, type FieldCipher } from '../src/crypto/field-encryption.ts';
import { startThrowawayCluster } from '../src/db/embedded.ts';
import { sealIdentification } from '../src/modules/patients/identification.ts';
import { searchPatientsByName } from '../src/modules/patients/queries.ts';
import { roleUrl } from '../src/config.ts';
import { holdsWorkInProgress, readCurrentMigration, runCurrentMigration } from '../src/db/migrate.ts';
import { createPool } from '../src/db/pool.ts';
import { setupDatabase, withClient, withDatabase } from '../src/db/setup.ts';
import { withTenant } from '../src/db/tenant.ts';
import { FEMALE_FIRST_NAMES, MALE_FIRST_NAMES, SURNAMES } from './bench-names.ts';
import {
  type Driving,
  inTurn,
  type Load,
  log,
  logIn,
  median,
  PASSWORD,
  paced,
  POOL_SIZE,
  profile,
  quantile,
  ROOT,
  row,
  saturate,
  send,
  type Server,
  startServer,
  type Target,
} from './http-load.ts';

const option = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const SECONDS = option('BENCH_SECONDS', 5);
const ROUNDS = option('BENCH_ROUNDS', 3);
const CONNECTIONS = option('BENCH_CONNECTIONS', 16);
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'info';
const SEARCH_PATIENTS = option('BENCH_SEARCH_PATIENTS', 100_000);
const TOTAL_PATIENTS = option('BENCH_TOTAL_PATIENTS', 1_000_000);
const CLINICS = option('BENCH_CLINICS', 1000);
const CLINIC_PATIENTS = option('BENCH_CLINIC_PATIENTS', 1000);
const SEARCH_QUERIES = option('BENCH_SEARCH_QUERIES', 200);
const DOCTORS = option('BENCH_DOCTORS', 50);
const SQL_BOOKINGS = option('BENCH_SQL_BOOKINGS', 20_000);
const SQL_BACKGROUND = option('BENCH_SQL_BACKGROUND', 100_000);
const PROFILE = ({ '1': 'api', api: 'api', bare: 'bare' } as const)[process.env.BENCH_PROFILE ?? ''];
const PARTS = new Set((process.env.BENCH_PARTS ?? 'a,b,c,d').split(',').map((p) => p.trim()));
const EXEMPT_ROLE = 'bench_front_desk_rls_exempt';
const RECEPTIONIST = { email: 'bench-receptionist@clinicbase.test', password: 'bench front desk receptionist passphrase' };
/** How many patient ids the reads cycle through. */
const READ_IDS = 200;
/** Rows per INSERT … SELECT of the generator: one progress line each. */
const CHUNK = 50_000;
/** Office hours of every bench doctor and the clinic, every day of the week: 48 slots of 15 minutes. */
const DAY_START_HOUR = 8;
const SLOTS_PER_DAY = 48;
const SLOT_MINUTES = 15;
const driving: Driving = { seconds: SECONDS, connections: CONNECTIONS };

/** A database of the run and what it holds. */
interface Seeded {
  url: string;
  /** The clinic whose patients are read (the searched one in the main database). */
  clinicId: string;
  slug: string;
  patientIds: string[];
  /** The last patient number of that clinic's synthetic series, e.g. PT-2026-100000. */
  lastPatientNumber: string;
  doctorIds: string[];
  /** Departments of that clinic: bench:http's read, as a reference in the same run. */
  departmentIds: string[];
}

// ---------------------------------------------------------------------------------------------
// Data

/** One migrated database to copy: CREATE DATABASE … TEMPLATE is a file copy, migrating three times is not. */
async function migratedTemplate(): Promise<string> {
  log('migrating a template database');
  const url = withDatabase(cluster.adminUrl, 'bench_template');
  const { ownerUrl } = await setupDatabase({ adminUrl: url, rolePassword: PASSWORD });
  // A branch's migration in progress too (committed migrations only on main), as the tests run it.
  if (holdsWorkInProgress(await readCurrentMigration())) {
    log('applying migrations/current.sql (work in progress) to the template');
    await runCurrentMigration(ownerUrl!);
  }
  await withClient(url, (client) =>
    client.query(`
      create role ${EXEMPT_ROLE} login bypassrls password '${PASSWORD}';
      grant usage on schema app_public to ${EXEMPT_ROLE};
      grant select on app_public.patients, app_public.departments to ${EXEMPT_ROLE};`),
  );
  return 'bench_template';
}

interface Shape {
  /** Patients of the measured clinic. */
  measured: number;
  /** How many other clinics, of `perClinic` patients each. */
  others: number;
  perClinic: number;
  /** Doctors of the measured clinic (bookings). */
  doctors: number;
}

async function generate(template: string, name: string, shape: Shape, dataKey: DataKey): Promise<Seeded> {
  const total = shape.measured + shape.others * shape.perClinic;
  log(
    `${name}: 1 clinic of ${shape.measured.toLocaleString('en')} patients + ${shape.others} of ${shape.perClinic.toLocaleString('en')}: ${total.toLocaleString('en')} patients`,
  );
  await withClient(cluster.adminUrl, (client) => client.query(`create database ${name} template ${template}`));
  const url = withDatabase(cluster.adminUrl, name);
  // Database-level grants are not copied with the template.
  await setupDatabase({ adminUrl: url, rolePassword: PASSWORD });
  await withClient(url, (client) => client.query(`grant connect on database ${name} to ${EXEMPT_ROLE}`));
  return withClient(url, async (admin) => {
    const { rows: clinics } = await admin.query<{ id: string; slug: string; year: string }>(
      `insert into app_public.clinics (slug, name, plan, plan_status)
         select case when g = 0 then 'front-desk' else 'clinic-' || g end, 'Clinic ' || g, 'enterprise', 'active' from generate_series(0, $1) g
       returning id, slug, to_char(now() at time zone timezone, 'YYYY') as year`,
      [shape.others],
    );
    await admin.query(
      `insert into app_public.clinic_settings (clinic_id, appointment_slot_minutes, operating_hours) select id, $1, $2 from app_public.clinics`,
      [SLOT_MINUTES, weekHours()],
    );
    const measured = clinics.find((c) => c.slug === 'front-desk')!;
    await members(admin, measured.id, shape.doctors);
    const departments = await admin.query<{ id: string }>(
      `insert into app_public.departments (clinic_id, code, name) select $1, 'D' || g, 'Department ' || g from generate_series(1, $2) g returning id`,
      [measured.id, READ_IDS],
    );
    await loadPatients(admin, name, [
      { clinicId: measured.id, year: measured.year, count: shape.measured },
      ...clinics.filter((c) => c !== measured).map((c) => ({ clinicId: c.id, year: c.year, count: shape.perClinic })),
    ]);
    const patients = await admin.query<{ id: string }>('select id from app_public.patients where clinic_id = $1 order by random() limit $2', [
      measured.id,
      READ_IDS,
    ]);
    await identify(
      admin,
      createFieldCipher([dataKey]),
      measured.id,
      patients.rows.map((r) => r.id),
    );
    const doctors = await admin.query<{ id: string }>(
      `select id from app_public.clinic_members where clinic_id = $1 and role = 'doctor' order by display_name`,
      [measured.id],
    );
    return {
      url,
      clinicId: measured.id,
      slug: measured.slug,
      patientIds: patients.rows.map((r) => r.id),
      lastPatientNumber: patientNumber(measured.year, shape.measured),
      doctorIds: doctors.rows.map((r) => r.id),
      departmentIds: departments.rows.map((r) => r.id),
    };
  });
}

/**
 * The patients the reads cycle through get an identification number, sealed as the patients module
 * seals it: the API's read decrypts it (and the receptionist sees it whole), as it would for most
 * real records. Triggers on (audit, updated_at): an ordinary change.
 */
async function identify(admin: pg.Client, cipher: FieldCipher, clinicId: string, ids: string[]): Promise<void> {
  const sealed = ids.map((_, i) => sealIdentification(cipher, clinicId, `ID${String(700_000_000 + i * 7919)}`));
  await admin.query(
    `update app_public.patients p set identification_type = 'national_id', identification_number_ciphertext = s.ciphertext, identification_number_hmac = s.hmac
     from unnest($2::uuid[], $3::text[], $4::text[]) as s(id, ciphertext, hmac) where p.clinic_id = $1 and p.id = s.id`,
    [clinicId, ids, sealed.map((s) => s.identificationNumberCiphertext), sealed.map((s) => s.identificationNumberHmac)],
  );
}

/** `{"mon": [["08:00", "20:00"]], …}`: every day of the week, for the clinic and its doctors. */
function weekHours(): string {
  const until = `${String(DAY_START_HOUR + (SLOTS_PER_DAY * SLOT_MINUTES) / 60).padStart(2, '0')}:00`;
  const from = `${String(DAY_START_HOUR).padStart(2, '0')}:00`;
  return JSON.stringify(Object.fromEntries(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((day) => [day, [[from, until]]])));
}

const patientNumber = (year: string, n: number) => `PT-${year}-${String(n).padStart(5, '0')}`;

/** The receptionist who logs in, and the doctors bookings go to (accounts, memberships: the normal path, triggers on). */
async function members(admin: pg.Client, clinicId: string, doctors: number): Promise<void> {
  const hash = await hashPassword(RECEPTIONIST.password);
  await admin.query(
    `with account as (insert into app_private.accounts (email, password_hash) values ($2, $3) returning id)
     insert into app_public.clinic_members (clinic_id, account_id, role, display_name) select $1, id, 'receptionist', 'Bench Receptionist' from account`,
    [clinicId, RECEPTIONIST.email, hash],
  );
  await admin.query(
    `with accounts as (
       insert into app_private.accounts (email, password_hash)
         select 'bench-doctor-' || g || '@clinicbase.test', $2 from generate_series(1, $3) g returning id, email)
     insert into app_public.clinic_members (clinic_id, account_id, role, display_name, office_hours)
       select $1, id, 'doctor', 'Doctor ' || lpad(substring(email from 'doctor-([0-9]+)@'), 4, '0'), $4 from accounts`,
    [clinicId, hash, doctors, weekHours()],
  );
}

/**
 * The patients, set-wise: INSERT … SELECT over generate_series in chunks of CHUNK rows (a progress
 * line each), triggers off (see the header for why the rows stay valid), the secondary indexes
 * dropped for the load and rebuilt from their definitions; then each clinic's counter row, a check
 * of the clinic references the skipped foreign-key triggers would have made, VACUUM ANALYZE.
 */
async function loadPatients(admin: pg.Client, database: string, clinics: { clinicId: string; year: string; count: number }[]): Promise<void> {
  const total = clinics.reduce((sum, c) => sum + c.count, 0);
  const { rows: indexes } = await admin.query<{ name: string; definition: string }>(`
    select i.indexrelid::regclass::text as name, pg_get_indexdef(i.indexrelid) as definition
    from pg_index i where i.indrelid = 'app_public.patients'::regclass
      and not exists (select from pg_constraint c where c.conindid = i.indexrelid)`);
  for (const index of indexes) await admin.query(`drop index ${index.name}`);
  await admin.query(`set session_replication_role = replica; set maintenance_work_mem = '512MB'; select setseed(0.42)`);
  const start = performance.now();
  let done = 0;
  for (const chunk of chunks(clinics, CHUNK)) {
    await admin.query(INSERT_PATIENTS, [
      chunk.map((c) => c.clinicId),
      chunk.map((c) => c.year),
      chunk.map((c) => c.from),
      chunk.map((c) => c.to),
      FEMALE_FIRST_NAMES,
      MALE_FIRST_NAMES,
      SURNAMES,
    ]);
    done += chunk.reduce((sum, c) => sum + c.to - c.from + 1, 0);
    const seconds = (performance.now() - start) / 1000;
    log(`${database}: ${done.toLocaleString('en')} / ${total.toLocaleString('en')} patients (${Math.round(done / seconds).toLocaleString('en')} rows/s)`);
  }
  await admin.query('set session_replication_role = origin');
  for (const index of indexes) {
    const began = performance.now();
    await admin.query(index.definition);
    log(`${database}: rebuilt ${index.name} in ${((performance.now() - began) / 1000).toFixed(1)} s`);
  }
  await admin.query(
    `insert into app_private.clinic_counters (clinic_id, counter, period, last_value)
       select * from unnest($1::uuid[], $2::text[], $3::text[], $4::int[])`,
    [clinics.map((c) => c.clinicId), clinics.map(() => 'patient_number'), clinics.map((c) => c.year), clinics.map((c) => c.count)],
  );
  const orphans = await admin.query<{ n: number }>(
    'select count(*)::int as n from app_public.patients p where not exists (select from app_public.clinics c where c.id = p.clinic_id)',
  );
  if (orphans.rows[0]!.n !== 0) throw new Error(`${orphans.rows[0]!.n} patients of no clinic`);
  const began = performance.now();
  await admin.query('vacuum (analyze) app_public.patients');
  log(
    `${database}: vacuum analyze in ${((performance.now() - began) / 1000).toFixed(1)} s; ${Math.round((performance.now() - start) / 1000)} s for the patients in all`,
  );
}

/** Patient number ranges per clinic, cut into pieces of at most `size` rows in all. */
function* chunks(clinics: { clinicId: string; year: string; count: number }[], size: number) {
  let chunk: { clinicId: string; year: string; from: number; to: number }[] = [];
  let rows = 0;
  for (const clinic of clinics) {
    for (let from = 1; from <= clinic.count; ) {
      const to = Math.min(clinic.count, from + (size - rows) - 1);
      chunk.push({ clinicId: clinic.clinicId, year: clinic.year, from, to });
      rows += to - from + 1;
      from = to + 1;
      if (rows === size) {
        yield chunk;
        [chunk, rows] = [[], 0];
      }
    }
  }
  if (chunk.length) yield chunk;
}

/**
 * One chunk of synthetic patients. Names: a first name by sex and a surname, each list's top
 * favoured (power 2 and 1.5 of a uniform draw), a sixth with a middle name, one in twelve with a
 * double surname. Dates of birth 1930–2023; a phone for nine in ten, an e-mail for four, an address
 * for six, a blood group for half. $1–$4: the clinic, its year and the number range of each piece;
 * $5–$7: the name lists.
 */
const INSERT_PATIENTS = `
  insert into app_public.patients (clinic_id, patient_number, full_name, date_of_birth, sex, phone, email, address, blood_group, status, created_at, updated_at)
  select clinic_id, 'PT-' || year || '-' || lpad(n::text, greatest(5, length(n::text)), '0'),
    first_name || coalesce(' ' || middle_name, '') || ' ' || surname || coalesce('-' || second_surname, ''),
    date '1930-01-01' + floor(random() * 34000)::int, sex,
    case when random() < 0.9 then '+1 555 ' || lpad(floor(random() * 10000000)::text, 7, '0') end,
    case when random() < 0.4 then lower(regexp_replace(first_name || '.' || surname, '[^A-Za-z.-]', '', 'g')) || n || '@example.com' end,
    case when random() < 0.6 then (1 + floor(random() * 300))::int || ' ' || surname || ' Street' end,
    case when random() < 0.5 then (array['A+', 'A-', 'B+', 'B-', 'AB+', 'AB-', 'O+', 'O-'])[1 + floor(random() * 8)::int] end,
    case when random() < 0.9 then 'registered' else 'discharged' end,
    created_at, created_at
  from (
    -- OFFSET 0 keeps each level's random() draws one per row (a subquery with volatile
    -- expressions is not flattened into the one above, whose references would draw again).
    select clinic_id, year, n, sex, created_at,
      first_names[1 + floor(power(random(), 2) * cardinality(first_names))::int] as first_name,
      case when random() < 0.17 then first_names[1 + floor(random() * cardinality(first_names))::int] end as middle_name,
      ($7::text[])[1 + floor(power(random(), 1.5) * cardinality($7::text[]))::int] as surname,
      case when random() < 0.08 then ($7::text[])[1 + floor(random() * cardinality($7::text[]))::int] end as second_surname
    from (
      select r.clinic_id, r.year, g as n,
        (array['female', 'male', 'other', 'unknown'])[1 + width_bucket(random(), array[0.49, 0.98, 0.99])] as sex,
        now() - random() * interval '8 years' as created_at
      from unnest($1::uuid[], $2::text[], $3::int[], $4::int[]) as r(clinic_id, year, first_n, last_n)
      cross join lateral generate_series(r.first_n, r.last_n) g
      offset 0
    ) drawn
    cross join lateral (select case when sex = 'female' or (sex <> 'male' and n % 2 = 0) then $5::text[] else $6::text[] end as first_names) f
    offset 0
  ) named`;

// ---------------------------------------------------------------------------------------------
// (a) and (d): the patient read

interface ReadTargets {
  api: Target;
  bare: Target;
  /** bench:http's department read on the same server with the same token: what the patient read adds to a plain read. */
  department: Target;
  token: string;
}

function readTargets(server: Server, db: Seeded, token: string): ReadTargets {
  const headers = { authorization: `Bearer ${token}` };
  return {
    api: { name: 'api', server, origin: server.api, requests: db.patientIds.map((id) => ({ method: 'GET', path: patientPath(db.slug, id), headers })) },
    bare: {
      name: 'bare',
      server,
      origin: server.bare,
      requests: db.patientIds.map((id) => ({ method: 'GET', path: `/bare/clinics/${db.clinicId}/patients/${id}` })),
    },
    department: {
      name: 'department',
      server,
      origin: server.api,
      requests: db.departmentIds.map((id) => ({ method: 'GET', path: `/api/v1/clinics/${db.slug}/departments/${id}`, headers })),
    },
    token,
  };
}

const patientPath = (slug: string, id: string) => `/api/v1/clinics/${slug}/patients/${id}`;

/** Before timing: the API and the bare route return the same patient, and the API's read wrote its access-log row. */
async function checkRead(reads: ReadTargets, db: Seeded): Promise<void> {
  const agent = new http.Agent({ keepAlive: false });
  for (const i of [0, reads.api.requests.length - 1]) {
    const answer = async (target: Target) =>
      JSON.parse(await send(agent, 'GET', target.origin + target.requests[i]!.path, target.requests[i]!.headers)) as Record<string, unknown>;
    const [api, bare] = [await answer(reads.api), await answer(reads.bare)];
    for (const field of ['id', 'patientNumber', 'fullName', 'dateOfBirth']) {
      if (api[field] !== bare[field]) throw new Error(`the API and the bare route answer ${field} differently: ${api[field]} and ${bare[field]}`);
    }
  }
  const logged = await withClient(db.url, (client) =>
    client.query<{ n: number }>(`select count(*)::int as n from app_public.patient_access_log where clinic_id = $1 and action = 'read_record'`, [db.clinicId]),
  );
  if (logged.rows[0]!.n !== 2) throw new Error(`the two reads wrote ${logged.rows[0]!.n} access-log rows, not 2`);
}

/** The synthetic series is one the database continues: the next registration through the API gets the next number. */
async function checkRegistrationContinues(server: Server, db: Seeded, token: string): Promise<void> {
  const body = { fullName: 'Bench Registration Check', dateOfBirth: '1990-01-01', sex: 'unknown', allowDuplicate: true };
  const answer = JSON.parse(
    await send(new http.Agent(), 'POST', `${server.api}/api/v1/clinics/${db.slug}/patients`, { authorization: `Bearer ${token}` }, body, 201),
  ) as { patientNumber: string };
  const [, year, last] = /^PT-(\d{4})-(\d+)$/.exec(db.lastPatientNumber)!;
  const expected = patientNumber(year!, Number(last) + 1);
  if (answer.patientNumber !== expected) throw new Error(`the next registration got ${answer.patientNumber}, not ${expected}`);
}

interface ReadRound {
  api: Load;
  bare: Load;
  department: Load;
  half: { rate: number; p50: number; p99: number };
  bareHalf: { p50: number; p99: number };
}

async function measureRead(round: number, reads: ReadTargets): Promise<ReadRound> {
  const [api, bare] = await inTurn(round, reads.api, reads.bare, driving);
  const department = await saturate(reads.department, driving);
  const rate = Math.max(1, Math.round(api.rate / 2));
  const half = { rate, ...(await paced(reads.api, driving, rate)) };
  const bareHalf = await paced(reads.bare, driving, rate);
  log(
    `round ${round} (a): api ${Math.round(api.rate)}/s (${Math.round(api.cpuMicros)} µs CPU), bare ${Math.round(bare.rate)}/s (${Math.round(bare.cpuMicros)} µs), ` +
      `ratio ${(api.rate / bare.rate).toFixed(2)}, department read ${Math.round(department.rate)}/s (${Math.round(department.cpuMicros)} µs); at ${rate}/s: api p50 ${half.p50} ms, p99 ${half.p99} ms; bare p50 ${bareHalf.p50}, p99 ${bareHalf.p99}`,
  );
  return { api, bare, department, half, bareHalf };
}

interface TenantsRound {
  one: Load;
  many: Load;
}

/**
 * One clinic against many, saturated in turn in halves of SECONDS: one, many, many, one (or the
 * mirror in even rounds), so that a burst of the machine's other load, which lasts seconds, falls
 * on both alike more often than in two long runs. Requests per second and CPU per request over both
 * halves of each.
 */
async function measureTenants(round: number, tenants: { one: ReadTargets; many: ReadTargets }): Promise<TenantsRound> {
  const half = { ...driving, seconds: Math.max(1, SECONDS / 2) };
  const [a, b] = round % 2 === 1 ? [tenants.one.api, tenants.many.api] : [tenants.many.api, tenants.one.api];
  const loads = new Map<Target, Load[]>([
    [a, []],
    [b, []],
  ]);
  for (const target of [a, b, b, a]) loads.get(target)!.push(await saturate(target, half));
  const both = (target: Target): Load => {
    const [x, y] = loads.get(target)!;
    return { rate: (x!.rate + y!.rate) / 2, cpuMicros: (x!.cpuMicros + y!.cpuMicros) / 2 };
  };
  const [one, many] = [both(tenants.one.api), both(tenants.many.api)];
  log(
    `round ${round} (d): 1 clinic ${Math.round(one.rate)}/s (${Math.round(one.cpuMicros)} µs), ${CLINICS} clinics ${Math.round(many.rate)}/s (${Math.round(many.cpuMicros)} µs), ratio ${(many.rate / one.rate).toFixed(2)}`,
  );
  return { one, many };
}

// ---------------------------------------------------------------------------------------------
// (b): the name search

interface Query {
  kind: 'full name' | 'surname';
  /** What the receptionist types: the name with one typo. */
  q: string;
  /** The name meant. */
  name: string;
}

/**
 * Names of the measured clinic's patients, each with one typo: a letter dropped, two swapped, one
 * replaced by its neighbour on the keyboard, or one doubled (deterministic per query). Two in
 * three are full names, one in three a surname alone if it has four letters or more (the harder
 * query: thousands of rows share a common surname's trigrams).
 */
async function typoQueries(db: Seeded, count: number): Promise<Query[]> {
  const { rows } = await withClient(db.url, (client) =>
    client.query<{ full_name: string }>('select full_name from app_public.patients where clinic_id = $1 order by md5(id::text) limit $2', [db.clinicId, count]),
  );
  return rows.map(({ full_name }, i) => {
    // A surname alone when it has four letters or more (a typo in Le or Li leaves too little to search: the API wants two characters).
    const surname = full_name.split(' ').at(-1)!;
    const kind = i % 3 === 2 && surname.length >= 4 ? 'surname' : 'full name';
    const name = kind === 'surname' ? surname : full_name;
    return { kind, q: typo(name, i), name };
  });
}

/** A letter's right-hand neighbour on a QWERTY keyboard (the left one at the end of a row). */
const KEYBOARD_NEIGHBOUR: Record<string, string> = Object.fromEntries(
  ['qwertyuiop', 'asdfghjkl', 'zxcvbnm'].flatMap((keys) => [...keys].map((key, i) => [key, keys[i + 1] ?? keys[i - 1]!])),
);

function typo(name: string, seed: number): string {
  // A position inside a word (not its first letter, where people rarely slip).
  const positions = [...name].flatMap((c, i) => (i > 0 && /[a-z]/.test(c) && /[A-Za-z]/.test(name[i - 1]!) ? [i] : []));
  const at = positions[(seed * 7919) % positions.length]!;
  switch (seed % 4) {
    case 0:
      return name.slice(0, at) + name.slice(at + 1);
    case 1:
      return at + 1 < name.length ? name.slice(0, at) + name[at + 1] + name[at] + name.slice(at + 2) : name.slice(0, at);
    case 2:
      return name.slice(0, at) + (KEYBOARD_NEIGHBOUR[name[at]!] ?? 'e') + name.slice(at + 1);
    default:
      return name.slice(0, at) + name[at] + name.slice(at);
  }
}

const searchPath = (slug: string, q: string) => `/api/v1/clinics/${slug}/patients?q=${encodeURIComponent(q)}&limit=20`;

interface SearchRound {
  byKind: Record<Query['kind'], number[]>;
  /** Queries whose intended name is on the first page. */
  found: number;
  count: number;
}

/** The queries one at a time, as a receptionist types them: each latency, and whether the name meant came back. */
async function measureSearch(server: Server, db: Seeded, token: string, queries: Query[]): Promise<SearchRound> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const result: SearchRound = { byKind: { 'full name': [], surname: [] }, found: 0, count: queries.length };
  for (const query of queries) {
    const began = performance.now();
    const body = await send(agent, 'GET', server.api + searchPath(db.slug, query.q), { authorization: `Bearer ${token}` });
    result.byKind[query.kind].push(performance.now() - began);
    if (body.includes(JSON.stringify(query.name).slice(1, -1))) result.found++;
  }
  agent.destroy();
  const all = [...result.byKind['full name'], ...result.byKind.surname];
  log(`(b): ${queries.length} searches, p50 ${quantile(all, 0.5)} ms, p95 ${quantile(all, 0.95)} ms, intended name on the first page for ${result.found}`);
  return result;
}

/**
 * The plan of the name search as the route runs it: the patients module's own query
 * (searchPatientsByName) through withTenant on a pool of app_authenticator, like the server's,
 * with auto_explain loaded in that one session (the role's settings in this database, set for it
 * and reset once it has connected, before any server starts) logging every statement's plan, the
 * search function's inner statement included, as notices. The sixth search of the session that
 * finds someone is printed: prepared statements and plpgsql's cached plans may have turned generic
 * by then, as on a busy server's connections.
 */
async function searchPlan(db: Seeded, queries: Query[]): Promise<string> {
  const database = new URL(db.url).pathname.slice(1);
  const settings = {
    session_preload_libraries: 'auto_explain',
    'auto_explain.log_min_duration': '0',
    'auto_explain.log_analyze': 'on',
    'auto_explain.log_buffers': 'on',
    'auto_explain.log_nested_statements': 'on',
    'auto_explain.log_level': 'notice',
  };
  const account = await withClient(db.url, async (admin) => {
    for (const [name, value] of Object.entries(settings)) {
      await admin.query(`alter role app_authenticator in database ${database} set ${name} = '${value}'`);
    }
    const { rows } = await admin.query<{ account_id: string }>(
      `select account_id from app_public.clinic_members where clinic_id = $1 and role = 'receptionist'`,
      [db.clinicId],
    );
    return rows[0]!.account_id;
  });
  const pool = createPool({ url: roleUrl(db.url, 'app_authenticator', PASSWORD), size: 1 });
  const notices: string[] = [];
  pool.on('connect', (client) => client.on('notice', (notice) => notices.push(notice.message ?? '')));
  const ctx = { clinicId: db.clinicId, userId: account, role: 'receptionist' as const };
  try {
    let found = 0;
    for (const [i, query] of queries.entries()) {
      if (i === 1) await withClient(db.url, (admin) => admin.query(`alter role app_authenticator in database ${database} reset all`));
      notices.length = 0;
      if ((await withTenant(pool, ctx, (tenantDb) => searchPatientsByName(tenantDb, { text: query.q }, 21))).length > 0) found++;
      if (found === 6) break;
    }
  } finally {
    await pool.end();
  }
  return notices.filter((notice) => !notice.includes('set_config(')).join('\n\n');
}

// ---------------------------------------------------------------------------------------------
// (c): booking

interface Booking {
  /** Patients to book for (one per booking, cycled). */
  patientIds: string[];
  /** The first free day: tomorrow in the clinic (UTC). */
  firstDay: Date;
  /** Next slot index of the HTTP workload (slots are used once). */
  nextSlot: number;
  /** Slot indexes of the SQL workload start here (far from the HTTP ones). */
  sqlBase: number;
}

/**
 * The k-th slot of the bench doctors: doctor k mod D, then their slots in order, SLOTS_PER_DAY a
 * day from DAY_START_HOUR. Distinct for distinct k, and free: nothing else is booked for them.
 */
function slot(booking: Booking, doctorIds: string[], k: number): { doctorId: string; startsAt: string; endsAt: string } {
  const perDoctor = Math.floor(k / doctorIds.length);
  const day = Math.floor(perDoctor / SLOTS_PER_DAY);
  const start = new Date(booking.firstDay.getTime() + day * 86_400_000 + (DAY_START_HOUR * 60 + (perDoctor % SLOTS_PER_DAY) * SLOT_MINUTES) * 60_000);
  return { doctorId: doctorIds[k % doctorIds.length]!, startsAt: start.toISOString(), endsAt: new Date(start.getTime() + SLOT_MINUTES * 60_000).toISOString() };
}

/** The scratch copies of app_public.appointments, with and without the exclusion constraint, each with the same active background. */
async function bookingSetup(db: Seeded): Promise<Booking> {
  const tomorrow = new Date();
  tomorrow.setUTCHours(0, 0, 0, 0);
  const booking: Booking = { patientIds: [], firstDay: new Date(tomorrow.getTime() + 86_400_000), nextSlot: 0, sqlBase: 10_000_000 };
  await withClient(db.url, async (admin) => {
    booking.patientIds = (
      await admin.query<{ id: string }>('select id from app_public.patients where clinic_id = $1 order by md5(id::text) limit 20000', [db.clinicId])
    ).rows.map((r) => r.id);
    await admin.query(`
      create schema bench_scratch;
      create table bench_scratch.with_exclusion (like app_public.appointments including all);
      create table bench_scratch.without_exclusion (like app_public.appointments including all);`);
    const { rows } = await admin.query<{ conname: string }>(
      `select conname from pg_constraint where conrelid = 'bench_scratch.without_exclusion'::regclass and contype = 'x'`,
    );
    if (rows.length !== 1) throw new Error(`the scratch copy has ${rows.length} exclusion constraints, not 1`);
    await admin.query(`alter table bench_scratch.without_exclusion drop constraint ${rows[0]!.conname}`);
    const exclusions = await admin.query(`select 1 from pg_constraint where conrelid = 'bench_scratch.with_exclusion'::regclass and contype = 'x'`);
    if (exclusions.rowCount !== 1) throw new Error('the scratch copy lost its exclusion constraint');
    log(`(c): ${SQL_BACKGROUND.toLocaleString('en')} active appointments in each scratch copy`);
    for (const table of ['with_exclusion', 'without_exclusion']) {
      await admin.query(
        `insert into bench_scratch.${table} (clinic_id, patient_id, doctor_id, starts_at, ends_at, booked_by)
           select $1, ($2::uuid[])[1 + k % cardinality($2::uuid[])], ($3::uuid[])[1 + k % cardinality($3::uuid[])],
             $4::timestamptz + (k / cardinality($3::uuid[]) / $5) * interval '1 day' + (k / cardinality($3::uuid[]) % $5) * interval '${SLOT_MINUTES} minutes',
             $4::timestamptz + (k / cardinality($3::uuid[]) / $5) * interval '1 day' + (k / cardinality($3::uuid[]) % $5 + 1) * interval '${SLOT_MINUTES} minutes',
             ($3::uuid[])[1]
           from generate_series(0, $6 - 1) k`,
        [db.clinicId, booking.patientIds, db.doctorIds, slot(booking, db.doctorIds, 20_000_000).startsAt, SLOTS_PER_DAY, SQL_BACKGROUND],
      );
      await admin.query(`vacuum (analyze) bench_scratch.${table}`);
    }
  });
  return booking;
}

interface BookingRound {
  http: { rate: number; cpuMicros: number; p50: number; p99: number; count: number };
  sql: { with: number; without: number };
}

async function measureBooking(round: number, server: Server, db: Seeded, token: string, booking: Booking): Promise<BookingRound> {
  const overHttp = await bookOverHttp(server, db, token, booking);
  const rows = Array.from({ length: SQL_BOOKINGS }, (_, i) => booking.sqlBase + (round - 1) * SQL_BOOKINGS + i);
  const insert = (table: string) => insertAtSqlLevel(db, booking, table, rows);
  const [first, second] = round % 2 === 1 ? ['with_exclusion', 'without_exclusion'] : ['without_exclusion', 'with_exclusion'];
  const a = await insert(first);
  const b = await insert(second);
  const sql = first === 'with_exclusion' ? { with: a, without: b } : { with: b, without: a };
  log(
    `round ${round} (c): ${overHttp.count} bookings over HTTP, ${Math.round(overHttp.rate)}/s, p50 ${overHttp.p50} ms, p99 ${overHttp.p99} ms; ` +
      `SQL inserts/s with the exclusion constraint ${Math.round(sql.with)}, without ${Math.round(sql.without)} (${(sql.with / sql.without).toFixed(2)})`,
  );
  return { http: overHttp, sql };
}

/** CONNECTIONS clients booking distinct free slots back to back for SECONDS; every answer must be 201. */
async function bookOverHttp(server: Server, db: Seeded, token: string, booking: Booking): Promise<BookingRound['http']> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  const headers = { authorization: `Bearer ${token}` };
  const latencies: number[] = [];
  const cpuBefore = await server.cpuSeconds();
  const began = performance.now();
  const deadline = began + SECONDS * 1000;
  const client = async () => {
    while (performance.now() < deadline) {
      const k = booking.nextSlot++;
      const { doctorId, startsAt } = slot(booking, db.doctorIds, k);
      const sent = performance.now();
      await send(
        agent,
        'POST',
        `${server.api}/api/v1/clinics/${db.slug}/appointments`,
        headers,
        bookingBody(booking.patientIds[k % booking.patientIds.length]!, doctorId, startsAt),
        201,
      );
      latencies.push(performance.now() - sent);
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, client));
  const seconds = (performance.now() - began) / 1000;
  const cpu = (await server.cpuSeconds()) - cpuBefore;
  agent.destroy();
  return {
    rate: latencies.length / seconds,
    cpuMicros: (cpu * 1e6) / latencies.length,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    count: latencies.length,
  };
}

const bookingBody = (patientId: string, doctorId: string, startsAt: string) => ({ patientId, doctorId, startsAt });

/**
 * The same rows into one scratch copy: single-row INSERTs in autocommit, prepared, CONNECTIONS
 * callers over a pool of POOL_SIZE, as the API's pool would send them; inserts per second.
 */
async function insertAtSqlLevel(db: Seeded, booking: Booking, table: string, ks: number[]): Promise<number> {
  const pool = new pg.Pool({ connectionString: db.url, max: POOL_SIZE });
  const text = `insert into bench_scratch.${table} (clinic_id, patient_id, doctor_id, starts_at, ends_at, booked_by) values ($1, $2, $3, $4, $5, $6)`;
  const name = `bench_insert_${table}_${randomUUID().slice(0, 8)}`;
  let next = 0;
  const began = performance.now();
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (next < ks.length) {
        const k = ks[next++]!;
        const { doctorId, startsAt, endsAt } = slot(booking, db.doctorIds, k);
        await pool.query({ name, text, values: [db.clinicId, booking.patientIds[k % booking.patientIds.length], doctorId, startsAt, endsAt, db.doctorIds[0]] });
      }
    }),
  );
  const rate = ks.length / ((performance.now() - began) / 1000);
  await pool.end();
  return rate;
}

// ---------------------------------------------------------------------------------------------
// Report

interface Round {
  read: ReadRound | undefined;
  tenants: TenantsRound | undefined;
  search: SearchRound | undefined;
  booking: BookingRound | undefined;
}

type Column<T> = [string, (r: T) => number, (v: number) => string];
const n0 = (value: number) => Math.round(value).toLocaleString('en');
const n2 = (value: number) => value.toFixed(2);
const n1 = (value: number) => value.toFixed(1);

/** Rounds as rows, and a median row (of each column; ratios: of the per-round ratios) with the range. */
function table<T>(rounds: T[], columns: Column<T>[]): string {
  const range = (values: number[], format: (v: number) => string) =>
    `${format(median(values))} (${format(Math.min(...values))}–${format(Math.max(...values))})`;
  return [
    row(['round', ...columns.map(([title]) => title)]),
    row(['---', ...columns.map(() => '---')]),
    ...rounds.map((r, i) => row([String(i + 1), ...columns.map(([, value, format]) => format(value(r)))])),
    row(['**median (range)**', ...columns.map(([, value, format]) => range(rounds.map(value), format))]),
  ].join('\n');
}

function report(rounds: Round[], run: { plan: string; generatedIn: number; loadBefore: number[]; loadAfter: number[] }): void {
  const sections: string[] = [];
  const reads = rounds.flatMap((r) => (r.read ? [r.read] : []));
  if (reads.length) {
    sections.push(`### (a) GET …/patients/{id}: the API (token, guard, withTenant, access log) against the bare route

${table(reads, [
  ['api req/s', (r) => r.api.rate, n0],
  ['bare req/s', (r) => r.bare.rate, n0],
  ['api / bare', (r) => r.api.rate / r.bare.rate, n2],
  ['api CPU µs/req', (r) => r.api.cpuMicros, n0],
  ['bare CPU µs/req', (r) => r.bare.cpuMicros, n0],
  ['department read req/s', (r) => r.department.rate, n0],
  ['department CPU µs/req', (r) => r.department.cpuMicros, n0],
  ['half rate', (r) => r.half.rate, n0],
  ['api p50 at half (ms)', (r) => r.half.p50, n1],
  ['api p99 at half (ms)', (r) => r.half.p99, n1],
  ['bare p50 at that rate (ms)', (r) => r.bareHalf.p50, n1],
  ['bare p99 at that rate (ms)', (r) => r.bareHalf.p99, n1],
])}

Targets: api / bare ≥ 0.5; api p99 at half its saturated rate ≤ 10 ms. ${READ_IDS} patients of a clinic of ${SEARCH_PATIENTS.toLocaleString('en')} (each with an encrypted identification number), a receptionist's token.
The department read (bench:http's api target, same server and token) is a reference: what the patient read costs beyond a plain read under RLS.`);
  }
  const tenants = rounds.flatMap((r) => (r.tenants ? [r.tenants] : []));
  if (tenants.length) {
    sections.push(`### (d) the same read with 1 clinic and with ${CLINICS.toLocaleString('en')} clinics of ${CLINIC_PATIENTS.toLocaleString('en')} patients each

${table(tenants, [
  ['1 clinic req/s', (r) => r.one.rate, n0],
  [`${CLINICS} clinics req/s`, (r) => r.many.rate, n0],
  ['many / one', (r) => r.many.rate / r.one.rate, n2],
  ['1 clinic CPU µs/req', (r) => r.one.cpuMicros, n0],
  [`${CLINICS} clinics CPU µs/req`, (r) => r.many.cpuMicros, n0],
])}

Target: many / one within 0.90–1.10. Two databases in one cluster, a server each, saturated in turn in halves of ${SECONDS / 2} s (one, many, many, one; mirrored in even rounds).`);
  }
  const searches = rounds.flatMap((r) => (r.search ? [r.search] : []));
  if (searches.length) {
    const all = (s: SearchRound) => [...s.byKind['full name'], ...s.byKind.surname];
    const pooled = searches.flatMap(all);
    const found = searches.reduce((sum, s) => sum + s.found, 0);
    sections.push(`### (b) name search with a typo: ${SEARCH_PATIENTS.toLocaleString('en')} patients in the clinic, ${TOTAL_PATIENTS.toLocaleString('en')} in the database

${table(searches, [
  ['p50 (ms)', (s) => quantile(all(s), 0.5), n1],
  ['p95 (ms)', (s) => quantile(all(s), 0.95), n1],
  ['full names p95 (ms)', (s) => quantile(s.byKind['full name'], 0.95), n1],
  ['surnames alone p95 (ms)', (s) => quantile(s.byKind.surname, 0.95), n1],
  ['max (ms)', (s) => Math.max(...all(s)), n1],
])}

All ${pooled.length} queries: p50 **${quantile(pooled, 0.5)} ms**, p95 **${quantile(pooled, 0.95)} ms** (target p95 ≤ 50 ms); full names p50 ${quantile(
      searches.flatMap((s) => s.byKind['full name']),
      0.5,
    )} / p95 ${quantile(
      searches.flatMap((s) => s.byKind['full name']),
      0.95,
    )} ms, surnames alone p50 ${quantile(
      searches.flatMap((s) => s.byKind.surname),
      0.5,
    )} / p95 ${quantile(
      searches.flatMap((s) => s.byKind.surname),
      0.95,
    )} ms. The name meant was on the first page (20) for ${found} of ${pooled.length}.
One query at a time over HTTP (a receptionist typing), each a patient's name (two in three) or surname alone with one typo.

The plan (auto_explain in a session of app_authenticator: the route's statement through withTenant, and the search function's statement inside it; the sixth search of the session that found someone, as a receptionist):

\`\`\`
${run.plan.trim()}
\`\`\``);
  }
  const bookings = rounds.flatMap((r) => (r.booking ? [r.booking] : []));
  if (bookings.length) {
    sections.push(`### (c) booking

${table(bookings, [
  ['HTTP bookings', (b) => b.http.count, n0],
  ['HTTP bookings/s', (b) => b.http.rate, n0],
  ['HTTP CPU µs/booking', (b) => b.http.cpuMicros, n0],
  ['HTTP p50 (ms)', (b) => b.http.p50, n1],
  ['HTTP p99 (ms)', (b) => b.http.p99, n1],
  ['SQL inserts/s with the constraint', (b) => b.sql.with, n0],
  ['SQL inserts/s without', (b) => b.sql.without, n0],
  ['with / without', (b) => b.sql.with / b.sql.without, n2],
])}

HTTP: POST …/appointments by a receptionist, ${CONNECTIONS} clients back to back, each request a distinct free slot of one of ${DOCTORS} doctors (201 each).
SQL: ${SQL_BOOKINGS.toLocaleString('en')} single-row INSERTs per variant and round (the same rows into both), ${CONNECTIONS} callers over a pool of ${POOL_SIZE}, into scratch copies of app_public.appointments (LIKE … INCLUDING ALL: checks, defaults, indexes; no triggers, no foreign keys) holding ${SQL_BACKGROUND.toLocaleString('en')} active appointments each, one with appointments_starts_at_excl and one without; the two take turns at going first.`);
  }
  const load = (l: number[]) => l.map((v) => v.toFixed(2)).join(', ');
  console.log(`${sections.join('\n\n')}

${ROUNDS} interleaved rounds, ${SECONDS} s per timed run, ${CONNECTIONS} connections, pool ${POOL_SIZE}, LOG_LEVEL=${LOG_LEVEL}, NODE_ENV=production, Node ${process.versions.node}, embedded Postgres 18, ${os.cpus().length} CPUs.
Data generated in ${Math.round(run.generatedIn)} s. Load average (1, 5, 15 min) before: ${load(run.loadBefore)}; after: ${load(run.loadAfter)}.`);
}

// Last in the file, after every module-level constant is initialised.
async function main(): Promise<void> {
  const loadBefore = os.loadavg();
  const started = performance.now();
  const servers: Server[] = [];
  try {
    const key = generateSigningKey();
    // The servers' DATA_ENCRYPTION_KEY, and the same key here to seal the read patients' identification numbers.
    const dataKey = generateDataKey();
    const serve = async (db: Seeded) => {
      const server = await startServer({ root: ROOT, databaseUrl: db.url, key, dataKey: formatDataKey(dataKey), logLevel: LOG_LEVEL, exemptRole: EXEMPT_ROLE });
      servers.push(server);
      return { server, token: await logIn(server.api, RECEPTIONIST, db.slug) };
    };
    const template = await migratedTemplate();
    const otherClinics = Math.max(0, Math.round((TOTAL_PATIENTS - SEARCH_PATIENTS) / CLINIC_PATIENTS));
    const main = await generate(
      template,
      'front_desk',
      { measured: SEARCH_PATIENTS, others: otherClinics, perClinic: CLINIC_PATIENTS, doctors: DOCTORS },
      dataKey,
    );
    const tenancy = PARTS.has('d')
      ? {
          one: await generate(template, 'tenancy_one', { measured: CLINIC_PATIENTS, others: 0, perClinic: CLINIC_PATIENTS, doctors: 0 }, dataKey),
          many: await generate(template, 'tenancy_many', { measured: CLINIC_PATIENTS, others: CLINICS - 1, perClinic: CLINIC_PATIENTS, doctors: 0 }, dataKey),
        }
      : undefined;
    const generatedIn = (performance.now() - started) / 1000;
    log(`data ready in ${generatedIn.toFixed(0)} s`);

    /** A server on the database, its read targets checked. */
    const servedReads = async (db: Seeded) => {
      const { server, token } = await serve(db);
      const reads = readTargets(server, db, token);
      await checkRead(reads, db);
      return reads;
    };
    // The search's plan before any server starts: the only sessions with auto_explain are its own.
    const queries = PARTS.has('b') ? await typoQueries(main, SEARCH_QUERIES * ROUNDS) : [];
    const plan = PARTS.has('b') ? await searchPlan(main, queries) : '';
    const reads = await servedReads(main);
    const api = { server: reads.api.server, token: reads.token };
    if (PROFILE) return await profile(reads[PROFILE], driving, ROUNDS, LOG_LEVEL);
    await checkRegistrationContinues(api.server, main, api.token);
    const tenants = tenancy && { one: await servedReads(tenancy.one), many: await servedReads(tenancy.many) };
    const booking = PARTS.has('c') ? await bookingSetup(main) : undefined;

    log(`warming up; then ${ROUNDS} rounds, ${SECONDS} s per timed run, ${CONNECTIONS} connections, pool ${POOL_SIZE}`);
    for (const target of [reads.api, reads.bare, reads.department, tenants?.one.api, tenants?.many.api])
      if (target) await saturate(target, { ...driving, seconds: 1 });
    const rounds: Round[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      rounds.push({
        read: PARTS.has('a') ? await measureRead(round, reads) : undefined,
        tenants: tenants ? await measureTenants(round, tenants) : undefined,
        search: PARTS.has('b')
          ? await measureSearch(api.server, main, api.token, queries.slice((round - 1) * SEARCH_QUERIES, round * SEARCH_QUERIES))
          : undefined,
        booking: booking ? await measureBooking(round, api.server, main, api.token, booking) : undefined,
      });
      log(`round ${round} done`);
    }
    report(rounds, { plan, generatedIn, loadBefore, loadAfter: os.loadavg() });
  } finally {
    for (const server of servers) await server.stop();
    await cluster.stop();
  }
}

const cluster = await startThrowawayCluster();
await main();
