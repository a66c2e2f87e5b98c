// Runs `npm run cli -- …` and `npm run seed:demo` as child processes against a test database.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Test } from 'tap';
import type { TestDatabase } from './db.ts';
import { TEST_ROLE_PASSWORD } from './env.ts';

const CLI = path.resolve(import.meta.dirname, '../../src/cli/cli.ts');
const SEED = path.resolve(import.meta.dirname, '../../scripts/seed-demo.ts');

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

/** This machine's environment less any database, data directory or app setting: a child's starts from it. */
export function cleanEnv(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined && !/^(DATABASE_|DATA_|NODE_ENV|LOG_LEVEL)/.test(e[0])),
  );
}

/** `npm run seed:demo` on `db` (none: the environment decides) with its keys under `dataDir`, plus `env`. */
export function seedDemo(
  db: TestDatabase | undefined,
  dataDir: string,
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const database = db ? { DATABASE_URL: db.adminUrl, DATABASE_ROLE_PASSWORD: TEST_ROLE_PASSWORD } : {};
  return new Promise((resolve) => {
    execFile(process.execPath, [SEED], { env: { ...cleanEnv(), ...database, DATA_DIR: dataDir, ...env } }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
    );
  });
}

/** A temporary directory removed when `t` ends. */
export async function tempDir(t: Test, prefix = 'clinicbase-seed-'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
