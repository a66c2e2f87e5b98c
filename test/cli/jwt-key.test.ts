// `npm run jwt:key -- <folder>`: an Ed25519 signing key and its id, written once, readable by the
// owner only; a second run changes nothing; the app takes them through JWT_*_FILE.
import { execFile } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { loadConfig } from '../../src/config.ts';

const CLI = path.resolve(import.meta.dirname, '../../src/cli/jwt-key.ts');

async function run(...args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, ...args]);
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, output: failed.stdout + failed.stderr };
  }
}

async function folder(t: Test): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'clinicbase-keys-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

t.test('writes an Ed25519 key and its id once', async (t) => {
  const dir = await folder(t);
  const first = await run(dir);
  t.equal(first.code, 0);
  const pem = await readFile(path.join(dir, 'jwt-private-key.pem'), 'utf8');
  const keyId = (await readFile(path.join(dir, 'jwt-key-id'), 'utf8')).trim();
  t.equal(createPrivateKey(pem).asymmetricKeyType, 'ed25519');
  t.match(keyId, /^\d{4}-\d{2}-\d{2}-[0-9a-f]{8}$/);
  t.match(first.output, `signing key ${keyId} written`);
  t.equal((await stat(path.join(dir, 'jwt-private-key.pem'))).mode & 0o777, 0o600, 'the private key is for its owner only');

  const second = await run(dir);
  t.equal(second.code, 0, 'a second run succeeds');
  t.match(second.output, 'unchanged');
  t.equal(await readFile(path.join(dir, 'jwt-private-key.pem'), 'utf8'), pem, 'the key is kept');
  t.equal((await readFile(path.join(dir, 'jwt-key-id'), 'utf8')).trim(), keyId, 'the id is kept');

  const config = loadConfig(
    {
      NODE_ENV: 'production',
      DATABASE_AUTHENTICATOR_URL: 'postgres://a@db/c',
      JWT_PRIVATE_KEY_FILE: path.join(dir, 'jwt-private-key.pem'),
      JWT_KEY_ID_FILE: path.join(dir, 'jwt-key-id'),
      DATA_ENCRYPTION_KEY: `k1:${Buffer.alloc(32).toString('base64')}`,
    },
    { serving: true },
  );
  t.same(config.jwt.signingKey, { keyId, privateKeyPem: pem.trimEnd() }, 'production takes the key through JWT_*_FILE');
});

t.test('a key without an id (a run cut short) is replaced; no folder is a usage error', async (t) => {
  const dir = await folder(t);
  await writeFile(path.join(dir, 'jwt-private-key.pem'), 'half-written');
  t.equal((await run(dir)).code, 0);
  t.equal(createPrivateKey(await readFile(path.join(dir, 'jwt-private-key.pem'), 'utf8')).asymmetricKeyType, 'ed25519');
  t.match(await readFile(path.join(dir, 'jwt-key-id'), 'utf8'), /^\d{4}-\d{2}-\d{2}-[0-9a-f]{8}\n$/);
  t.match(await run(), { code: 2, output: /usage: npm run jwt:key -- <folder>/ });
});
