// Passwords: a reset requested by e-mail (the token goes to the notification outbox, never in a
// response), a reset with that token, a change by a logged-in person. A new password must pass
// the rule (src/auth/password-policy.ts) and ends every session of the account.
import { verifyCredentials } from '../../auth/credentials.ts';
import { passwordProblem } from '../../auth/password-policy.ts';
import { hashPassword } from '../../auth/passwords.ts';
import { recordAuthEvent } from '../../auth/queries.ts';
import { hashSecretToken, newSecretToken } from '../../auth/tokens.ts';
import { withAnonymous, type Caller } from '../../db/contexts.ts';
import type { TenantContext } from '../../db/tenant.ts';
import { AppError } from '../../errors.ts';
import type { AuthDeps } from './deps.ts';
import * as queries from './queries.ts';

type PasswordDeps = Pick<AuthDeps, 'withTenant' | 'refreshBlockedAccess'>;

/** How long a password-reset token stays usable. */
const PASSWORD_RESET_TTL = '30 minutes';

const wrongCurrentPassword = () =>
  new AppError('VALIDATION_FAILED', undefined, { errors: [{ path: 'body.currentPassword', message: 'is not your current password' }] });

/** A password that breaks the rule: 400 naming the field. */
export function checkPasswordRule(password: string, path: string): void {
  const problem = passwordProblem(password);
  if (problem) throw new AppError('VALIDATION_FAILED', undefined, { errors: [{ path, message: problem }] });
}

/** Always the same answer, whether or not the e-mail has an account: the message goes to the outbox. */
export async function requestPasswordReset(deps: Pick<AuthDeps, 'withTenant'>, email: string, caller: Caller): Promise<void> {
  await withAnonymous(deps.withTenant, caller, (db) => queries.requestPasswordReset(db, email, newSecretToken(), PASSWORD_RESET_TTL));
}

/** Uses a reset token once: the new password must pass the rule; every session of the account ends. */
export async function resetPassword(deps: PasswordDeps, token: string, password: string, caller: Caller): Promise<void> {
  const newHash = await newPasswordHash(password, 'body.password');
  const accountId = await withAnonymous(deps.withTenant, caller, async (db) => {
    const account = await queries.resetPassword(db, hashSecretToken(token), newHash);
    if (account) await recordAuthEvent(db, { action: 'auth.password.reset', accountId: account });
    return account;
  });
  if (!accountId) throw new AppError('NOT_FOUND', 'The reset token is unknown, used or expired.');
  await deps.refreshBlockedAccess();
}

/**
 * A logged-in person changes their password; every session of the account ends, this one too.
 * The current password is checked like a login's (a stolen access token must not guess it
 * freely): a wrong one counts towards the lock and is audited as a failed login.
 */
export async function changePassword(
  deps: PasswordDeps,
  tenant: TenantContext,
  caller: Caller,
  passwords: { currentPassword: string; newPassword: string },
): Promise<void> {
  const email = await deps.withTenant(tenant, queries.currentAccountEmail);
  if (email === undefined) throw new AppError('UNAUTHENTICATED');
  await verifyCredentials(deps, { email, password: passwords.currentPassword }, caller, { passwordOnly: true, refusal: wrongCurrentPassword });
  const newHash = await newPasswordHash(passwords.newPassword, 'body.newPassword');
  await deps.withTenant(tenant, async (db) => {
    await queries.changePassword(db, newHash);
    await recordAuthEvent(db, { action: 'auth.password.changed', accountId: tenant.userId, clinicId: tenant.clinicId });
  });
  await deps.refreshBlockedAccess();
}

async function newPasswordHash(password: string, path: string): Promise<string> {
  checkPasswordRule(password, path);
  return hashPassword(password);
}
