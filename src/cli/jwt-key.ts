// `npm run jwt:key -- <folder>` (`node src/cli/jwt-key.ts <folder>` in the image): an access-token
// signing key written once into <folder>: `jwt-private-key.pem` (Ed25519, PKCS#8, mode 0600) and
// `jwt-key-id`. The app reads them with JWT_PRIVATE_KEY_FILE and JWT_KEY_ID_FILE. With both files
// there it changes nothing, so docker-compose.yml's one-shot `keys` service runs it on every `up`.
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { generateSigningKey } from '../auth/keys.ts';
import { runCli } from './database.ts';

const PRIVATE_KEY_FILE = 'jwt-private-key.pem';
const KEY_ID_FILE = 'jwt-key-id';

runCli(async () => {
  const folder = process.argv[2];
  if (!folder || process.argv.length > 3) {
    console.error('usage: npm run jwt:key -- <folder>');
    return 2;
  }
  const keyFile = path.join(folder, PRIVATE_KEY_FILE);
  const idFile = path.join(folder, KEY_ID_FILE);
  // The id is written last: a key without an id (a run cut short) never signed anything and is replaced.
  if (existsSync(keyFile) && existsSync(idFile)) {
    console.log(`${folder} already holds a signing key: unchanged`);
    return 0;
  }
  const key = generateSigningKey();
  await writeFile(keyFile, `${key.privateKeyPem.trimEnd()}\n`, { mode: 0o600 });
  await writeFile(idFile, `${key.keyId}\n`, { mode: 0o600 });
  console.log(`signing key ${key.keyId} written to ${folder}`);
  return 0;
});
