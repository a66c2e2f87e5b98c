// The identity steps in the database that more than one caller needs: every login (a clinic
// member's, an operator's, an invitation's, a password change's) checks the account, its lock and
// its second factor here, and the security events go to the audit log from here. Each is a
// SECURITY DEFINER function of app_hidden (migrations: 0330-login, 0340-login-throttle,
// 0350-auth-events, 0360-platform-operators, 0420-two-factor, 0490-login-failures). The auth
// module's own steps (sessions, invitations, resets, second-factor set-up) are in
// src/modules/auth/queries.ts.
import { sql } from 'kysely';
import { readIsTrue, writeIsTrue } from '../db/calls.ts';
import type { TenantDb } from '../db/tenant.ts';

export async function findAccount(db: TenantDb, email: string): Promise<{ accountId: string; passwordHash: string } | undefined> {
  const { rows } = await sql<{ accountId: string; passwordHash: string }>`
    select account_id, password_hash from app_hidden.login_account(${email})`.execute(db);
  return rows[0];
}

export async function lockedUntil(db: TenantDb, email: string): Promise<Date | null> {
  const row = await db.selectNoFrom(sql<Date | null>`app_hidden.login_locked_until(${email})`.as('until')).executeTakeFirst();
  return row?.until ?? null;
}

/** Counts a failure; returns the end of the lock this failure started, if it did. */
export async function recordLoginFailure(db: TenantDb, email: string): Promise<Date | null> {
  const { rows } = await sql<{ until: Date | null }>`select app_hidden.login_failed(${email}) as until`.execute(db);
  return rows[0]?.until ?? null;
}

export async function clearLoginFailures(db: TenantDb, email: string): Promise<void> {
  await sql`select app_hidden.login_succeeded(${email})`.execute(db);
}

export type AuthEvent =
  | 'auth.login.succeeded'
  | 'auth.login.failed'
  | 'auth.login.locked'
  | 'auth.refresh.reused'
  | 'auth.logout'
  | 'auth.switch'
  | 'auth.password.changed'
  | 'auth.password.reset'
  | 'auth.two_factor.enabled'
  | 'auth.two_factor.disabled'
  | 'auth.two_factor.recovery_codes_replaced'
  | 'auth.two_factor.recovery_code_used';

export async function recordAuthEvent(
  db: TenantDb,
  event: { action: AuthEvent; accountId?: string | null; clinicId?: string | null; details?: Record<string, unknown> },
): Promise<void> {
  await sql`select app_hidden.record_auth_event(${event.action}, ${event.accountId ?? null}, ${event.clinicId ?? null},
    ${event.details ? JSON.stringify(event.details) : null}::jsonb)`.execute(db);
}

// The second factor of the context's user (app.user_id).

export async function myTwoFactor(db: TenantDb): Promise<{ secret: string; enabled: boolean } | undefined> {
  const { rows } = await sql<{ secret: string; enabled: boolean }>`select secret, enabled from app_hidden.my_two_factor()`.execute(db);
  return rows[0];
}

/** False when the step was used already (a replayed code) or no second factor is on. */
export async function useTwoFactorStep(db: TenantDb, step: number): Promise<boolean> {
  return writeIsTrue(db, sql`app_hidden.use_two_factor_step(${step})`);
}

export async function useRecoveryCode(db: TenantDb, hash: Buffer): Promise<boolean> {
  return writeIsTrue(db, sql`app_hidden.use_recovery_code(${hash})`);
}

// Platform operators.

export async function isPlatformOperator(db: TenantDb, accountId: string): Promise<boolean> {
  return readIsTrue(db, sql`app_hidden.is_platform_operator(${accountId})`);
}

/** PLATFORM_BOOTSTRAP_*: creates the first operator only while there is none (the database decides). */
export async function bootstrapOperator(db: TenantDb, email: string, passwordHash: string): Promise<boolean> {
  const { rows } = await sql<{ created: boolean }>`select app_hidden.bootstrap_platform_operator(${email}, ${passwordHash}) as created`.execute(db);
  return rows[0]?.created === true;
}
