// The template databases test files clone (test/run.ts builds them once per run): the committed
// migrations, then migrations/current.sql when it holds work in progress, so unfinished tables are
// tested too. Files that compare the schema with what is committed beside it (policies/,
// migrations/schema.sql) clone a copy taken before current.sql ran: `createTestDatabase(t, {
// committedOnly: true })`.
import { setTimeout } from 'node:timers/promises';
import pg from 'pg';
import { holdsWorkInProgress, MIGRATIONS_DIR, readCurrentMigration, runCurrentMigration } from '../../src/db/migrate.ts';
import { setupDatabase, withClient, withDatabase } from '../../src/db/setup.ts';
import { TEST_ROLE_PASSWORD } from './env.ts';

/** How long closing connections (graphile-migrate's pool) get before a template is sealed by force. */
const TEMPLATE_CLOSE_WAIT_MS = 10_000;

export interface TemplateOptions {
  /** Superuser URL of the server (any database). */
  serverUrl: string;
  /** The template most files clone: committed migrations and current.sql. */
  template: string;
  /** Where the committed-only copy goes when current.sql holds work in progress. */
  committedTemplate: string;
  /** The folder holding committed/ and current.sql. */
  migrationsFolder?: string;
  /** The harness's lines, with graphile-migrate's warnings and errors (a failing migration says which and why). */
  log?: (message: string) => void;
  /** Called as each step starts, so an early exit can say where it happened. */
  onPhase?: (phase: string) => void;
}

export interface Templates {
  template: string;
  /** `committedTemplate`, or `template` itself when current.sql holds only comments. */
  committedTemplate: string;
  /** current.sql held work in progress and was applied to `template`. */
  workInProgress: boolean;
}

export async function buildTestTemplates(options: TemplateOptions): Promise<Templates> {
  const { serverUrl, template, committedTemplate, migrationsFolder = MIGRATIONS_DIR } = options;
  const log = options.log ?? (() => {});
  const phase = options.onPhase ?? (() => {});
  phase(`building template database ${template}`);
  await dropDatabase(serverUrl, template);
  await dropDatabase(serverUrl, committedTemplate);
  const migrationLog = (message: string) => {
    if (/^migrate (warning|error)/.test(message)) log(message);
  };
  const { ownerUrl } = await setupDatabase({ adminUrl: withDatabase(serverUrl, template), rolePassword: TEST_ROLE_PASSWORD, log: migrationLog });
  phase(`sealing the template database ${template}`);
  await sealTemplate(serverUrl, template, log);
  if (!holdsWorkInProgress(await readCurrentMigration(migrationsFolder))) {
    return { template, committedTemplate: template, workInProgress: false };
  }
  phase(`copying the committed schema to ${committedTemplate}`);
  await withClient(serverUrl, async (client) => {
    await client.query(`create database ${pg.escapeIdentifier(committedTemplate)} template ${pg.escapeIdentifier(template)}`);
    await client.query(`alter database ${pg.escapeIdentifier(committedTemplate)} with allow_connections false`);
    await client.query(`alter database ${pg.escapeIdentifier(template)} with allow_connections true`);
  });
  phase(`applying current.sql (work in progress) to ${template}; files comparing with committed files clone ${committedTemplate}`);
  await runCurrentMigration(ownerUrl!, migrationLog, migrationsFolder);
  phase(`sealing the template database ${template}`);
  await sealTemplate(serverUrl, template, log);
  return { template, committedTemplate, workInProgress: true };
}

export async function dropDatabase(serverUrl: string, name: string): Promise<void> {
  await withClient(serverUrl, (client) => client.query(`drop database if exists ${pg.escapeIdentifier(name)} with (force)`));
}

/**
 * Nobody may stay connected to a template. When graphile-migrate returns, its pool is still
 * closing (clearAllPools ends it without waiting), and terminating one of its backends then makes
 * that backend send an error to a client the pool still listens to: graphile-migrate's pool error
 * handler calls process.exit(1). So no new connections, wait for the open ones to close, and
 * terminate only what is still there after a while (saying so).
 */
async function sealTemplate(serverUrl: string, name: string, log: (message: string) => void): Promise<void> {
  await withClient(serverUrl, async (client) => {
    await client.query(`alter database ${pg.escapeIdentifier(name)} with allow_connections false`);
    const connected = async () =>
      (
        await client.query<{ pid: number; who: string }>(
          `select pid, usename || ' ' || coalesce(nullif(application_name, ''), '(no application name)') || ' ' || coalesce(state, '') as who
         from pg_stat_activity where datname = $1`,
          [name],
        )
      ).rows;
    const deadline = Date.now() + TEMPLATE_CLOSE_WAIT_MS;
    let open = await connected();
    while (open.length > 0 && Date.now() < deadline) {
      await setTimeout(20);
      open = await connected();
    }
    if (open.length === 0) return;
    log(`terminating connections still open to ${name} after ${TEMPLATE_CLOSE_WAIT_MS} ms: ${open.map((c) => `${c.pid} ${c.who}`).join('; ')}`);
    await client.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1', [name]);
  });
}
