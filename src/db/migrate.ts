// graphile-migrate owns the schema: committed migrations in migrations/committed, run as app_owner.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Logger } from '@graphile/logger';
import { migrate, watch, type Settings } from 'graphile-migrate';
// graphile-migrate keeps a pool per URL alive for a moment after each command and exits the
// process (process.exit(1)) on any error of that pool, an idle connection's included; close them
// as soon as we are done. clearAllPools starts closing them without waiting: whoever terminates
// backends of this database right after must first wait until they are gone (test/run.ts does).
import { clearAllPools } from 'graphile-migrate/dist/pgReal.js';

export const MIGRATIONS_DIR = path.resolve(import.meta.dirname, '../../migrations');

export function migrationSettings(ownerUrl: string, log: (message: string) => void, extra: Settings = {}): Settings {
  return {
    connectionString: ownerUrl,
    migrationsFolder: MIGRATIONS_DIR,
    logger: new Logger(() => (level, message) => {
      if (level !== 'debug') log(`migrate ${level}: ${message}`);
    }),
    ...extra,
  };
}

export async function runMigrations(ownerUrl: string, log: (message: string) => void = () => {}): Promise<void> {
  try {
    await migrate(migrationSettings(ownerUrl, log));
  } finally {
    clearAllPools();
  }
}

/** The migration being written, which only `db:commit` and the test harness run. */
export const CURRENT_MIGRATION = 'current.sql';

/** `<migrationsFolder>/current.sql`, or '' when there is none. */
export async function readCurrentMigration(migrationsFolder = MIGRATIONS_DIR): Promise<string> {
  return readFile(path.join(migrationsFolder, CURRENT_MIGRATION), 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return '';
    throw error;
  });
}

/**
 * Whether current.sql holds work in progress: anything besides comments and blank lines
 * (graphile-migrate's `--!` headers are comments too). Between features it holds only
 * `-- Enter migration here`.
 */
export function holdsWorkInProgress(sql: string): boolean {
  return (
    sql
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/--[^\n]*/g, '')
      .trim() !== ''
  );
}

/**
 * For the test harness only, never a real database: applies `<migrationsFolder>/current.sql` on
 * top of the committed migrations as `graphile-migrate watch --once` does (committed migrations
 * first, then current.sql in a transaction of its own, recorded in graphile_migrate.current), so
 * unfinished tables are tested before they are committed.
 */
export async function runCurrentMigration(ownerUrl: string, log: (message: string) => void = () => {}, migrationsFolder = MIGRATIONS_DIR): Promise<void> {
  try {
    await watch(migrationSettings(ownerUrl, log, { migrationsFolder }), true);
  } finally {
    clearAllPools();
  }
}
