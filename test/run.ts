// `npm test`: one throwaway Postgres cluster (or TEST_DATABASE_URL, a superuser URL on a server
// you own), a migrated template database (with migrations/current.sql applied while it holds work
// in progress: test/helpers/template.ts), then tap. Each test file clones the template into a
// database of its own (CREATE DATABASE ... TEMPLATE: fast), so files run in parallel in isolation.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { EmbeddedPostgresError, startThrowawayCluster, type EmbeddedCluster } from '../src/db/embedded.ts';
import { withClient, withDatabase } from '../src/db/setup.ts';
import { coveragePlan, dropChildProcessCoverage, holdCoverageFloor } from './helpers/coverage.ts';
import { TEST_COMMITTED_TEMPLATE, TEST_TEMPLATE } from './helpers/env.ts';
import { buildTestTemplates } from './helpers/template.ts';

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
  log(`Postgres ${version}`);
  const { committedTemplate } = await buildTestTemplates({
    serverUrl,
    template: TEST_TEMPLATE,
    committedTemplate: TEST_COMMITTED_TEMPLATE,
    log,
    onPhase: (next) => {
      phase = next;
      if (!next.startsWith('sealing')) log(next);
    },
  });
  phase = 'running tap';
  const plan = coveragePlan(process.argv.slice(2));
  exitCode = await runTap(plan.tapArgs, { CLINICBASE_TEST_SERVER_URL: serverUrl, CLINICBASE_TEST_COMMITTED_TEMPLATE: committedTemplate });
  if (plan.floorReporters) {
    phase = 'holding coverage to the floor';
    const dropped = await dropChildProcessCoverage(path.resolve(import.meta.dirname, '../.tap'));
    log(`coverage of the test processes (${dropped} child processes left out)`);
    const floor = await holdCoverageFloor(plan.floorReporters);
    exitCode = exitCode || floor;
  }
} catch (error) {
  if (!(error instanceof EmbeddedPostgresError)) throw error;
  console.error(error.message);
} finally {
  phase = 'stopping Postgres';
  await cluster?.stop();
  phase = 'done';
}
process.exit(exitCode);

/** tap over `args`, telling the test files (test/helpers/db.ts) where the server and the templates are. */
function runTap(args: string[], testEnv: Record<string, string>): Promise<number> {
  const tap = path.join(path.dirname(createRequire(import.meta.url).resolve('tap/package.json')), 'dist/esm/run.mjs');
  const child = spawn(process.execPath, [tap, ...args], {
    stdio: 'inherit',
    env: { ...process.env, ...testEnv },
  });
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
}
