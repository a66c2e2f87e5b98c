// The login path's database steps, each a SECURITY DEFINER function (migrations, 0330-login).
import { sql } from 'kysely';
import type { TenantDb } from '../../db/tenant.ts';
import type { Membership } from './schemas.ts';

export async function findAccount(db: TenantDb, email: string): Promise<{ accountId: string; passwordHash: string } | undefined> {
  const { rows } = await sql<{ accountId: string; passwordHash: string }>`
    select account_id as "accountId", password_hash as "passwordHash" from app_hidden.login_account(${email})`.execute(db);
  return rows[0];
}

export async function accountClinics(db: TenantDb, accountId: string): Promise<Membership[]> {
  return db
    .selectFrom(sql<Record<string, unknown>>`app_hidden.account_clinics(${accountId})`.as('m'))
    .select([
      sql<string>`clinic_id`.as('clinicId'),
      sql<string>`clinic_slug`.as('clinicSlug'),
      sql<string>`clinic_name`.as('clinicName'),
      sql<string>`member_id`.as('memberId'),
      sql<string>`role`.as('role'),
      sql<string>`display_name`.as('displayName'),
    ])
    .execute();
}

export async function storeRefreshToken(
  db: TenantDb,
  token: { hash: Buffer; accountId: string; clinicId: string; lifetime: string; twoFactor: boolean; familyId?: string },
): Promise<void> {
  await sql`select app_hidden.store_refresh_token(${token.hash}, ${token.accountId}, ${token.clinicId},
    ${token.lifetime}::interval, ${token.twoFactor}, ${token.familyId ?? null})`.execute(db);
}

export interface UsedRefreshToken {
  familyId: string;
  accountId: string;
  clinicId: string;
  clinicSlug: string | null;
  role: string | null;
  reused: boolean;
  /** The login of this session passed a second factor. */
  twoFactor: boolean;
}

export async function useRefreshToken(db: TenantDb, hash: Buffer): Promise<UsedRefreshToken | undefined> {
  const { rows } = await sql<UsedRefreshToken>`
    select family_id as "familyId", account_id as "accountId", clinic_id as "clinicId", clinic_slug as "clinicSlug",
           role, reused, two_factor as "twoFactor"
    from app_hidden.use_refresh_token(${hash})`.execute(db);
  return rows[0];
}

