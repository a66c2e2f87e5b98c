// Committed migrations are immutable. graphile-migrate's hash headers only prove that a file was
// re-signed after an edit, not that it was never edited, and a database that already ran the old
// text never runs the new one. So migrations/committed/SHA256SUMS records each file's SHA-256 when
// `npm run db:commit` writes it (the format of `sha256sum`: `cd migrations/committed && sha256sum -c
// SHA256SUMS` checks it by hand), db:commit refuses to run while a recorded file differs, and
// test/db/committed-migrations.test.ts fails on an edited, deleted or unrecorded file.
import { createHash } from 'node:crypto';
import { appendFile, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { MIGRATIONS_DIR } from './migrate.ts';

export const COMMITTED_DIR = path.join(MIGRATIONS_DIR, 'committed');
export const MANIFEST = 'SHA256SUMS';

const LINE = /^([0-9a-f]{64}) {2}(.+)$/;

function sha256(content: Buffer | string): string {
  return createHash('sha256').update(content).digest('hex');
}

async function readManifest(folder: string): Promise<Map<string, string>> {
  const text = await readFile(path.join(folder, MANIFEST), 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return '';
    throw error;
  });
  const recorded = new Map<string, string>();
  for (const line of text.split('\n').filter((l) => l !== '')) {
    const match = LINE.exec(line);
    if (!match) throw new Error(`${MANIFEST}: not a "<sha256>  <file>" line: ${line}`);
    recorded.set(match[2]!, match[1]!);
  }
  return recorded;
}

async function migrationFiles(folder: string): Promise<string[]> {
  return (await readdir(folder)).filter((f) => f.endsWith('.sql')).sort();
}

export interface MigrationProblem {
  file: string;
  problem: 'edited' | 'gone' | 'unrecorded';
}

const SENTENCES: Record<MigrationProblem['problem'], string> = {
  edited: 'was edited after it was committed',
  gone: 'was committed and is gone',
  unrecorded: `is not recorded in ${MANIFEST} (migrations are committed by \`npm run db:commit\`)`,
};

/** Every way the folder differs from its manifest; empty when none. */
export async function checkCommittedMigrations(folder: string): Promise<MigrationProblem[]> {
  const recorded = await readManifest(folder);
  const files = await migrationFiles(folder);
  const problems: MigrationProblem[] = [];
  for (const [file, hash] of recorded) {
    if (!files.includes(file)) problems.push({ file, problem: 'gone' });
    else if (sha256(await readFile(path.join(folder, file))) !== hash) problems.push({ file, problem: 'edited' });
  }
  for (const file of files.filter((f) => !recorded.has(f))) problems.push({ file, problem: 'unrecorded' });
  return problems;
}

const listed = (problems: MigrationProblem[]) => problems.map((p) => `${p.file} ${SENTENCES[p.problem]}`).join('\n  ');

/** Says what changed and what to do instead; printed without a stack. */
export class CommittedMigrationsError extends Error {
  override name = 'CommittedMigrationsError';
}

/** Throws, listing the problems, unless every committed migration is recorded and unchanged. */
export async function assertCommittedMigrationsUnchanged(folder: string): Promise<void> {
  const problems = await checkCommittedMigrations(folder);
  if (problems.length > 0) {
    throw new CommittedMigrationsError(`Committed migrations are immutable (migrations/README.md); a fix goes in a new migration.\n  ${listed(problems)}`);
  }
}

/**
 * Appends the files db:commit has just written to the manifest, leaving every recorded line as it
 * is; refuses when a recorded file was edited or removed. Returns the names it recorded.
 */
export async function recordNewMigrations(folder: string): Promise<string[]> {
  const problems = await checkCommittedMigrations(folder);
  const changed = problems.filter((p) => p.problem !== 'unrecorded');
  if (changed.length > 0) throw new CommittedMigrationsError(`Committed migrations were changed, nothing recorded:\n  ${listed(changed)}`);
  const added = problems.map((p) => p.file);
  for (const file of added) {
    await appendFile(path.join(folder, MANIFEST), `${sha256(await readFile(path.join(folder, file)))}  ${file}\n`);
  }
  return added;
}
