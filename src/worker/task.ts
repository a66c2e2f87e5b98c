// What a task is: a name, a zod schema of its payload, and what it does. defineTenantTask's run
// works in the clinic its payload names and nowhere else: every transaction it opens goes through
// withContext as app_user with that clinic (the same settings as a request's), so RLS shows the task
// that clinic's rows only, whatever ids the payload carries. defineSystemTask's run works in no
// clinic. The wrapper (handlerOf) is the same for both:
//  - a payload its schema refuses fails at once, without retries (it would fail every time);
//  - a suspended clinic's job is put back for later, and runs again on reactivation (the database's
//    trigger `_800_resume_jobs` on app_public.clinics);
//  - an error reaches graphile-worker's `last_error` scrubbed (see scrubbedError): the queue's
//    tables are not under RLS, so nothing stored there may carry health data.
import type { JobHelpers, Task } from 'graphile-worker';
import { sql } from 'kysely';
import type { z } from 'zod';
import type { Config } from '../config.ts';
import type { Pool } from '../db/pool.ts';
import { type TenantContext, type TenantDb, type TransactionOptions, withContext } from '../db/tenant.ts';
import type { BlobStorage } from '../storage/blob-storage.ts';

/** What tasks are given by the process that runs them (src/worker/runner.ts); tests pass their own clock. */
export interface WorkerDeps {
  config: Config;
  /** Tenant transactions: logged in as app_worker, each one becomes app_user (withContext). */
  tenantPool: Pool;
  storage: BlobStorage;
  /** The time tasks act at (a controlled clock in tests). */
  now(): Date;
  log(message: string, fields?: Record<string, unknown>): void;
}

export interface AddJobOptions {
  runAt?: Date;
  jobKey?: string;
  maxAttempts?: number;
  /** graphile-worker's job flags (HELD_FOR_SUSPENSION: reactivation makes the job due at once). */
  flags?: string[];
}

