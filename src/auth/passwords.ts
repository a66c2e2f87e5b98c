// Passwords: argon2id through the maintained native binding; verification is constant-time
// inside argon2. An unknown e-mail is verified against a dummy hash so it costs the same time as
// a wrong password.
import argon2 from 'argon2';

/** OWASP's argon2id baseline (19 MiB, 2 passes): about 20 ms here, so logins stay cheap to serve. */
const OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, OPTIONS);
}

const dummyHash = hashPassword('clinicbase-dummy-password-for-unknown-accounts');

/** True only when there is a hash and the password matches it. */
export async function verifyPassword(hash: string | undefined, password: string): Promise<boolean> {
  const matches = await argon2.verify(hash ?? (await dummyHash), password).catch(() => false);
  return matches && hash !== undefined;
}
