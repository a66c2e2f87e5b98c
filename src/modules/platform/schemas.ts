import { z } from 'zod';
import { clinicSlug as slug, email } from '../../http/params.ts';
import { oneTimeCode } from '../../http/credentials.ts';
import { multilineText, plainText } from '../../http/text.ts';

const plan = z.enum(['trial', 'basic', 'professional', 'enterprise']);
const planStatus = z.enum(['trial', 'active', 'expired', 'suspended']);

export const platformLoginBody = z
  .object({
    email: email,
    password: plainText.min(1).max(1024),
    otp: oneTimeCode.optional().describe('One-time code or recovery code, once two-factor authentication is on'),
  })
  .strict();

export const platformSession = z.object({ tokenType: z.literal('Bearer'), accessToken: z.string(), expiresIn: z.number().int() });

/** The clinic's registration profile (clinics_* checks in the database say the same). */
const profile = {
  name: plainText.trim().min(1).max(200),
  timezone: plainText.min(1).max(64),
  address: multilineText.trim().min(1).max(500).nullable(),
  contactEmail: email.nullable(),
  contactPhone: plainText
    .trim()
    .regex(/^\+?[0-9][0-9 ()-]{4,31}$/, 'must be a phone number like +44 20 7946 0000')
    .nullable(),
  registrationNumber: plainText.trim().min(1).max(64).nullable(),
  taxId: plainText.trim().min(1).max(64).nullable(),
};
export type ClinicProfile = Partial<{ [K in keyof typeof profile]: z.infer<(typeof profile)[K]> }>;

export const profileChange = z
  .object(profile)
  .partial()
  .strict()
  .refine((body) => Object.keys(body).length > 0, 'nothing to change');

export const onboardBody = z
  .object({
    slug,
    ...profile,
    timezone: profile.timezone.default('UTC'),
    address: profile.address.optional(),
    contactEmail: profile.contactEmail.optional(),
    contactPhone: profile.contactPhone.optional(),
    registrationNumber: profile.registrationNumber.optional(),
    taxId: profile.taxId.optional(),
    plan: plan.default('trial'),
    admin: z.object({ email: email, displayName: plainText.trim().min(1).max(120) }).strict(),
  })
  .strict();

export const planBody = z
  .object({ plan: plan.optional(), planStatus: planStatus.optional() })
  .strict()
  .refine((body) => body.plan !== undefined || body.planStatus !== undefined, 'nothing to change');

export const clinicOverview = z.object({
  id: z.uuid(),
  slug: z.string(),
  name: z.string(),
  timezone: z.string(),
  status: z.enum(['active', 'suspended']),
  plan,
  planStatus,
  address: z.string().nullable(),
  contactEmail: z.string().nullable(),
  contactPhone: z.string().nullable(),
  registrationNumber: z.string().nullable(),
  taxId: z.string().nullable(),
  createdAt: z.date(),
  members: z.number().int(),
});

export const onboarded = z.object({
  clinic: clinicOverview,
  // The invitation's token is sent to the admin's e-mail only (the notification outbox).
  invitation: z.object({ expiresAt: z.date() }),
});
