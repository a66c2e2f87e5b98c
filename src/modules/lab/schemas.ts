import { z } from 'zod';
import type { MultipartForm } from '../../http/multipart.ts';
import { page, pageQuery } from '../../http/pagination.ts';
import { clinicParams } from '../../http/params.ts';
import { multilineText, plainText } from '../../http/text.ts';

export const TEST_CATEGORIES = ['haematology', 'biochemistry', 'microbiology', 'immunology', 'pathology', 'radiology', 'urinalysis', 'other'] as const;
export const REQUEST_STATUSES = ['requested', 'collected', 'in_progress', 'completed', 'cancelled'] as const;
export const REPORT_STATUSES = ['draft', 'released'] as const;
export const FLAGS = ['normal', 'low', 'high', 'critical_low', 'critical_high'] as const;

export const idParams = clinicParams.extend({ id: z.uuid() }).strict();

const isoDate = plainText.regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date YYYY-MM-DD');

export const testRequestInput = z
  .object({
    consultationId: z.uuid(),
    testName: plainText.trim().min(1).max(200),
    testCode: plainText.regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/, 'must be 1–32 letters, digits, ., _ or -').optional(),
    category: z.enum(TEST_CATEGORIES),
    urgency: z.enum(['routine', 'stat']).optional(),
    requiredBy: isoDate.optional(),
    clinicalNote: multilineText.trim().min(1).max(2000).optional(),
  })
  .strict();

/** Oldest first (the lab's worklist order); the cursor is the last item's creation time and id. */
export const requestListQuery = pageQuery(z.tuple([z.iso.datetime({ offset: true }), z.uuid()]))
  .extend({ status: z.enum(REQUEST_STATUSES).optional(), patientId: z.uuid().optional() })
  .strict();

/** Footnote 3: what the lab sees of a patient (only while the patient has an open request). */
export const patientIdentity = z.object({
  id: z.uuid(),
  patientNumber: z.string(),
  fullName: z.string(),
  dateOfBirth: z.string().describe('YYYY-MM-DD'),
  sex: z.string(),
});

export const testRequest = z.object({
  id: z.uuid(),
  consultationId: z.uuid(),
  patientId: z.uuid(),
  patient: patientIdentity.nullable().describe("The patient's identity; for a lab technician only while the patient has an open request (footnote 3)."),
  requestedBy: z.uuid(),
  testName: z.string(),
  testCode: z.string().nullable(),
  category: z.enum(TEST_CATEGORIES),
  urgency: z.enum(['routine', 'stat']),
  requiredBy: z.string().nullable().describe('YYYY-MM-DD'),
  clinicalNote: z.string().nullable(),
  status: z.enum(REQUEST_STATUSES),
  collectedAt: z.date().nullable(),
  startedAt: z.date().nullable(),
  completedAt: z.date().nullable(),
  cancelledAt: z.date().nullable(),
  createdAt: z.date(),
  updatedAt: z.date(),
});
export const testRequestPage = page(testRequest);

const numberValue = z.number().finite();

export const resultInput = z
  .object({
    analyte: plainText.trim().min(1).max(200),
    valueNumeric: numberValue.optional(),
    valueText: plainText.trim().min(1).max(200).optional(),
    unit: plainText.trim().min(1).max(40).optional(),
    referenceLow: numberValue.optional(),
    referenceHigh: numberValue.optional(),
    criticalLow: numberValue.optional(),
    criticalHigh: numberValue.optional(),
  })
  .strict()
  .refine((r) => (r.valueNumeric === undefined) !== (r.valueText === undefined), {
    message: 'give exactly one of valueNumeric and valueText',
    path: ['valueNumeric'],
  });

export const testReportInput = z
  .object({
    testRequestId: z.uuid(),
    conclusion: multilineText.trim().min(1).max(4000).optional(),
    results: z.array(resultInput).min(1).max(200),
  })
  .strict();

/** A draft's change: the conclusion (null clears it) and results corrected position by position (1 = the first). */
export const testReportChange = z
  .object({
    conclusion: multilineText.trim().min(1).max(4000).nullable().optional(),
    results: z.array(resultInput).min(1).max(200).optional(),
  })
  .strict();

export const reportListQuery = pageQuery(z.tuple([z.iso.datetime({ offset: true }), z.uuid()]))
  .extend({ patientId: z.uuid().optional(), status: z.enum(REPORT_STATUSES).optional() })
  .strict();

export const testResult = z.object({
  id: z.uuid(),
  position: z.int(),
  analyte: z.string(),
  valueNumeric: z.number().nullable(),
  valueText: z.string().nullable(),
  unit: z.string().nullable(),
  referenceLow: z.number().nullable(),
  referenceHigh: z.number().nullable(),
  criticalLow: z.number().nullable(),
  criticalHigh: z.number().nullable(),
  flag: z.enum(FLAGS).nullable().describe('Computed by the database from the ranges; null for a text value or a value without ranges.'),
});

export const testReport = z.object({
  id: z.uuid(),
  testRequestId: z.uuid(),
  patientId: z.uuid(),
  technicianId: z.uuid(),
  fileId: z.uuid().nullable(),
  conclusion: z.string().nullable(),
  status: z.enum(REPORT_STATUSES),
  version: z.int().describe('The ETag of the draft: send it back as If-Match.'),
  releasedAt: z.date().nullable(),
  createdAt: z.date(),
  updatedAt: z.date(),
  results: z.array(testResult),
});
export const testReportPage = page(testReport);

/** The report file: one file part named `file`, no other fields. */
export const reportFileForm = (maxBytes: number) => ({ fields: z.object({}).strict(), file: 'file', maxBytes }) satisfies MultipartForm;

export type TestRequestInput = z.infer<typeof testRequestInput>;
export type TestRequest = z.infer<typeof testRequest>;
export type ResultInput = z.infer<typeof resultInput>;
export type TestReportInput = z.infer<typeof testReportInput>;
export type TestReportChange = z.infer<typeof testReportChange>;
export type TestReport = z.infer<typeof testReport>;
export type TestResult = z.infer<typeof testResult>;
