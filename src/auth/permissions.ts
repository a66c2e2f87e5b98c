// The clinic roles and the permission matrix, written once: which clinic roles may do what on each
// resource. Route guards read it for clear 403s; the SQL policies enforce the same table in the
// database. The tests hold both to a copy written out by hand, never read from here
// (test/helpers/matrix.ts, test/http/permission-matrix.test.ts). `npm run docs:permissions`
// generates docs/permissions.md from it.

/** The roles a clinic membership can have: `app.role` of a transaction (src/db/context-settings.ts checks it). */
export const CLINIC_ROLES = ['clinic_admin', 'doctor', 'nurse', 'receptionist', 'lab_technician', 'patient'] as const;
export type ClinicRole = (typeof CLINIC_ROLES)[number];

export type Action = 'select' | 'insert' | 'update' | 'delete';
export type Allowed = readonly ClinicRole[];
type Rules = Partial<Record<Action, Allowed>>;

export const ALL_ROLES: Allowed = CLINIC_ROLES;

const matrix = {
  'app_public.departments': {
    select: ALL_ROLES,
    insert: ['clinic_admin'],
    update: ['clinic_admin'],
    delete: ['clinic_admin'],
  },
  'app_public.clinic_settings': {
    select: ALL_ROLES,
    update: ['clinic_admin'],
  },
  // Patients see the staff and themselves, never other patients (the SQL policy filters rows).
  'app_public.clinic_members': {
    select: ALL_ROLES,
    insert: ['clinic_admin'],
    update: ['clinic_admin'],
    delete: ['clinic_admin'],
  },
  // Break-glass support: only admins grant, see and revoke (revocation is the only update).
  'app_public.support_access_grants': {
    select: ['clinic_admin'],
    insert: ['clinic_admin'],
    update: ['clinic_admin'],
  },
  // The front desk. Patients: their own rows only; doctors: their own time off and queue only (the SQL policies filter rows).
  // Registration data; lab technicians get the patients of their open test requests later.
  'app_public.patients': {
    select: ['clinic_admin', 'doctor', 'nurse', 'receptionist', 'patient'],
    insert: ['clinic_admin', 'receptionist'],
    update: ['clinic_admin', 'receptionist'],
  },
  // Allergies and current medication: clinical, so not the receptionist's.
  'app_public.patient_history': {
    select: ['clinic_admin', 'doctor', 'nurse', 'patient'],
    insert: ['doctor', 'nurse'],
    update: ['doctor', 'nurse'],
  },
  // Chart access log, append-only: written by whoever reads a patient, as themselves.
  'app_public.patient_access_log': {
    select: ['clinic_admin', 'patient'],
    insert: ['clinic_admin', 'doctor', 'nurse', 'receptionist', 'patient'],
  },
  'app_public.doctor_time_off': {
    select: ['clinic_admin', 'doctor', 'nurse', 'receptionist', 'lab_technician'],
    insert: ['clinic_admin', 'doctor', 'receptionist'],
    update: ['clinic_admin', 'doctor', 'receptionist'],
    delete: ['clinic_admin', 'doctor', 'receptionist'],
  },
  'app_public.appointments': {
    select: ['clinic_admin', 'doctor', 'nurse', 'receptionist', 'patient'],
    insert: ['clinic_admin', 'receptionist', 'patient'],
    update: ['clinic_admin', 'receptionist', 'patient'],
  },
  // Check-in tokens and the queue.
  'app_public.visits': {
    select: ['clinic_admin', 'doctor', 'nurse', 'receptionist', 'patient'],
    insert: ['clinic_admin', 'receptionist'],
    update: ['clinic_admin', 'doctor', 'receptionist'],
  },
  // Attachments: read like the patient record; no update or delete.
  'app_public.files': {
    select: ['clinic_admin', 'doctor', 'nurse', 'receptionist', 'patient'],
    insert: ['doctor', 'nurse', 'receptionist', 'lab_technician'],
  },
  // Clinical care: reads (a patient: their own records once signed, issued or released).
  // Consultations: the visit's doctor opens one, its author edits and signs the draft (footnote 6).
  'app_public.consultations': { select: ['clinic_admin', 'doctor', 'nurse', 'patient'], insert: ['doctor'], update: ['doctor'] },
  // Vital signs: the author doctor or a nurse records them; the recorder (or the author) corrects one.
  'app_public.vitals': { select: ['clinic_admin', 'doctor', 'nurse', 'patient'], insert: ['doctor', 'nurse'], update: ['doctor'] },
  'app_public.diagnoses': { select: ['clinic_admin', 'doctor', 'nurse', 'patient'], insert: ['doctor'], update: ['doctor'] },
  // Addenda: any doctor, on a signed consultation; never changed.
  'app_public.consultation_addenda': { select: ['clinic_admin', 'doctor', 'nurse', 'patient'], insert: ['doctor'] },
  // The clinic's own ICD-10 codes, beside the bundled list.
  'app_public.clinic_icd10_codes': { select: ['clinic_admin', 'doctor', 'nurse'], insert: ['clinic_admin', 'doctor'] },
  // Prescriptions: written by the consultation's doctor, changed while a draft, never deleted (cancelled);
  // a draft's items are replaced by deleting and inserting them. Acknowledged allergies: insert-only, staff read.
  'app_public.prescriptions': { select: ['clinic_admin', 'doctor', 'nurse', 'patient'], insert: ['doctor'], update: ['doctor'] },
  'app_public.prescription_items': { select: ['clinic_admin', 'doctor', 'nurse', 'patient'], insert: ['doctor'], update: ['doctor'], delete: ['doctor'] },
  'app_public.prescription_allergy_acknowledgements': { select: ['clinic_admin', 'doctor', 'nurse'], insert: ['doctor'] },
  // The lab (footnote 3): doctors request and cancel; lab technicians move requests and write reports.
  'app_public.test_requests': {
    select: ['clinic_admin', 'doctor', 'nurse', 'lab_technician', 'patient'],
    insert: ['doctor'],
    update: ['doctor', 'lab_technician'],
  },
  'app_public.test_reports': {
    select: ['clinic_admin', 'doctor', 'nurse', 'lab_technician', 'patient'],
    insert: ['lab_technician'],
    update: ['lab_technician'],
  },
  'app_public.test_results': {
    select: ['clinic_admin', 'doctor', 'nurse', 'lab_technician', 'patient'],
    insert: ['lab_technician'],
    update: ['lab_technician'],
  },
  'app_public.follow_ups': { select: ['clinic_admin', 'doctor', 'nurse', 'patient'], insert: ['doctor'], update: ['doctor'] },
  // Whole-clinic exports: admins request, follow and download them; the worker builds them.
  'app_public.clinic_exports': { select: ['clinic_admin'], insert: ['clinic_admin'] },
} satisfies Record<string, Rules>;

/** A resource of the matrix: what `app.permission(resource, action)` takes, so a typo fails typecheck. */
export type Resource = keyof typeof matrix;

/** The matrix, readable by any table name: undefined for a table it does not list (nobody may). */
export const PERMISSIONS: Readonly<Record<string, Rules | undefined>> = matrix;

export function isAllowed(resource: Resource, action: Action, role: ClinicRole | null): boolean {
  return role !== null && (PERMISSIONS[resource]?.[action] ?? []).includes(role);
}
