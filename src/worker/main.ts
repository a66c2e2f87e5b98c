// `npm run worker`: graphile-worker as its own process, logged in as app_worker
// (DATABASE_WORKER_URL, or derived from DATABASE_URL and DATABASE_ROLE_PASSWORD). SIGTERM/SIGINT
// stop it gracefully: no new job is taken, running ones finish. Several such processes may run at
// once (docs/operations.md).
import closeWithGrace from 'close-with-grace';
import { ConfigError, loadConfig } from '../config.ts';
import { LocalDiskStorage } from '../storage/local-disk.ts';
import { startWorker } from './runner.ts';

const SHUTDOWN_GRACE_MS = 30_000;

function log(message: string, fields: Record<string, unknown> = {}): void {
  console.log(JSON.stringify({ level: 30, time: Date.now(), msg: message, ...fields }));
}

async function main(): Promise<void> {
  const config = loadConfig(undefined, { delivering: true });
  const url = config.database.workerUrl;
  if (!url) {
    throw new ConfigError([
      'DATABASE_WORKER_URL: the worker needs app_worker’s URL (or DATABASE_URL with DATABASE_ROLE_PASSWORD); with the embedded database, `npm start` runs the worker itself (WORKER_IN_PROCESS)',
    ]);
  }
  const worker = await startWorker({ config, url, storage: await LocalDiskStorage.open(config.storageDir), log });
  log('worker started', { concurrency: config.worker.concurrency, lockName: worker.lockName() });
  closeWithGrace({ delay: SHUTDOWN_GRACE_MS }, async ({ signal, err }) => {
    if (err) log('worker stopping after an unexpected error', { err: String(err) });
    else log('worker stopping', { signal });
    // Within close-with-grace's delay: jobs still running a few seconds before it are failed for a prompt retry.
    await worker.stop(SHUTDOWN_GRACE_MS - 5_000);
  });
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
});
