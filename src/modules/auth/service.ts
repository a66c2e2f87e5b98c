// Login, refresh, logout and clinic switch. Every refusal looks the same from outside: an
// unknown e-mail, a wrong password and a clinic the person does not belong to are one 401.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { passwordProblem } from '../../auth/password-policy.ts';
import { hashPassword, verifyPassword } from '../../auth/passwords.ts';
import { hashSecretToken, newSecretToken, SESSION } from '../../auth/tokens.ts';
import { hashRecoveryCode, newRecoveryCodes, newTotpSecret, TOTP_CODE, totpStep } from '../../auth/two-factor.ts';
import type { ClinicRole, TenantContext } from '../../db/tenant.ts';
import { AppError } from '../../errors.ts';
import {
  acceptInvitation,
  accountClinics,
  changePassword,
  currentAccountEmail,
  invitationAccount,
  isPlatformOperator,
  requestPasswordReset,
  resetPassword,
  clearLoginFailures,
  clinicRequiresTwoFactor,
  disableTwoFactor,
  enableTwoFactor,
  findAccount,
  myTwoFactor,
  replaceRecoveryCodes,
  startTwoFactorSetup,
  useRecoveryCode,
  useTwoFactorStep,
  lockedUntil,
  recordAuthEvent,
  recordLoginFailure,
  revokeRefreshFamily,
  storeRefreshToken,
  useRefreshToken,
} from './queries.ts';
import type { Membership, Session } from './schemas.ts';

/** Where a call comes from: the request id and address that the audit log records. */
export interface Caller {
  requestId: string;
  clientIp: string;
}

/** How long a password-reset token stays usable. */
const PASSWORD_RESET_TTL = '30 minutes';

const anonymous = (caller: Caller): TenantContext => ({ clinicId: null, userId: null, role: null, ...caller });
/** After the password is verified: the account's own second-factor functions act on app.user_id. */
const asAccount = (caller: Caller, accountId: string): TenantContext => ({ ...anonymous(caller), userId: accountId });

/** What a verified login proved: the account, and whether a one-time code was given too. */
export interface Verified {
  accountId: string;
  twoFactor: boolean;
}

export interface CredentialCheck {
  /** The second factor: a TOTP code or a recovery code; required when the account has one. */
  otp?: string | undefined;
  /** Must agree after the password matched (a clinic membership, operator status). */
  admits?: (accountId: string) => Promise<boolean>;
  /** Set-up of a second factor, and a password change, prove the password only. */
  passwordOnly?: boolean;
  /** What a refusal that does not lock answers; by default the login's 401. */
  refusal?: () => AppError;
}

const invalidCredentials = () => new AppError('UNAUTHENTICATED', 'The e-mail, password or clinic is not right.');
const invitationGone = () => new AppError('NOT_FOUND', 'The invitation is unknown, used or expired.');
/** Alike whether the account has a password or none yet (then only its first invitation or a reset sets one). */
const invitationPasswordRefused = () =>
  new AppError('UNAUTHENTICATED',
    'The password is not right. If you have not set one yet, accept the invitation that created your account, ' +
    'or set one with a password reset (POST /api/v1/auth/password/reset-request).');
const wrongCurrentPassword = () =>
  new AppError('VALIDATION_FAILED', undefined, { errors: [{ path: 'body.currentPassword', message: 'is not your current password' }] });
const invalidRefreshToken = () => new AppError('UNAUTHENTICATED', 'The refresh token is not valid; log in again.');
const twoFactorRequired = () =>
  new AppError('TWO_FACTOR_REQUIRED', 'Set up two-factor authentication (POST /api/v1/auth/two-factor/setup), then log in with a one-time code.');
const locked = (until: Date) =>
  new AppError('RATE_LIMITED', 'Too many failed logins; try again later.', {
    headers: { 'retry-after': String(Math.max(1, Math.ceil((until.getTime() - Date.now()) / 1000))) },
  });

type FailureReason = 'credentials' | 'not_admitted' | 'second_factor';

