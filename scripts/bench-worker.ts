// `npm run bench:worker`: the job queue on this machine (issue 12, point 9), on a throwaway embedded
// cluster, with the worker in this process (src/worker/runner.ts's startWorker: the pools, the task
// wrapper and graphile-worker as `npm run worker` runs them; no batched jobs, no local queue).
//
//   enqueue   jobs added one per statement, as a request's trigger adds them, by BENCH_CONNECTIONS
//             callers: the trivial task through app_private.add_system_job, the reminder task through
//             its own SQL path (app_private.queue_appointment_reminder on a booked appointment, the
//             booking trigger's call); jobs per second.
//   drain     BENCH_JOBS jobs queued beforehand, then a worker started: jobs per second from its start
//             until the queue holds none of them, at each concurrency of BENCH_CONCURRENCIES
//             (graphile-worker's pool is concurrency + 2 connections, the tenant pool concurrency).
//   latency   an idle worker (the best concurrency of the drain) and BENCH_LATENCY_JOBS jobs enqueued at
//             BENCH_LATENCY_RATE per second: from the job's created_at (the enqueuing transaction's
//             start) to the moment its task starts, p50 and p99.
//
// The trivial task (bench__noop, a system task doing nothing) is registered by this script only.
// The reminder task is src/worker/tasks' appointments__remind: one tenant transaction writing the
// patient's outbox row through app_hidden.write_appointment_reminder (and, after the core's clinic
// check, its own). Its appointments are inserted set-wise with triggers off (no jobs queued by them;
// the bench queues its own), each a distinct future slot of one doctor, each patient with an e-mail.
//
// Options: BENCH_JOBS (20000 per drain), BENCH_ENQUEUE_JOBS (10000 per enqueue run), BENCH_CONNECTIONS
// (8), BENCH_CONCURRENCIES (4,8,16), BENCH_REMINDER_JOBS (5000), BENCH_LATENCY_JOBS (2000),
// BENCH_LATENCY_RATE (200), BENCH_DURABLE (1: commits flushed to disk, as in production; default off, as
// every bench's throwaway cluster), BENCH_ROUNDS (3: the drains and enqueues interleaved, the trivial task's and
// the reminder's back to back at each concurrency, medians reported). Not a test: a report (Markdown on stdout, progress on stderr).
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Task } from 'graphile-worker';
import pg from 'pg';
import { z } from 'zod';
import { loadConfig, roleUrl } from '../src/config.ts';
import { type EmbeddedCluster, freePort, startEmbeddedPostgres, startThrowawayCluster } from '../src/db/embedded.ts';
import { holdsWorkInProgress, readCurrentMigration, runCurrentMigration } from '../src/db/migrate.ts';
import { setupDatabase, withDatabase } from '../src/db/setup.ts';
import { LocalDiskStorage } from '../src/storage/local-disk.ts';
import { startWorker } from '../src/worker/runner.ts';
import { defineSystemTask, type TaskDefinition } from '../src/worker/task.ts';
import { TASKS } from '../src/worker/tasks/index.ts';

const JOBS = Number(process.env.BENCH_JOBS ?? 20_000);
const ENQUEUE_JOBS = Number(process.env.BENCH_ENQUEUE_JOBS ?? 10_000);
const REMINDER_JOBS = Number(process.env.BENCH_REMINDER_JOBS ?? 5_000);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 8);
const CONCURRENCIES = (process.env.BENCH_CONCURRENCIES ?? '4,8,16').split(',').map(Number);
const LATENCY_JOBS = Number(process.env.BENCH_LATENCY_JOBS ?? 2_000);
const LATENCY_RATE = Number(process.env.BENCH_LATENCY_RATE ?? 200);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** BENCH_DURABLE=1: a cluster with fsync and synchronous_commit on, as production runs (the throwaway one has them off). */
const DURABLE = process.env.BENCH_DURABLE === '1';
const PASSWORD = 'clinicbase-bench-only';
const NOOP = 'bench__noop';
const REMIND = 'appointments__remind';

const log = (message: string) => console.error(`# ${message}`);

