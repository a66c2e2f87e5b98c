// `npm test`: one throwaway Postgres cluster (or TEST_DATABASE_URL, a superuser URL on a server
// you own), a migrated template database, then tap. Each test file clones the template into a
// database of its own (CREATE DATABASE ... TEMPLATE: fast), so files run in parallel in isolation.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { setTimeout } from 'node:timers/promises';
import pg from 'pg';
import { EmbeddedPostgresError, startThrowawayCluster, type EmbeddedCluster } from '../src/db/embedded.ts';
import { setupDatabase, withClient, withDatabase } from '../src/db/setup.ts';
import { TEST_ROLE_PASSWORD, TEST_TEMPLATE } from './helpers/env.ts';

/** How long closing connections (graphile-migrate's pool) get before the template is sealed by force. */
const TEMPLATE_CLOSE_WAIT_MS = 10_000;
const log = (message: string) => console.error(`# ${message}`);
let cluster: EmbeddedCluster | undefined;
let exitCode = 1;
let phase = 'starting';
// A library that calls process.exit (graphile-migrate does, on an error in its pool) skips the
// finally below: say where the run stopped, so no exit is silent.
process.on('exit', (code) => {
  if (phase !== 'done' && code !== 0) log(`test/run.ts stopped with exit code ${code} while ${phase}; the lines above say why`);
});
try {
  const given = process.env.TEST_DATABASE_URL;
  if (!given) {
    log('starting a throwaway embedded Postgres');
    cluster = await startThrowawayCluster();
  }
  const serverUrl = withDatabase(given ?? cluster!.adminUrl, 'postgres');
  const version = await withClient(serverUrl, async (client) => (await client.query('show server_version')).rows[0].server_version);
  phase = `building template database ${TEST_TEMPLATE}`;
  log(`Postgres ${version}; ${phase}`);
  await dropDatabase(serverUrl, TEST_TEMPLATE);
  // graphile-migrate's warnings and errors are printed (a failing migration says which and why).
  await setupDatabase({ adminUrl: withDatabase(serverUrl, TEST_TEMPLATE), rolePassword: TEST_ROLE_PASSWORD, log: logMigrations });
  phase = 'sealing the template database';
  await sealTemplate(serverUrl);
  phase = 'running tap';
  exitCode = await runTap(serverUrl, process.argv.slice(2));
} catch (error) {
  if (!(error instanceof EmbeddedPostgresError)) throw error;
  console.error(error.message);
} finally {
  phase = 'stopping Postgres';
  await cluster?.stop();
  phase = 'done';
}
process.exit(exitCode);

function logMigrations(message: string): void {
  if (/^migrate (warning|error)/.test(message)) log(message);
}

async function dropDatabase(serverUrl: string, name: string): Promise<void> {
  await withClient(serverUrl, (client) => client.query(`drop database if exists ${pg.escapeIdentifier(name)} with (force)`));
}

/**
 * Nobody may stay connected to a template. When setupDatabase returns, graphile-migrate's pool is
 * still closing (clearAllPools ends it without waiting), and terminating one of its backends then
 * makes that backend send an error to a client the pool still listens to: graphile-migrate's pool
 * error handler calls process.exit(1). So no new connections, wait for the open ones to close, and
 * terminate only what is still there after a while (saying so).
 */
async function sealTemplate(serverUrl: string): Promise<void> {
  await withClient(serverUrl, async (client) => {
    await client.query(`alter database ${pg.escapeIdentifier(TEST_TEMPLATE)} with allow_connections false`);
    const connected = async () =>
      (await client.query<{ pid: number; who: string }>(
        `select pid, usename || ' ' || coalesce(nullif(application_name, ''), '(no application name)') || ' ' || coalesce(state, '') as who
         from pg_stat_activity where datname = $1`,
        [TEST_TEMPLATE],
      )).rows;
    const deadline = Date.now() + TEMPLATE_CLOSE_WAIT_MS;
    let open = await connected();
    while (open.length > 0 && Date.now() < deadline) {
      await setTimeout(20);
      open = await connected();
    }
    if (open.length === 0) return;
    log(`terminating connections still open to ${TEST_TEMPLATE} after ${TEMPLATE_CLOSE_WAIT_MS} ms: ${open.map((c) => `${c.pid} ${c.who}`).join('; ')}`);
    await client.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1', [TEST_TEMPLATE]);
  });
}

function runTap(serverUrl: string, args: string[]): Promise<number> {
  const tap = path.join(path.dirname(createRequire(import.meta.url).resolve('tap/package.json')), 'dist/esm/run.mjs');
  const child = spawn(process.execPath, [tap, ...args], {
    stdio: 'inherit',
    env: { ...process.env, CLINICBASE_TEST_SERVER_URL: serverUrl },
  });
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
}
