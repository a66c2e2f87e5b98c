import { newSecretToken } from './tokens.ts';

/** How long an invitation (onboarding's first admin, a member invited by an admin) stays valid. */
const INVITATION_TTL_HOURS = 7 * 24;

/** A new invitation: the token for its holder, the hash and lifetime for the database. */
export function newInvitation(): { token: string; hash: Buffer; ttl: string; expiresAt: Date } {
  return {
    ...newSecretToken(),
    ttl: `${INVITATION_TTL_HOURS} hours`,
    expiresAt: new Date(Date.now() + INVITATION_TTL_HOURS * 3_600_000),
  };
}
