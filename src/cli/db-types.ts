// Developer command: regenerate src/db/types.ts (Kysely's table types) from a freshly migrated
// database, so the types can never drift from the schema by hand-editing. The types are
// camel-cased (`appPublic.clinicMembers`, `displayName`), as the CamelCasePlugin on every Kysely
// instance of withContext (src/db/context-connection.ts) presents the database.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { runCli, withFreshDatabase } from './database.ts';

const OUT_FILE = path.resolve(import.meta.dirname, '../db/types.ts');

/** Runs kysely-codegen against a migrated database (any role that can see app_public/app_hidden). */
async function generateKyselyTypes(url: string, outFile: string): Promise<void> {
  const bin = createRequire(import.meta.url).resolve('kysely-codegen/dist/cli/bin.js');
  await promisify(execFile)(process.execPath, [
    bin,
    '--dialect',
    'postgres',
    '--camel-case',
    '--log-level',
    'error',
    '--url',
    url,
    '--include-pattern',
    'app_{public,hidden}.*',
    '--out-file',
    outFile,
  ]);
}

export async function writeKyselyTypes(url: string): Promise<void> {
  await generateKyselyTypes(url, OUT_FILE);
}

/** What writeKyselyTypes would write, without touching src/db/types.ts (the drift test compares). */
export async function renderKyselyTypes(url: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'clinicbase-types-'));
  try {
    const file = path.join(dir, 'types.ts');
    await generateKyselyTypes(url, file);
    return await readFile(file, 'utf8');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  runCli(() =>
    withFreshDatabase(console.error, async (url) => {
      await writeKyselyTypes(url);
      console.error(`${path.relative(process.cwd(), OUT_FILE)} written`);
    }),
  );
}
