// Accepting an invitation: the invited person joins the clinic and gets a session there. The
// token reaches the invited e-mail only (the notification outbox). Only the invitation that
// created the account sets its password; a later one (another clinic's) must be accepted with
// the existing password, so no invitation takes over an account.
import { verifyCredentials, type Verified } from '../../auth/credentials.ts';
import { hashPassword } from '../../auth/passwords.ts';
import { hashSecretToken } from '../../auth/tokens.ts';
import { withAnonymous, type Caller } from '../../db/contexts.ts';
import { AppError } from '../../errors.ts';
import type { AuthDeps } from './deps.ts';
import { checkPasswordRule } from './passwords.ts';
import * as queries from './queries.ts';
import type { Session } from './schemas.ts';
import { memberships, startSession } from './sessions.ts';

const invitationGone = () => new AppError('NOT_FOUND', 'The invitation is unknown, used or expired.');
/** Alike whether the account has a password or none yet (then only its first invitation or a reset sets one). */
const invitationPasswordRefused = () =>
  new AppError(
    'UNAUTHENTICATED',
    'The password is not right. If you have not set one yet, accept the invitation that created your account, ' +
      'or set one with a password reset (POST /api/v1/auth/password/reset-request).',
  );

/**
 * Accepts an invitation, then starts a session in its clinic. Only the invitation that created
 * the account sets its first password; any other proves the account's password as a login
 * does (lockout, second factor), so no later invitation sets or changes it. Every refusal
 * answers alike whether or not the e-mail had an account: the password rule first (400), then
 * a wrong password (401).
 */
export async function acceptInvitation(
  deps: Pick<AuthDeps, 'withTenant' | 'signAccessToken' | 'accessTokenTtlSeconds'>,
  input: { token: string; password: string; otp?: string | undefined },
  caller: Caller,
): Promise<Session> {
  const { password } = input;
  const hash = hashSecretToken(input.token);
  const invited = await withAnonymous(deps.withTenant, caller, (db) => queries.invitationAccount(db, hash));
  if (!invited) throw invitationGone();
  checkPasswordRule(password, 'body.password');
  let newHash: string | null = null;
  let verified: Verified = { accountId: invited.accountId, twoFactor: false };
  if (invited.setsPassword) {
    newHash = await hashPassword(password);
  } else {
    verified = await verifyCredentials(deps, { email: invited.email, password }, caller, { otp: input.otp, refusal: invitationPasswordRefused });
  }
  const slug = await withAnonymous(deps.withTenant, caller, (db) => queries.acceptInvitation(db, hash, newHash));
  const membership = slug && (await memberships(deps, invited.accountId, caller)).find((m) => m.clinicSlug === slug);
  if (!membership) throw invitationGone();
  return startSession(deps, verified, membership, caller);
}
