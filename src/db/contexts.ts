// The named contexts of calls that belong to no clinic. A login, a refresh, a password reset or an
// invitation starts before anyone is known to be a clinic member, and the platform's own calls
// (the bootstrap, the blocked-access caches) serve no clinic at all. Naming the context says which
// of these a call is, instead of a `withTenant` whose context is quietly empty: RLS shows such a
// context no clinic's rows, and the SECURITY DEFINER functions of app_hidden do the rest.
import type { TenantContext, TenantDb } from './tenant.ts';

/**
 * A door to the database as one role whose pool and transaction settings are already chosen:
 * the app's `app.withTenant` / `app.withPlatform` (src/plugins/db.ts), or a worker's or CLI's
 * own `(ctx, fn) => withContext(pool, role, ctx, fn, settings)`.
 */
export type ContextRunner = <T>(ctx: TenantContext, fn: (db: TenantDb) => Promise<T>) => Promise<T>;

/** Where a call comes from: the request id and address that the audit log records. */
export interface Caller {
  requestId: string;
  clientIp: string;
}

/** Nobody yet: no clinic, no user, no role. `caller` null: the process itself (at start, a job). */
export function anonymousContext(caller: Caller | null): TenantContext {
  return { clinicId: null, userId: null, role: null, ...caller };
}

/**
 * One account, in no clinic: after its password was verified, the account's own functions (its
 * second factor, its sessions) act on app.user_id.
 */
export function accountContext(caller: Caller, accountId: string): TenantContext {
  return { ...anonymousContext(caller), userId: accountId };
}

/** Runs `fn` in the anonymous context (see anonymousContext). */
export function withAnonymous<T>(run: ContextRunner, caller: Caller | null, fn: (db: TenantDb) => Promise<T>): Promise<T> {
  return run(anonymousContext(caller), fn);
}

/** Runs `fn` as `accountId`, in no clinic (see accountContext). */
export function withAccount<T>(run: ContextRunner, caller: Caller, accountId: string, fn: (db: TenantDb) => Promise<T>): Promise<T> {
  return run(accountContext(caller, accountId), fn);
}
