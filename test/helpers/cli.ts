// Runs `npm run cli -- …` as a child process against a test database, with text on its stdin.
import { execFile } from 'node:child_process';
import path from 'node:path';
import type { TestDatabase } from './db.ts';
import { TEST_ROLE_PASSWORD } from './env.ts';

const CLI = path.resolve(import.meta.dirname, '../../src/cli/cli.ts');

/** `env`: variables beyond the database's (a DATA_ENCRYPTION_KEY). */
export function cli(db: TestDatabase, args: string[], stdin = '', env: Record<string, string> = {}): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const variables = { ...process.env, DATABASE_URL: db.adminUrl, DATABASE_ROLE_PASSWORD: TEST_ROLE_PASSWORD, ...env };
    const child = execFile(process.execPath, [CLI, ...args], { env: variables }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code) : 0, output: stdout + stderr }),
    );
    child.stdin!.end(stdin);
  });
}
