// The bodies /api/v1/auth takes and answers (zod): validation, the response serialisers and the
// OpenAPI document all come from these. The password rule is checked by the functions that set a
// password (checkPasswordRule in passwords.ts), not here.
import { z } from 'zod';
import { clinicSlug as slug, email } from '../../http/params.ts';
import { oneTimeCode } from '../../http/credentials.ts';
import { plainText } from '../../http/text.ts';

export const loginBody = z
  .object({
    email,
    // No length rule at login: the policy applies when a password is set, not when it is tried.
    password: plainText.min(1).max(1024),
    clinicSlug: slug.optional(),
    otp: oneTimeCode.optional().describe('One-time code (6 digits) or a recovery code; required once two-factor authentication is on'),
  })
  .strict();

/** Managing the second factor proves the password again (and, once it is on, a one-time code). */
const credentials = { email, password: plainText.min(1).max(1024) };
export const twoFactorSetupBody = z.object(credentials).strict();
export const twoFactorEnableBody = z.object({ ...credentials, code: plainText.trim().regex(/^\d{6}$/, 'six digits') }).strict();
export const twoFactorChangeBody = z.object({ ...credentials, otp: oneTimeCode }).strict();
export const twoFactorSetup = z.object({ secret: z.string(), otpauthUri: z.string() });
export const recoveryCodes = z.object({ recoveryCodes: z.array(z.string()) });

export const refreshBody = z.object({ refreshToken: plainText.min(16).max(128) }).strict();

export const switchBody = z.object({ clinicSlug: slug }).strict();

export const resetRequestBody = z.object({ email }).strict();
export const resetBody = z.object({ token: plainText.min(16).max(128), password: plainText.min(1).max(1024) }).strict();
export const changePasswordBody = z.object({ currentPassword: plainText.min(1).max(1024), newPassword: plainText.min(1).max(1024) }).strict();

export const acceptInvitationBody = z
  .object({
    token: plainText.min(16).max(128),
    password: plainText.min(1).max(1024),
    otp: oneTimeCode.optional().describe('An existing account with two-factor authentication on confirms with a one-time code'),
  })
  .strict();

export const membership = z.object({
  clinicId: z.uuid(),
  clinicSlug: z.string(),
  clinicName: z.string(),
  memberId: z.uuid(),
  role: z.string(),
  displayName: z.string(),
});

export const session = z.object({
  tokenType: z.literal('Bearer'),
  accessToken: z.string(),
  expiresIn: z.number().int(),
  refreshToken: z.string(),
  membership,
});

/** Without a clinic: the clinics to choose from (no tokens yet). */
export const clinicChoice = z.object({ clinics: z.array(membership.pick({ clinicSlug: true, clinicName: true, role: true })) });

export const me = z.object({ accountId: z.uuid(), membership });

export type Membership = z.infer<typeof membership>;
export type Session = z.infer<typeof session>;
