// The worker: graphile-worker over two pools of the app_worker login. The queue pool is
// graphile-worker's own (taking, completing and failing jobs in its schema, which app_worker
// owns); the tenant pool carries the tasks' transactions, each of them app_user with the job's
// clinic (src/worker/task.ts). A task never queries through the queue pool.
import { EventEmitter } from 'node:events';
import { type ParsedCronItem, parseCrontab, run, runOnce, type TaskList, type WorkerEvents } from 'graphile-worker';
import type { Config } from '../config.ts';
import { createPool, type Pool } from '../db/pool.ts';
import { createQueuePool, releaseUnfinishedJobs, WORKER_SCHEMA, workerLogger } from '../db/worker-queue.ts';
import type { BlobStorage } from '../storage/blob-storage.ts';
import { CRONTAB } from './crontab.ts';
import type { TaskDefinition, WorkerDeps } from './task.ts';
import { TASKS } from './tasks/index.ts';

export interface WorkerOptions {
  config: Config;
  /** app_worker's URL. */
  url: string;
  storage: BlobStorage;
  log(message: string, fields?: Record<string, unknown>): void;
  /** Default: the tasks of src/worker/tasks/. */
  tasks?: readonly TaskDefinition[];
  /** Default: src/worker/crontab.ts. */
  crontab?: string;
  /** Default: the system clock. */
  now?: () => Date;
  concurrency?: number;
}

/** What the worker has done since it started: the health endpoint's worker figures. */
export interface WorkerFigures {
  state: 'running' | 'stopping' | 'stopped';
  startedAt: string;
  running: number;
  completed: number;
  failed: number;
}

export interface WorkerHandle {
  figures(): WorkerFigures;
  /** The name graphile-worker locks this process's jobs in (`jobs:list` shows it; `jobs:unlock --worker` takes it after a crash). */
  lockName(): string | undefined;
  /**
   * Takes no new job and lets running ones finish for up to `graceMs` (default 20 s); jobs still
   * running then are unlocked (graphile-worker's force_unlock_workers), so another worker retries
   * them at once instead of after graphile-worker's four-hour lock expiry. Their attempt counts.
   */
  stop(graceMs?: number): Promise<void>;
}

const STOP_GRACE_MS = 20_000;

interface Pools {
  queue: Pool;
  tenant: Pool;
}

function openPools(options: WorkerOptions, concurrency: number): Pools {
  const onIdleError = (error: Error) => options.log('worker connection lost while idle', { err: error.message });
  return {
    queue: createQueuePool(options.url, concurrency, onIdleError),
    tenant: createPool({ url: options.url, size: concurrency, applicationName: 'clinicbase-worker-tasks', onIdleError }),
  };
}

function taskListOf(tasks: readonly TaskDefinition[], deps: WorkerDeps): TaskList {
  return Object.fromEntries(tasks.map((task) => [task.name, task.handler(deps)]));
}

function depsOf(options: WorkerOptions, pools: Pools): WorkerDeps {
  return { config: options.config, tenantPool: pools.tenant, storage: options.storage, now: options.now ?? (() => new Date()), log: options.log };
}

export async function startWorker(options: WorkerOptions): Promise<WorkerHandle> {
  const concurrency = options.concurrency ?? options.config.worker.concurrency;
  const pools = openPools(options, concurrency);
  const figures: WorkerFigures = { state: 'running', startedAt: new Date().toISOString(), running: 0, completed: 0, failed: 0 };
  const events: WorkerEvents = new EventEmitter();
  // Jobs running now and the lock owner graphile-worker wrote on them (the worker pool's id): what
  // stop() unlocks when its grace runs out.
  const lockingWorkers = new Map<string, string>();
  let lockName: string | undefined;
  events.on('pool:create', ({ workerPool }) => {
    lockName = workerPool.id;
  });
  events.on('job:start', ({ worker, job }) => {
    figures.running++;
    lockingWorkers.set(job.id, worker.workerPool.id);
  });
  events.on('job:complete', ({ job }) => lockingWorkers.delete(job.id));
  events.on('job:success', () => {
    figures.running--;
    figures.completed++;
  });
  events.on('job:error', () => {
    figures.running--;
    figures.failed++;
  });
  let runner: Awaited<ReturnType<typeof run>>;
  try {
    runner = await run({
      pgPool: pools.queue,
      schema: WORKER_SCHEMA,
      concurrency,
      noHandleSignals: true,
      logger: workerLogger((message) => options.log(message)),
      events,
      taskList: taskListOf(options.tasks ?? TASKS, depsOf(options, pools)),
      parsedCronItems: cronItems(options.crontab ?? CRONTAB),
    });
  } catch (error) {
    await closePools(pools);
    throw error;
  }
  // graphile-worker stopping by itself (its connection lost for good) must not go unheard: the
  // figures say so, and an in-process worker's end does not become an unhandled rejection.
  runner.promise.then(
    () => {
      figures.state = 'stopped';
    },
    (error: unknown) => {
      figures.state = 'stopped';
      options.log('worker stopped unexpectedly', { err: String(error) });
    },
  );
  return {
    figures: () => ({ ...figures }),
    lockName: () => lockName,
    async stop(graceMs = STOP_GRACE_MS) {
      figures.state = 'stopping';
      let timer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<'over'>((resolve) => {
        timer = setTimeout(() => resolve('over'), graceMs);
      });
      const outcome = await Promise.race([runner.stop().then(() => 'stopped' as const), graceOver]);
      clearTimeout(timer);
      if (outcome === 'over') {
        options.log('worker stop: jobs still running after the grace period are unlocked for a retry', { graceMs, jobs: lockingWorkers.size });
        await releaseUnfinishedJobs(pools.queue, lockingWorkers);
      }
      await closePools(pools);
      figures.state = 'stopped';
    },
  };
}

/** Runs every job due now, one at a time, and returns when none is left (tests, one-off runs). */
export async function runDueJobs(options: WorkerOptions): Promise<void> {
  const pools = openPools(options, 1);
  try {
    await runOnce({
      pgPool: pools.queue,
      schema: WORKER_SCHEMA,
      noHandleSignals: true,
      logger: workerLogger((message) => options.log(message)),
      taskList: taskListOf(options.tasks ?? TASKS, depsOf(options, pools)),
    });
  } finally {
    await closePools(pools);
  }
}

function cronItems(crontab: string): ParsedCronItem[] {
  return parseCrontab(crontab);
}

async function closePools(pools: Pools): Promise<void> {
  await Promise.all([pools.queue.end(), pools.tenant.end()]);
}