/** Task start minus the job's created_at, in ms, per task: the latency part's readings. */
const startDelays = new Map<string, number[]>();
let recording = false;
/** When the first job of the current drain started (a drain's clock starts there, not at the worker's start-up). */
let firstStartAt: number | undefined;

/** The task, with its start noted (and, while `recording`, its delay) before it runs. */
function timed(task: TaskDefinition): TaskDefinition {
  return {
    ...task,
    handler: (deps) => {
      const run = task.handler(deps);
      const wrapped: Task = (payload, helpers) => {
        firstStartAt ??= performance.now();
        if (recording) {
          const delays = startDelays.get(task.name) ?? [];
          delays.push(Date.now() - helpers.job.created_at.getTime());
          startDelays.set(task.name, delays);
        }
        return run(payload, helpers);
      };
      return wrapped;
    },
  };
}

const noop = timed(defineSystemTask({ name: NOOP, payload: z.object({ n: z.int() }), run: async () => {} }));
const remindDefinition = TASKS.find((task) => task.name === REMIND);
const remind = remindDefinition && timed(remindDefinition);

const cluster = DURABLE ? await startDurableCluster() : await startThrowawayCluster();
const storageDir = await mkdtemp(path.join(os.tmpdir(), 'clinicbase-bench-worker-'));
try {
  const url = withDatabase(cluster.adminUrl, 'clinicbase');
  const { ownerUrl } = await setupDatabase({ adminUrl: url, rolePassword: PASSWORD });
  // A branch's migration in progress too (committed migrations only on main), as the tests run it.
  if (holdsWorkInProgress(await readCurrentMigration())) {
    log('applying migrations/current.sql (work in progress)');
    await runCurrentMigration(ownerUrl!);
  }
  // Connections still open when the cluster stops end with an error nobody needs to hear.
  const owner = new pg.Pool({ connectionString: ownerUrl, max: CONNECTIONS, idleTimeoutMillis: 0 }).on('error', () => {});
  const admin = new pg.Pool({ connectionString: url, max: 2 }).on('error', () => {});
  try {
    const rig: Rig = { owner, admin, workerUrl: roleUrl(url, 'app_worker', PASSWORD), storage: await LocalDiskStorage.open(storageDir) };
    const results = await measure(rig);
    report(results);
  } finally {
    await Promise.all([owner.end(), admin.end()]);
  }
} finally {
  await cluster.stop();
  await rm(storageDir, { recursive: true, force: true });
}