/** A password that breaks the rule: 400 naming the field. */
function checkPasswordRule(password: string, path: string): void {
  const problem = passwordProblem(password);
  if (problem) throw new AppError('VALIDATION_FAILED', undefined, { errors: [{ path, message: problem }] });
}

export class AuthService {
  readonly #app: FastifyInstance;
  readonly #accessTokenTtlSeconds: number;

  constructor(app: FastifyInstance, accessTokenTtlSeconds: number) {
    this.#app = app;
    this.#accessTokenTtlSeconds = accessTokenTtlSeconds;
  }

  async login(
    input: { email: string; password: string; clinicSlug?: string | undefined; otp?: string | undefined },
    caller: Caller,
  ): Promise<Session | { clinics: Pick<Membership, 'clinicSlug' | 'clinicName' | 'role'>[] }> {
    let membership: Membership | undefined;
    let clinics: Membership[] = [];
    const verified = await this.verifyCredentials(input.email, input.password, caller, {
      otp: input.otp,
      admits: async (id) => {
        clinics = await this.memberships(id, caller);
        membership = clinics.find((m) => m.clinicSlug === input.clinicSlug);
        return input.clinicSlug === undefined || membership !== undefined;
      },
    });
    if (!membership) return { clinics: clinics.map(({ clinicSlug, clinicName, role }) => ({ clinicSlug, clinicName, role })) };
    const clinicId = membership.clinicId;
    const session = await this.#startSession(verified, membership, caller);
    await this.#app.withTenant(anonymous(caller), (db) =>
      recordAuthEvent(db, { action: 'auth.login.succeeded', accountId: verified.accountId, clinicId, details: { twoFactor: verified.twoFactor } }),
    );
    return session;
  }

  /**
   * The shared front half of every login: the e-mail must not be locked, the password must match,
   * an account with a second factor must give a valid one-time code, and `admits(accountId)` must
   * agree (in that order: nothing about the account's clinics is told before its second factor).
   * Any failure counts towards the lock and answers like every other (a missing code, once the
   * password is right, asks for one). Only a full success clears the failures: a password-only
   * check (second-factor set-up) must not reset the count of wrong codes.
   */
  async verifyCredentials(email: string, password: string, caller: Caller, check: CredentialCheck = {}): Promise<Verified> {
    const { account, until } = await this.#app.withTenant(anonymous(caller), async (db) => ({
      until: await lockedUntil(db, email),
      account: await findAccount(db, email),
    }));
    if (until) throw locked(until);
    const refuse = (accountId: string | null, reason: FailureReason) => this.#refuseLogin(email, accountId, reason, caller, check.refusal);
    if (!(await verifyPassword(account?.passwordHash, password)) || account === undefined) {
      return refuse(account?.accountId ?? null, 'credentials');
    }
    const { accountId } = account;
    if (check.passwordOnly) return { accountId, twoFactor: false };
    const secondFactor = await this.#secondFactor(accountId, check.otp, caller);
    if (secondFactor === 'missing') {
      throw new AppError('ONE_TIME_CODE_REQUIRED', 'Send the one-time code from your authenticator app (or a recovery code) as otp.');
    }
    if (secondFactor === 'wrong') return refuse(accountId, 'second_factor');
    if (check.admits && !(await check.admits(accountId))) return refuse(accountId, 'not_admitted');
    await this.#app.withTenant(anonymous(caller), (db) => clearLoginFailures(db, email));
    return { accountId, twoFactor: secondFactor === 'passed' };
  }

  /** Checks the one-time code of an account that has a second factor; each code works once. */
  async #secondFactor(accountId: string, otp: string | undefined, caller: Caller): Promise<'none' | 'missing' | 'wrong' | 'passed'> {
    return this.#app.withTenant(asAccount(caller, accountId), async (db) => {
      const state = await myTwoFactor(db);
      if (!state?.enabled) return 'none';
      if (otp === undefined) return 'missing';
      if (TOTP_CODE.test(otp)) {
        const step = totpStep(state.secret, otp);
        return step !== null && (await useTwoFactorStep(db, step)) ? 'passed' : 'wrong';
      }
      if (!(await useRecoveryCode(db, hashRecoveryCode(otp)))) return 'wrong';
      await recordAuthEvent(db, { action: 'auth.two_factor.recovery_code_used', accountId });
      return 'passed';
    });
  }

  /** Counts the failure and records it (committed), then refuses: 401 (or `refusal`), or 429 when this one locked. */
  async #refuseLogin(email: string, accountId: string | null, reason: FailureReason, caller: Caller, refusal = invalidCredentials): Promise<never> {
    const until = await this.#app.withTenant(anonymous(caller), async (db) => {
      const lockEnds = await recordLoginFailure(db, email);
      await recordAuthEvent(db, { action: 'auth.login.failed', accountId, details: { reason } });
      if (lockEnds) await recordAuthEvent(db, { action: 'auth.login.locked', accountId, details: { until: lockEnds } });
      return lockEnds;
    });
    throw until ? locked(until) : refusal();
  }

  /** Rotates the refresh token; a reused one has revoked its whole family by the time this throws. */
  async refresh(refreshToken: string, caller: Caller): Promise<Session> {
    const successor = newSecretToken();
    const used = await this.#app.withTenant(anonymous(caller), async (db) => {
      const found = await useRefreshToken(db, hashSecretToken(refreshToken));
      if (found?.reused) {
        await recordAuthEvent(db, { action: 'auth.refresh.reused', accountId: found.accountId, clinicId: found.clinicId, details: { family: found.familyId } });
      } else if (found?.clinicSlug) {
        await storeRefreshToken(db, {
          hash: successor.hash, accountId: found.accountId, clinicId: found.clinicId, familyId: found.familyId,
          twoFactor: found.twoFactor, ...SESSION,
        });
      }
      return found;
    });
    if (!used || used.reused || !used.clinicSlug || !used.role) throw invalidRefreshToken();
    const membership = (await this.memberships(used.accountId, caller)).find((m) => m.clinicId === used.clinicId);
    if (!membership) throw invalidRefreshToken();
    return this.#session({ accountId: used.accountId, twoFactor: used.twoFactor }, membership, successor.token);
  }

  async logout(refreshToken: string, caller: Caller): Promise<void> {
    await this.#app.withTenant(anonymous(caller), async (db) => {
      await revokeRefreshFamily(db, hashSecretToken(refreshToken));
      await recordAuthEvent(db, { action: 'auth.logout' });
    });
  }

  /** A new session in another clinic of the same person (the token proves who they are, and how). */
  async switchClinic(from: Verified, clinicSlug: string, caller: Caller): Promise<Session> {
    const { accountId } = from;
    const membership = (await this.memberships(accountId, caller)).find((m) => m.clinicSlug === clinicSlug);
    if (!membership) throw new AppError('NOT_FOUND');
    const session = await this.#startSession(from, membership, caller);
    await this.#app.withTenant(anonymous(caller), (db) =>
      recordAuthEvent(db, { action: 'auth.switch', accountId, clinicId: membership.clinicId }),
    );
    return session;
  }

  isPlatformOperator(accountId: string, caller: Caller): Promise<boolean> {
    return this.#app.withTenant(anonymous(caller), (db) => isPlatformOperator(db, accountId));
  }

  memberships(accountId: string, caller: Caller): Promise<Membership[]> {
    return this.#app.withTenant(anonymous(caller), (db) => accountClinics(db, accountId));
  }

  /**
   * Accepts an invitation, then starts a session in its clinic. Only the invitation that created
   * the account sets its first password; any other proves the account's password as a login
   * does (lockout, second factor), so no later invitation sets or changes it. Every refusal
   * answers alike whether or not the e-mail had an account: the password rule first (400), then
   * a wrong password (401).
   */
  async acceptInvitation(token: string, password: string, otp: string | undefined, caller: Caller): Promise<Session> {
    const hash = hashSecretToken(token);
    const invited = await this.#app.withTenant(anonymous(caller), (db) => invitationAccount(db, hash));
    if (!invited) throw invitationGone();
    checkPasswordRule(password, 'body.password');
    let newHash: string | null = null;
    let verified: Verified = { accountId: invited.accountId, twoFactor: false };
    if (invited.setsPassword) {
      newHash = await hashPassword(password);
    } else {
      verified = await this.verifyCredentials(invited.email, password, caller, { otp, refusal: invitationPasswordRefused });
    }
    const slug = await this.#app.withTenant(anonymous(caller), (db) => acceptInvitation(db, hash, newHash));
    const membership = slug && (await this.memberships(invited.accountId, caller)).find((m) => m.clinicSlug === slug);
    if (!membership) throw invitationGone();
    return this.#startSession(verified, membership, caller);
  }

  /** Always the same answer, whether or not the e-mail has an account: the message goes to the outbox. */
  async requestPasswordReset(email: string, caller: Caller): Promise<void> {
    await this.#app.withTenant(anonymous(caller), (db) => requestPasswordReset(db, email, newSecretToken(), PASSWORD_RESET_TTL));
  }

  /** Uses a reset token once: the new password must pass the rule; every session of the account ends. */
  async resetPassword(token: string, password: string, caller: Caller): Promise<void> {
    const newHash = await this.#newPasswordHash(password, 'body.password');
    const accountId = await this.#app.withTenant(anonymous(caller), async (db) => {
      const account = await resetPassword(db, hashSecretToken(token), newHash);
      if (account) await recordAuthEvent(db, { action: 'auth.password.reset', accountId: account });
      return account;
    });
    if (!accountId) throw new AppError('NOT_FOUND', 'The reset token is unknown, used or expired.');
    await this.#app.refreshBlockedAccess();
  }

  /**
   * A logged-in person changes their password; every session of the account ends, this one too.
   * The current password is checked like a login's (a stolen access token must not guess it
   * freely): a wrong one counts towards the lock and is audited as a failed login.
   */
  async changePassword(tenant: TenantContext, caller: Caller, currentPassword: string, password: string): Promise<void> {
    const email = await this.#app.withTenant(tenant, currentAccountEmail);
    if (email === undefined) throw new AppError('UNAUTHENTICATED');
    await this.verifyCredentials(email, currentPassword, caller, { passwordOnly: true, refusal: wrongCurrentPassword });
    const newHash = await this.#newPasswordHash(password, 'body.newPassword');
    await this.#app.withTenant(tenant, async (db) => {
      await changePassword(db, newHash);
      await recordAuthEvent(db, { action: 'auth.password.changed', accountId: tenant.userId, clinicId: tenant.clinicId });
    });
    await this.#app.refreshBlockedAccess();
  }

  /** Step 1 of set-up (password proven): a new secret to scan; refused while a second factor is on. */
  async startTwoFactorSetup(email: string, password: string, caller: Caller): Promise<{ secret: string; otpauthUri: string }> {
    const { accountId } = await this.verifyCredentials(email, password, caller, { passwordOnly: true });
    const setup = newTotpSecret(email);
    const started = await this.#app.withTenant(asAccount(caller, accountId), (db) => startTwoFactorSetup(db, setup.secret));
    if (!started) throw new AppError('CONFLICT', 'Two-factor authentication is already on; turn it off first to change it.');
    return setup;
  }

  /** Step 2: a code from the app confirms the secret; the recovery codes are shown this once. */
  async enableTwoFactor(email: string, password: string, code: string, caller: Caller): Promise<{ recoveryCodes: string[] }> {
    const { accountId } = await this.verifyCredentials(email, password, caller, { passwordOnly: true });
    const recovery = newRecoveryCodes();
    await this.#app.withTenant(asAccount(caller, accountId), async (db) => {
      const state = await myTwoFactor(db);
      if (!state || state.enabled) throw new AppError('CONFLICT', 'Start the set-up first (POST /api/v1/auth/two-factor/setup).');
      const step = totpStep(state.secret, code);
      if (step === null || !(await enableTwoFactor(db, step, recovery.hashes))) {
        throw new AppError('VALIDATION_FAILED', undefined, { errors: [{ path: 'body.code', message: 'is not a current code of this set-up' }] });
      }
      await recordAuthEvent(db, { action: 'auth.two_factor.enabled', accountId });
    });
    await this.#app.refreshBlockedAccess();
    return { recoveryCodes: recovery.codes };
  }

  /** Turns the second factor off (password and a one-time code). */
  async disableTwoFactor(email: string, password: string, otp: string, caller: Caller): Promise<void> {
    const { accountId } = await this.#verifiedWithCode(email, password, otp, caller);
    await this.#app.withTenant(asAccount(caller, accountId), async (db) => {
      await disableTwoFactor(db);
      await recordAuthEvent(db, { action: 'auth.two_factor.disabled', accountId });
    });
    await this.#app.refreshBlockedAccess();
  }

  /** New recovery codes (password and a one-time code); the old ones stop working. */
  async replaceRecoveryCodes(email: string, password: string, otp: string, caller: Caller): Promise<{ recoveryCodes: string[] }> {
    const { accountId } = await this.#verifiedWithCode(email, password, otp, caller);
    const recovery = newRecoveryCodes();
    await this.#app.withTenant(asAccount(caller, accountId), async (db) => {
      await replaceRecoveryCodes(db, recovery.hashes);
      await recordAuthEvent(db, { action: 'auth.two_factor.recovery_codes_replaced', accountId });
    });
    return { recoveryCodes: recovery.codes };
  }

  async #verifiedWithCode(email: string, password: string, otp: string, caller: Caller): Promise<Verified> {
    const verified = await this.verifyCredentials(email, password, caller, { otp });
    if (!verified.twoFactor) throw new AppError('CONFLICT', 'Two-factor authentication is not on.');
    return verified;
  }

  async #newPasswordHash(password: string, path: string): Promise<string> {
    checkPasswordRule(password, path);
    return hashPassword(password);
  }

  /**
   * A session's claim about its second factor must be true of the account now (a token from
   * before it was turned on or off cannot start one), and a clinic that requires a second factor
   * gets no session without one: that refusal is on record, though it is no failure towards the
   * lock (the password was right).
   */
  async #startSession(verified: Verified, membership: Membership, caller: Caller): Promise<Session> {
    const { accountId, twoFactor } = verified;
    const clinicId = membership.clinicId;
    const refresh = newSecretToken();
    const refusal = await this.#app.withTenant(asAccount(caller, accountId), async (db) => {
      const enabled = (await myTwoFactor(db))?.enabled === true;
      if (twoFactor !== enabled) return enabled ? 'code' : 'stale';
      if (!twoFactor && (await clinicRequiresTwoFactor(db, clinicId))) {
        await recordAuthEvent(db, { action: 'auth.login.failed', accountId, clinicId, details: { reason: 'two_factor_required' } });
        return 'clinic';
      }
      await storeRefreshToken(db, { hash: refresh.hash, accountId, clinicId, twoFactor, ...SESSION });
      return undefined;
    });
    if (refusal === 'code') throw new AppError('ONE_TIME_CODE_REQUIRED', 'Log in again with your one-time code.');
    if (refusal === 'stale') throw new AppError('UNAUTHENTICATED', 'This session has ended; log in again.');
    if (refusal === 'clinic') throw twoFactorRequired();
    return this.#session(verified, membership, refresh.token);
  }

  async #session(verified: Verified, membership: Membership, refreshToken: string): Promise<Session> {
    const accessToken = await this.#app.signAccessToken({
      sub: verified.accountId,
      clinic_id: membership.clinicId,
      clinic_slug: membership.clinicSlug,
      role: membership.role as ClinicRole,
      jti: randomUUID(),
      amr: verified.twoFactor ? ['pwd', 'otp'] : ['pwd'],
    });
    return { tokenType: 'Bearer', accessToken, expiresIn: this.#accessTokenTtlSeconds, refreshToken, membership };
  }
}
