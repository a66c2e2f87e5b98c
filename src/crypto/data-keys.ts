// Data encryption keys (DATA_ENCRYPTION_KEY): master keys of 32 random bytes, each with an id that
// every ciphertext and look-up hash names, so keys can rotate. Written as `<keyId>:<base64 key>`,
// comma-separated (newlines work too, for files); the first key encrypts, every key decrypts.
// Key material never appears in a message: problems name the entry's position or its id.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface DataKey {
  /** `[a-z0-9-]{1,32}`: no `.` or `:`, the separators of ciphertexts and look-up hashes. */
  id: string;
  /** 32 bytes; HKDF derives the encryption and look-up subkeys from it (field-encryption.ts). */
  secret: Buffer;
}

export const KEY_ID = /^[a-z0-9-]{1,32}$/;
const KEY_BYTES = 32;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** A failure to find or read the keys, whose message says what to do (printed without a stack). */
export class DataKeyError extends Error {
  override name = 'DataKeyError';
}

/** The keys of a DATA_ENCRYPTION_KEY value and every problem with it (use the keys only without problems). */
export function parseDataKeys(text: string): { keys: DataKey[]; problems: string[] } {
  const entries = text.split(/[\s,]+/).filter(Boolean);
  if (entries.length === 0) return { keys: [], problems: ['must list at least one <keyId>:<base64 key>'] };
  const keys: DataKey[] = [];
  const problems: string[] = [];
  const ids = new Set<string>();
  for (const [index, entry] of entries.entries()) {
    const separator = entry.indexOf(':');
    if (separator < 0) {
      // Without a separator the whole entry may be key material: only its position is named.
      problems.push(`entry ${index + 1} is not <keyId>:<base64 key>`);
      continue;
    }
    const [id, encoded] = [entry.slice(0, separator), entry.slice(separator + 1)];
    const problemsBefore = problems.length;
    const name = KEY_ID.test(id) ? `key "${id}"` : `entry ${index + 1}`;
    if (!KEY_ID.test(id)) problems.push(`${name}: the key id must be 1–32 characters of a-z, 0-9 and -`);
    else if (ids.has(id)) problems.push(`${name}: the key id appears twice`);
    ids.add(id);
    const secret = BASE64.test(encoded) ? Buffer.from(encoded, 'base64') : undefined;
    if (!secret) problems.push(`${name}: the key is not base64`);
    else if (secret.length !== KEY_BYTES) problems.push(`${name}: the key is ${secret.length} bytes, must be ${KEY_BYTES}`);
    if (secret && problems.length === problemsBefore) keys.push({ id, secret });
  }
  return { keys, problems };
}

/** A new key: an id from today's date and 4 random bytes (like the JWT key ids), 32 random bytes. */
export function generateDataKey(): DataKey {
  return { id: `${new Date().toISOString().slice(0, 10)}-${randomBytes(4).toString('hex')}`, secret: randomBytes(KEY_BYTES) };
}

/** The `<keyId>:<base64 key>` line of DATA_ENCRYPTION_KEY. */
export const formatDataKey = (key: DataKey): string => `${key.id}:${key.secret.toString('base64')}`;

/**
 * Writes a new key line into `file` (mode 0600) unless the file exists: the key written, or
 * undefined. `wx` makes the existence check and the creation one step: two processes never both write.
 */
export async function writeDataKeyOnce(file: string): Promise<DataKey | undefined> {
  await mkdir(path.dirname(file), { recursive: true });
  const key = generateDataKey();
  try {
    await writeFile(file, `${formatDataKey(key)}\n`, { mode: 0o600, flag: 'wx' });
    return key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
    throw error;
  }
}

export interface DataEncryptionConfig {
  /** DATA_ENCRYPTION_KEY (or its _FILE): the first encrypts, all decrypt; undefined when unset. */
  keys: readonly DataKey[] | undefined;
  /** Outside production: the file a key is generated into once when none is configured. */
  generatedKeyFile: string | undefined;
}

/** The configured keys, or outside production the key generated once into `generatedKeyFile`. */
export async function loadDataKeys(config: DataEncryptionConfig): Promise<readonly DataKey[]> {
  if (config.keys) return config.keys;
  const file = config.generatedKeyFile;
  if (!file) {
    throw new DataKeyError('DATA_ENCRYPTION_KEY: required in production, or DATA_ENCRYPTION_KEY_FILE (npm run cli -- data-key:generate makes one)');
  }
  await writeDataKeyOnce(file);
  const { keys, problems } = parseDataKeys(await readFile(file, 'utf8'));
  if (problems.length > 0) {
    // Data may be encrypted under it: never replaced silently.
    throw new DataKeyError(
      `${file} (the generated development data key) is unreadable: ${problems.join('; ')}. Restore it, or delete it if nothing was encrypted with it`,
    );
  }
  return keys;
}
