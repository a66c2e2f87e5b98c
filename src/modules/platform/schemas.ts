import { z } from 'zod';
import { clinicSlug as slug, email } from '../../http/params.ts';


const plan = z.enum(['trial', 'basic', 'professional', 'enterprise']);
const planStatus = z.enum(['trial', 'active', 'expired', 'suspended']);

export const platformLoginBody = z.object({ email: email, password: z.string().min(1).max(1024) }).strict();

export const platformSession = z.object({ tokenType: z.literal('Bearer'), accessToken: z.string(), expiresIn: z.number().int() });

export const onboardBody = z
  .object({
    slug,
    name: z.string().trim().min(1).max(200),
    timezone: z.string().min(1).max(64).default('UTC'),
    plan: plan.default('trial'),
    admin: z.object({ email: email, displayName: z.string().trim().min(1).max(120) }).strict(),
  })
  .strict();

export const planBody = z.object({ plan: plan.optional(), planStatus: planStatus.optional() }).strict()
  .refine((body) => body.plan !== undefined || body.planStatus !== undefined, 'nothing to change');

export const clinicOverview = z.object({
  id: z.uuid(),
  slug: z.string(),
  name: z.string(),
  timezone: z.string(),
  status: z.enum(['active', 'suspended']),
  plan,
  planStatus,
  createdAt: z.date(),
  members: z.number().int(),
});

export const onboarded = z.object({
  clinic: clinicOverview,
  // Until notifications exist the operator hands this single-use token to the clinic's admin.
  invitation: z.object({ token: z.string(), expiresAt: z.date() }),
});
