// The clinic guard, as plain functions: a bearer token → who is asking, as the TenantContext that
// withTenant runs with. The context comes from the verified token only, never from a URL, a header
// or a body. HTTP routes reach the guard through src/plugins/auth.ts; the GraphQL endpoint (whose
// URL names no clinic: the token's is the one) and anything else that takes a token call the
// same functions, so every path to tenant data makes the same checks, in this order:
//  1. the token: a listed key's signature (by kid), EdDSA, our issuer, the audience of its kind,
//     unexpired, every claim there (access-tokens.ts), and not issued before its account's
//     sessions were ended (blocked-access.ts): else 401;
//  2. the clinic the caller names, when it names one (the URL's slug), is the token's: else 404,
//     exactly as for a clinic that does not exist;
//  3. the clinic is not suspended: else 403;
//  4. a member's membership is active and their role still the token's: else 401 (the client
//     refreshes or logs in again); a support token's grant is in force, checked and audited on
//     every request (app_hidden.use_support_access): else 401.
import type { Caller, ContextRunner } from '../db/contexts.ts';
import type { TenantContext } from '../db/tenant.ts';
import { AppError } from '../errors.ts';
import { unauthenticated, type AccessClaims, type AccessTokens, type PlatformClaims, type Verified } from './access-tokens.ts';
import type { BlockedAccess } from './blocked-access.ts';
import { isAllowed, type Action, type Resource } from './permissions.ts';
import { useSupportAccess } from './support-access.ts';

export interface GuardDeps {
  tokens: Pick<AccessTokens, 'verifyAccessToken' | 'verifyPlatformToken'>;
  blockedAccess: Pick<BlockedAccess, 'isSuspended' | 'isDeactivated' | 'roleNow' | 'sessionEndedAt'>;
  /** Transactions as app_platform: a support token's every use is checked and audited there. */
  withPlatform: ContextRunner;
}

/** A call into a clinic: where it comes from, and which clinic it names. */
export interface ClinicCall extends Caller {
  /** The clinic's slug the caller named (a URL's); unset where the clinic is the token's own (GraphQL). */
  slug?: string | undefined;
  /** What the audit log records about a support token's use: the method and route, an operation. */
  details?: Record<string, unknown>;
}

export interface Guard {
  /** A clinic token (a member's, or an operator's support token) → its clinic's context for this call. */
  tenantFromToken(token: string, call: ClinicCall): Promise<{ claims: AccessClaims; tenant: TenantContext }>;
  /**
   * A person's own clinic token → their context, for calls about their account and sessions (who am
   * I, switch clinic, change password): the token and its session only, not the clinic's state.
   * A support token is refused: it is no membership.
   */
  accountFromToken(token: string, caller: Caller): { claims: AccessClaims; tenant: TenantContext };
  /** A platform-operator token → the operator's context (no clinic, the operator as user). */
  operatorFromToken(token: string, caller: Caller): { claims: PlatformClaims; tenant: TenantContext };
}

export function createGuard({ tokens, blockedAccess, withPlatform }: GuardDeps): Guard {
  /** A token issued before its account's sessions were ended (at second precision, as `iat`). */
  function refuseEndedSession({ claims, issuedAt }: Verified<{ sub: string }>): void {
    const endedAt = blockedAccess.sessionEndedAt(claims.sub);
    if (endedAt !== undefined && issuedAt < endedAt) throw unauthenticated();
  }

  function verifiedAccess(token: string): AccessClaims {
    const verified = tokens.verifyAccessToken(token);
    refuseEndedSession(verified);
    return verified.claims;
  }

  function refuseStaleMembership(claims: AccessClaims): void {
    if (blockedAccess.isDeactivated(claims.clinic_id, claims.sub)) throw unauthenticated();
    // A token issued before a role change acts with the old role: refused, the client refreshes.
    const role = blockedAccess.roleNow(claims.clinic_id, claims.sub);
    if (role !== undefined && role !== claims.role) {
      throw unauthenticated(undefined, 'Your role in this clinic has changed; refresh the session or log in again.');
    }
  }

  /** Every use of a support token is checked against its grant (revocation is immediate) and audited. */
  function supportAccessInForce(claims: AccessClaims, call: ClinicCall): Promise<boolean> {
    const operator = { clinicId: null, userId: claims.sub, role: null, requestId: call.requestId, clientIp: call.clientIp };
    return withPlatform(operator, (db) =>
      useSupportAccess(db, {
        grantId: claims.support_grant!,
        clinicId: claims.clinic_id,
        twoFactor: claims.amr.includes('otp'),
        what: 'used',
        details: call.details ?? {},
      }),
    );
  }

  const tenantOf = (claims: AccessClaims, caller: Caller): TenantContext => ({
    clinicId: claims.clinic_id,
    userId: claims.sub,
    role: claims.role,
    requestId: caller.requestId,
    clientIp: caller.clientIp,
    readOnly: claims.support_grant !== undefined,
  });

  return {
    async tenantFromToken(token, call) {
      const claims = verifiedAccess(token);
      if (call.slug !== undefined && call.slug !== claims.clinic_slug) throw new AppError('NOT_FOUND');
      if (blockedAccess.isSuspended(claims.clinic_id)) throw new AppError('FORBIDDEN', 'This clinic is suspended.');
      if (claims.support_grant === undefined) refuseStaleMembership(claims);
      else if (!(await supportAccessInForce(claims, call))) throw new AppError('UNAUTHENTICATED', 'This support access has ended.');
      return { claims, tenant: tenantOf(claims, call) };
    },

    accountFromToken(token, caller) {
      const claims = verifiedAccess(token);
      if (claims.support_grant !== undefined) throw unauthenticated();
      return { claims, tenant: tenantOf(claims, caller) };
    },

    operatorFromToken(token, caller) {
      const verified = tokens.verifyPlatformToken(token);
      refuseEndedSession(verified);
      return {
        claims: verified.claims,
        tenant: { clinicId: null, userId: verified.claims.sub, role: null, requestId: caller.requestId, clientIp: caller.clientIp },
      };
    },
  };
}

/** The matrix check of a call: the context's role may perform `action` on `resource`, and a read-only context only selects; else 403. */
export function requirePermission(tenant: TenantContext, resource: Resource, action: Action): void {
  if (!isAllowed(resource, action, tenant.role)) throw new AppError('FORBIDDEN');
  if (tenant.readOnly && action !== 'select') throw new AppError('FORBIDDEN', 'Support access is read-only.');
}
