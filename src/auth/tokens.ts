// Opaque secret tokens (refresh tokens, invitations, password resets): 256 random bits, shown to
// their holder once; the database keeps only their SHA-256 (a fast hash is right here: the input
// is random, not a password).
import { createHash, randomBytes } from 'node:crypto';

export function newSecretToken(): { token: string; hash: Buffer } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: hashSecretToken(token) };
}

export function hashSecretToken(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/**
 * A session's longest life, however active. Its idle timeout is the clinic's setting
 * (clinic_settings.session_idle_minutes, 15 by default), applied by the database.
 */
export const SESSION = { lifetime: '12 hours' } as const;
