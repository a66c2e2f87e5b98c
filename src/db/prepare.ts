// Resolves where the app's database is before the app is built: the embedded cluster (no
// DATABASE_URL), a development server set up with a superuser URL, or production URLs as given.
import type { Config } from '../config.ts';
import { startEmbeddedPostgres } from './embedded.ts';
import { setupDatabase, withDatabase } from './setup.ts';

export interface PreparedDatabase {
  authenticatorUrl: string;
  ownerUrl: string | undefined;
  /** graphile-worker's login (app_worker); undefined when no URL for it is known. */
  workerUrl: string | undefined;
  /** Stops what prepare started (the embedded cluster); a no-op otherwise. */
  stop(): Promise<void>;
}

export const EMBEDDED_DATABASE = 'clinicbase';

export async function prepareDatabase(config: Config, log: (message: string) => void): Promise<PreparedDatabase> {
  const { database } = config;
  if (database.embedded) {
    log(`starting embedded Postgres on 127.0.0.1:${database.embedded.port} (data in ${database.embedded.dataDir})`);
    const cluster = await startEmbeddedPostgres({ ...database.embedded, onLog: () => {} });
    try {
      const urls = await setupDatabase({
        adminUrl: withDatabase(cluster.adminUrl, EMBEDDED_DATABASE),
        rolePassword: database.rolePassword,
        log,
      });
      return { authenticatorUrl: required(urls.authenticatorUrl), ownerUrl: urls.ownerUrl, workerUrl: urls.workerUrl, stop: cluster.stop };
    } catch (error) {
      await cluster.stop();
      throw error;
    }
  }
  if (database.adminUrl && config.env !== 'production') {
    await setupDatabase({ adminUrl: database.adminUrl, rolePassword: database.rolePassword, log });
  }
  return {
    authenticatorUrl: required(database.authenticatorUrl),
    ownerUrl: database.ownerUrl,
    workerUrl: config.database.workerUrl,
    stop: async () => {},
  };
}

function required(url: string | undefined): string {
  if (!url) throw new Error('No database URL for app_authenticator: set DATABASE_AUTHENTICATOR_URL');
  return url;
}
