// A private STORAGE_DIR per test, and what is in it: tests of uploads read the disk itself.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Test } from 'tap';

/** A new empty folder under the system's temporary folder, removed at the test's end. */
export async function temporaryStorageDir(t: Test): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'clinicbase-files-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Every file under `dir`, as sorted paths relative to it (`.staging/….part`, `<clinic>/<file>`). */
export async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => !entry.isDirectory())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .sort();
}