export async function revokeRefreshFamily(db: TenantDb, hash: Buffer): Promise<void> {
  await sql`select app_hidden.revoke_refresh_family(${hash})`.execute(db);
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
  | 'auth.login.succeeded' | 'auth.login.failed' | 'auth.login.locked' | 'auth.refresh.reused' | 'auth.logout' | 'auth.switch'
  | 'auth.password.changed' | 'auth.password.reset'
  | 'auth.two_factor.enabled' | 'auth.two_factor.disabled' | 'auth.two_factor.recovery_codes_replaced'
  | 'auth.two_factor.recovery_code_used';

export async function recordAuthEvent(
  db: TenantDb,
  event: { action: AuthEvent; accountId?: string | null; clinicId?: string | null; details?: Record<string, unknown> },
): Promise<void> {
  await sql`select app_hidden.record_auth_event(${event.action}, ${event.accountId ?? null}, ${event.clinicId ?? null},
    ${event.details ? JSON.stringify(event.details) : null}::jsonb)`.execute(db);
}

/** The invited account; `setsPassword`: this invitation created it and it has no password yet. */
export async function invitationAccount(
  db: TenantDb,
  hash: Buffer,
): Promise<{ accountId: string; email: string; setsPassword: boolean } | undefined> {
  return db
    .selectFrom(sql<Record<string, unknown>>`app_hidden.invitation_account(${hash})`.as('i'))
    .select([sql<string>`account_id`.as('accountId'), sql<string>`email`.as('email'), sql<boolean>`sets_password`.as('setsPassword')])
    .executeTakeFirst();
}

/**
 * Uses the invitation (setting the first password when given, which only the invitation that
 * created the account may); returns the clinic's slug, or undefined when it was unknown, used,
 * expired, or may not set the password.
 */
export async function acceptInvitation(db: TenantDb, hash: Buffer, newPasswordHash: string | null): Promise<string | undefined> {
  const { rows } = await sql<{ slug: string }>`select clinic_slug as slug from app_hidden.accept_invitation(${hash}, ${newPasswordHash})`.execute(db);
  return rows[0]?.slug;
}

export async function isPlatformOperator(db: TenantDb, accountId: string): Promise<boolean> {
  const row = await db.selectNoFrom(sql<boolean>`app_hidden.is_platform_operator(${accountId})`.as('operator')).executeTakeFirst();
  return row?.operator === true;
}

export async function requestPasswordReset(db: TenantDb, email: string, token: { token: string; hash: Buffer }, ttl: string): Promise<void> {
  await sql`select app_hidden.request_password_reset(${email}, ${token.hash}, ${token.token}, ${ttl}::interval)`.execute(db);
}

/** Sets the password and ends every session; returns the account, or undefined for a bad token. */
export async function resetPassword(db: TenantDb, hash: Buffer, passwordHash: string): Promise<string | undefined> {
  const { rows } = await sql<{ account: string | null }>`select app_hidden.reset_password(${hash}, ${passwordHash}) as account`.execute(db);
  return rows[0]?.account ?? undefined;
}

export async function currentAccountEmail(db: TenantDb): Promise<string | undefined> {
  const row = await db.selectNoFrom(sql<string | null>`app_hidden.current_account_email()`.as('email')).executeTakeFirst();
  return row?.email ?? undefined;
}

export async function changePassword(db: TenantDb, passwordHash: string): Promise<void> {
  await sql`select app_hidden.change_password(${passwordHash})`.execute(db);
}

// The second factor of the context's user (app.user_id): migrations, 0420-two-factor.

export async function myTwoFactor(db: TenantDb): Promise<{ secret: string; enabled: boolean } | undefined> {
  const { rows } = await sql<{ secret: string; enabled: boolean }>`select secret, enabled from app_hidden.my_two_factor()`.execute(db);
  return rows[0];
}

/** False when a second factor is already on. */
export async function startTwoFactorSetup(db: TenantDb, secret: string): Promise<boolean> {
  return changedBoolean(db, sql`app_hidden.start_two_factor_setup(${secret})`);
}

export async function enableTwoFactor(db: TenantDb, step: number, recoveryCodeHashes: Buffer[]): Promise<boolean> {
  return changedBoolean(db, sql`app_hidden.enable_two_factor(${step}, ${recoveryCodeHashes}::bytea[])`);
}

/** False when the step was used already (a replayed code) or no second factor is on. */
export async function useTwoFactorStep(db: TenantDb, step: number): Promise<boolean> {
  return changedBoolean(db, sql`app_hidden.use_two_factor_step(${step})`);
}

export async function useRecoveryCode(db: TenantDb, hash: Buffer): Promise<boolean> {
  return changedBoolean(db, sql`app_hidden.use_recovery_code(${hash})`);
}

export async function replaceRecoveryCodes(db: TenantDb, hashes: Buffer[]): Promise<void> {
  await sql`select app_hidden.replace_recovery_codes(${hashes}::bytea[])`.execute(db);
}

export async function disableTwoFactor(db: TenantDb): Promise<void> {
  await sql`select app_hidden.disable_two_factor()`.execute(db);
}

export async function clinicRequiresTwoFactor(db: TenantDb, clinicId: string): Promise<boolean> {
  return booleanOf(db, sql`app_hidden.clinic_requires_two_factor(${clinicId})`);
}

/**
 * A function that writes, called as raw SQL: withTenant sends it straight into a transaction
 * instead of trying it as a read-only SELECT first (which would fail with 25006 and cost a round trip).
 */
async function changedBoolean(db: TenantDb, call: ReturnType<typeof sql>): Promise<boolean> {
  const { rows } = await sql<{ result: boolean }>`select ${call} as result`.execute(db);
  return rows[0]?.result === true;
}

async function booleanOf(db: TenantDb, call: ReturnType<typeof sql>): Promise<boolean> {
  const row = await db.selectNoFrom(sql<boolean>`${call}`.as('result')).executeTakeFirst();
  return row?.result === true;
}
