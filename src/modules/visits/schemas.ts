import { z } from 'zod';
import { page, pageQuery } from '../../http/pagination.ts';
import { clinicParams } from '../../http/params.ts';
import { plainText } from '../../http/text.ts';

export const VISIT_STATUSES = ['waiting', 'called', 'in_consultation', 'completed', 'no_show', 'cancelled'] as const;
export const PRIORITIES = ['normal', 'urgent', 'emergency'] as const;

export const visitParams = clinicParams.extend({ id: z.uuid() }).strict();
export const doctorParams = clinicParams.extend({ memberId: z.uuid() }).strict();

/** A clinic-local calendar date, YYYY-MM-DD, that exists. */
const calendarDate = plainText.regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date, YYYY-MM-DD').refine((value) => {
  const date = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().startsWith(value);
}, 'must be a date that exists');

/** Check-in: an appointment's patient (the patient and doctor default to the appointment's), or a walk-in patient. */
export const checkInBody = z
  .object({
    patientId: z.uuid().optional(),
    appointmentId: z.uuid().optional(),
    doctorId: z.uuid().nullable().optional(),
    purpose: plainText.trim().min(1).max(500).nullable().optional(),
    priority: z.enum(PRIORITIES).optional(),
  })
  .strict()
  .refine((body) => body.patientId !== undefined || body.appointmentId !== undefined, {
    message: 'a patientId or an appointmentId is required',
    path: ['patientId'],
  });

export const listQuery = pageQuery(z.tuple([z.int().positive()])).extend({
  /** Default: today in the clinic's time zone. */
  date: calendarDate.optional(),
  doctorId: z.uuid().optional(),
  patientId: z.uuid().optional(),
  status: z.enum(VISIT_STATUSES).optional(),
});

export const visit = z.object({
  id: z.uuid(),
  patientId: z.uuid(),
  appointmentId: z.uuid().nullable(),
  doctorId: z.uuid().nullable(),
  visitDate: z.string().describe('The clinic-local date of the check-in.'),
  tokenNumber: z.int().describe('The token of the day, consecutive per clinic and clinic-local date.'),
  purpose: z.string().nullable(),
  priority: z.enum(PRIORITIES),
  status: z.enum(VISIT_STATUSES),
  checkedInAt: z.date(),
  calledAt: z.date().nullable(),
  consultationStartedAt: z.date().nullable(),
  completedAt: z.date().nullable(),
  skippedAt: z.date().nullable(),
  createdAt: z.date(),
  updatedAt: z.date(),
});

/** Where a waiting visit of today stands in its doctor's queue (null otherwise). */
export const queuePlace = z
  .object({ position: z.int().min(1), estimatedWaitMinutes: z.int().min(0) })
  .nullable()
  .describe('The place in the queue of a visit waiting today, and the estimated wait; null otherwise.');

export const visitWithPlace = visit.extend({ queue: queuePlace });

export const visitPage = page(visit);

/**
 * A doctor's queue as a waiting-room display shows it: tokens, statuses, positions and waits, no
 * patient (a display is public). The same for staff reading it and for the live stream.
 */
export const queueEntry = z.object({
  visitId: z.uuid(),
  tokenNumber: z.int(),
  status: z.enum(['waiting', 'called', 'in_consultation']),
  priority: z.enum(PRIORITIES),
  skipped: z.boolean(),
  position: z.int().min(1).nullable().describe('1 for the next to be called; null for those called or in consultation.'),
  estimatedWaitMinutes: z.int().min(0).nullable(),
});

export const queue = z.object({
  doctorId: z.uuid(),
  date: z.string().describe('The clinic-local date of the queue (today).'),
  minutesPerPatient: z.number().describe("The doctor's average consultation over their last 20, or the clinic's appointment slot without history."),
  basedOnConsultations: z.int().min(0).describe('How many completed consultations the average is based on (0: the default).'),
  entries: z.array(queueEntry),
});

/** What the visits trigger notifies on `clinicbase_queue`: ids only. */
export const queueNotification = z.strictObject({ clinicId: z.uuid(), doctorId: z.uuid(), visitId: z.uuid() });

export type CheckIn = z.infer<typeof checkInBody>;
export type ListFilters = z.infer<typeof listQuery>;
export type Visit = z.infer<typeof visit>;
export type Queue = z.infer<typeof queue>;
