import { z } from 'zod';
import { page, pageQuery } from '../../http/pagination.ts';
import { clinicParams } from '../../http/params.ts';
import { multilineText } from '../../http/text.ts';

export const STATUSES = ['booked', 'checked_in', 'completed', 'cancelled', 'no_show'] as const;

/** An instant with its offset: the client says which moment it means, never a bare local time. */
const instant = z.iso.datetime({ offset: true });

export const appointmentParams = clinicParams.extend({ id: z.uuid() }).strict();

export const bookBody = z
  .object({
    // Staff name the patient; a portal patient books for themselves (their record comes from the database).
    patientId: z.uuid().optional(),
    doctorId: z.uuid(),
    // The start of a free slot (GET …/doctors/{memberId}/availability); it lasts the clinic's slot length.
    startsAt: instant,
    reason: multilineText.trim().min(1).max(500).optional(),
    // Booking a follow-up's appointment links the two (app_public.link_follow_up_appointment).
    followUpId: z.uuid().optional(),
  })
  .strict();

export const rescheduleBody = z.object({ startsAt: instant, doctorId: z.uuid().optional() }).strict();

export const cancelBody = z.object({ reason: multilineText.trim().min(1).max(500) }).strict();

export const listQuery = pageQuery(z.tuple([instant, z.uuid()])).extend({
  doctorId: z.uuid().optional(),
  patientId: z.uuid().optional(),
  // Appointments starting at or after `from`, and before `to`.
  from: instant.optional(),
  to: instant.optional(),
  status: z.enum(STATUSES).optional(),
});

export const appointment = z.object({
  id: z.uuid(),
  patientId: z.uuid(),
  doctorId: z.uuid(),
  startsAt: z.date(),
  endsAt: z.date(),
  status: z.enum(STATUSES),
  reason: z.string().nullable(),
  cancellationReason: z.string().nullable(),
  bookedBy: z.uuid(),
  createdAt: z.date(),
  updatedAt: z.date(),
});

export const appointmentPage = page(appointment);

export type Appointment = z.infer<typeof appointment>;
export type BookBody = z.infer<typeof bookBody>;
export type ListQuery = z.infer<typeof listQuery>;
