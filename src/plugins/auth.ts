// Access tokens and the clinic guard. The tenant context of a request comes from the verified
// token only, never from the URL, a header or a body; the URL's slug must name the token's
// clinic, else the clinic "does not exist" (404), exactly as an unknown slug.
import { randomUUID } from 'node:crypto';
import fastifyJwt from '@fastify/jwt';
import type { FastifyInstance, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import fp from 'fastify-plugin';
import { sql } from 'kysely';
import { z } from 'zod';
import { jwks, type SigningKeys } from '../auth/keys.ts';
import { isAllowed, type Action } from '../auth/permissions.ts';
import { CLINIC_ROLES, type TenantContext } from '../db/tenant.ts';
import { AppError } from '../errors.ts';
import { useSupportAccess } from '../modules/support-access/queries.ts';

const ISSUER = 'clinicbase';
const AUDIENCE = 'clinicbase-api';
/** How often every process re-reads suspended clinics, deactivated memberships, changed roles and ended sessions. */
export const BLOCKED_REFRESH_MS = 5_000;
/** Platform-operator tokens have an audience of their own: neither kind opens the other's routes. */
const PLATFORM_AUDIENCE = 'clinicbase-platform';

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

/** What every token we sign carries besides its own claims. */
const issuedClaims = z.object({ sub: z.uuid(), iat: z.number().int() });

export const platformClaims = z.object({ sub: z.uuid(), scope: z.literal('platform'), jti: z.uuid(), amr: accessClaims.shape.amr });
export type PlatformClaims = z.infer<typeof platformClaims>;

declare module 'fastify' {
  interface FastifyInstance {
    /** Signs an access token with the current key (EdDSA, `kid` in the header). */
    signAccessToken(claims: AccessClaims, expiresInSeconds?: number): Promise<string>;
    /** Signs a platform-operator token (its own audience); `twoFactor`: the login passed a second factor. */
    signPlatformToken(operator: { accountId: string; twoFactor: boolean }): Promise<string>;
    /** preValidation hook: a valid platform-operator token; sets request.tenant (no clinic, the operator as user). */
    requirePlatformOperator: preHandlerAsyncHookHandler;
    /** preValidation hook: a valid access token of a clinic member (not support access); sets request.tenant and request.claims. */
    authenticate: preHandlerAsyncHookHandler;
    /**
     * Route options for a clinic route: a valid access token for the clinic named by the `slug`
     * parameter, whose role may perform `action` on `resource` (src/auth/permissions.ts). Checked
     * before the request is validated, so a caller without the right learns nothing of the
     * route's input. Every /api/v1/clinics route must declare one (checked at start-up).
     */
    permission(resource: string, action: Action): { preValidation: preHandlerAsyncHookHandler[]; config: { permission: RoutePermission } };
    /** Every clinic route and the permission it requires, as registered. */
    readonly clinicRoutes: (RoutePermission & { method: string; url: string })[];
    /**
     * Re-reads suspended clinics, deactivated memberships, changed roles and accounts whose
     * sessions were ended (also every BLOCKED_REFRESH_MS on its own).
     */
    refreshBlockedAccess(): Promise<void>;
  }
  interface FastifyContextConfig {
    /** Set by app.permission(): what the route requires. */
    permission?: RoutePermission;
  }
  interface FastifyRequest {
    /** Set by authenticate; what withTenant runs with. */
    tenant: TenantContext | null;
    claims: AccessClaims | null;
    /** Set by requirePlatformOperator. */
    operatorClaims: PlatformClaims | null;
  }
}

export interface RoutePermission {
  resource: string;
  action: Action;
}

export interface AuthPluginOptions {
  keys: SigningKeys;
  accessTokenTtlSeconds: number;
}

const unauthenticated = (cause?: unknown, detail = 'A valid access token is required.') =>
  new AppError('UNAUTHENTICATED', detail, { headers: { 'www-authenticate': 'Bearer' }, cause });

async function authPlugin(app: FastifyInstance, options: AuthPluginOptions): Promise<void> {
  const { keys } = options;
  await app.register(fastifyJwt, {
    secret: {
      private: keys.privateKeyPem,
      // Verification picks the key by the token's `kid`; an unknown kid has no key and fails.
      public: async (_request: FastifyRequest, token: unknown) => {
        const kid = (token as { header?: { kid?: unknown } }).header?.kid;
        const pem = typeof kid === 'string' ? keys.publicKeys.get(kid) : undefined;
        if (!pem) throw unauthenticated();
        return pem;
      },
    },
    decode: { complete: true },
    sign: { algorithm: 'EdDSA', kid: keys.keyId, iss: ISSUER, aud: AUDIENCE, expiresIn: options.accessTokenTtlSeconds },
    verify: { algorithms: ['EdDSA'], allowedIss: ISSUER, allowedAud: AUDIENCE, requiredClaims: ['exp', 'jti', 'sub'] },
  });

  app.decorate('signAccessToken', async (claims: AccessClaims, expiresInSeconds?: number) =>
    app.jwt.sign(accessClaims.parse(claims), expiresInSeconds === undefined ? {} : { expiresIn: expiresInSeconds }),
  );
  app.decorateRequest('tenant', null);
  app.decorateRequest('claims', null);
  app.decorateRequest('operatorClaims', null);

  async function authenticate(request: FastifyRequest): Promise<AccessClaims> {
    let claims: AccessClaims;
    try {
      const verified = await request.jwtVerify();
      const { sub, iat } = issuedClaims.parse(verified);
      refuseEndedSession(sub, iat);
      claims = accessClaims.parse(verified);
    } catch (error) {
      throw error instanceof AppError ? error : unauthenticated(error);
    }
    request.claims = claims;
    request.tenant = {
      clinicId: claims.clinic_id, userId: claims.sub, role: claims.role, requestId: request.id, clientIp: request.ip,
      readOnly: claims.support_grant !== undefined,
    };
    return claims;
  }

  // Support tokens open a clinic's routes only: no sessions, passwords or clinic switches.
  app.decorate('authenticate', async (request: FastifyRequest) => {
    if ((await authenticate(request)).support_grant) throw unauthenticated();
  });

  /** Every request under a support grant is checked against the grant (revocation is immediate) and audited. */
  async function checkSupportAccess(request: FastifyRequest, claims: AccessClaims): Promise<boolean> {
    const details = { method: request.method, route: request.routeOptions.url, path: request.url };
    return app.withPlatform({ clinicId: null, userId: claims.sub, role: null, requestId: request.id, clientIp: request.ip }, (db) =>
      useSupportAccess(db, { grantId: claims.support_grant!, clinicId: claims.clinic_id, twoFactor: claims.amr.includes('otp'), what: 'used', details }),
    );
  }

  // Tokens that still verify are refused when their clinic is suspended, their membership was
  // deactivated, or their role is no longer the membership's. The sets are re-read every few
  // seconds (and at once after such a change through this process), so the guard costs no
  // query per request.
  let suspended = new Set<string>();
  let deactivated = new Set<string>();
  /** "clinic/account" → the role now, for memberships whose role changed within the longest token lifetime. */
  let changedRoles = new Map<string, string>();
  /** Account → the second its sessions were ended (a new password, the second factor changed). */
  let endedSessions = new Map<string, number>();
  app.decorate('refreshBlockedAccess', async () => {
    const [blocked, roles, ended] = await app.withPlatform({ clinicId: null, userId: null, role: null }, async (db) => [
      (await sql<{ clinic_id: string; account_id: string | null }>`select clinic_id, account_id from app_hidden.blocked_access()`.execute(db)).rows,
      (await sql<{ clinic_id: string; account_id: string; role: string }>`select clinic_id, account_id, role from app_hidden.changed_roles()`.execute(db)).rows,
      (await sql<{ account_id: string; ended_at: Date }>`select account_id, ended_at from app_hidden.ended_sessions()`.execute(db)).rows,
    ] as const);
    suspended = new Set(blocked.filter((r) => r.account_id === null).map((r) => r.clinic_id));
    deactivated = new Set(blocked.filter((r) => r.account_id !== null).map((r) => `${r.clinic_id}/${r.account_id}`));
    changedRoles = new Map(roles.map((r) => [`${r.clinic_id}/${r.account_id}`, r.role]));
    endedSessions = new Map(ended.map((r) => [r.account_id, Math.floor(r.ended_at.getTime() / 1000)]));
  });
  /** A token issued before its account's sessions were ended (at second precision, as `iat`). */
  function refuseEndedSession(accountId: string, issuedAt: number): void {
    const endedAt = endedSessions.get(accountId);
    if (endedAt !== undefined && issuedAt < endedAt) throw unauthenticated();
  }
  let timer: NodeJS.Timeout | undefined;
  const refreshQuietly = () =>
    app.refreshBlockedAccess().catch((error: unknown) => app.log.warn({ err: error }, 'could not re-read blocked access'));
  app.addHook('onReady', async () => {
    // The app starts without its database too (liveness up, readiness down): no throw here.
    await refreshQuietly();
    timer = setInterval(refreshQuietly, BLOCKED_REFRESH_MS).unref();
  });
  app.addHook('onClose', async () => clearInterval(timer));

  async function requireClinicMember(request: FastifyRequest) {
    const claims = await authenticate(request);
    const { slug } = request.params as { slug?: string };
    if (slug !== claims.clinic_slug) throw new AppError('NOT_FOUND');
    if (suspended.has(claims.clinic_id)) throw new AppError('FORBIDDEN', 'This clinic is suspended.');
    if (claims.support_grant) {
      if (!(await checkSupportAccess(request, claims))) throw new AppError('UNAUTHENTICATED', 'This support access has ended.');
    } else {
      const membership = `${claims.clinic_id}/${claims.sub}`;
      if (deactivated.has(membership)) throw unauthenticated();
      // A token issued before a role change acts with the old role: refused, the client refreshes.
      const role = changedRoles.get(membership);
      if (role !== undefined && role !== claims.role) {
        throw unauthenticated(undefined, 'Your role in this clinic has changed; refresh the session or log in again.');
      }
    }
  }

  app.decorate('signPlatformToken', async ({ accountId, twoFactor }: { accountId: string; twoFactor: boolean }) =>
    app.jwt.sign({ sub: accountId, scope: 'platform', jti: randomUUID(), amr: twoFactor ? ['pwd', 'otp'] : ['pwd'] }, { aud: PLATFORM_AUDIENCE }),
  );

  app.decorate('requirePlatformOperator', async function requirePlatformOperator(request: FastifyRequest) {
    let claims: PlatformClaims;
    try {
      const verified = await request.jwtVerify({ decode: { complete: true }, verify: { allowedAud: PLATFORM_AUDIENCE } });
      const { sub, iat } = issuedClaims.parse(verified);
      refuseEndedSession(sub, iat);
      claims = platformClaims.parse(verified);
    } catch (error) {
      throw error instanceof AppError ? error : unauthenticated(error);
    }
    request.operatorClaims = claims;
    request.tenant = { clinicId: null, userId: claims.sub, role: null, requestId: request.id, clientIp: request.ip };
  });

  const allow = (resource: string, action: Action) =>
    async function allow(request: FastifyRequest) {
      if (!isAllowed(resource, action, request.tenant?.role ?? null)) throw new AppError('FORBIDDEN');
      if (request.tenant?.readOnly && action !== 'select') throw new AppError('FORBIDDEN', 'Support access is read-only.');
    };

  app.decorate('permission', (resource: string, action: Action) => ({
    preValidation: [requireClinicMember, allow(resource, action)],
    config: { permission: { resource, action } },
  }));

  // A clinic route without a declared permission would be open to every member: refuse to start.
  const clinicRoutes: (RoutePermission & { method: string; url: string })[] = [];
  app.decorate('clinicRoutes', clinicRoutes);
  app.addHook('onRoute', (route) => {
    if (!route.url.startsWith('/api/v1/clinics/')) return;
    const permission = route.config?.permission;
    if (!permission) throw new Error(`${route.method} ${route.url} declares no permission (app.permission(resource, action))`);
    for (const method of [route.method].flat()) if (method !== 'HEAD') clinicRoutes.push({ method, url: route.url, ...permission });
  });

  app.get('/.well-known/jwks.json', { schema: { hide: true } }, async () => jwks(keys));
}

export default fp(authPlugin, { name: 'auth', dependencies: ['errors', 'db'] });
