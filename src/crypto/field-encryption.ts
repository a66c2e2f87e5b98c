// Application-side encryption of single fields (identification numbers), so that what Postgres
// stores, dumps and shows a DBA is ciphertext. node:crypto only.
//
// - Each master key (data-keys.ts) gives two subkeys through HKDF-SHA256, one per algorithm: an
//   AES-256-GCM key and an HMAC-SHA256 key. No secret serves two algorithms.
// - Ciphertext: `v1.<keyId>.<iv>.<ciphertext and 16-byte tag>`, base64url without padding, a random
//   96-bit IV each time. The associated data is `v1.<keyId>|<clinic id>|<field>`: a ciphertext
//   copied to another clinic's row or another column (field), or given another key id, fails to
//   authenticate. It does not name the row: swapping two rows' values of one clinic and field is
//   not detected (docs/security-model.md).
// - Look-up hash: `<keyId>:<hex HMAC-SHA256>` over `<clinic id>|<field>|<normalised value>`. Equal
//   values of one clinic and field have equal hashes (exact search); other clinics' differ, so
//   hashes do not link a person across clinics. During a rotation a search compares the stored
//   hash with the value's hash under every key.
import { createCipheriv, createDecipheriv, createHmac, createSecretKey, hkdfSync, type KeyObject, randomBytes } from 'node:crypto';
import { type DataKey, KEY_ID } from './data-keys.ts';

/** Which value a ciphertext or hash belongs to: the clinic and a `table.column` name. */
export interface FieldContext {
  clinicId: string;
  /** `table.column`, e.g. `patients.identification_number`; part of the associated data forever. */
  field: string;
}

export interface FieldCipher {
  /** The key new ciphertexts and hashes are made under (the first of DATA_ENCRYPTION_KEY). */
  readonly currentKeyId: string;
  encrypt(plaintext: string, context: FieldContext): string;
  /** Throws FieldDecryptionError: malformed, encrypted under a key not configured, or not authentic. */
  decrypt(ciphertext: string, context: FieldContext): string;
  /** The hash to store, under the current key. Throws a RangeError when nothing is left after normalising. */
  lookupHash(value: string, context: FieldContext): string;
  /** The value's hash under every key, the current first: what a search compares stored hashes with. */
  lookupHashes(value: string, context: FieldContext): string[];
  /** Whether the ciphertext was made under another key than the current one. Throws FieldDecryptionError when malformed. */
  needsReencryption(ciphertext: string): boolean;
  /** Decrypts and encrypts again under the current key, with the hash to store beside it. */
  reencrypt(ciphertext: string, context: FieldContext): { ciphertext: string; lookupHash: string };
}

export type DecryptionFailure = 'malformed' | 'unknown-key' | 'not-authentic';

export class FieldDecryptionError extends Error {
  override name = 'FieldDecryptionError';
  readonly reason: DecryptionFailure;
  constructor(reason: DecryptionFailure, message: string) {
    super(message);
    this.reason = reason;
  }
}

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** HKDF's info strings: changing one makes every stored value unreadable. */
const HKDF_INFO = { encryption: 'clinicbase field encryption v1 aes-256-gcm', lookup: 'clinicbase field encryption v1 hmac-sha256' } as const;
const CLINIC_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const FIELD = /^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

interface Subkeys {
  id: string;
  encryption: KeyObject;
  lookup: KeyObject;
}

const subkey = (secret: Buffer, info: string) => createSecretKey(Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), info, 32)));

/** Identification numbers as people type them: case, spaces, dashes, dots and slashes do not count. */
export function normaliseIdentifier(value: string): string {
  return value
    .normalize('NFKC')
    .replace(/[^\p{L}\p{N}]/gu, '')
    .toUpperCase();
}

/** The last four characters, and never more than half of the value; the rest as `*`. */
export function mask(value: string): string {
  const characters = [...value];
  const shown = Math.min(4, Math.floor(characters.length / 2));
  return '*'.repeat(characters.length - shown) + characters.slice(characters.length - shown).join('');
}

function checkContext({ clinicId, field }: FieldContext): void {
  if (!CLINIC_ID.test(clinicId)) throw new TypeError('field encryption: clinicId must be a lower-case UUID');
  if (!FIELD.test(field)) throw new TypeError(`field encryption: field must be table.column in lower case, not "${field}"`);
}

