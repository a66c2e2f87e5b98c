// Where the field cipher's keys come from (src/crypto/data-keys.ts): DATA_ENCRYPTION_KEY, or outside
// production one key generated once into DATA_DIR, readable by its owner only, reused at every start;
// production never makes one up.
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { loadConfig } from '../../src/config.ts';
import { DataKeyError, loadDataKeys } from '../../src/crypto/data-keys.ts';

const LINE = /^\d{4}-\d{2}-\d{2}-[0-9a-f]{8}:[A-Za-z0-9+/]{43}=\n$/;

async function folder(t: Test): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'clinicbase-data-key-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const line = (key: { id: string; secret: Buffer }) => `${key.id}:${key.secret.toString('base64')}\n`;

t.test('development without a key: one generated into DATA_DIR, mode 0600, reused on the next start', async (t) => {
  const dataDir = path.join(await folder(t), 'not-yet-there');
  const config = loadConfig({ DATA_DIR: dataDir });
  const file = path.join(dataDir, 'data-encryption-key');
  t.same(config.dataEncryption, { keys: undefined, generatedKeyFile: file });

  const first = await loadDataKeys(config.dataEncryption);
  const written = await readFile(file, 'utf8');
  t.match(written, LINE, 'one <keyId>:<base64 key> line');
  t.equal((await stat(file)).mode & 0o777, 0o600, 'for its owner only');
  t.equal(first.length, 1);
  t.equal(line(first[0]!), written, 'the key in the file is the key in use');

  const second = await loadDataKeys(loadConfig({ DATA_DIR: dataDir }).dataEncryption);
  t.equal(line(second[0]!), written, 'the next start uses the same key');
  t.equal(await readFile(file, 'utf8'), written, 'the file is unchanged');
});

t.test('starts at the same moment agree on one key', async (t) => {
  const { dataEncryption } = loadConfig({ DATA_DIR: await folder(t) });
  const keys = await Promise.all(Array.from({ length: 8 }, () => loadDataKeys(dataEncryption)));
  t.equal(new Set(keys.map((k) => line(k[0]!))).size, 1);
});

t.test('a configured key wins, and then nothing is written', async (t) => {
  const dataDir = await folder(t);
  const secret = Buffer.alloc(32, 7);
  const config = loadConfig({ DATA_DIR: dataDir, DATA_ENCRYPTION_KEY: `k7:${secret.toString('base64')}` });
  t.same(
    (await loadDataKeys(config.dataEncryption)).map((k) => [k.id, k.secret.toString('hex')]),
    [['k7', '07'.repeat(32)]],
  );
  await t.rejects(stat(path.join(dataDir, 'data-encryption-key')), { code: 'ENOENT' });
});

t.test('production never generates a key; a damaged generated key is never replaced', async (t) => {
  const dataDir = await folder(t);
  const production = loadConfig({ NODE_ENV: 'production', DATA_DIR: dataDir });
  t.equal(production.dataEncryption.generatedKeyFile, undefined);
  await t.rejects(
    loadDataKeys(production.dataEncryption),
    new DataKeyError('DATA_ENCRYPTION_KEY: required in production, or DATA_ENCRYPTION_KEY_FILE (npm run cli -- data-key:generate makes one)'),
  );
  await t.rejects(stat(path.join(dataDir, 'data-encryption-key')), { code: 'ENOENT' }, 'nothing written');

  const file = path.join(dataDir, 'data-encryption-key');
  await writeFile(file, 'dev:c2hvcnQ=\n');
  await t.rejects(loadDataKeys(loadConfig({ DATA_DIR: dataDir }).dataEncryption), {
    name: 'DataKeyError',
    message: `${file} (the generated development data key) is unreadable: key "dev": the key is 5 bytes, must be 32. Restore it, or delete it if nothing was encrypted with it`,
  });
  t.equal(await readFile(file, 'utf8'), 'dev:c2hvcnQ=\n', 'left as it was');
});
