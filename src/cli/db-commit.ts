// Developer command: turn migrations/current.sql into the next committed migration.
// graphile-migrate rebuilds a shadow database from every committed migration plus current.sql,
// so the commit is proven to apply cleanly; a throwaway embedded cluster provides that database.
import { commit } from 'graphile-migrate';
import { roleUrl } from '../config.ts';
import { startThrowawayCluster } from '../db/embedded.ts';
import { migrationSettings } from '../db/migrate.ts';
import { setupDatabase, withDatabase } from '../db/setup.ts';

const PASSWORD = 'clinicbase-commit-only';
const log = (message: string) => console.log(message);
const cluster = await startThrowawayCluster();
try {
  const mainUrl = withDatabase(cluster.adminUrl, 'clinicbase');
  await setupDatabase({ adminUrl: mainUrl, rolePassword: PASSWORD, skipMigrations: true, log });
  await commit(
    migrationSettings(roleUrl(mainUrl, 'app_owner', PASSWORD), log, {
      shadowConnectionString: roleUrl(withDatabase(cluster.adminUrl, 'clinicbase_shadow'), 'app_owner', PASSWORD),
      rootConnectionString: cluster.adminUrl,
    }),
    process.argv[2] ?? null,
  );
  log('committed; now run `npm run policies:generate` and `npm run db:types`');
} finally {
  await cluster.stop();
}
