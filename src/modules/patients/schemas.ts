import { z } from 'zod';
import { normaliseIdentifier } from '../../crypto/field-encryption.ts';
import { page, pageQuery } from '../../http/pagination.ts';
import { clinicParams, email } from '../../http/params.ts';
import { multilineText, plainText } from '../../http/text.ts';

export const SEXES = ['female', 'male', 'other', 'unknown'] as const;
export const BLOOD_GROUPS = ['A+', 'A-', 'B+', 'B-', 'AB+', 'AB-', 'O+', 'O-'] as const;
export const IDENTIFICATION_TYPES = ['national_id', 'passport', 'driving_licence', 'other'] as const;
export const STATUSES = ['registered', 'in_treatment', 'discharged', 'deceased', 'archived'] as const;
/** How a patient is told of appointments and results (patients_contact_channel_valid); `none` opts out. */
export const CONTACT_CHANNELS = ['email', 'sms', 'none'] as const;

export const patientParams = clinicParams.extend({ id: z.uuid() }).strict();
export const historyEntryParams = patientParams.extend({ entryId: z.uuid() }).strict();

/** The same rule as patients_phone_format. */
const phone = plainText.regex(/^\+?[0-9][0-9 ()-]{4,31}$/, 'must be a phone number: digits, spaces, ( ) and -, a leading + allowed');
const isoDate = z.iso.date();

/** An identification number as typed; something must be left to look up once normalised. */
const identificationNumber = plainText
  .max(64)
  .refine((value) => normaliseIdentifier(value) !== '', 'must contain letters or digits')
  .refine((value) => normaliseIdentifier(value).length <= 64, 'is too long');

/** Fields a client writes, at registration and in a change. */
const writable = {
  fullName: plainText.trim().min(1).max(200),
  dateOfBirth: isoDate,
  sex: z.enum(SEXES),
  phone: phone.nullable().optional(),
  email: email.nullable().optional(),
  address: multilineText.trim().min(1).max(500).nullable().optional(),
  emergencyContactName: plainText.trim().min(1).max(200).nullable().optional(),
  emergencyContactPhone: phone.nullable().optional(),
  bloodGroup: z.enum(BLOOD_GROUPS).nullable().optional(),
  identificationType: z.enum(IDENTIFICATION_TYPES).nullable().optional(),
  identificationNumber: identificationNumber.nullable().optional(),
  contactChannel: z
    .enum(CONTACT_CHANNELS)
    .optional()
    .describe('How the patient is told of appointments and results: email (default), sms, or none (opted out).'),
};

/** A number without its type cannot be stored (patients_identification_number_valid): named here as the field at fault. */
const typeWithNumber = (input: { identificationNumber?: string | null | undefined; identificationType?: string | null | undefined }) =>
  !input.identificationNumber || Boolean(input.identificationType);
const typeWithNumberIssue = { message: 'is required with an identification number', path: ['identificationType'] };

export const registration = z
  .object({ ...writable, allowDuplicate: z.boolean().optional().describe('Register even when the record looks like existing ones.') })
  .strict()
  .refine(typeWithNumber, typeWithNumberIssue);

export const patientChange = z
  .object({
    ...writable,
    fullName: writable.fullName.optional(),
    dateOfBirth: writable.dateOfBirth.optional(),
    sex: writable.sex.optional(),
    // Archiving has its own route; a change may bring an archived record back (not a merged one).
    status: z.enum(['registered', 'in_treatment', 'discharged', 'deceased']).optional(),
    memberId: z.uuid().nullable().optional().describe('The `patient` membership (portal login) linked to this record; null unlinks it.'),
  })
  .strict()
  // A number needs a type, stored or sent: patients_identification_number_valid (422) decides.
  .refine((input) => Object.keys(input).length > 0, 'must change at least one field');

export const mergeInput = z.object({ survivorId: z.uuid().describe('The record that remains; the one in the URL is merged into it.') }).strict();

export const searchQuery = pageQuery(z.tuple([z.union([z.number(), plainText.max(200)]), z.uuid()]))
  .extend({
    q: plainText.trim().min(2).max(200).optional().describe('Part of the name, typos allowed: results ranked by similarity.'),
    phone: phone.optional().describe('The phone number, however formatted.'),
    patientNumber: plainText.regex(/^PT-[0-9]{4}-[0-9]{5,}$/, 'must be PT-YYYY-NNNNN').optional(),
    identificationNumber: identificationNumber.optional().describe('The whole identification number (exact match).'),
    dateOfBirth: isoDate.optional(),
  })
  .strict()
  .refine((query) => query.q === undefined || (query.phone ?? query.patientNumber ?? query.identificationNumber) === undefined, {
    message: 'combines only with dateOfBirth',
    path: ['q'],
  });

