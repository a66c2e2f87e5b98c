// Developer command: regenerate src/db/types.ts (Kysely's table types) from a freshly migrated
// database, so the types can never drift from the schema by hand-editing.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { runCli, withFreshDatabase } from './database.ts';

const OUT_FILE = path.resolve(import.meta.dirname, '../db/types.ts');

/** Runs kysely-codegen against a migrated database (any role that can see app_public/app_hidden). */
export function writeKyselyTypes(url: string): void {
  const bin = createRequire(import.meta.url).resolve('kysely-codegen/dist/cli/bin.js');
  execFileSync(
    process.execPath,
    [bin, '--dialect', 'postgres', '--url', url, '--include-pattern', 'app_{public,hidden}.*', '--out-file', OUT_FILE],
    { stdio: 'inherit' },
  );
}

if (import.meta.main) {
  runCli(() => withFreshDatabase(console.error, async (url) => writeKyselyTypes(url)));
}
