// Cluster-wide and database-wide objects that migrations must not own: roles, database grants.
// Idempotent: run it as often as you like with a superuser URL (`npm run db:setup`).
import pg from 'pg';
import { runMigrations } from './migrate.ts';
import { installWorkerSchema } from './worker-queue.ts';
import { roleUrl } from '../config.ts';

export const APP_ROLES = ['app_owner', 'app_authenticator', 'app_user', 'app_platform', 'app_worker'] as const;

export interface SetupOptions {
  /** Superuser URL naming the target database; the database is created when missing. */
  adminUrl: string;
  /** Password given to the login roles; undefined leaves existing passwords alone. */
  rolePassword: string | undefined;
  /** Roles and grants only (graphile-migrate's commit builds its own shadow database). */
  skipMigrations?: boolean;
  log?: (message: string) => void;
}

export interface SetupResult {
  ownerUrl: string | undefined;
  authenticatorUrl: string | undefined;
  workerUrl: string | undefined;
}

export async function setupDatabase(options: SetupOptions): Promise<SetupResult> {
  const log = options.log ?? (() => {});
  const database = databaseName(options.adminUrl);
  await ensureDatabase(options.adminUrl, database, log);
  await withClient(options.adminUrl, async (client) => {
    log('creating roles (idempotent)');
    await client.query(rolesSql(options.rolePassword));
    await client.query(databaseGrantsSql(database));
  });
  const login = (role: string) => (options.rolePassword ? roleUrl(options.adminUrl, role, options.rolePassword) : undefined);
  const ownerUrl = login('app_owner');
  if (!ownerUrl) {
    log('no role password given: run `npm run db:migrate` with DATABASE_OWNER_URL to migrate');
  } else if (!options.skipMigrations) {
    log('running migrations as app_owner');
    await runMigrations(ownerUrl, log);
  }
  if (!options.skipMigrations) {
    log('installing the job queue (graphile-worker) as app_worker');
    await installWorkerSchema(options.adminUrl, log);
  }
  return { ownerUrl, authenticatorUrl: login('app_authenticator'), workerUrl: login('app_worker') };
}

/**
 * None of the roles may be SUPERUSER, CREATEROLE or BYPASSRLS (the policy audit checks it).
 * app_authenticator logs in with no privileges of its own (NOINHERIT) and may only become
 * app_user or app_platform for the length of one transaction. app_worker is graphile-worker's
 * login; its tasks become app_user the same way.
 */
function rolesSql(password: string | undefined): string {
  const login = (role: string) => `
    alter role ${role} with login nosuperuser nocreaterole nocreatedb nobypassrls noreplication
      ${password === undefined ? '' : `password ${pg.escapeLiteral(password)}`};`;
  return `
    do $$
    declare role_name text;
    begin
      foreach role_name in array array[${APP_ROLES.map((r) => pg.escapeLiteral(r)).join(', ')}] loop
        if not exists (select 1 from pg_catalog.pg_roles where rolname = role_name) then
          execute format('create role %I', role_name);
        end if;
      end loop;
    end
    $$;
    ${login('app_owner')} alter role app_owner inherit;
    ${login('app_authenticator')} alter role app_authenticator noinherit;
    ${login('app_worker')} alter role app_worker noinherit;
    alter role app_user with nologin nosuperuser nocreaterole nocreatedb nobypassrls noreplication noinherit;
    alter role app_platform with nologin nosuperuser nocreaterole nocreatedb nobypassrls noreplication noinherit;
    grant app_user, app_platform to app_authenticator;
    grant app_user to app_worker;
    -- app_worker owns graphile-worker's schema, whose tables have RLS on with no policy: only their
    -- owner reaches them. app_owner's SECURITY DEFINER functions (app_private.add_job) enqueue
    -- through this membership; no role that serves requests has it.
    grant app_worker to app_owner;
    -- A backstop for sessions that never go through withTenant (the readiness probe, someone's psql
    -- as the login role). withTenant sets the configured timeouts per transaction, overriding these.
    alter role app_authenticator set statement_timeout = '30s';
    alter role app_authenticator set lock_timeout = '10s';
    alter role app_authenticator set idle_in_transaction_session_timeout = '60s';
  `;
}

function databaseGrantsSql(database: string): string {
  const db = pg.escapeIdentifier(database);
  return `
    revoke all on database ${db} from public;
    grant connect, create, temporary on database ${db} to app_owner;
    grant connect on database ${db} to app_authenticator, app_worker;
    revoke create on schema public from public;
    create schema if not exists graphile_worker authorization app_worker;
    revoke all on schema graphile_worker from public;
  `;
}

async function ensureDatabase(adminUrl: string, database: string, log: (m: string) => void): Promise<void> {
  const maintenanceUrl = withDatabase(adminUrl, 'postgres');
  await withClient(maintenanceUrl, async (client) => {
    const { rowCount } = await client.query('select 1 from pg_catalog.pg_database where datname = $1', [database]);
    if (rowCount === 0) {
      log(`creating database ${database}`);
      await client.query(`create database ${pg.escapeIdentifier(database)}`);
    }
  });
}

export async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

export function databaseName(url: string): string {
  const name = decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
  if (!name) throw new Error(`The database URL names no database: ${redactUrl(url)}`);
  return name;
}

export function redactUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}
