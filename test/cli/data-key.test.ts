// `npm run cli -- data-key:generate [--file <path>]`: a new DATA_ENCRYPTION_KEY line, printed or
// written once into a file for its owner only; no database involved (the command runs without one).
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { loadConfig } from '../../src/config.ts';

const CLI = path.resolve(import.meta.dirname, '../../src/cli/cli.ts');
const LINE = /^(\d{4}-\d{2}-\d{2}-[0-9a-f]{8}):[A-Za-z0-9+/]{43}=\n$/;

/** The command with no variables at all: no DATABASE_URL, no DATA_DIR, no key. */
function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, 'data-key:generate', ...args], { env: {} }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
    );
  });
}

async function folder(t: Test): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'clinicbase-data-key-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

t.test('prints a new key line that DATA_ENCRYPTION_KEY accepts', async (t) => {
  const [first, second] = await Promise.all([run(), run()]);
  t.match(first, { code: 0, stdout: LINE, stderr: '' });
  t.not(first.stdout, second.stdout, 'a new key each time');
  const keys = loadConfig({ DATA_ENCRYPTION_KEY: `${second.stdout.trim()},${first.stdout.trim()}` }).dataEncryption.keys;
  t.same(
    keys?.map((k) => k.id),
    [LINE.exec(second.stdout)![1], LINE.exec(first.stdout)![1]],
    'prepended for a rotation',
  );
});

t.test('--file: written once, mode 0600, for DATA_ENCRYPTION_KEY_FILE; a second run changes nothing', async (t) => {
  const file = path.join(await folder(t), 'keys', 'data-encryption-key');
  const first = await run('--file', file);
  const written = await readFile(file, 'utf8');
  const keyId = LINE.exec(written)?.[1];
  t.ok(keyId, 'one key line');
  t.same(first, { code: 0, stdout: `data encryption key ${keyId} written to ${file}\n`, stderr: '' }, 'names the key, never prints it');
  t.equal((await stat(file)).mode & 0o777, 0o600);

  t.same(await run('--file', file), { code: 0, stdout: `${file} exists: unchanged\n`, stderr: '' });
  t.equal(await readFile(file, 'utf8'), written, 'the key is kept');
  t.equal(loadConfig({ DATA_ENCRYPTION_KEY_FILE: file }).dataEncryption.keys?.[0]?.id, keyId, 'the app reads it');
});

t.test('an empty --file is a usage error', async (t) => {
  t.match(await run('--file', ''), { code: 2, stdout: '', stderr: /npm run cli -- data-key:generate \[--file <path>\]/ });
});
