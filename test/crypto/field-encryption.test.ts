// src/crypto/field-encryption.ts against what docs/security-model.md promises: AES-256-GCM under an
// HKDF subkey, `v1.<keyId>.<iv>.<ciphertext and tag>` bound to clinic and field, keyed look-up
// hashes, rotation, masks. The format is checked by decrypting and hashing here with node:crypto
// alone, from the documented derivation (the info strings written out again), not from the module.
import { createDecipheriv, createHmac, hkdfSync } from 'node:crypto';
import t from 'tap';
import { createFieldCipher, FieldDecryptionError, mask, normaliseIdentifier } from '../../src/crypto/field-encryption.ts';

const keyOf = (id: string, byte: number) => ({ id, secret: Buffer.alloc(32, byte) });
/** The bytes 0, 1, …, 31: a fixed master key for the known answers. */
const FIXED = { id: 'kat', secret: Buffer.from(Array.from({ length: 32 }, (_, i) => i)) };
const CLINIC_A = 'a0000000-0000-4000-8000-000000000001';
const CLINIC_B = 'b0000000-0000-4000-8000-000000000002';
const ID_NUMBER = { clinicId: CLINIC_A, field: 'patients.identification_number' };

/** The error `fn` throws: its class, reason and message. */
function refusal(fn: () => unknown): { name: string; reason?: string; message: string } {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof FieldDecryptionError)) return { name: String(error), message: '' };
    return { name: error.name, reason: error.reason, message: error.message };
  }
  return { name: 'none', message: 'nothing thrown' };
}

/** The ciphertext with one bit of one of its base64url parts (1 iv, 2 ciphertext and tag) flipped at byte `at`. */
function flipped(ciphertext: string, part: 2 | 3, at: number): string {
  const parts = ciphertext.split('.');
  const bytes = Buffer.from(parts[part]!, 'base64url');
  bytes[(at + bytes.length) % bytes.length]! ^= 0x01;
  parts[part] = bytes.toString('base64url');
  return parts.join('.');
}

const NOT_AUTHENTIC = {
  name: 'FieldDecryptionError',
  reason: 'not-authentic',
  message: "field decryption: patients.identification_number does not authenticate (altered, or another clinic's or field's value)",
};
const MALFORMED = {
  name: 'FieldDecryptionError',
  reason: 'malformed',
  message: 'field decryption: not a field ciphertext (v1.<keyId>.<iv>.<ciphertext and tag>, base64url)',
};

t.test('round trip; the format; decrypted here with the documented subkey and associated data', async (t) => {
  const cipher = createFieldCipher([FIXED]);
  for (const plaintext of ['AB-123 456', 'P<UTOERIKSSON<<ANNA', 'Ünïcødé 身份证 😀', '']) {
    t.equal(cipher.decrypt(cipher.encrypt(plaintext, ID_NUMBER), ID_NUMBER), plaintext, `round trip of ${JSON.stringify(plaintext)}`);
  }
  const ciphertext = cipher.encrypt('AB-123 456', ID_NUMBER);
  t.match(ciphertext, /^v1\.kat\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{35}$/, '12-byte IV, 10 bytes of ciphertext and a 16-byte tag, base64url');
  t.not(cipher.encrypt('AB-123 456', ID_NUMBER), ciphertext, 'a fresh IV each time');

  const [, , iv, sealed] = ciphertext.split('.') as [string, string, string, string];
  const bytes = Buffer.from(sealed, 'base64url');
  const open = (key: Buffer) => {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'), { authTagLength: 16 });
    decipher.setAAD(Buffer.from(`v1.kat|${CLINIC_A}|patients.identification_number`));
    decipher.setAuthTag(bytes.subarray(-16));
    return Buffer.concat([decipher.update(bytes.subarray(0, -16)), decipher.final()]).toString('utf8');
  };
  const encryptionKey = Buffer.from(hkdfSync('sha256', FIXED.secret, Buffer.alloc(0), 'clinicbase field encryption v1 aes-256-gcm', 32));
  t.equal(open(encryptionKey), 'AB-123 456', 'AES-256-GCM under HKDF(master, "…aes-256-gcm"), AAD v1.<keyId>|<clinic>|<field>');
  t.throws(() => open(FIXED.secret), /unable to authenticate/, 'the master key itself does not encrypt');
});