/** One run of one job, as its task sees it. */
export interface JobRun {
  id: string;
  /** This attempt's number, from 1; equal to maxAttempts on the last one. */
  attempts: number;
  maxAttempts: number;
  runAt: Date;
  key: string | null;
  deps: WorkerDeps;
  /** A transaction in the job's clinic (none for a system task: it sees no clinic's rows). */
  withTenant<T>(fn: (db: TenantDb) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /** A transaction in no clinic. */
  withSystem<T>(fn: (db: TenantDb) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /** Enqueues another job through graphile-worker (a fan-out, a retry later); a clinic's task's job carries its clinic, whatever the payload says. */
  addJob(task: string, payload: Record<string, unknown>, options?: AddJobOptions): Promise<void>;
}

export interface TaskDefinition {
  name: string;
  /** Whether the payload names a clinic whose suspension holds the job back. */
  tenant: boolean;
  handler(deps: WorkerDeps): Task;
}

type ClinicPayload = { clinicId: string };

const SUSPENDED_RETRY_MS = 15 * 60 * 1000;

/** A task of one clinic: `payload` must carry `clinicId` (app_private.add_job stamps it). */
export function defineTenantTask<S extends z.ZodType<ClinicPayload>>(spec: {
  name: string;
  payload: S;
  run(payload: z.output<S>, job: JobRun): Promise<void>;
}): TaskDefinition {
  return { name: spec.name, tenant: true, handler: (deps) => handlerOf(spec, deps, (payload) => payload.clinicId) };
}

/** A task of no clinic (deliveries of accounts' mail, the crontab's fan-out). */
export function defineSystemTask<S extends z.ZodType>(spec: {
  name: string;
  payload: S;
  run(payload: z.output<S>, job: JobRun): Promise<void>;
}): TaskDefinition {
  return { name: spec.name, tenant: false, handler: (deps) => handlerOf(spec, deps, () => null) };
}

function handlerOf<S extends z.ZodType>(
  spec: { name: string; payload: S; run(payload: z.output<S>, job: JobRun): Promise<void> },
  deps: WorkerDeps,
  clinicOf: (payload: z.output<S>) => string | null,
): Task {
  return async (rawPayload, helpers) => {
    try {
      const parsed = spec.payload.safeParse(rawPayload);
      if (!parsed.success) {
        await failForGood(helpers);
        throw new JobError(`payload refused: ${parsed.error.issues.map((issue) => issue.path.join('.') || '(payload)').join(', ')}`);
      }
      const clinicId = clinicOf(parsed.data);
      const job = jobRun(helpers, deps, clinicId);
      if (clinicId !== null && (await job.withTenant(clinicStatus)) === 'suspended') {
        await holdBack(helpers, spec.name, deps);
        return;
      }
      await spec.run(parsed.data, job);
    } catch (error) {
      throw scrubbedError(error);
    }
  };
}

/**
 * The flag of a job put back because its clinic is suspended: reactivation makes exactly these due
 * at once (trigger `_800_resume_jobs`), and leaves the clinic's other future jobs (a reminder next
 * week) at their time.
 */
export const HELD_FOR_SUSPENSION = 'held_for_suspension';

/** Puts the job back under its key and attempt limit, flagged, SUSPENDED_RETRY_MS later. */
async function holdBack(helpers: JobHelpers, task: string, deps: WorkerDeps): Promise<void> {
  const { job } = helpers;
  await helpers.addJob(task, job.payload, {
    runAt: new Date(deps.now().getTime() + SUSPENDED_RETRY_MS),
    jobKey: job.key ?? undefined,
    maxAttempts: job.max_attempts,
    flags: [HELD_FOR_SUSPENSION],
  });
  deps.log('job held back: its clinic is suspended', { task, jobId: job.id });
}

async function clinicStatus(db: TenantDb): Promise<string | null> {
  const { rows } = await sql<{ status: string | null }>`select app_hidden.job_clinic_status() as status`.execute(db);
  return rows[0]?.status ?? null;
}

function jobRun(helpers: JobHelpers, deps: WorkerDeps, clinicId: string | null): JobRun {
  const { job } = helpers;
  const contextOf = (clinic: string | null): TenantContext => ({ clinicId: clinic, userId: null, role: null, requestId: `job-${job.id}`, clientIp: null });
  return {
    id: job.id,
    attempts: job.attempts,
    maxAttempts: job.max_attempts,
    runAt: job.run_at,
    key: job.key,
    deps,
    withTenant: (fn, options) => withContext(deps.tenantPool, 'app_user', contextOf(clinicId), fn, options),
    withSystem: (fn, options) => withContext(deps.tenantPool, 'app_user', contextOf(null), fn, options),
    // A clinic's task enqueues for its own clinic only, as app_private.add_job does in SQL.
    addJob: (task, payload, options = {}) =>
      helpers
        .addJob(task, clinicId === null ? payload : { ...payload, clinicId }, {
          runAt: options.runAt,
          jobKey: options.jobKey,
          maxAttempts: options.maxAttempts,
          flags: options.flags,
        })
        .then(() => undefined),
  };
}

/**
 * Makes this attempt the job's last: graphile-worker has no call for a permanent failure, and a job
 * stops being retried once its attempts reach max_attempts. Only this worker holds the job's lock.
 */
async function failForGood(helpers: JobHelpers): Promise<void> {
  await helpers.query('update graphile_worker._private_jobs set max_attempts = attempts where id = $1', [helpers.job.id]);
}

/** An error whose message its author wrote without data from a record: stored as it is. */
export class JobError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JobError';
  }
}

/**
 * What graphile-worker may store of an error: a JobError's own words; of anything else its class,
 * SQLSTATE, constraint, and code (never the message or detail, which can quote a row's values:
 * `Key (email)=(…) already exists`, a name in a check's failing row).
 */
export function scrubbedError(error: unknown): Error {
  if (error instanceof JobError) return error;
  const fields = (error ?? {}) as { name?: unknown; code?: unknown; constraint?: unknown; routine?: unknown };
  const parts = [typeof fields.name === 'string' && /^\w{1,64}$/.test(fields.name) ? fields.name : 'Error'];
  if (typeof fields.code === 'string' && /^[\w.-]{1,64}$/.test(fields.code)) parts.push(`code ${fields.code}`);
  if (typeof fields.constraint === 'string' && /^\w{1,63}$/.test(fields.constraint)) parts.push(`constraint ${fields.constraint}`);
  return new JobError(parts.join(' '));
}
