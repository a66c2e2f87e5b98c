// graphile-migrate owns the schema: committed migrations in migrations/committed, run as app_owner.
import path from 'node:path';
import { Logger } from '@graphile/logger';
import { migrate, type Settings } from 'graphile-migrate';
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
