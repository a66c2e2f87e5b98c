/** How long an invitation (onboarding's first admin, a member invited by an admin) stays valid. */
export const INVITATION_TTL_HOURS = 7 * 24;
