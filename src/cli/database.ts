// How ops commands find a database: the configured one, or else a throwaway embedded cluster
// migrated from this checkout (so `npm run policies:audit` works on a fresh clone too).
import type { Config } from '../config.ts';
import { startThrowawayCluster } from '../db/embedded.ts';
import { setupDatabase, withDatabase } from '../db/setup.ts';

export async function withInspectedDatabase<T>(config: Config, log: (message: string) => void, fn: (url: string) => Promise<T>): Promise<T> {
  const configured = config.database.adminUrl ?? config.database.ownerUrl;
  if (configured) return fn(configured);
  log('no DATABASE_URL: inspecting a throwaway database migrated from this checkout');
  return withFreshDatabase(log, fn);
}

/** The roles' password in withFreshDatabase's throwaway cluster (it lives only as long as the cluster). */
export const FRESH_ROLE_PASSWORD = 'clinicbase-inspect-only';

export async function withFreshDatabase<T>(log: (message: string) => void, fn: (adminUrl: string) => Promise<T>): Promise<T> {
  const cluster = await startThrowawayCluster();
  try {
    const url = withDatabase(cluster.adminUrl, 'clinicbase');
    await setupDatabase({ adminUrl: url, rolePassword: FRESH_ROLE_PASSWORD, log });
    return await fn(url);
  } finally {
    await cluster.stop();
  }
}

/** Errors whose message says all (what is wrong, what to do): printed without a stack. */
const SELF_EXPLAINING_ERRORS = new Set([
  'ImportRefusedError',
  'ConfigError',
  'EmbeddedPostgresError',
  'CommittedMigrationsError',
  'DataKeyError',
  'FieldDecryptionError',
]);

/** Runs a command's main, printing config and start-up errors as one message and exiting non-zero on failure. */
// biome-ignore lint/suspicious/noConfusingVoidType: a main that returns nothing (Promise<void>) exits 0.
export function runCli(main: () => Promise<number | void>): void {
  main().then(
    (code) => process.exit(code ?? 0),
    (error: unknown) => {
      console.error(error instanceof Error && SELF_EXPLAINING_ERRORS.has(error.name) ? error.message : error);
      process.exit(1);
    },
  );
}
