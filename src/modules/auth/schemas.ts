import { z } from 'zod';
import { clinicSlug as slug, email } from '../../http/params.ts';


export const loginBody = z
  .object({
    email,
    // No length rule at login: the policy applies when a password is set, not when it is tried.
    password: z.string().min(1).max(1024),
    clinicSlug: slug.optional(),
  })
  .strict();

export const refreshBody = z.object({ refreshToken: z.string().min(16).max(128) }).strict();

export const switchBody = z.object({ clinicSlug: slug }).strict();

export const resetRequestBody = z.object({ email }).strict();
export const resetBody = z.object({ token: z.string().min(16).max(128), password: z.string().min(1).max(1024) }).strict();
export const changePasswordBody = z.object({ currentPassword: z.string().min(1).max(1024), newPassword: z.string().min(1).max(1024) }).strict();

export const acceptInvitationBody = z.object({ token: z.string().min(16).max(128), password: z.string().min(1).max(1024) }).strict();

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
