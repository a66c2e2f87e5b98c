// Runs `npm run cli -- …` as a child process against a test database, with text on its stdin.
import { execFile } from 'node:child_process';
import path from 'node:path';
import type { TestDatabase } from './db.ts';
import { TEST_ROLE_PASSWORD } from './env.ts';

const CLI = path.resolve(import.meta.dirname, '../../src/cli/cli.ts');

export function cli(db: TestDatabase, args: string[], stdin = ''): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const env = { ...process.env, DATABASE_URL: db.adminUrl, DATABASE_ROLE_PASSWORD: TEST_ROLE_PASSWORD };
    const child = execFile(process.execPath, [CLI, ...args], { env }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code) : 0, output: stdout + stderr }),
    );
    child.stdin!.end(stdin);
  });
}
