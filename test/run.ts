// `npm test`: one throwaway Postgres cluster (or TEST_DATABASE_URL, a superuser URL on a server
// you own), a migrated template database, then tap. Each test file clones the template into a
// database of its own (CREATE DATABASE ... TEMPLATE: fast), so files run in parallel in isolation.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import pg from 'pg';
import { EmbeddedPostgresError, startThrowawayCluster, type EmbeddedCluster } from '../src/db/embedded.ts';
import { setupDatabase, withClient, withDatabase } from '../src/db/setup.ts';
import { TEST_ROLE_PASSWORD, TEST_TEMPLATE } from './helpers/env.ts';

const log = (message: string) => console.error(`# ${message}`);
let cluster: EmbeddedCluster | undefined;
let exitCode = 1;
try {
  const given = process.env.TEST_DATABASE_URL;
  if (!given) {
    log('starting a throwaway embedded Postgres');
    cluster = await startThrowawayCluster();
  }
  const serverUrl = withDatabase(given ?? cluster!.adminUrl, 'postgres');
  const version = await withClient(serverUrl, async (client) => (await client.query('show server_version')).rows[0].server_version);
  log(`Postgres ${version}; building template database ${TEST_TEMPLATE}`);
  await dropDatabase(serverUrl, TEST_TEMPLATE);
  await setupDatabase({ adminUrl: withDatabase(serverUrl, TEST_TEMPLATE), rolePassword: TEST_ROLE_PASSWORD });
  await sealTemplate(serverUrl);
  exitCode = await runTap(serverUrl, process.argv.slice(2));
} catch (error) {
  if (!(error instanceof EmbeddedPostgresError)) throw error;
  console.error(error.message);
} finally {
  await cluster?.stop();
}
process.exit(exitCode);

async function dropDatabase(serverUrl: string, name: string): Promise<void> {
  await withClient(serverUrl, (client) => client.query(`drop database if exists ${pg.escapeIdentifier(name)} with (force)`));
}

/** Nobody may stay connected to a template (graphile-migrate keeps its pool open a while). */
async function sealTemplate(serverUrl: string): Promise<void> {
  await withClient(serverUrl, async (client) => {
    await client.query(`alter database ${pg.escapeIdentifier(TEST_TEMPLATE)} with allow_connections false`);
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
