import { z } from 'zod';
import { clinicSlug, email } from '../../http/params.ts';
import { multilineText } from '../../http/text.ts';

/** The longest a grant may run (support_access_grants_expires_at_valid says the same). */
export const MAX_GRANT_HOURS = 168;

export const grantBody = z
  .object({
    operatorEmail: email.describe('The platform operator who may read the clinic'),
    reason: multilineText.trim().min(1).max(500),
    hours: z.number().int().min(1).max(MAX_GRANT_HOURS).describe('How long the access lasts, unless revoked sooner'),
  })
  .strict();

export const grant = z.object({
  id: z.uuid(),
  operatorAccountId: z.uuid(),
  grantedBy: z.uuid(),
  reason: z.string(),
  expiresAt: z.date(),
  revokedAt: z.date().nullable(),
  revokedBy: z.uuid().nullable(),
  createdAt: z.date(),
});

export const grantParams = z.object({ slug: clinicSlug, id: z.uuid() }).strict();

/** A grant the operator holds, in force. */
export const operatorGrant = z.object({
  grantId: z.uuid(),
  clinicId: z.uuid(),
  clinicSlug: z.string(),
  clinicName: z.string(),
  reason: z.string(),
  expiresAt: z.date(),
  /** The clinic requires a second factor: the operator's platform login must have passed one. */
  requiresTwoFactor: z.boolean(),
});
export const operatorGrantParams = z.object({ grantId: z.uuid() }).strict();

export const supportSession = z.object({
  tokenType: z.literal('Bearer'),
  accessToken: z.string(),
  expiresIn: z.number().int(),
  clinicSlug: z.string(),
  readOnly: z.literal(true),
});
