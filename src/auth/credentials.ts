// The front half of every login: a clinic member's, a platform operator's, an invitation that
// proves an existing account's password, a password change, the second factor's set-up. The
// e-mail must not be locked, the password must match, the second factor must be given, and the
// caller's own condition (a membership, operator status) must hold. Every refusal looks the same
// from outside: an unknown e-mail, a wrong password and a clinic the person does not belong to
// are one 401, and each counts towards the lock.
import { AppError } from '../errors.ts';
import { withAccount, withAnonymous, type Caller, type ContextRunner } from '../db/contexts.ts';
import { verifyPassword } from './passwords.ts';
import {
  clearLoginFailures,
  findAccount,
  lockedUntil,
  myTwoFactor,
  recordAuthEvent,
  recordLoginFailure,
  useRecoveryCode,
  useTwoFactorStep,
} from './queries.ts';
import { hashRecoveryCode, TOTP_CODE, totpStep } from './two-factor.ts';

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

/** What a credential check needs: anonymous and account contexts of app_user (app.withTenant). */
export interface CredentialDeps {
  withTenant: ContextRunner;
}

const invalidCredentials = () => new AppError('UNAUTHENTICATED', 'The e-mail, password or clinic is not right.');
const locked = (until: Date) =>
  new AppError('RATE_LIMITED', 'Too many failed logins; try again later.', {
    headers: { 'retry-after': String(Math.max(1, Math.ceil((until.getTime() - Date.now()) / 1000))) },
  });

type FailureReason = 'credentials' | 'not_admitted' | 'second_factor';

/**
 * The e-mail must not be locked, the password must match, an account with a second factor must
 * give a valid one-time code, and `admits(accountId)` must agree (in that order: nothing about the
 * account's clinics is told before its second factor). Any failure counts towards the lock and
 * answers like every other (a missing code, once the password is right, asks for one). Only a
 * full success clears the failures: a password-only check (second-factor set-up) must not reset
 * the count of wrong codes.
 */
export async function verifyCredentials(
  deps: CredentialDeps,
  credentials: { email: string; password: string },
  caller: Caller,
  check: CredentialCheck = {},
): Promise<Verified> {
  const { email, password } = credentials;
  const { account, until } = await withAnonymous(deps.withTenant, caller, async (db) => ({
    until: await lockedUntil(db, email),
    account: await findAccount(db, email),
  }));
  if (until) throw locked(until);
  const refuse = (accountId: string | null, reason: FailureReason) => refuseLogin(deps, email, accountId, reason, caller, check.refusal);
  if (!(await verifyPassword(account?.passwordHash, password)) || account === undefined) {
    return refuse(account?.accountId ?? null, 'credentials');
  }
  const { accountId } = account;
  if (check.passwordOnly) return { accountId, twoFactor: false };
  const secondFactor = await checkSecondFactor(deps, accountId, check.otp, caller);
  if (secondFactor === 'missing') {
    throw new AppError('ONE_TIME_CODE_REQUIRED', 'Send the one-time code from your authenticator app (or a recovery code) as otp.');
  }
  if (secondFactor === 'wrong') return refuse(accountId, 'second_factor');
  if (check.admits && !(await check.admits(accountId))) return refuse(accountId, 'not_admitted');
  await withAnonymous(deps.withTenant, caller, (db) => clearLoginFailures(db, email));
  return { accountId, twoFactor: secondFactor === 'passed' };
}

/** Checks the one-time code of an account that has a second factor; each code works once. */
async function checkSecondFactor(
  deps: CredentialDeps,
  accountId: string,
  otp: string | undefined,
  caller: Caller,
): Promise<'none' | 'missing' | 'wrong' | 'passed'> {
  return withAccount(deps.withTenant, caller, accountId, async (db) => {
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
async function refuseLogin(
  deps: CredentialDeps,
  email: string,
  accountId: string | null,
  reason: FailureReason,
  caller: Caller,
  refusal = invalidCredentials,
): Promise<never> {
  const until = await withAnonymous(deps.withTenant, caller, async (db) => {
    const lockEnds = await recordLoginFailure(db, email);
    await recordAuthEvent(db, { action: 'auth.login.failed', accountId, details: { reason } });
    if (lockEnds) await recordAuthEvent(db, { action: 'auth.login.locked', accountId, details: { until: lockEnds } });
    return lockEnds;
  });
  throw until ? locked(until) : refusal();
}
