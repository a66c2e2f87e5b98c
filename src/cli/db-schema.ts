// `npm run db:schema`: rewrites migrations/schema.sql, the schema as the committed migrations leave
// it, from a database freshly migrated from this checkout. db:commit does it for you.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MIGRATIONS_DIR } from '../db/migrate.ts';
import { renderSchemaDump } from '../db/schema-dump.ts';
import { withClient } from '../db/setup.ts';
import { runCli, withFreshDatabase } from './database.ts';

export const SCHEMA_FILE = path.join(MIGRATIONS_DIR, 'schema.sql');

export async function writeSchemaDump(adminUrl: string): Promise<void> {
  await writeFile(SCHEMA_FILE, await withClient(adminUrl, renderSchemaDump));
}

if (import.meta.main) {
  runCli(async () => {
    await withFreshDatabase(console.error, writeSchemaDump);
    console.log('wrote migrations/schema.sql');
  });
}
