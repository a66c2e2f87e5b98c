import { z } from 'zod';
import { page, pageQuery } from '../../http/pagination.ts';
import { clinicParams } from '../../http/params.ts';
import { multilineText, plainText } from '../../http/text.ts';

export const URGENCIES = ['routine', 'urgent', 'emergency'] as const;
export const CONSULTATION_STATUSES = ['draft', 'signed'] as const;
const ICD10 = /^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$/;

export const consultationParams = clinicParams.extend({ id: z.uuid() }).strict();
export const diagnosisParams = consultationParams.extend({ diagnosisId: z.uuid() }).strict();

const draftFields = {
  chiefComplaint: plainText.trim().min(1).max(500).nullable().optional(),
  symptoms: multilineText.min(1).max(4000).nullable().optional(),
  findings: multilineText.min(1).max(4000).nullable().optional(),
  clinicalNotes: multilineText.min(1).max(8000).nullable().optional(),
  urgency: z.enum(URGENCIES).optional(),
  treatmentPlan: multilineText.min(1).max(4000).nullable().optional(),
};

export const openBody = z.object({ visitId: z.uuid(), ...draftFields }).strict();
export const patchBody = z.object(draftFields).strict();

export const listQuery = pageQuery(z.tuple([z.iso.datetime({ offset: true }), z.uuid()])).extend({
  patientId: z.uuid().optional(),
  doctorId: z.uuid().optional(),
  status: z.enum(CONSULTATION_STATUSES).optional(),
});

/** Units in the names; the ranges are the database's checks (a value outside is a 422 naming the field). */
export const vitalsBody = z
  .object({
    measuredAt: z.coerce.date().optional(),
    systolicMmhg: z.int().describe('Systolic blood pressure, mmHg (40–300); with diastolicMmhg, and above it.').optional(),
    diastolicMmhg: z.int().describe('Diastolic blood pressure, mmHg (20–200).').optional(),
    heartRateBpm: z.int().describe('Heart rate, beats per minute (20–300).').optional(),
    temperatureC: z.number().describe('Body temperature, °C, one decimal (25–45).').optional(),
    respiratoryRatePerMin: z.int().describe('Respiratory rate, breaths per minute (4–80).').optional(),
    spo2Percent: z.int().describe('Oxygen saturation, % (50–100).').optional(),
    weightKg: z.number().describe('Weight, kg, two decimals (0.3–500).').optional(),
    heightCm: z.number().describe('Height, cm, one decimal (20–280).').optional(),
  })
  .strict();

export const diagnosisBody = z
  .object({
    icd10Code: plainText.regex(ICD10, 'must be an ICD-10 code such as J45.909'),
    description: plainText.trim().min(1).max(500).optional().describe("Defaults to the code's text in the bundled list or the clinic's codes."),
    isPrimary: z.boolean().optional(),
  })
  .strict();
export const diagnosisPatch = diagnosisBody.partial().strict();

export const addendumBody = z.object({ body: multilineText.min(1).max(8000) }).strict();

export const icd10Query = z.object({ q: plainText.trim().min(1).max(100), limit: z.coerce.number().int().min(1).max(50).default(20) }).strict();
export const icd10Body = z
  .object({ code: plainText.regex(ICD10, 'must be an ICD-10 code such as J45.909'), description: plainText.trim().min(1).max(500) })
  .strict();

export const vitals = z.object({
  id: z.uuid(),
  recordedBy: z.uuid(),
  measuredAt: z.date(),
  systolicMmhg: z.int().nullable(),
  diastolicMmhg: z.int().nullable(),
  heartRateBpm: z.int().nullable(),
  temperatureC: z.number().nullable(),
  respiratoryRatePerMin: z.int().nullable(),
  spo2Percent: z.int().nullable(),
  weightKg: z.number().nullable(),
  heightCm: z.number().nullable(),
  createdAt: z.date(),
});
export const diagnosis = z.object({
  id: z.uuid(),
  icd10Code: z.string(),
  description: z.string(),
  isPrimary: z.boolean(),
  createdAt: z.date(),
  updatedAt: z.date(),
});
export const addendum = z.object({ id: z.uuid(), authorId: z.uuid(), body: z.string(), signedAt: z.date() });

export const consultationSummary = z.object({
  id: z.uuid(),
  visitId: z.uuid(),
  patientId: z.uuid(),
  doctorId: z.uuid(),
  status: z.enum(CONSULTATION_STATUSES),
  chiefComplaint: z.string().nullable(),
  symptoms: z.string().nullable(),
  findings: z.string().nullable(),
  clinicalNotes: z.string().nullable(),
  urgency: z.enum(URGENCIES),
  treatmentPlan: z.string().nullable(),
  version: z.int().describe('The ETag: send it back as If-Match "<version>" to change or sign the draft.'),
  signedAt: z.date().nullable(),
  completedAt: z.date().nullable(),
  createdAt: z.date(),
  updatedAt: z.date(),
});
export const consultation = consultationSummary.extend({ vitals: z.array(vitals), diagnoses: z.array(diagnosis), addenda: z.array(addendum) });
export const consultationPage = page(consultationSummary);

export const icd10Code = z.object({ code: z.string(), description: z.string(), source: z.enum(['bundled', 'clinic']) });
export const icd10List = z.object({ items: z.array(icd10Code) });

export type OpenInput = z.infer<typeof openBody>;
export type PatchInput = z.infer<typeof patchBody>;
export type VitalsInput = z.infer<typeof vitalsBody>;
export type DiagnosisInput = z.infer<typeof diagnosisBody>;
export type DiagnosisPatch = z.infer<typeof diagnosisPatch>;
export type ListFilters = z.infer<typeof listQuery>;
export type ConsultationSummary = z.infer<typeof consultationSummary>;
export type Consultation = z.infer<typeof consultation>;
export type Vitals = z.infer<typeof vitals>;
export type Diagnosis = z.infer<typeof diagnosis>;
export type Addendum = z.infer<typeof addendum>;
export type Icd10Code = z.infer<typeof icd10Code>;
