// Access tokens made and read by hand, independently of src/auth/access-tokens.ts (the code under
// test): the claims a session's token carries, and tokens the app would never sign (expired,
// incomplete, of the other audience) but signed with the test key, so only that flaw is wrong.
import { createDecoder, createSigner } from 'fast-jwt';
import { TEST_KEYS } from './app.ts';

const decode = createDecoder({ complete: true });

/** A token's header and payload, not verified. */
export function decodeToken<Payload = Record<string, unknown>>(token: string): { header: Record<string, unknown>; payload: Payload } {
  return decode(token);
}

/**
 * `claims` signed as the app signs a clinic token (TEST_KEYS' key and kid, issuer `clinicbase`,
 * five minutes), for the audience `audience` (default `clinicbase-api`), issued at `now` (ms).
 */
export function signWithTestKey(claims: object, { now = Date.now(), audience = 'clinicbase-api' } = {}): string {
  const sign = createSigner({
    key: TEST_KEYS.privateKeyPem,
    algorithm: 'EdDSA',
    kid: TEST_KEYS.keyId,
    iss: 'clinicbase',
    aud: audience,
    expiresIn: 300_000,
    clockTimestamp: now,
  });
  return sign({ ...claims });
}
