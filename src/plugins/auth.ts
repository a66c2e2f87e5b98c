// The clinic guard and access tokens for Fastify: a thin adapter over src/auth/ (access-tokens.ts
// signs and verifies, blocked-access.ts keeps what ends a token early, guard.ts turns a token into
// the request's TenantContext). Here: the decorators routes use, the start-up check that every
// clinic route declares a permission, the blocked-access refresh for this process, and the JWKS.
import type { FastifyInstance, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import fp from 'fastify-plugin';
import { bearerToken, createAccessTokens, type AccessClaims, type PlatformClaims } from '../auth/access-tokens.ts';
import { BlockedAccess } from '../auth/blocked-access.ts';
import { createGuard, requirePermission } from '../auth/guard.ts';
import { jwks, type SigningKeys } from '../auth/keys.ts';
import type { Action, Resource } from '../auth/permissions.ts';
import type { Caller } from '../db/contexts.ts';
import type { TenantContext } from '../db/tenant.ts';

export type { AccessClaims, PlatformClaims } from '../auth/access-tokens.ts';

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
     * Hook for an endpoint whose URL names no clinic (GraphQL): the clinic guard's every check on
     * the token, its clinic the one it names; a support token's use is checked and audited.
     * Sets request.tenant and request.claims.
     */
    requireClinicToken: preHandlerAsyncHookHandler;
    /**
     * Route options for a clinic route: a valid access token for the clinic named by the `slug`
     * parameter, whose role may perform `action` on `resource` (src/auth/permissions.ts). Checked
     * before the request is validated, so a caller without the right learns nothing of the
     * route's input. Every /api/v1/clinics route must declare one (checked at start-up).
     */
    permission(resource: Resource, action: Action): { preValidation: preHandlerAsyncHookHandler[]; config: { permission: RoutePermission } };
    /**
     * For a response that outlives the checks made when its request came in (an event stream,
     * src/http/sse.ts): the clinic guard and the route's permission again, for the same token and
     * URL, before each read. Throws what a new request would get: 401 once the token has expired
     * or its session, membership or role has ended, 403 for a suspended clinic. Sets
     * request.tenant anew; a support token's use is checked and audited again.
     */
    reauthorize(request: FastifyRequest): Promise<void>;
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
  resource: Resource;
  action: Action;
}

export interface AuthPluginOptions {
  keys: SigningKeys;
  accessTokenTtlSeconds: number;
}

/** Every clinic route names its clinic by the `slug` parameter. */
const CLINIC_ROUTE = /^\/api\/v1\/clinics\/:slug(\/|$)/;

async function authPlugin(app: FastifyInstance, options: AuthPluginOptions): Promise<void> {
  const tokens = createAccessTokens(options.keys, { ttlSeconds: options.accessTokenTtlSeconds });
  const blockedAccess = new BlockedAccess(app.withPlatform);
  const guard = createGuard({ tokens, blockedAccess, withPlatform: app.withPlatform });

  app.decorate('signAccessToken', async (claims: AccessClaims, expiresInSeconds?: number) => tokens.signAccessToken(claims, expiresInSeconds));
  app.decorate('signPlatformToken', async (operator: { accountId: string; twoFactor: boolean }) => tokens.signPlatformToken(operator));
  app.decorate('refreshBlockedAccess', () => blockedAccess.refresh());
  app.decorateRequest('tenant', null);
  app.decorateRequest('claims', null);
  app.decorateRequest('operatorClaims', null);

  let stopRefreshing: (() => void) | undefined;
  app.addHook('onReady', async () => {
    stopRefreshing = await blockedAccess.keepFresh((error) => app.log.warn({ err: error }, 'could not re-read blocked access'));
  });
  app.addHook('onClose', async () => stopRefreshing?.());

  const caller = (request: FastifyRequest): Caller => ({ requestId: request.id, clientIp: request.ip });
  const tokenOf = (request: FastifyRequest) => bearerToken(request.headers.authorization);

  app.decorate('authenticate', async (request: FastifyRequest) => {
    const { claims, tenant } = guard.accountFromToken(tokenOf(request), caller(request));
    request.claims = claims;
    request.tenant = tenant;
  });

  app.decorate('requirePlatformOperator', async (request: FastifyRequest) => {
    const { claims, tenant } = guard.operatorFromToken(tokenOf(request), caller(request));
    request.operatorClaims = claims;
    request.tenant = tenant;
  });

  async function requireClinicMember(request: FastifyRequest) {
    const { claims, tenant } = await guard.tenantFromToken(tokenOf(request), {
      ...caller(request),
      // Every clinic route has the parameter (checked at start-up, below).
      slug: (request.params as { slug: string }).slug,
      details: { method: request.method, route: request.routeOptions.url, path: request.url },
    });
    request.claims = claims;
    request.tenant = tenant;
  }

  app.decorate('requireClinicToken', async (request: FastifyRequest) => {
    const { claims, tenant } = await guard.tenantFromToken(tokenOf(request), {
      ...caller(request),
      details: { method: request.method, route: request.routeOptions.url, operationName: operationNameOf(request.body) },
    });
    request.claims = claims;
    request.tenant = tenant;
  });

  app.decorate('permission', (resource: Resource, action: Action) => ({
    preValidation: [requireClinicMember, async (request: FastifyRequest) => requirePermission(request.tenant!, resource, action)],
    config: { permission: { resource, action } },
  }));

  app.decorate('reauthorize', async (request: FastifyRequest) => {
    const { permission } = request.routeOptions.config;
    if (!permission) throw new Error(`${request.method} ${request.routeOptions.url} is not a clinic route`);
    await requireClinicMember(request);
    requirePermission(request.tenant!, permission.resource, permission.action);
  });

  // A clinic route without a declared permission would be open to every member, and one without
  // the clinic's slug would skip the guard's check that the URL names the token's clinic: refuse to start.
  const clinicRoutes: (RoutePermission & { method: string; url: string })[] = [];
  app.decorate('clinicRoutes', clinicRoutes);
  app.addHook('onRoute', (route) => {
    if (!route.url.startsWith('/api/v1/clinics/')) return;
    const permission = route.config?.permission;
    if (!permission) throw new Error(`${route.method} ${route.url} declares no permission (app.permission(resource, action))`);
    if (!CLINIC_ROUTE.test(route.url)) throw new Error(`${route.method} ${route.url} does not name its clinic (/api/v1/clinics/:slug)`);
    for (const method of [route.method].flat()) if (method !== 'HEAD') clinicRoutes.push({ method, url: route.url, ...permission });
  });

  app.get('/.well-known/jwks.json', { schema: { hide: true } }, async () => jwks(options.keys));
}

/** A GraphQL request's operation name, for the audit of a support token's use (bounded, or none). */
function operationNameOf(body: unknown): string | null {
  const name = (body as { operationName?: unknown } | null)?.operationName;
  return typeof name === 'string' && /^[_A-Za-z][_0-9A-Za-z]{0,99}$/.test(name) ? name : null;
}

export default fp(authPlugin, { name: 'auth', dependencies: ['errors', 'db'] });
