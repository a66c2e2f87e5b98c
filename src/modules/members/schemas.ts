import { z } from 'zod';
import { page, pageQuery } from '../../http/pagination.ts';
import { clinicParams, email, weeklyHours } from '../../http/params.ts';
import { CLINIC_ROLES } from '../../auth/permissions.ts';
import { plainText } from '../../http/text.ts';

export const memberParams = clinicParams.extend({ id: z.uuid() }).strict();

export const listQuery = pageQuery(z.tuple([plainText, z.uuid()]));

const profile = {
  displayName: plainText.trim().min(1).max(120),
  specialisation: plainText.trim().max(120).nullable(),
  licenceNumber: plainText.trim().min(1).max(64).nullable(),
  qualification: plainText.trim().max(200).nullable(),
  consultationFee: z.number().nonnegative().max(1e9).nullable(),
  officeHours: weeklyHours,
};

export const inviteBody = z.object({ email, role: z.enum(CLINIC_ROLES), displayName: profile.displayName }).strict();

export const updateBody = z
  .object({ role: z.enum(CLINIC_ROLES), status: z.enum(['active', 'deactivated']), ...profile })
  .partial()
  .strict()
  .refine((body) => Object.keys(body).length > 0, 'nothing to change');

export const member = z.object({
  id: z.uuid(),
  role: z.enum(CLINIC_ROLES),
  status: z.enum(['invited', 'active', 'deactivated']),
  displayName: z.string(),
  specialisation: z.string().nullable(),
  licenceNumber: z.string().nullable(),
  qualification: z.string().nullable(),
  consultationFee: z.number().nullable(),
  officeHours: weeklyHours,
  createdAt: z.date(),
});

export const memberPage = page(member);

/** The invitation's token is sent to the invited e-mail only; the admin learns when it expires. */
export const invited = z.object({ member, invitation: z.object({ expiresAt: z.date() }) });

export type Member = z.infer<typeof member>;
export type MemberUpdate = z.infer<typeof updateBody>;
