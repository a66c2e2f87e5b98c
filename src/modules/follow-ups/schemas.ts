import { z } from 'zod';
import { page, pageQuery } from '../../http/pagination.ts';
import { clinicParams } from '../../http/params.ts';
import { plainText } from '../../http/text.ts';

export const followUpParams = clinicParams.extend({ id: z.uuid() }).strict();

export const FOLLOW_UP_STATUSES = ['pending', 'completed', 'cancelled', 'missed'] as const;

/** In N days (clinic-local) or on a date: exactly one of the two. */
export const followUpInput = z
  .object({
    consultationId: z.uuid(),
    inDays: z.number().int().min(1).max(730).optional(),
    dueDate: z.iso.date().optional(),
    reason: plainText.trim().min(1).max(500),
  })
  .strict()
  .refine((input) => (input.inDays === undefined) !== (input.dueDate === undefined), { message: 'give exactly one of inDays and dueDate', path: ['inDays'] });

export const listQuery = pageQuery(z.tuple([z.iso.date(), z.uuid()])).extend({
  status: z.enum(FOLLOW_UP_STATUSES).optional(),
  doctorId: z.uuid().optional(),
  patientId: z.uuid().optional(),
});

export const followUp = z.object({
  id: z.uuid(),
  consultationId: z.uuid(),
  patientId: z.uuid(),
  doctorId: z.uuid(),
  dueDate: z.string(),
  reason: z.string(),
  status: z.enum(FOLLOW_UP_STATUSES),
  appointmentId: z.uuid().nullable(),
  createdAt: z.date(),
  updatedAt: z.date(),
});

export const followUpPage = page(followUp);

export type FollowUpInput = z.infer<typeof followUpInput>;
export type FollowUp = z.infer<typeof followUp>;
export type ListQuery = z.infer<typeof listQuery>;
