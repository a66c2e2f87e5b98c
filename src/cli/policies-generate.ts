// `npm run policies:generate`: rewrites policies/ from a database freshly migrated from this
// checkout. Run it after committing a migration (db:commit does it for you).
import { readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { renderPolicyFiles } from '../db/policies.ts';
import { withClient } from '../db/setup.ts';
import { runCli, withFreshDatabase } from './database.ts';

export const POLICIES_DIR = path.resolve(import.meta.dirname, '../../policies');

export async function writePolicyFiles(adminUrl: string): Promise<number> {
  const files = await withClient(adminUrl, renderPolicyFiles);
  for (const stale of (await readdir(POLICIES_DIR)).filter((f) => f.endsWith('.sql') && !files.has(f))) {
    await rm(path.join(POLICIES_DIR, stale));
  }
  for (const [name, content] of files) await writeFile(path.join(POLICIES_DIR, name), content);
  return files.size;
}

if (import.meta.main) {
  runCli(async () => {
    const count = await withFreshDatabase(console.error, writePolicyFiles);
    console.log(`wrote ${count} files to policies/`);
  });
}
