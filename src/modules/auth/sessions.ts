// Sessions: log in (to one clinic, or list the person's clinics), refresh, log out, switch
// clinic. A session is a refresh token in the database (rotated on every use; a reused one
// revokes its whole family) and a short-lived access token. Every refusal looks the same from
// outside: an unknown e-mail, a wrong password and a clinic the person does not belong to are one 401.
import { randomUUID } from 'node:crypto';
import { verifyCredentials, type Verified } from '../../auth/credentials.ts';
import { myTwoFactor, recordAuthEvent } from '../../auth/queries.ts';
import { hashSecretToken, newSecretToken, SESSION } from '../../auth/tokens.ts';
import { withAccount, withAnonymous, type Caller } from '../../db/contexts.ts';
import type { ClinicRole } from '../../db/tenant.ts';
import { AppError } from '../../errors.ts';
import type { AuthDeps } from './deps.ts';
import { accountClinics, clinicRequiresTwoFactor, revokeRefreshFamily, storeRefreshToken, useRefreshToken } from './queries.ts';
import type { Membership, Session } from './schemas.ts';

type SessionDeps = Pick<AuthDeps, 'withTenant' | 'signAccessToken' | 'accessTokenTtlSeconds'>;

const invalidRefreshToken = () => new AppError('UNAUTHENTICATED', 'The refresh token is not valid; log in again.');
const twoFactorRequired = () =>
  new AppError('TWO_FACTOR_REQUIRED', 'Set up two-factor authentication (POST /api/v1/auth/two-factor/setup), then log in with a one-time code.');

export async function login(
  deps: SessionDeps,
  input: { email: string; password: string; clinicSlug?: string | undefined; otp?: string | undefined },
  caller: Caller,
): Promise<Session | { clinics: Pick<Membership, 'clinicSlug' | 'clinicName' | 'role'>[] }> {
  let membership: Membership | undefined;
  let clinics: Membership[] = [];
  const verified = await verifyCredentials(deps, input, caller, {
    otp: input.otp,
    admits: async (id) => {
      clinics = await memberships(deps, id, caller);
      membership = clinics.find((m) => m.clinicSlug === input.clinicSlug);
      return input.clinicSlug === undefined || membership !== undefined;
    },
  });
  if (!membership) return { clinics: clinics.map(({ clinicSlug, clinicName, role }) => ({ clinicSlug, clinicName, role })) };
  const clinicId = membership.clinicId;
  const session = await startSession(deps, verified, membership, caller);
  await withAnonymous(deps.withTenant, caller, (db) =>
    recordAuthEvent(db, { action: 'auth.login.succeeded', accountId: verified.accountId, clinicId, details: { twoFactor: verified.twoFactor } }),
  );
  return session;
}

/** Rotates the refresh token; a reused one has revoked its whole family by the time this throws. */
export async function refresh(deps: SessionDeps, refreshToken: string, caller: Caller): Promise<Session> {
  const successor = newSecretToken();
  const used = await withAnonymous(deps.withTenant, caller, async (db) => {
    const found = await useRefreshToken(db, hashSecretToken(refreshToken));
    if (found?.reused) {
      await recordAuthEvent(db, { action: 'auth.refresh.reused', accountId: found.accountId, clinicId: found.clinicId, details: { family: found.familyId } });
    } else if (found?.clinicSlug && found.absoluteExpiresAt) {
      await storeRefreshToken(db, {
        hash: successor.hash,
        accountId: found.accountId,
        clinicId: found.clinicId,
        familyId: found.familyId,
        twoFactor: found.twoFactor,
        endsAt: found.absoluteExpiresAt,
      });
    }
    return found;
  });
  if (!used || used.reused || !used.clinicSlug || !used.role) throw invalidRefreshToken();
  const membership = (await memberships(deps, used.accountId, caller)).find((m) => m.clinicId === used.clinicId);
  if (!membership) throw invalidRefreshToken();
  return tokens(deps, { accountId: used.accountId, twoFactor: used.twoFactor }, membership, successor.token);
}

export async function logout(deps: Pick<AuthDeps, 'withTenant'>, refreshToken: string, caller: Caller): Promise<void> {
  await withAnonymous(deps.withTenant, caller, async (db) => {
    await revokeRefreshFamily(db, hashSecretToken(refreshToken));
    await recordAuthEvent(db, { action: 'auth.logout' });
  });
}

/** A new session in another clinic of the same person (the token proves who they are, and how). */
export async function switchClinic(deps: SessionDeps, from: Verified, clinicSlug: string, caller: Caller): Promise<Session> {
  const { accountId } = from;
  const membership = (await memberships(deps, accountId, caller)).find((m) => m.clinicSlug === clinicSlug);
  if (!membership) throw new AppError('NOT_FOUND');
  const session = await startSession(deps, from, membership, caller);
  await withAnonymous(deps.withTenant, caller, (db) => recordAuthEvent(db, { action: 'auth.switch', accountId, clinicId: membership.clinicId }));
  return session;
}

/** The account's active memberships in clinics that are not suspended. */
export function memberships(deps: Pick<AuthDeps, 'withTenant'>, accountId: string, caller: Caller): Promise<Membership[]> {
  return withAnonymous(deps.withTenant, caller, (db) => accountClinics(db, accountId));
}

/**
 * A session's claim about its second factor must be true of the account now (a token from
 * before it was turned on or off cannot start one), and a clinic that requires a second factor
 * gets no session without one: that refusal is on record, though it is no failure towards the
 * lock (the password was right).
 */
export async function startSession(deps: SessionDeps, verified: Verified, membership: Membership, caller: Caller): Promise<Session> {
  const { accountId, twoFactor } = verified;
  const clinicId = membership.clinicId;
  const refreshToken = newSecretToken();
  const refusal = await withAccount(deps.withTenant, caller, accountId, async (db) => {
    const enabled = (await myTwoFactor(db))?.enabled === true;
    if (twoFactor !== enabled) return enabled ? 'code' : 'stale';
    if (!twoFactor && (await clinicRequiresTwoFactor(db, clinicId))) {
      await recordAuthEvent(db, { action: 'auth.login.failed', accountId, clinicId, details: { reason: 'two_factor_required' } });
      return 'clinic';
    }
    await storeRefreshToken(db, { hash: refreshToken.hash, accountId, clinicId, twoFactor, ...SESSION });
    return undefined;
  });
  if (refusal === 'code') throw new AppError('ONE_TIME_CODE_REQUIRED', 'Log in again with your one-time code.');
  if (refusal === 'stale') throw new AppError('UNAUTHENTICATED', 'This session has ended; log in again.');
  if (refusal === 'clinic') throw twoFactorRequired();
  return tokens(deps, verified, membership, refreshToken.token);
}

/** The client's half of a session: a signed access token beside the refresh token. */
async function tokens(
  deps: Pick<AuthDeps, 'signAccessToken' | 'accessTokenTtlSeconds'>,
  verified: Verified,
  membership: Membership,
  refreshToken: string,
): Promise<Session> {
  const accessToken = await deps.signAccessToken({
    sub: verified.accountId,
    clinic_id: membership.clinicId,
    clinic_slug: membership.clinicSlug,
    role: membership.role as ClinicRole,
    jti: randomUUID(),
    amr: verified.twoFactor ? ['pwd', 'otp'] : ['pwd'],
  });
  return { tokenType: 'Bearer', accessToken, expiresIn: deps.accessTokenTtlSeconds, refreshToken, membership };
}
