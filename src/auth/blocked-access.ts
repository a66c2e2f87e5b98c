// What ends a token before it expires, kept in memory. A token that still verifies is refused
// when its clinic is suspended, its membership was deactivated, its role is no longer the
// membership's, or its account's sessions were ended after it was issued (a new password, the
// second factor changed). Each process holds these few facts and re-reads them every
// BLOCKED_REFRESH_MS, and at once after such a change made through it, so the guard costs no
// query per request and a change elsewhere takes effect within seconds.
import { sql } from 'kysely';
import type { ContextRunner } from '../db/contexts.ts';

/** How often every process re-reads suspended clinics, deactivated memberships, changed roles and ended sessions. */
export const BLOCKED_REFRESH_MS = 5_000;

export class BlockedAccess {
  readonly #withPlatform: ContextRunner;
  #suspended = new Set<string>();
  /** "clinic/account" of deactivated memberships. */
  #deactivated = new Set<string>();
  /** "clinic/account" → the role now, for memberships whose role changed within the longest token lifetime. */
  #changedRoles = new Map<string, string>();
  /** Account → the second its sessions were ended. */
  #endedSessions = new Map<string, number>();

  /** `withPlatform`: transactions as app_platform (the app's app.withPlatform, or a worker's own). */
  constructor(withPlatform: ContextRunner) {
    this.#withPlatform = withPlatform;
  }

  /** Refreshes overlap (the timer's and one after a change): a read begun before the last one applied is dropped. */
  #begun = 0;
  #applied = 0;

  /** Re-reads every fact now (after a suspension, deactivation, role change or ended session). */
  async refresh(): Promise<void> {
    const read = ++this.#begun;
    const [blocked, roles, ended] = await this.#withPlatform(
      { clinicId: null, userId: null, role: null },
      async (db) =>
        [
          (await sql<{ clinicId: string; accountId: string | null }>`select clinic_id, account_id from app_hidden.blocked_access()`.execute(db)).rows,
          (await sql<{ clinicId: string; accountId: string; role: string }>`select clinic_id, account_id, role from app_hidden.changed_roles()`.execute(db))
            .rows,
          (await sql<{ accountId: string; endedAt: Date }>`select account_id, ended_at from app_hidden.ended_sessions()`.execute(db)).rows,
        ] as const,
    );
    if (read < this.#applied) return;
    this.#applied = read;
    this.#suspended = new Set(blocked.filter((r) => r.accountId === null).map((r) => r.clinicId));
    this.#deactivated = new Set(blocked.filter((r) => r.accountId !== null).map((r) => membership(r.clinicId, r.accountId!)));
    this.#changedRoles = new Map(roles.map((r) => [membership(r.clinicId, r.accountId), r.role]));
    this.#endedSessions = new Map(ended.map((r) => [r.accountId, Math.floor(r.endedAt.getTime() / 1000)]));
  }

  /**
   * Refreshes now, then every BLOCKED_REFRESH_MS until the returned function is called. A failed
   * refresh keeps the facts read last and goes to `onError` (the app starts without its database
   * too: liveness up, readiness down).
   */
  async keepFresh(onError: (error: unknown) => void): Promise<() => void> {
    const refreshQuietly = () => this.refresh().catch(onError);
    await refreshQuietly();
    const timer = setInterval(refreshQuietly, BLOCKED_REFRESH_MS).unref();
    return () => clearInterval(timer);
  }

  isSuspended(clinicId: string): boolean {
    return this.#suspended.has(clinicId);
  }

  isDeactivated(clinicId: string, accountId: string): boolean {
    return this.#deactivated.has(membership(clinicId, accountId));
  }

  /** The membership's role when it changed lately; undefined: unchanged, a token's role stands. */
  roleNow(clinicId: string, accountId: string): string | undefined {
    return this.#changedRoles.get(membership(clinicId, accountId));
  }

  /** The second (epoch, as `iat`) the account's sessions were ended; a token issued before it is refused. */
  sessionEndedAt(accountId: string): number | undefined {
    return this.#endedSessions.get(accountId);
  }
}

const membership = (clinicId: string, accountId: string) => `${clinicId}/${accountId}`;
