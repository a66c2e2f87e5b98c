import { z } from 'zod';
import { weeklyHours } from '../../http/params.ts';
import { plainText, withoutControlCharacters } from '../../http/text.ts';

const colour = plainText.regex(/^#[0-9a-f]{6}$/, 'must be a colour like #1a2b3c');

const editable = {
  currency: plainText.regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code like USD'),
  taxRate: z.number().min(0).max(100),
  appointmentSlotMinutes: z.number().int().min(5).max(240),
  sessionIdleMinutes: z.number().int().min(5).max(720),
  requireTwoFactor: z.boolean(),
  operatingHours: weeklyHours,
  retentionDays: z.number().int().min(365).max(36500),
  /** After an appointment's start, the minutes before the hourly upkeep marks it no_show when nobody checked in. */
  noShowGraceMinutes: z.number().int().min(5).max(1440),
  brandPrimaryColour: colour.nullable(),
  brandSecondaryColour: colour.nullable(),
  // The URL parser drops or escapes control characters; the stored text would keep them.
  brandLogoUrl: z
    .url({ protocol: /^https$/ })
    .check(withoutControlCharacters())
    .max(2048)
    .nullable(),
};

export const settings = z.object({ ...editable, updatedAt: z.date() });

export const settingsChange = z
  .object(editable)
  .partial()
  .strict()
  .refine((body) => Object.keys(body).length > 0, 'nothing to change');

export type Settings = z.infer<typeof settings>;
export type SettingsChange = z.infer<typeof settingsChange>;
