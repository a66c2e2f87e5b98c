// `npm run graphql:schema`: rewrites schema.graphql at the repository root, the GraphQL API as this
// checkout's migrations (committed, then current.sql) and the one preset build it, sorted so a
// change to the API shows in review as a small diff. db:commit does it for you;
// test/graphql/schema-artifact.test.ts fails while the file is stale.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { lexicographicSortSchema, printSchema } from 'graphql';
import { makeSchema } from 'postgraphile';
import { roleUrl } from '../config.ts';
import { holdsWorkInProgress, readCurrentMigration, runCurrentMigration } from '../db/migrate.ts';
import { createPool } from '../db/pool.ts';
import { defaultGraphqlConfig } from '../graphql/config.ts';
import { graphqlPreset } from '../graphql/preset.ts';
import { FRESH_ROLE_PASSWORD, runCli, withFreshDatabase } from './database.ts';

export const GRAPHQL_SCHEMA_FILE = path.resolve(import.meta.dirname, '../../schema.graphql');

/** The schema GraphQL serves on the database at `authenticatorUrl` (app_authenticator's login), as SDL. */
export async function renderGraphqlSchema(authenticatorUrl: string): Promise<string> {
  const pool = createPool({ url: authenticatorUrl, size: 1, applicationName: 'clinicbase-graphql-schema' });
  try {
    const preset = graphqlPreset({ pool, graphql: defaultGraphqlConfig('production'), transactions: {}, tenantOf: () => null });
    const { schema } = await makeSchema(preset);
    return `${printSchema(lexicographicSortSchema(schema))}\n`;
  } finally {
    await pool.end();
  }
}

export async function writeGraphqlSchema(authenticatorUrl: string): Promise<void> {
  await writeFile(GRAPHQL_SCHEMA_FILE, await renderGraphqlSchema(authenticatorUrl));
}

if (import.meta.main) {
  runCli(() =>
    // current.sql is applied as the tests apply it, so the file shows the API of the work in
    // progress too (db:commit then moves that SQL into a migration, and the API stays the same).
    withFreshDatabase(console.error, async (adminUrl) => {
      if (holdsWorkInProgress(await readCurrentMigration())) await runCurrentMigration(roleUrl(adminUrl, 'app_owner', FRESH_ROLE_PASSWORD), console.error);
      await writeGraphqlSchema(roleUrl(adminUrl, 'app_authenticator', FRESH_ROLE_PASSWORD));
      console.error(`${path.relative(process.cwd(), GRAPHQL_SCHEMA_FILE)} written`);
    }),
  );
}
