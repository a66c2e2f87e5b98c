// Developer command: regenerate src/db/types.ts (Kysely's table types) from a freshly migrated
// database, so the types can never drift from the schema by hand-editing.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { createRequire } from 'node:module';
import { roleUrl } from '../config.ts';
import { startThrowawayCluster } from '../db/embedded.ts';
import { setupDatabase, withDatabase } from '../db/setup.ts';

const PASSWORD = 'clinicbase-codegen-only';
const OUT_FILE = path.resolve(import.meta.dirname, '../db/types.ts');
const cluster = await startThrowawayCluster();
try {
  const url = withDatabase(cluster.adminUrl, 'clinicbase');
  await setupDatabase({ adminUrl: url, rolePassword: PASSWORD, log: console.log });
  const bin = createRequire(import.meta.url).resolve('kysely-codegen/dist/cli/bin.js');
  execFileSync(
    process.execPath,
    [bin, '--dialect', 'postgres', '--url', roleUrl(url, 'app_owner', PASSWORD),
     '--include-pattern', 'app_{public,hidden}.*', '--out-file', OUT_FILE],
    { stdio: 'inherit' },
  );
} finally {
  await cluster.stop();
}
