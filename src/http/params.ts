import { z } from 'zod';
import { plainText } from './text.ts';

/** A clinic's URL name (the same rule as clinics_slug_format in the database). */
export const clinicSlug = plainText.regex(/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/, 'must be 3–63 lower-case letters, digits and -');

export const clinicParams = z.object({ slug: clinicSlug }).strict();

export const email = plainText.trim().max(254).email();

const time = plainText.regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM');

/** Opening or office hours per weekday: up to four [from, to] ranges a day. */
export const weeklyHours = z.partialRecord(z.enum(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']), z.array(z.tuple([time, time])).max(4));
export type WeeklyHours = z.infer<typeof weeklyHours>;
