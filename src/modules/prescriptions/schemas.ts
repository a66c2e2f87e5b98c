import { z } from 'zod';
import { page, pageQuery } from '../../http/pagination.ts';
import { clinicParams } from '../../http/params.ts';
import { multilineText, plainText } from '../../http/text.ts';

export const DOSE_FORMS = [
  'tablet',
  'capsule',
  'syrup',
  'suspension',
  'injection',
  'cream',
  'ointment',
  'drops',
  'inhaler',
  'patch',
  'suppository',
  'other',
] as const;
export const FREQUENCIES = ['OD', 'BD', 'TDS', 'QID', 'PRN', 'custom'] as const;
export const ROUTES = [
  'oral',
  'sublingual',
  'topical',
  'inhaled',
  'intravenous',
  'intramuscular',
  'subcutaneous',
  'rectal',
  'vaginal',
  'ophthalmic',
  'otic',
  'nasal',
  'other',
] as const;
export const STATUSES = ['draft', 'issued', 'completed', 'cancelled'] as const;

export const prescriptionParams = clinicParams.extend({ id: z.uuid() }).strict();

const name = (max: number) => plainText.trim().min(1).max(max);

export const itemInput = z
  .object({
    medicineName: name(200),
    genericName: name(200).nullable().optional(),
    strength: name(60).nullable().optional(),
    doseForm: z.enum(DOSE_FORMS),
    dose: name(60),
    frequency: z.enum(FREQUENCIES).describe('OD once a day, BD twice, TDS three times, QID four times, PRN when needed, custom: say it in frequencyCustom.'),
    frequencyCustom: name(100).nullable().optional().describe('Required with frequency custom, refused otherwise.'),
    route: z.enum(ROUTES),
    durationDays: z.int().min(1).max(365).nullable().optional(),
    quantity: z.int().min(1).max(10000),
    refills: z.int().min(0).max(12).optional(),
    instructions: multilineText.trim().min(1).max(1000).nullable().optional(),
  })
  .strict()
  .superRefine((item, ctx) => {
    const custom = item.frequencyCustom !== undefined && item.frequencyCustom !== null;
    if ((item.frequency === 'custom') !== custom) {
      ctx.addIssue({
        code: 'custom',
        path: ['frequencyCustom'],
        message: item.frequency === 'custom' ? 'is required with frequency custom' : 'is only for frequency custom',
      });
    }
  });

const items = z.array(itemInput).max(50);
const notes = multilineText.trim().min(1).max(2000).nullable().optional();

export const createBody = z.object({ consultationId: z.uuid(), notes, items }).strict();
export const patchBody = z
  .object({ notes, items: items.optional().describe("The whole list: it replaces the draft's items.") })
  .strict()
  .refine((body) => body.notes !== undefined || body.items !== undefined, { message: 'names nothing to change' });
export const issueBody = z
  .object({
    allergyAcknowledgements: z
      .array(z.object({ allergyId: z.uuid(), note: multilineText.trim().min(1).max(1000) }).strict())
      .max(50)
      .optional()
      .describe("The patient's allergies the doctor prescribes against knowingly, each with the reason; recorded with the prescription."),
  })
  .strict()
  .nullish()
  .describe('Optional: a POST without a body issues with no acknowledgements.');
export const cancelBody = z.object({ reason: name(500) }).strict();

export const listQuery = pageQuery(z.tuple([z.iso.datetime({ offset: true }), z.uuid()])).extend({
  patientId: z.uuid(),
  status: z.enum(STATUSES).optional(),
});

export const item = z.object({
  id: z.uuid(),
  position: z.int(),
  medicineName: z.string(),
  genericName: z.string().nullable(),
  strength: z.string().nullable(),
  doseForm: z.enum(DOSE_FORMS),
  dose: z.string(),
  frequency: z.enum(FREQUENCIES),
  frequencyCustom: z.string().nullable(),
  route: z.enum(ROUTES),
  durationDays: z.int().nullable(),
  quantity: z.int(),
  refills: z.int(),
  instructions: z.string().nullable(),
});

export const acknowledgement = z.object({
  id: z.uuid(),
  allergyId: z.uuid(),
  allergyName: z.string(),
  note: z.string(),
  acknowledgedBy: z.uuid(),
  createdAt: z.date(),
});

export const prescriptionSummary = z.object({
  id: z.uuid(),
  consultationId: z.uuid(),
  patientId: z.uuid(),
  doctorId: z.uuid(),
  prescriptionNumber: z.string().nullable().describe('RX-YYYY-NNNNN, assigned when issued.'),
  status: z.enum(STATUSES),
  notes: z.string().nullable(),
  version: z.int().describe('The ETag of this version is "<version>"; send it as If-Match to change the prescription.'),
  issuedAt: z.date().nullable(),
  completedAt: z.date().nullable(),
  cancelledAt: z.date().nullable(),
  cancellationReason: z.string().nullable(),
  createdAt: z.date(),
  updatedAt: z.date(),
});

export const prescription = prescriptionSummary.extend({
  items: z.array(item),
  allergyAcknowledgements: z.array(acknowledgement).describe('Allergies acknowledged at issue: who, when, which allergy, why.'),
});

export const prescriptionPage = page(prescriptionSummary);

export type ItemInput = z.infer<typeof itemInput>;
export type CreateBody = z.infer<typeof createBody>;
export type PrescriptionSummary = z.infer<typeof prescriptionSummary>;
export type Prescription = z.infer<typeof prescription>;
export type Item = z.infer<typeof item>;
