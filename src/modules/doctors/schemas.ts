import { z } from 'zod';
import { page, pageQuery } from '../../http/pagination.ts';
import { clinicParams } from '../../http/params.ts';
import { multilineText } from '../../http/text.ts';

/** The widest availability range, in days (app_public.doctor_free_slots refuses wider ones too). */
export const MAX_RANGE_DAYS = 31;
const DAY_MS = 86_400_000;

const instant = z.iso.datetime({ offset: true });

export const doctorParams = clinicParams.extend({ memberId: z.uuid() }).strict();
export const timeOffParams = clinicParams.extend({ id: z.uuid() }).strict();

/** Clinic-local dates, `from` to `to` inclusive, at most MAX_RANGE_DAYS days. */
export const availabilityQuery = z
  .object({ from: z.iso.date(), to: z.iso.date() })
  .strict()
  .superRefine(({ from, to }, ctx) => {
    const days = (Date.parse(to) - Date.parse(from)) / DAY_MS + 1;
    if (days < 1 || days > MAX_RANGE_DAYS) {
      ctx.addIssue({ code: 'custom', path: ['to'], message: `must be on or after from, at most ${MAX_RANGE_DAYS} days in all` });
    }
  });

export const slot = z.object({ startsAt: z.date(), endsAt: z.date() });

export const availability = z.object({
  doctorId: z.uuid(),
  from: z.iso.date(),
  to: z.iso.date(),
  slots: z.array(slot),
});

export const timeOffListQuery = pageQuery(z.tuple([instant, z.uuid()])).extend({
  // Time off ending after `from`, and starting before `to`.
  from: instant.optional(),
  to: instant.optional(),
});

export const timeOffBody = z
  .object({
    startsAt: instant,
    endsAt: instant,
    reason: multilineText.trim().min(1).max(500).optional(),
  })
  .strict();

export const timeOff = z.object({
  id: z.uuid(),
  doctorId: z.uuid(),
  startsAt: z.date(),
  endsAt: z.date(),
  reason: z.string().nullable(),
  createdAt: z.date(),
  updatedAt: z.date(),
});

export const timeOffPage = page(timeOff);

export type Slot = z.infer<typeof slot>;
export type TimeOff = z.infer<typeof timeOff>;
export type TimeOffBody = z.infer<typeof timeOffBody>;
export type TimeOffListQuery = z.infer<typeof timeOffListQuery>;