/** Decodes base64url that is exactly what Buffer would write for the bytes (no padding, no other spelling). */
function strictBase64url(text: string): Buffer | undefined {
  const bytes = BASE64URL.test(text) ? Buffer.from(text, 'base64url') : undefined;
  return bytes && bytes.toString('base64url') === text ? bytes : undefined;
}

function parse(ciphertext: string): { keyId: string; header: string; iv: Buffer; sealed: Buffer } {
  const parts = ciphertext.split('.');
  const [version, keyId = '', iv = '', sealed = ''] = parts;
  const ivBytes = strictBase64url(iv);
  const sealedBytes = strictBase64url(sealed);
  if (parts.length !== 4 || version !== VERSION || !KEY_ID.test(keyId) || ivBytes?.length !== IV_BYTES || !sealedBytes || sealedBytes.length < TAG_BYTES) {
    throw new FieldDecryptionError('malformed', 'field decryption: not a field ciphertext (v1.<keyId>.<iv>.<ciphertext and tag>, base64url)');
  }
  return { keyId, header: `${VERSION}.${keyId}`, iv: ivBytes, sealed: sealedBytes };
}

const associatedData = (header: string, { clinicId, field }: FieldContext) => Buffer.from(`${header}|${clinicId}|${field}`, 'utf8');

/** The cipher over DATA_ENCRYPTION_KEY's keys (loadDataKeys in data-keys.ts): the first encrypts, all decrypt. */
export function createFieldCipher(keys: readonly DataKey[]): FieldCipher {
  if (keys.length === 0) throw new TypeError('field encryption needs at least one key');
  const subkeys: Subkeys[] = keys.map(({ id, secret }) => ({ id, encryption: subkey(secret, HKDF_INFO.encryption), lookup: subkey(secret, HKDF_INFO.lookup) }));
  const current = subkeys[0]!;
  const byId = new Map(subkeys.map((key) => [key.id, key]));

  function encrypt(plaintext: string, context: FieldContext): string {
    checkContext(context);
    const header = `${VERSION}.${current.id}`;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', current.encryption, iv, { authTagLength: TAG_BYTES }).setAAD(associatedData(header, context));
    const sealed = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `${header}.${iv.toString('base64url')}.${sealed.toString('base64url')}`;
  }

  function decrypt(ciphertext: string, context: FieldContext): string {
    checkContext(context);
    const { keyId, header, iv, sealed } = parse(ciphertext);
    const key = byId.get(keyId);
    if (!key) throw new FieldDecryptionError('unknown-key', `field decryption: encrypted under key "${keyId}", which DATA_ENCRYPTION_KEY does not list`);
    const decipher = createDecipheriv('aes-256-gcm', key.encryption, iv, { authTagLength: TAG_BYTES }).setAAD(associatedData(header, context));
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw new FieldDecryptionError(
        'not-authentic',
        `field decryption: ${context.field} does not authenticate (altered, or another clinic's or field's value)`,
      );
    }
  }

  function hashUnder(key: Subkeys, value: string, context: FieldContext): string {
    checkContext(context);
    const normalised = normaliseIdentifier(value);
    if (!normalised) throw new RangeError(`field look-up: ${context.field} has no letter or digit to look up`);
    return `${key.id}:${createHmac('sha256', key.lookup).update(`${context.clinicId}|${context.field}|${normalised}`, 'utf8').digest('hex')}`;
  }

  return Object.freeze({
    currentKeyId: current.id,
    encrypt,
    decrypt,
    lookupHash: (value: string, context: FieldContext) => hashUnder(current, value, context),
    lookupHashes: (value: string, context: FieldContext) => subkeys.map((key) => hashUnder(key, value, context)),
    needsReencryption: (ciphertext: string) => parse(ciphertext).keyId !== current.id,
    reencrypt(ciphertext: string, context: FieldContext) {
      const plaintext = decrypt(ciphertext, context);
      return { ciphertext: encrypt(plaintext, context), lookupHash: hashUnder(current, plaintext, context) };
    },
  });
}
