// Each test file gets a database of its own, cloned from the migrated template (test/run.ts).
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Test } from 'tap';
import { roleUrl } from '../../src/config.ts';
import { createPool } from '../../src/db/pool.ts';
import { withDatabase } from '../../src/db/setup.ts';
import { TEST_ROLE_PASSWORD, TEST_TEMPLATE } from './env.ts';

export interface TestDatabase {
  name: string;
  /** Superuser on the test database: fixtures and catalog changes (bypasses RLS). */
  adminUrl: string;
  ownerUrl: string;
  authenticatorUrl: string;
  admin: pg.Pool;
  /** The app's own pool: app_authenticator in pipeline mode. */
  pool: pg.Pool;
}

export function serverUrl(): string {
  const url = process.env.CLINICBASE_TEST_SERVER_URL;
  if (!url) throw new Error('Run the tests with `npm test` (it starts Postgres and sets CLINICBASE_TEST_SERVER_URL).');
  return url;
}

/**
 * The template a file clones: the committed migrations plus migrations/current.sql while it holds
 * work in progress, or with `committedOnly` the committed migrations alone (for comparisons with
 * files that db:commit regenerates, such as policies/).
 */
function templateName(committedOnly: boolean): string {
  return committedOnly ? (process.env.CLINICBASE_TEST_COMMITTED_TEMPLATE ?? TEST_TEMPLATE) : TEST_TEMPLATE;
}

export async function createTestDatabase(t: Test, options: { poolSize?: number; committedOnly?: boolean } = {}): Promise<TestDatabase> {
  const name = `clinicbase_t_${randomBytes(6).toString('hex')}`;
  const server = new pg.Client({ connectionString: serverUrl() });
  await server.connect();
  try {
    const template = templateName(options.committedOnly ?? false);
    await server.query(`create database ${pg.escapeIdentifier(name)} template ${pg.escapeIdentifier(template)}`);
  } finally {
    await server.end();
  }
  const adminUrl = withDatabase(serverUrl(), name);
  const db: TestDatabase = {
    name,
    adminUrl,
    ownerUrl: roleUrl(adminUrl, 'app_owner', TEST_ROLE_PASSWORD),
    authenticatorUrl: roleUrl(adminUrl, 'app_authenticator', TEST_ROLE_PASSWORD),
    admin: new pg.Pool({ connectionString: adminUrl, max: 2 }).on('error', () => {}),
    pool: createPool({ url: roleUrl(adminUrl, 'app_authenticator', TEST_ROLE_PASSWORD), size: options.poolSize ?? 2 }),
  };
  t.teardown(async () => {
    await Promise.all([db.admin.end(), db.pool.end()]);
    const cleanup = new pg.Client({ connectionString: serverUrl() });
    await cleanup.connect();
    await cleanup.query(`drop database if exists ${pg.escapeIdentifier(name)} with (force)`);
    await cleanup.end();
  });
  return db;
}

/** Two clinics, A and B, created as superuser. */
export async function createClinics(db: TestDatabase): Promise<{ a: string; b: string }> {
  const { rows } = await db.admin.query<{ id: string; slug: string }>(
    `insert into app_public.clinics (slug, name) values ('clinic-a', 'Clinic A'), ('clinic-b', 'Clinic B') returning id, slug`,
  );
  const bySlug = Object.fromEntries(rows.map((r) => [r.slug, r.id]));
  return { a: bySlug['clinic-a']!, b: bySlug['clinic-b']! };
}

/** The SQLSTATE of a rejected promise, or 'resolved' when it did not reject. */
export async function sqlstateOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'resolved';
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

/**
 * Holds an access-exclusive lock on `table` in another transaction until the returned function is
 * called, or for 3 s at most, so that code without a lock timeout waits a bounded time and fails its test.
 */
export async function holdLock(admin: pg.Pool, table: string): Promise<() => Promise<void>> {
  const holder = await admin.connect();
  await holder.query('begin');
  await holder.query(`lock table ${table} in access exclusive mode`);
  let released: Promise<void> | undefined;
  const release = () => (released ??= holder.query('rollback').then(() => holder.release()));
  const timer = setTimeout(release, 3000);
  return () => {
    clearTimeout(timer);
    return release();
  };
}
