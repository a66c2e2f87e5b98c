// Developer command: turn migrations/current.sql into the next committed migration, record its
// hash (committed migrations are immutable: src/db/committed-migrations.ts), then regenerate what is
// derived from the schema (policies/, migrations/schema.sql, src/db/types.ts, schema.graphql).
// graphile-migrate rebuilds a shadow database from every committed migration plus current.sql,
// so the commit is proven to apply cleanly; a throwaway embedded cluster provides that database.
import { commit } from 'graphile-migrate';
import { clearAllPools } from 'graphile-migrate/dist/pgReal.js';
import { roleUrl } from '../config.ts';
import { assertCommittedMigrationsUnchanged, COMMITTED_DIR, recordNewMigrations } from '../db/committed-migrations.ts';
import { startThrowawayCluster } from '../db/embedded.ts';
import { migrationSettings } from '../db/migrate.ts';
import { setupDatabase, withDatabase } from '../db/setup.ts';
import { runCli } from './database.ts';
import { writeSchemaDump } from './db-schema.ts';
import { writeKyselyTypes } from './db-types.ts';
import { writeGraphqlSchema } from './graphql-schema.ts';
import { writePolicyFiles } from './policies-generate.ts';

const PASSWORD = 'clinicbase-commit-only';
const log = (message: string) => console.log(message);

runCli(async () => {
  await assertCommittedMigrationsUnchanged(COMMITTED_DIR);
  const cluster = await startThrowawayCluster();
  try {
    const mainUrl = withDatabase(cluster.adminUrl, 'clinicbase');
    await setupDatabase({ adminUrl: mainUrl, rolePassword: PASSWORD, skipMigrations: true, log });
    await commit(
      migrationSettings(roleUrl(mainUrl, 'app_owner', PASSWORD), log, {
        shadowConnectionString: roleUrl(withDatabase(cluster.adminUrl, 'clinicbase_shadow'), 'app_owner', PASSWORD),
        rootConnectionString: cluster.adminUrl,
      }),
      // undefined (not null) lets a `--! Message:` header in current.sql name the migration
      process.argv[2],
    );
    clearAllPools();
    log(`committed/SHA256SUMS: recorded ${(await recordNewMigrations(COMMITTED_DIR)).join(', ')}`);
    log(`policies/: ${await writePolicyFiles(mainUrl)} files written`);
    await writeSchemaDump(mainUrl);
    log('migrations/schema.sql written');
    await writeKyselyTypes(mainUrl);
    log('src/db/types.ts written');
    await writeGraphqlSchema(roleUrl(mainUrl, 'app_authenticator', PASSWORD));
    log('schema.graphql written');
  } finally {
    await cluster.stop();
  }
});
