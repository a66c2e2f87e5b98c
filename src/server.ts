// `npm start`: prepare the database (embedded by default), build the app, listen, and shut down
// gracefully on SIGTERM/SIGINT: stop accepting, drain in-flight requests, close pools, stop Postgres.
import closeWithGrace from 'close-with-grace';
import type { FastifyInstance } from 'fastify';
import { appConfigFrom, buildApp } from './app.ts';
import { hashPassword } from './auth/passwords.ts';
import { bootstrapOperator } from './auth/queries.ts';
import { loadSigningKeys } from './auth/keys.ts';
import { type Config, ConfigError, loadConfig } from './config.ts';
import { DataKeyError, loadDataKeys } from './crypto/data-keys.ts';
import { createFieldCipher } from './crypto/field-encryption.ts';
import { withAnonymous } from './db/contexts.ts';
import { EmbeddedPostgresError } from './db/embedded.ts';
import { prepareDatabase } from './db/prepare.ts';
import { StorageUnavailableError } from './storage/local-disk.ts';
import { startWorker, type WorkerHandle } from './worker/runner.ts';

const SHUTDOWN_GRACE_MS = 10_000;

async function main(): Promise<void> {
  const config = loadConfig(undefined, { serving: true });
  const log = (message: string) => console.log(JSON.stringify({ level: 30, time: Date.now(), msg: message }));
  // Before the database: a missing or unreadable key stops the start with nothing else begun.
  const dataKeys = await loadDataKeys(config.dataEncryption);
  const database = await prepareDatabase(config, log);
  // The in-process worker starts once the app is built (it shares the app's storage); until then
  // GET /health/worker reports none.
  let worker: WorkerHandle | undefined;
  const app = await buildApp(
    appConfigFrom(config, {
      authenticatorUrl: database.authenticatorUrl,
      keys: await loadSigningKeys(config.jwt, config.dataDir),
      fieldCipher: createFieldCipher(dataKeys),
    }),
    { workerFigures: () => worker?.figures() },
  );
  if (config.platformBootstrap) await bootstrapPlatformOperator(app, config.platformBootstrap);
  if (config.worker.inProcess) worker = await startInProcessWorker(app, config, database.workerUrl);
  closeWithGrace({ delay: SHUTDOWN_GRACE_MS }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'shutting down after an unexpected error');
    else app.log.info({ signal }, 'shutting down');
    // Side by side within the grace period: the worker fails what it cannot finish in time, so no job stays locked.
    await Promise.all([app.close(), worker?.stop(SHUTDOWN_GRACE_MS - 2_000)]);
    await database.stop();
  });
  await app.listen({ port: config.port, host: config.host });
}

/** WORKER_IN_PROCESS: graphile-worker beside the API, on the same storage, logging through the app's logger. */
async function startInProcessWorker(app: FastifyInstance, config: Config, url: string | undefined): Promise<WorkerHandle> {
  if (!url) throw new ConfigError(['WORKER_IN_PROCESS: the worker needs app_worker’s URL (DATABASE_WORKER_URL, or DATABASE_URL with DATABASE_ROLE_PASSWORD)']);
  const worker = await startWorker({ config, url, storage: app.storage, log: (message, fields) => app.log.info(fields ?? {}, message) });
  app.log.info({ concurrency: config.worker.concurrency, lockName: worker.lockName() }, 'worker started in process');
  return worker;
}

/** PLATFORM_BOOTSTRAP_*: the first operator, only while there is none (the database decides). */
async function bootstrapPlatformOperator(app: FastifyInstance, operator: { email: string; password: string }): Promise<void> {
  const hash = await hashPassword(operator.password);
  const created = await withAnonymous(app.withPlatform, null, (db) => bootstrapOperator(db, operator.email, hash));
  app.log.info({ created }, created ? 'first platform operator created' : 'platform operators exist: bootstrap skipped');
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof EmbeddedPostgresError || error instanceof DataKeyError || error instanceof StorageUnavailableError)
    console.error(error.message);
  else console.error(error);
  process.exit(1);
});
