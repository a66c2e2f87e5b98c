// The worker: graphile-worker over two pools of the app_worker login. The queue pool is
// graphile-worker's own (taking, completing and failing jobs in its schema, which app_worker
// owns); the tenant pool carries the tasks' transactions, each of them app_user with the job's
// clinic (src/worker/task.ts). A task never queries through the queue pool.
import { EventEmitter } from 'node:events';
import { type ParsedCronItem, parseCrontab, run, runOnce, type TaskList, type WorkerEvents } from 'graphile-worker';
import type { Config } from '../config.ts';
import { createPool, type Pool } from '../db/pool.ts';
import { createQueuePool, WORKER_SCHEMA, workerLogger } from '../db/worker-queue.ts';
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
  /** Graceful: takes no new job, lets running ones finish (their locks are released if they must be cut short). */
  stop(): Promise<void>;
}

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
  events.on('job:start', () => figures.running++);
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
  return {
    figures: () => ({ ...figures }),
    async stop() {
      figures.state = 'stopping';
      await runner.stop();
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
