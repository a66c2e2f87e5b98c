// The auth module's own steps in the database, each a SECURITY DEFINER function of app_hidden:
// memberships and refresh tokens (migrations: 0330-login), invitations (0370, 0480), passwords
// (0390, 0495), the second factor's set-up (0420). The steps every login shares (account, lock,
// second-factor check, audit events) are in src/auth/queries.ts.
import { sql } from 'kysely';
import { readIsTrue, writeIsTrue } from '../../db/calls.ts';
import type { TenantDb } from '../../db/tenant.ts';
import type { Membership } from './schemas.ts';

export async function accountClinics(db: TenantDb, accountId: string): Promise<Membership[]> {
  return db.selectFrom(sql<Membership>`app_hidden.account_clinics(${accountId})`.as('m')).selectAll().execute();
}

/**
 * A login's first token lives `lifetime` (an interval); a successor in its family ends when the
 * login's session ends (`endsAt`, as the database wrote it), however often it was refreshed.
 */
export async function storeRefreshToken(
  db: TenantDb,
  token: { hash: Buffer; accountId: string; clinicId: string; twoFactor: boolean } & (
    | { lifetime: string; familyId?: undefined }
    | { endsAt: string; familyId: string }
  ),
): Promise<void> {
  const lifetime = 'endsAt' in token ? sql`${token.endsAt}::timestamptz - now()` : sql`${token.lifetime}::interval`;
  await sql`select app_hidden.store_refresh_token(${token.hash}, ${token.accountId}, ${token.clinicId},
    ${lifetime}, ${token.twoFactor}, ${token.familyId ?? null})`.execute(db);
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
  /** When the session ends, as the database's text (microseconds kept); null for a reused token. */
  absoluteExpiresAt: string | null;
}

export async function useRefreshToken(db: TenantDb, hash: Buffer): Promise<UsedRefreshToken | undefined> {
  const { rows } = await sql<UsedRefreshToken>`
    select family_id, account_id, clinic_id, clinic_slug, role, reused, two_factor, absolute_expires_at::text as absolute_expires_at
    from app_hidden.use_refresh_token(${hash})`.execute(db);
  return rows[0];
}

export async function revokeRefreshFamily(db: TenantDb, hash: Buffer): Promise<void> {
  await sql`select app_hidden.revoke_refresh_family(${hash})`.execute(db);
}

/** The invited account; `setsPassword`: this invitation created it and it has no password yet. */
export interface InvitedAccount {
  accountId: string;
  email: string;
  setsPassword: boolean;
}

export async function invitationAccount(db: TenantDb, hash: Buffer): Promise<InvitedAccount | undefined> {
  return db.selectFrom(sql<InvitedAccount>`app_hidden.invitation_account(${hash})`.as('i')).selectAll().executeTakeFirst();
}

/**
 * Uses the invitation (setting the first password when given, which only the invitation that
 * created the account may); returns the clinic's slug, or undefined when it was unknown, used,
 * expired, or may not set the password.
 */
export async function acceptInvitation(db: TenantDb, hash: Buffer, newPasswordHash: string | null): Promise<string | undefined> {
  const { rows } = await sql<{ clinicSlug: string }>`select clinic_slug from app_hidden.accept_invitation(${hash}, ${newPasswordHash})`.execute(db);
  return rows[0]?.clinicSlug;
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

/** False when a second factor is already on. */
export async function startTwoFactorSetup(db: TenantDb, secret: string): Promise<boolean> {
  return writeIsTrue(db, sql`app_hidden.start_two_factor_setup(${secret})`);
}

export async function enableTwoFactor(db: TenantDb, step: number, recoveryCodeHashes: Buffer[]): Promise<boolean> {
  return writeIsTrue(db, sql`app_hidden.enable_two_factor(${step}, ${recoveryCodeHashes}::bytea[])`);
}

export async function replaceRecoveryCodes(db: TenantDb, hashes: Buffer[]): Promise<void> {
  await sql`select app_hidden.replace_recovery_codes(${hashes}::bytea[])`.execute(db);
}

export async function disableTwoFactor(db: TenantDb): Promise<void> {
  await sql`select app_hidden.disable_two_factor()`.execute(db);
}

export async function clinicRequiresTwoFactor(db: TenantDb, clinicId: string): Promise<boolean> {
  return readIsTrue(db, sql`app_hidden.clinic_requires_two_factor(${clinicId})`);
}
