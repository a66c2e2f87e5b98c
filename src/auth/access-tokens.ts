// Access tokens: EdDSA JWTs signed with the current key and verified by the key their `kid` names
// (src/auth/keys.ts), with our issuer, one audience per kind, and an expiry. Two kinds: a clinic
// member's token (or a platform operator's read-only support token for one clinic), and a
// platform operator's token; each has its audience, so neither opens the other's routes.
// Verification is a plain function of the raw token, so the HTTP guard, GraphQL and jobs check a
// token the same way. What a token may still do now (a suspended clinic, an ended session, a
// support grant) is the guard's question (src/auth/guard.ts), asked on every request.
import { randomUUID } from 'node:crypto';
import { createSigner, createVerifier } from 'fast-jwt';
import { z } from 'zod';
import { AppError } from '../errors.ts';
import type { SigningKeys } from './keys.ts';
import { CLINIC_ROLES } from './permissions.ts';

const ISSUER = 'clinicbase';
const CLINIC_AUDIENCE = 'clinicbase-api';
const PLATFORM_AUDIENCE = 'clinicbase-platform';
/**
 * Verified tokens remembered per key and audience (least recently used beyond this). A client sends
 * one token many times, and the Ed25519 check is most of a request's CPU time; the entry is keyed
 * by a hash of the whole token and lasts until the token's `exp` at most. What ends a token early is
 * checked by the guard on every request, cached or not.
 */
const VERIFIED_TOKENS_CACHED = 10_000;

export const accessClaims = z.object({
  sub: z.uuid(),
  clinic_id: z.uuid(),
  clinic_slug: z.string().min(1),
  role: z.enum(CLINIC_ROLES),
  jti: z.uuid(),
  /** How the person proved who they are (RFC 8176): the password, and a one-time code when asked. */
  amr: z.array(z.enum(['pwd', 'otp'])).min(1),
  /** Support access: a platform operator's read-only token under this grant (support_access_grants). */
  support_grant: z.uuid().optional(),
});
export type AccessClaims = z.infer<typeof accessClaims>;

export const platformClaims = z.object({ sub: z.uuid(), scope: z.literal('platform'), jti: z.uuid(), amr: accessClaims.shape.amr });
export type PlatformClaims = z.infer<typeof platformClaims>;

/** Every token we sign carries `iat`: a session ended after it ends the token (blocked-access.ts). */
const issued = z.object({ iat: z.number().int() });

/** A token that verified: its claims, and when it was issued (epoch seconds). */
export interface Verified<Claims> {
  claims: Claims;
  issuedAt: number;
}

export interface AccessTokens {
  /** A clinic token, for `expiresInSeconds` (default: the configured lifetime). */
  signAccessToken(claims: AccessClaims, expiresInSeconds?: number): string;
  /** A platform-operator token; `twoFactor`: the login passed a second factor. */
  signPlatformToken(operator: { accountId: string; twoFactor: boolean }): string;
  /** The claims of a clinic token signed by a listed key, unexpired; else a 401 AppError. */
  verifyAccessToken(token: string): Verified<AccessClaims>;
  /** The claims of a platform-operator token; else a 401 AppError. */
  verifyPlatformToken(token: string): Verified<PlatformClaims>;
}

/** 401 with `WWW-Authenticate: Bearer`: no token, or one that does not (or no longer) open this. */
export const unauthenticated = (cause?: unknown, detail = 'A valid access token is required.') =>
  new AppError('UNAUTHENTICATED', detail, { headers: { 'www-authenticate': 'Bearer' }, cause });

/** The token of an `Authorization: Bearer <token>` header; else a 401. */
export function bearerToken(authorization: string | undefined): string {
  const token = /^Bearer (\S+)$/i.exec(authorization ?? '')?.[1];
  if (token === undefined) throw unauthenticated();
  return token;
}

export function createAccessTokens(keys: SigningKeys, options: { ttlSeconds: number }): AccessTokens {
  const signer = (audience: string, expiresInSeconds = options.ttlSeconds) =>
    createSigner({ key: keys.privateKeyPem, algorithm: 'EdDSA', kid: keys.keyId, iss: ISSUER, aud: audience, expiresIn: expiresInSeconds * 1000 });
  const signClinic = signer(CLINIC_AUDIENCE);
  const signPlatform = signer(PLATFORM_AUDIENCE);
  const verifyClinic = verifier(keys, CLINIC_AUDIENCE, accessClaims);
  const verifyPlatform = verifier(keys, PLATFORM_AUDIENCE, platformClaims);
  return {
    signAccessToken: (claims, expiresInSeconds) =>
      (expiresInSeconds === undefined ? signClinic : signer(CLINIC_AUDIENCE, expiresInSeconds))(accessClaims.parse(claims)),
    signPlatformToken: ({ accountId, twoFactor }) =>
      signPlatform({ sub: accountId, scope: 'platform', jti: randomUUID(), amr: twoFactor ? ['pwd', 'otp'] : ['pwd'] }),
    verifyAccessToken: verifyClinic,
    verifyPlatformToken: verifyPlatform,
  };
}

/**
 * Verifies tokens of one audience. One fast-jwt verifier per key id, each holding its public key
 * parsed once (a KeyObject, not a PEM per token) and its cache of verified tokens; the `kid` of
 * the token's header picks it, and a kid that no listed key has fails. The verifier then checks
 * the header in full (EdDSA only), the signature, issuer, audience and expiry.
 */
function verifier<Claims>(keys: SigningKeys, audience: string, schema: z.ZodType<Claims>): (token: string) => Verified<Claims> {
  const byKeyId = new Map(
    [...keys.publicKeys].map(([kid, pem]) => [
      kid,
      createVerifier({
        // fast-jwt checks iss and aud only when a token carries them: require them, or a token of
        // ours without an audience would open both kinds of route.
        key: pem,
        algorithms: ['EdDSA'],
        allowedIss: ISSUER,
        allowedAud: audience,
        requiredClaims: ['exp', 'jti', 'sub', 'iss', 'aud'],
        cache: VERIFIED_TOKENS_CACHED,
      }),
    ]),
  );
  return (token) => {
    const kid = keyIdOf(token);
    const verify = kid === undefined ? undefined : byKeyId.get(kid);
    if (!verify) throw unauthenticated();
    try {
      const payload: unknown = verify(token);
      return { claims: schema.parse(payload), issuedAt: issued.parse(payload).iat };
    } catch (error) {
      throw unauthenticated(error);
    }
  };
}

/** The `kid` of a token's header, to pick a key by; undefined when there is none. */
function keyIdOf(token: string): string | undefined {
  const headerEnd = token.indexOf('.');
  if (headerEnd < 1) return undefined;
  try {
    const kid = (JSON.parse(Buffer.from(token.slice(0, headerEnd), 'base64url').toString('utf8')) as { kid?: unknown } | null)?.kid;
    return typeof kid === 'string' ? kid : undefined;
  } catch {
    return undefined;
  }
}
