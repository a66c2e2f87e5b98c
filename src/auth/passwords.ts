// Passwords: argon2id through the maintained native binding; verification is constant-time
// inside argon2. Every refusal costs the same argon2 work: an unknown e-mail, and an account
// without a usable hash (invited, no password set yet), are verified against a dummy hash.
import argon2 from 'argon2';

/** OWASP's argon2id baseline (19 MiB, 2 passes): about 20 ms here, so logins stay cheap to serve. */
const OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, OPTIONS);
}

const dummyHash = hashPassword('clinicbase-dummy-password-for-unknown-accounts');

/** True only when there is a usable hash and the password matches it. */
export async function verifyPassword(hash: string | undefined, password: string): Promise<boolean> {
  // A hash argon2 cannot read (the placeholder of an account without a password) fails at once:
  // undefined here, so that it costs the dummy's work like an unknown e-mail.
  const matches = hash === undefined ? undefined : await argon2.verify(hash, password).catch(() => undefined);
  if (matches !== undefined) return matches;
  await argon2.verify(await dummyHash, password).catch(() => false);
  return false;
}