t.test('a tampered ciphertext, IV, tag, key id or associated data is refused', async (t) => {
  const cipher = createFieldCipher([keyOf('k1', 1), keyOf('k2', 2)]);
  const ciphertext = cipher.encrypt('AB123456', ID_NUMBER);
  t.same(
    refusal(() => cipher.decrypt(flipped(ciphertext, 3, 0), ID_NUMBER)),
    NOT_AUTHENTIC,
    'a bit of the ciphertext',
  );
  t.same(
    refusal(() => cipher.decrypt(flipped(ciphertext, 2, 0), ID_NUMBER)),
    NOT_AUTHENTIC,
    'a bit of the IV',
  );
  t.same(
    refusal(() => cipher.decrypt(flipped(ciphertext, 3, -1), ID_NUMBER)),
    NOT_AUTHENTIC,
    'a bit of the tag',
  );
  t.same(
    refusal(() => cipher.decrypt(ciphertext.replace('v1.k1.', 'v1.k2.'), ID_NUMBER)),
    NOT_AUTHENTIC,
    'another configured key id',
  );
  t.same(
    refusal(() => cipher.decrypt(ciphertext, { ...ID_NUMBER, clinicId: CLINIC_B })),
    NOT_AUTHENTIC,
    'copied to another clinic',
  );
  t.same(
    refusal(() => cipher.decrypt(ciphertext, { ...ID_NUMBER, field: 'patients.emergency_contact_phone' })),
    { ...NOT_AUTHENTIC, message: NOT_AUTHENTIC.message.replace('identification_number', 'emergency_contact_phone') },
    'copied to another column',
  );
  const [, , iv, sealed] = ciphertext.split('.');
  const malformed = [
    ciphertext.replace('v1.', 'v2.'),
    `v1.k1.${iv}`,
    `${ciphertext}.extra`,
    `v1.K1.${iv}.${sealed}`,
    `v1.k1.${iv}=.${sealed}`,
    `v1.k1.${Buffer.alloc(8).toString('base64url')}.${sealed}`,
    `v1.k1.${iv}.${Buffer.alloc(15).toString('base64url')}`,
    `v1.k1.${iv}.${sealed}+`,
    '',
  ];
  for (const text of malformed)
    t.same(
      refusal(() => cipher.decrypt(text, ID_NUMBER)),
      MALFORMED,
      `malformed: ${JSON.stringify(text)}`,
    );
  // 10 bytes of plaintext and the tag are 35 base64url characters whose last carries 2 unused bits:
  // another spelling of the same bytes, which Buffer would decode without a word.
  const [, , iv10, sealed10] = cipher.encrypt('AB12345678', ID_NUMBER).split('.') as [string, string, string, string];
  const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const respelt = sealed10.slice(0, -1) + ALPHABET[ALPHABET.indexOf(sealed10.at(-1)!) ^ 1];
  t.same(Buffer.from(respelt, 'base64url'), Buffer.from(sealed10, 'base64url'), 'the same bytes');
  t.same(
    refusal(() => cipher.decrypt(`v1.k1.${iv10}.${respelt}`, ID_NUMBER)),
    MALFORMED,
    'another spelling is refused',
  );
  t.same(
    refusal(() => createFieldCipher([keyOf('k2', 2)]).decrypt(ciphertext, ID_NUMBER)),
    {
      name: 'FieldDecryptionError',
      reason: 'unknown-key',
      message: 'field decryption: encrypted under key "k1", which DATA_ENCRYPTION_KEY does not list',
    },
  );
});

t.test('after a rotation an old ciphertext still decrypts and is flagged for re-encryption', async (t) => {
  const before = createFieldCipher([keyOf('k1', 1)]);
  const old = before.encrypt('AB123456', ID_NUMBER);
  t.equal(before.needsReencryption(old), false, 'current before the rotation');

  const rotated = createFieldCipher([keyOf('k2', 2), keyOf('k1', 1)]);
  t.equal(rotated.currentKeyId, 'k2');
  t.equal(rotated.decrypt(old, ID_NUMBER), 'AB123456', 'the old key still decrypts');
  t.equal(rotated.needsReencryption(old), true, 'flagged');
  t.match(rotated.encrypt('X1', ID_NUMBER), /^v1\.k2\./, 'new values under the new key');

  const again = rotated.reencrypt(old, ID_NUMBER);
  t.match(again.ciphertext, /^v1\.k2\./);
  t.equal(rotated.needsReencryption(again.ciphertext), false);
  t.equal(again.lookupHash, rotated.lookupHash('AB123456', ID_NUMBER), 'with the hash under the new key');

  const after = createFieldCipher([keyOf('k2', 2)]);
  t.equal(after.decrypt(again.ciphertext, ID_NUMBER), 'AB123456', 're-encrypted values survive removing the old key');
  t.equal(refusal(() => after.decrypt(old, ID_NUMBER)).reason, 'unknown-key', 'values left behind do not');
  t.same(
    refusal(() => rotated.needsReencryption('v1.k1')),
    MALFORMED,
  );
});