const patientFields = {
  id: z.uuid(),
  patientNumber: z.string(),
  fullName: z.string(),
  dateOfBirth: isoDate,
  sex: z.enum(SEXES),
  phone: z.string().nullable(),
  email: z.string().nullable(),
  address: z.string().nullable(),
  emergencyContactName: z.string().nullable(),
  emergencyContactPhone: z.string().nullable(),
  bloodGroup: z.enum(BLOOD_GROUPS).nullable(),
  identificationType: z.enum(IDENTIFICATION_TYPES).nullable(),
  identificationNumber: z
    .string()
    .nullable()
    .describe('Whole for clinic admins and receptionists; for everyone else masked, all but the last four characters as *.'),
  contactChannel: z.enum(CONTACT_CHANNELS),
  status: z.enum(STATUSES),
  mergedIntoId: z.uuid().nullable().describe('The record this one was merged into.'),
  memberId: z.uuid().nullable().describe('The portal login linked to this record.'),
  createdAt: z.date(),
  updatedAt: z.date(),
};

export const patient = z.object(patientFields);
/** A search result: enough to pick the right person. The whole record is GET patients/{id}, a read the access log records. */
export const patientSummary = patient.pick({
  id: true,
  patientNumber: true,
  fullName: true,
  dateOfBirth: true,
  sex: true,
  phone: true,
  status: true,
  mergedIntoId: true,
});
export const patientPage = page(patientSummary.extend({ rank: z.number().optional().describe('Name searches: the similarity to `q`, 0 to 1.') }));

export const mergeResult = z.object({
  merged: patient,
  survivor: patient,
  moved: z.record(z.string(), z.int()).describe('How many references moved to the survivor, per table.column.'),
});

export const HISTORY_KINDS = ['allergy', 'medication'] as const;
export const SEVERITIES = ['mild', 'moderate', 'severe'] as const;

export const historyInput = z
  .object({
    kind: z.enum(HISTORY_KINDS),
    name: plainText.trim().min(1).max(200),
    detail: multilineText.max(2000).nullable().optional(),
    severity: z.enum(SEVERITIES).nullable().optional().describe('Allergies only.'),
  })
  .strict()
  .refine((input) => !input.severity || input.kind === 'allergy', { message: 'is for allergies only', path: ['severity'] });

export const historyChange = z
  .object({
    name: historyInput.shape.name.optional(),
    detail: historyInput.shape.detail,
    severity: historyInput.shape.severity,
    isActive: z.boolean().optional().describe('false: no longer an allergy or no longer taken.'),
  })
  .strict()
  .refine((input) => Object.keys(input).length > 0, 'must change at least one field');

export const historyEntry = z.object({
  id: z.uuid(),
  patientId: z.uuid(),
  kind: z.enum(HISTORY_KINDS),
  name: z.string(),
  detail: z.string().nullable(),
  severity: z.enum(SEVERITIES).nullable(),
  isActive: z.boolean(),
  recordedBy: z.uuid(),
  createdAt: z.date(),
  updatedAt: z.date(),
});
export const historyList = z.object({ items: z.array(historyEntry) });