/** A cluster with Postgres's durable defaults (every commit flushed), in a temporary folder removed on stop. */
async function startDurableCluster(): Promise<EmbeddedCluster> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'clinicbase-pg-durable-'));
  const cluster = await startEmbeddedPostgres({ dataDir: path.join(dir, 'pg'), port: await freePort() });
  return {
    ...cluster,
    stop: async () => {
      await cluster.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

interface Rig {
  owner: pg.Pool;
  admin: pg.Pool;
  workerUrl: string;
  storage: LocalDiskStorage;
}

/** Readings per round: jobs per second by task (and by concurrency for the drains); latency once. */
interface Results {
  enqueue: Record<string, number[]>;
  drain: Record<string, Record<number, number[]>>;
  latency: Record<string, { p50: number; p99: number; n: number }>;
  best: number;
}

async function measure(rig: Rig): Promise<Results> {
  const tasks = remind ? [NOOP, REMIND] : [NOOP];
  const results: Results = {
    enqueue: Object.fromEntries(tasks.map((task) => [task, []])),
    drain: Object.fromEntries(tasks.map((task) => [task, Object.fromEntries(CONCURRENCIES.map((c) => [c, []]))])),
    latency: {},
    best: CONCURRENCIES[0]!,
  };
  await sanityCheck(rig);
  const queueReminder = remind ? await reminderJobs(rig) : undefined;
  if (!queueReminder) log(`${REMIND} is not among src/worker/tasks: the reminder columns stay empty`);
  log('warming up');
  await fillNoop(rig, Math.min(JOBS, 2_000));
  await drainRate(rig, [noop], NOOP, Math.min(JOBS, 2_000), CONCURRENCIES.at(-1)!);

  for (let round = 1; round <= ROUNDS; round++) {
    results.enqueue[NOOP]!.push(await enqueueRate(rig, NOOP, ENQUEUE_JOBS, addNoop));
    await clearQueue(rig);
    for (const concurrency of CONCURRENCIES) {
      await fillNoop(rig, JOBS);
      results.drain[NOOP]![concurrency]!.push(await drainRate(rig, [noop], NOOP, JOBS, concurrency));
      if (!(remind && queueReminder)) continue;
      await clearReminders(rig);
      results.enqueue[REMIND]!.push(await enqueueRate(rig, REMIND, REMINDER_JOBS, queueReminder));
      results.drain[REMIND]![concurrency]!.push(await drainRate(rig, [remind], REMIND, REMINDER_JOBS, concurrency));
      await expectConfirmations(rig, REMINDER_JOBS);
    }
    log(
      `round ${round}: enqueue ${tasks.map((task) => `${task}=${Math.round(results.enqueue[task]!.at(-1)!)}/s`).join(' ')}; drain ${CONCURRENCIES.map(
        (c) => `c${c}: ${tasks.map((task) => Math.round(results.drain[task]![c]!.at(-1)!)).join('/')}`,
      ).join(' ')}`,
    );
  }
  results.best = CONCURRENCIES.reduce((best, c) => (median(results.drain[NOOP]![c]!) > median(results.drain[NOOP]![best]!) ? c : best));

  log(`latency: ${LATENCY_JOBS} jobs at ${LATENCY_RATE}/s, concurrency ${results.best}`);
  results.latency[NOOP] = await latency(rig, [noop], NOOP, results.best, addNoop);
  if (remind && queueReminder) {
    await clearReminders(rig);
    results.latency[REMIND] = await latency(rig, [remind], REMIND, results.best, queueReminder);
  }
  return results;
}

/** Seeds the reminders' appointments; then a reminder job is one call of the booking trigger's SQL (the i-th appointment's confirmation). */
async function reminderJobs(rig: Rig): Promise<(i: number) => Statement> {
  const appointments = await seedAppointments(rig, Math.max(REMINDER_JOBS, LATENCY_JOBS));
  return (i) => ({
    text: `select app_private.queue_appointment_reminder(a, 'confirmation', null) from app_public.appointments a where a.clinic_id = $1 and a.id = $2`,
    values: [appointments.clinicId, appointments.ids[i]],
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Each task does what it should before anything is timed: the no-op completes; a reminder writes its outbox row. */
async function sanityCheck(rig: Rig): Promise<void> {
  await rig.owner.query(`select app_private.add_system_job('${NOOP}', '{"n": 0}')`);
  await drainRate(rig, [noop], NOOP, 1, 1);
  const left = await rig.admin.query('select count(*)::int as n from graphile_worker.jobs');
  if (left.rows[0].n !== 0) throw new Error(`${NOOP} did not complete`);
}

/** Each reminder job did its work: one confirmation in the outbox per job. */
async function expectConfirmations(rig: Rig, jobs: number): Promise<void> {
  const { rows } = await rig.admin.query(`select count(*)::int as n from app_private.notification_outbox where kind = 'appointment_confirmation'`);
  if (rows[0].n !== jobs) throw new Error(`${rows[0].n} confirmations in the outbox after ${jobs} ${REMIND} jobs`);
}

type Statement = { text: string; values: unknown[] };

/** The trivial task's enqueue: a job of no clinic, as a trigger or definer function adds one. */
function addNoop(i: number): Statement {
  return { text: `select app_private.add_system_job('${NOOP}', json_build_object('n', $1::int)::jsonb)`, values: [i] };
}

/** Adds `jobs` jobs of `task`, one statement each, from CONNECTIONS callers: jobs per second. */
async function enqueueRate(rig: Rig, task: string, jobs: number, statement: (i: number) => Statement): Promise<number> {
  let next = 0;
  const caller = async () => {
    for (let i = next++; i < jobs; i = next++) await rig.owner.query(statement(i));
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: CONNECTIONS }, caller));
  const seconds = (performance.now() - started) / 1000;
  const queued = await countJobs(rig, task);
  if (queued !== jobs) throw new Error(`${queued} ${task} jobs queued, not ${jobs}`);
  return jobs / seconds;
}

/** The queue refilled for a drain run, in one statement (setup, not timed). */
async function fillNoop(rig: Rig, jobs: number): Promise<void> {
  await rig.owner.query(
    `select count(*) from graphile_worker.add_jobs(array(
       select row('${NOOP}', json_build_object('n', g), null, null, null, null, null, null)::graphile_worker.job_spec from generate_series(1, $1) g))`,
    [jobs],
  );
}

async function countJobs(rig: Rig, task: string | null): Promise<number> {
  const { rows } = await rig.admin.query('select count(*)::int as n from graphile_worker.jobs where $1::text is null or task_identifier = $1', [task]);
  return rows[0].n;
}

/** Starts a worker on the queued jobs and times it from its first job's start until none of `task`'s is left. */
async function drainRate(rig: Rig, tasks: TaskDefinition[], task: string, jobs: number, concurrency: number): Promise<number> {
  firstStartAt = undefined;
  const worker = await startWorker({ config: benchConfig(), url: rig.workerUrl, storage: rig.storage, log: () => {}, tasks, concurrency, crontab: '' });
  try {
    while ((await countJobs(rig, task)) > 0) await new Promise((resolve) => setTimeout(resolve, 20));
    return jobs / ((performance.now() - firstStartAt!) / 1000);
  } finally {
    await worker.stop();
  }
}

/** Enqueues at a steady rate into an idle worker and reads how long each job waited to start. */
async function latency(rig: Rig, tasks: TaskDefinition[], task: string, concurrency: number, statement: (i: number) => Statement) {
  const worker = await startWorker({ config: benchConfig(), url: rig.workerUrl, storage: rig.storage, log: () => {}, tasks, concurrency, crontab: '' });
  try {
    startDelays.set(task, []);
    recording = true;
    const sent: Promise<unknown>[] = [];
    const started = performance.now();
    for (let i = 0; i < LATENCY_JOBS; i++) {
      const due = started + (i * 1000) / LATENCY_RATE;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      sent.push(rig.owner.query(statement(i)));
    }
    await Promise.all(sent);
    while ((await countJobs(rig, task)) > 0 || startDelays.get(task)!.length < LATENCY_JOBS) await new Promise((resolve) => setTimeout(resolve, 20));
    recording = false;
    const sorted = [...startDelays.get(task)!].sort((a, b) => a - b);
    return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), n: sorted.length };
  } finally {
    recording = false;
    await worker.stop();
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

async function clearQueue(rig: Rig): Promise<void> {
  await rig.admin.query('delete from graphile_worker._private_jobs');
}

/**
 * The reminders' outbox rows go, so the next run writes them again (their dedup keys would skip
 * them), with every job (the deliveries the outbox queued, which no bench worker runs).
 */
async function clearReminders(rig: Rig): Promise<void> {
  await rig.admin.query('delete from app_private.notification_outbox');
  await clearQueue(rig);
}

function benchConfig() {
  return loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent' });
}

/**
 * One clinic, one doctor, `count` patients with an e-mail and one booked appointment each, a
 * distinct 15-minute slot from tomorrow on: inserted with triggers off (session_replication_role =
 * replica), so no booking trigger queues anything; the rows satisfy every constraint as written.
 */
async function seedAppointments(rig: Rig, count: number): Promise<{ clinicId: string; ids: string[] }> {
  log(`seeding ${count} patients and booked appointments`);
  const client = await rig.admin.connect();
  try {
    await client.query('begin');
    await client.query('set local session_replication_role = replica');
    const { rows: clinics } = await client.query<{ id: string; year: string }>(
      `insert into app_public.clinics (slug, name, plan, plan_status) values ('bench', 'Bench Clinic', 'enterprise', 'active')
       returning id, to_char(now() at time zone timezone, 'YYYY') as year`,
    );
    const clinic = clinics[0]!;
    const { rows: members } = await client.query<{ id: string }>(
      `with account as (insert into app_private.accounts (email, password_hash) values ('bench-doctor@clinicbase.test', '$argon2id$v=19$m=65536,t=3,p=4$bench-never-logs-in') returning id)
       insert into app_public.clinic_members (clinic_id, account_id, role, display_name) select $1, id, 'doctor', 'Bench Doctor' from account returning id`,
      [clinic.id],
    );
    const doctor = members[0]!.id;
    await client.query(
      `insert into app_public.patients (clinic_id, patient_number, full_name, date_of_birth, sex, email, status)
       select $1, 'PT-' || $2 || '-' || lpad(g::text, 5, '0'), 'Bench Patient ' || g, date '1980-01-01', 'unknown', 'patient' || g || '@example.com', 'registered'
       from generate_series(1, $3) g`,
      [clinic.id, clinic.year, count],
    );
    const { rows } = await client.query<{ id: string }>(
      `insert into app_public.appointments (clinic_id, patient_id, doctor_id, starts_at, ends_at, booked_by)
       select $1, p.id, $2, date_trunc('day', now()) + interval '1 day' + n * interval '15 minutes', date_trunc('day', now()) + interval '1 day' + (n + 1) * interval '15 minutes', $2
       from (select id, row_number() over (order by patient_number) as n from app_public.patients where clinic_id = $1) p
       returning id`,
      [clinic.id, doctor],
    );
    await client.query('commit');
    return { clinicId: clinic.id, ids: rows.map((r) => r.id) };
  } catch (error) {
    await client.query('rollback');
    throw error;
  } finally {
    client.release();
  }
}

function report(results: Results): void {
  const rate = (values: number[] | undefined) => (values?.length ? Math.round(median(values)).toLocaleString('en') : 'n/a');
  const ratio = (a: number[] | undefined, b: number[] | undefined) => (a?.length && b?.length ? (median(a) / median(b)).toFixed(2) : 'n/a');
  const ms = (value: number | undefined) => (value === undefined ? 'n/a' : `${Math.round(value)} ms`);
  const drain = (task: string, c: number) => results.drain[task]?.[c];
  const latencyRow = (label: string, key: 'p50' | 'p99') => {
    const [a, b] = [results.latency[NOOP]?.[key], results.latency[REMIND]?.[key]];
    return `| ${label} | ${ms(a)} | ${ms(b)} | ${a && b ? (b / a).toFixed(2) : 'n/a'} |`;
  };
  const bestNoop = median(drain(NOOP, results.best)!);
  console.log(`
| figure (median of ${ROUNDS} rounds) | ${NOOP} (trivial) | ${REMIND} | reminder / trivial |
|---|---|---|---|
| enqueue, jobs/s (one per statement, ${CONNECTIONS} callers) | ${rate(results.enqueue[NOOP])} | ${rate(results.enqueue[REMIND])} | ${ratio(results.enqueue[REMIND], results.enqueue[NOOP])} |
${CONCURRENCIES.map((c) => `| drain, jobs/s, concurrency ${c}${c === results.best ? ' (best)' : ''} | ${rate(drain(NOOP, c))} | ${rate(drain(REMIND, c))} | ${ratio(drain(REMIND, c), drain(NOOP, c))} |`).join('\n')}
${latencyRow(`enqueue → start p50 (concurrency ${results.best}, ${LATENCY_RATE} jobs/s)`, 'p50')}
${latencyRow('enqueue → start p99', 'p99')}

Target: ≥ 1,500 jobs/s drained for the trivial task: ${bestNoop >= 1500 ? 'met' : 'NOT met'} (${Math.round(bestNoop).toLocaleString('en')} at concurrency ${results.best}).
Postgres: embedded 18 (${DURABLE ? 'durable: fsync and synchronous_commit on' : 'throwaway: fsync and synchronous_commit off'}), ${os.cpus().length} cores shared with this process (client and worker), load average at the end ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(
      ' / ',
    )} (1 / 5 / 15 min); drains of ${JOBS.toLocaleString('en')} trivial and ${REMINDER_JOBS.toLocaleString('en')} reminder jobs; latency over ${LATENCY_JOBS.toLocaleString('en')} jobs each.`);
}