t.test('look-up hashes: keyed, scoped to clinic and field, equal for equal normalised input', async (t) => {
  const cipher = createFieldCipher([FIXED]);
  // Computed independently (RFC 5869 HKDF and HMAC-SHA256 in Python's hmac module).
  const expected = 'kat:ef34f1241f8b6c05e7ea4b28f951fb50bb555a9ebcb20bf21f9c68a359517db7';
  t.equal(cipher.lookupHash('AB-123 456', ID_NUMBER), expected, 'known answer');
  const lookupKey = Buffer.from(hkdfSync('sha256', FIXED.secret, Buffer.alloc(0), 'clinicbase field encryption v1 hmac-sha256', 32));
  t.equal(`kat:${createHmac('sha256', lookupKey).update(`${CLINIC_A}|patients.identification_number|AB123456`).digest('hex')}`, expected);
  for (const spelling of ['ab123456', ' AB 123-456 ', 'ab.123/456', 'ＡＢ１２３４５６']) {
    t.equal(cipher.lookupHash(spelling, ID_NUMBER), expected, `${JSON.stringify(spelling)} is the same number`);
  }
  t.not(cipher.lookupHash('AB123457', ID_NUMBER), expected, 'another number');
  t.not(cipher.lookupHash('AB123456', { ...ID_NUMBER, clinicId: CLINIC_B }), expected, 'another clinic');
  t.not(cipher.lookupHash('AB123456', { ...ID_NUMBER, field: 'patients.passport_number' }), expected, 'another field');

  const k1 = createFieldCipher([keyOf('k1', 1)]).lookupHash('AB123456', ID_NUMBER);
  const k2 = createFieldCipher([keyOf('k2', 2)]).lookupHash('AB123456', ID_NUMBER);
  const otherKeySameId = createFieldCipher([keyOf('k1', 3)]).lookupHash('AB123456', ID_NUMBER);
  t.match(k1, /^k1:[0-9a-f]{64}$/);
  t.not(k1.slice(3), k2.slice(3), 'different keys, different hashes');
  t.not(k1, otherKeySameId, 'the key decides, not its id');
  t.same(createFieldCipher([keyOf('k2', 2), keyOf('k1', 1)]).lookupHashes('ab-123456', ID_NUMBER), [k2, k1], 'every key, the current first');

  t.throws(() => cipher.lookupHash(' - / ', ID_NUMBER), new RangeError('field look-up: patients.identification_number has no letter or digit to look up'));
  t.equal(normaliseIdentifier(' x-9 ä/ß '), 'X9ÄSS');
});

t.test('contexts and keys the cipher refuses', async (t) => {
  const cipher = createFieldCipher([FIXED]);
  t.throws(() => cipher.encrypt('1', { clinicId: 'clinic-a', field: 'patients.identification_number' }), /clinicId must be a lower-case UUID/);
  t.throws(() => cipher.encrypt('1', { clinicId: CLINIC_A.toUpperCase(), field: 'patients.identification_number' }), /clinicId must be a lower-case UUID/);
  t.throws(() => cipher.encrypt('1', { clinicId: CLINIC_A, field: 'identification_number' }), /field must be table\.column/);
  t.throws(() => cipher.lookupHash('1', { clinicId: CLINIC_A, field: 'patients.x|y' }), /field must be table\.column/);
  t.throws(() => createFieldCipher([]), /at least one key/);
});

t.test('mask: the last four characters, never more than half', async (t) => {
  const cases: [string, string][] = [
    ['AB1234567', '*****4567'],
    ['12345678', '****5678'],
    ['1234567', '****567'],
    ['12345', '***45'],
    ['1234', '**34'],
    ['7', '*'],
    ['', ''],
    ['😀😀😀ÄÖ12', '****Ö12'],
  ];
  for (const [value, masked] of cases) t.equal(mask(value), masked, JSON.stringify(value));
});