// The history call (issue 11, point 2): `items` as before, and the clinical record.
const instant = z.iso.datetime();
const day = z.iso.date();
/** The cursor holds the last visit's check-in to the microsecond and its id. */
export const chartHistoryQuery = pageQuery(z.tuple([plainText.regex(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/), z.uuid()]));
const vitalSigns = z.object({
  id: z.uuid(),
  measuredAt: instant,
  systolicMmhg: z.number().nullable(),
  diastolicMmhg: z.number().nullable(),
  heartRateBpm: z.number().nullable(),
  temperatureC: z.number().nullable(),
  respiratoryRatePerMin: z.number().nullable(),
  spo2Percent: z.number().nullable(),
  weightKg: z.number().nullable(),
  heightCm: z.number().nullable(),
});
const consultationSummary = z.object({
  id: z.uuid(),
  doctorId: z.uuid(),
  status: z.enum(['draft', 'signed']).describe('A patient reads signed consultations only; clinicians drafts too.'),
  chiefComplaint: z.string().nullable(),
  symptoms: z.string().nullable(),
  findings: z.string().nullable(),
  clinicalNotes: z.string().nullable(),
  urgency: z.string(),
  treatmentPlan: z.string().nullable(),
  signedAt: instant.nullable(),
  createdAt: instant,
  vitals: z.array(vitalSigns),
  diagnoses: z.array(z.object({ id: z.uuid(), icd10Code: z.string(), description: z.string(), isPrimary: z.boolean() })),
  addenda: z.array(z.object({ id: z.uuid(), authorId: z.uuid(), body: z.string(), signedAt: instant })),
});
const visitSummary = z.object({
  id: z.uuid(),
  visitDate: day,
  tokenNumber: z.number().int(),
  status: z.string(),
  doctorId: z.uuid().nullable(),
  purpose: z.string().nullable(),
  checkedInAt: instant,
  completedAt: instant.nullable(),
  consultations: z.array(consultationSummary),
});
const activePrescription = z.object({
  id: z.uuid(),
  prescriptionNumber: z.string(),
  consultationId: z.uuid(),
  doctorId: z.uuid(),
  status: z.literal('issued'),
  notes: z.string().nullable(),
  issuedAt: instant,
  items: z.array(
    z.object({
      position: z.number().int(),
      medicineName: z.string(),
      genericName: z.string().nullable(),
      strength: z.string().nullable(),
      doseForm: z.string(),
      dose: z.string(),
      frequency: z.string(),
      frequencyCustom: z.string().nullable(),
      route: z.string(),
      durationDays: z.number().int().nullable(),
      quantity: z.number().int(),
      refills: z.number().int(),
      instructions: z.string().nullable(),
    }),
  ),
});
const testRequestSummary = z.object({
  id: z.uuid(),
  consultationId: z.uuid(),
  testName: z.string(),
  testCode: z.string().nullable(),
  category: z.string(),
  urgency: z.string(),
  status: z.string(),
  requiredBy: day.nullable(),
  createdAt: instant,
  reports: z.array(
    z.object({
      id: z.uuid(),
      status: z.enum(['draft', 'released']).describe('A patient reads released reports only.'),
      conclusion: z.string().nullable(),
      releasedAt: instant.nullable(),
      results: z
        .object({ count: z.number().int(), abnormal: z.number().int(), critical: z.number().int() })
        .nullable()
        .describe('Released reports only: how many results, how many outside the reference range, how many critical.'),
    }),
  ),
});
const followUpSummary = z.object({
  id: z.uuid(),
  consultationId: z.uuid(),
  doctorId: z.uuid(),
  dueDate: day,
  reason: z.string(),
  status: z.string(),
  appointmentId: z.uuid().nullable(),
});
export const chartHistory = historyList.extend({
  visits: page(visitSummary).describe('Newest check-in first; `limit` and `after` page them.'),
  activePrescriptions: z.array(activePrescription).describe('Every issued prescription of the patient, newest first (not paged).'),
  testRequests: z.array(testRequestSummary).describe("The test requests of this page's consultations, newest first, with their reports."),
  followUps: z.array(followUpSummary).describe("The follow-ups of this page's consultations, latest due first."),
});

/** The cursor holds the last entry's time to the microsecond (as listAccessLog writes it) and its id. */
export const accessLogQuery = pageQuery(z.tuple([plainText.regex(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/), z.uuid()]));

export const accessLogEntry = z.object({
  id: z.uuid(),
  action: z.enum(['read_record', 'read_files', 'download_file']),
  fileId: z.uuid().nullable(),
  accessedAt: z.date(),
  viewer: z.object({
    kind: z.enum(['member', 'support']).describe('A member of the clinic, or a platform operator under a support access grant.'),
    memberId: z.uuid().nullable(),
    displayName: z.string().describe('The member\'s name; "Platform support" for a support read.'),
    role: z.string().nullable().describe("The member's role; null for a support read."),
  }),
  supportGrantId: z.uuid().nullable().optional().describe('Clinic admins: the grant of a support read.'),
  requestId: z.string().nullable().optional().describe('Clinic admins: the request that read.'),
  clientIp: z.string().nullable().optional().describe('Clinic admins: the address the read came from.'),
});
export const accessLogPage = page(accessLogEntry);

export type Registration = z.infer<typeof registration>;
export type PatientChange = z.infer<typeof patientChange>;
export type Patient = z.infer<typeof patient>;
export type PatientSummary = z.infer<typeof patientSummary>;
export type SearchQuery = z.infer<typeof searchQuery>;
export type HistoryInput = z.infer<typeof historyInput>;
export type HistoryChange = z.infer<typeof historyChange>;
export type HistoryEntry = z.infer<typeof historyEntry>;
export type AccessLogEntry = z.infer<typeof accessLogEntry>;
