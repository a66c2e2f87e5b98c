// Liveness (the process answers) and readiness (it can reach the database) for orchestrators, and
// the job queue's figures for monitoring (GET /health/worker: never part of readiness, a backlog
// is no reason to stop sending requests).
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { z } from 'zod';
import { withAnonymous } from '../../db/contexts.ts';
import { AppError } from '../../errors.ts';
import type { WorkerFigures } from '../../worker/runner.ts';

const READY_TIMEOUT_MS = 2_000;

const live = z.strictObject({ status: z.literal('ok') });
const ready = z.strictObject({ status: z.literal('ok'), checks: z.strictObject({ database: z.literal('ok') }) });
const count = z.int().min(0);
const worker = z.strictObject({
  status: z.literal('ok'),
  queue: z
    .strictObject({
      waiting: count.describe('jobs whose run_at is still ahead (reminders, retries after a backoff)'),
      due: count.describe('jobs whose time has come, not yet taken by a worker'),
      locked: count.describe('jobs a worker took (running, or held by a worker that died: jobs:unlock)'),
      failed: count.describe('jobs whose attempts are spent (jobs:retry or jobs:cancel)'),
      oldestDueSeconds: z.int().min(0).nullable().describe('how long the oldest due job has waited; null when none is due'),
    })
    .describe('the job queue of the whole deployment, all workers'),
  worker: z
    .strictObject({
      state: z.enum(['running', 'stopping', 'stopped']),
      startedAt: z.iso.datetime(),
      running: count,
      completed: count,
      failed: count,
    })
    .nullable()
    .describe('this process’s own worker (WORKER_IN_PROCESS) since it started; null when it runs none'),
});

export interface HealthOptions {
  /** The in-process worker's figures (WORKER_IN_PROCESS), or undefined while this process runs none. */
  workerFigures?: (() => WorkerFigures | undefined) | undefined;
}

export default async function healthRoutes(app: FastifyInstance, options: HealthOptions): Promise<void> {
  const tags = ['health'];
  app.get('/health/live', { schema: { tags, response: { 200: live } } }, async () => ({ status: 'ok' as const }));

  app.get('/health/ready', { schema: { tags, response: { 200: ready }, problems: ['SERVICE_UNAVAILABLE'] } }, async () => {
    await reachable(withTimeout(app.pool.query('select 1'), READY_TIMEOUT_MS));
    return { status: 'ok' as const, checks: { database: 'ok' as const } };
  });

  app.get('/health/worker', { schema: { tags, response: { 200: worker }, problems: ['SERVICE_UNAVAILABLE'] } }, async () => {
    const queue = await reachable(withTimeout(queueFigures(app), READY_TIMEOUT_MS));
    return { status: 'ok' as const, queue, worker: options.workerFigures?.() ?? null };
  });
}

/** The queue's totals over its tasks, read through app_hidden.job_queue_figures (the queue's tables are app_worker's). */
async function queueFigures(app: FastifyInstance) {
  const { rows } = await withAnonymous(app.withTenant, null, (db) =>
    sql<{ waiting: number; due: number; locked: number; failed: number; oldestDueSeconds: number | null }>`
      select coalesce(sum(waiting), 0)::int as waiting, coalesce(sum(due), 0)::int as due,
             coalesce(sum(locked), 0)::int as locked, coalesce(sum(failed), 0)::int as failed,
             extract(epoch from now() - min(oldest_due_at))::int as oldest_due_seconds
      from app_hidden.job_queue_figures()`.execute(db),
  );
  return rows[0]!;
}

/** `check`'s result, or 503 when the database did not answer (in time). */
async function reachable<T>(check: Promise<T>): Promise<T> {
  try {
    return await check;
  } catch (error) {
    throw new AppError('SERVICE_UNAVAILABLE', undefined, { cause: error });
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
