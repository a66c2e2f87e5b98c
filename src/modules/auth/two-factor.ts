// Managing the second factor (TOTP, single-use recovery codes): set it up in two steps, turn it
// off, replace the recovery codes. Each call proves the password (so a person can set it up
// before a clinic that requires it lets them in); failures count towards the login lock. The
// check of a code at login is in src/auth/credentials.ts.
import { verifyCredentials, type Verified } from '../../auth/credentials.ts';
import { myTwoFactor, recordAuthEvent } from '../../auth/queries.ts';
import { newRecoveryCodes, newTotpSecret, totpStep } from '../../auth/two-factor.ts';
import { withAccount, type Caller } from '../../db/contexts.ts';
import { AppError } from '../../errors.ts';
import type { AuthDeps } from './deps.ts';
import * as queries from './queries.ts';

type Credentials = { email: string; password: string };
type TwoFactorDeps = Pick<AuthDeps, 'withTenant' | 'refreshBlockedAccess'>;

/** Step 1 of set-up (password proven): a new secret to scan; refused while a second factor is on. */
export async function startTwoFactorSetup(
  deps: Pick<AuthDeps, 'withTenant'>,
  credentials: Credentials,
  caller: Caller,
): Promise<{ secret: string; otpauthUri: string }> {
  const { accountId } = await verifyCredentials(deps, credentials, caller, { passwordOnly: true });
  const setup = newTotpSecret(credentials.email);
  const started = await withAccount(deps.withTenant, caller, accountId, (db) => queries.startTwoFactorSetup(db, setup.secret));
  if (!started) throw new AppError('CONFLICT', 'Two-factor authentication is already on; turn it off first to change it.');
  return setup;
}

/** Step 2: a code from the app confirms the secret; the recovery codes are shown this once. */
export async function enableTwoFactor(deps: TwoFactorDeps, input: Credentials & { code: string }, caller: Caller): Promise<{ recoveryCodes: string[] }> {
  const { accountId } = await verifyCredentials(deps, input, caller, { passwordOnly: true });
  const recovery = newRecoveryCodes();
  await withAccount(deps.withTenant, caller, accountId, async (db) => {
    const state = await myTwoFactor(db);
    if (!state || state.enabled) throw new AppError('CONFLICT', 'Start the set-up first (POST /api/v1/auth/two-factor/setup).');
    const step = totpStep(state.secret, input.code);
    if (step === null || !(await queries.enableTwoFactor(db, step, recovery.hashes))) {
      throw new AppError('VALIDATION_FAILED', undefined, { errors: [{ path: 'body.code', message: 'is not a current code of this set-up' }] });
    }
    await recordAuthEvent(db, { action: 'auth.two_factor.enabled', accountId });
  });
  await deps.refreshBlockedAccess();
  return { recoveryCodes: recovery.codes };
}

/** Turns the second factor off (password and a one-time code). */
export async function disableTwoFactor(deps: TwoFactorDeps, input: Credentials & { otp: string }, caller: Caller): Promise<void> {
  const { accountId } = await verifiedWithCode(deps, input, caller);
  await withAccount(deps.withTenant, caller, accountId, async (db) => {
    await queries.disableTwoFactor(db);
    await recordAuthEvent(db, { action: 'auth.two_factor.disabled', accountId });
  });
  await deps.refreshBlockedAccess();
}

/** New recovery codes (password and a one-time code); the old ones stop working. */
export async function replaceRecoveryCodes(
  deps: Pick<AuthDeps, 'withTenant'>,
  input: Credentials & { otp: string },
  caller: Caller,
): Promise<{ recoveryCodes: string[] }> {
  const { accountId } = await verifiedWithCode(deps, input, caller);
  const recovery = newRecoveryCodes();
  await withAccount(deps.withTenant, caller, accountId, async (db) => {
    await queries.replaceRecoveryCodes(db, recovery.hashes);
    await recordAuthEvent(db, { action: 'auth.two_factor.recovery_codes_replaced', accountId });
  });
  return { recoveryCodes: recovery.codes };
}

async function verifiedWithCode(deps: Pick<AuthDeps, 'withTenant'>, input: Credentials & { otp: string }, caller: Caller): Promise<Verified> {
  const verified = await verifyCredentials(deps, input, caller, { otp: input.otp });
  if (!verified.twoFactor) throw new AppError('CONFLICT', 'Two-factor authentication is not on.');
  return verified;
}
