// Invitations as the application makes them: a secret token for the invited e-mail only (the
// database writes it to the notification outbox with the invitation) and its lifetime, 7 days.
// Onboarding a clinic (the platform module) and inviting a member (the members module) both use it.
import { newSecretToken } from './tokens.ts';

/** How long an invitation (onboarding's first admin, a member invited by an admin) stays valid. */
const INVITATION_TTL_HOURS = 7 * 24;

export interface Invitation {
  /** For the invited e-mail only: the database writes it to the notification outbox. */
  token: string;
  hash: Buffer;
  ttl: string;
  expiresAt: Date;
}

/** A new invitation: the token for the invited e-mail, the hash and lifetime for the database. */
export function newInvitation(): Invitation {
  return {
    ...newSecretToken(),
    ttl: `${INVITATION_TTL_HOURS} hours`,
    expiresAt: new Date(Date.now() + INVITATION_TTL_HOURS * 3_600_000),
  };
}
