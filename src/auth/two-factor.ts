// TOTP (RFC 6238: SHA-1, 6 digits, 30 s, what every authenticator app reads) and recovery codes.
// The database keeps the secret and the last time step used, so a code works once
// (app_hidden.use_two_factor_step); this module only computes.
import { randomBytes } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import { hashSecretToken } from './tokens.ts';

const ISSUER = 'clinicbase';
const PERIOD_SECONDS = 30;
/** Codes of the previous and next period pass too: clocks drift, people type slowly. */
const WINDOW = 1;
const RECOVERY_CODES = 10;

/** A one-time code as typed: six digits (TOTP), or a recovery code. */
export const TOTP_CODE = /^\d{6}$/;

function totp(secret: string, email?: string): TOTP {
  return new TOTP({ issuer: ISSUER, label: email ?? 'account', algorithm: 'SHA1', digits: 6, period: PERIOD_SECONDS, secret: Secret.fromBase32(secret) });
}

/** A new 160-bit secret (base32, as stored) and the otpauth:// URI an authenticator app scans. */
export function newTotpSecret(email: string): { secret: string; otpauthUri: string } {
  const secret = new Secret({ size: 20 }).base32;
  return { secret, otpauthUri: totp(secret, email).toString() };
}

/** The time step `code` belongs to, or null when it is not a current code of `secret`. */
export function totpStep(secret: string, code: string, now = Date.now()): number | null {
  if (!TOTP_CODE.test(code)) return null;
  const generator = totp(secret);
  const delta = generator.validate({ token: code, timestamp: now, window: WINDOW });
  return delta === null ? null : generator.counter({ timestamp: now }) + delta;
}

/** The current code of `secret` (tests and set-up screens). */
export function currentTotp(secret: string, now = Date.now()): string {
  return totp(secret).generate({ timestamp: now });
}

/** Ten single-use codes (60 random bits each, as xxxx-xxxx-xxxx) and the hashes the database keeps. */
export function newRecoveryCodes(): { codes: string[]; hashes: Buffer[] } {
  const codes = Array.from({ length: RECOVERY_CODES }, () =>
    (randomBytes(8).readBigUInt64BE() >> 4n)
      .toString(32)
      .padStart(12, '0')
      .replace(/(.{4})(?=.)/g, '$1-'),
  );
  return { codes, hashes: codes.map(hashRecoveryCode) };
}

/** Case and dashes do not matter when a recovery code is typed. */
export function hashRecoveryCode(code: string): Buffer {
  return hashSecretToken(code.toLowerCase().replace(/[^0-9a-v]/g, ''));
}
