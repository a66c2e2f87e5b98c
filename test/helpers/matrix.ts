// The permission matrix the tests expect, written out by hand: who may run which command on each
// tenant table in their own clinic. Never derived from src/auth/permissions.ts, the code under
// test, nor from docs/permissions.md, which is generated from it: the SQL sweep (isolation.ts)
// holds the policies to this table, and test/db/isolation.test.ts holds PERMISSIONS to it. A change
// to the matrix is therefore made three times on purpose: here, in PERMISSIONS and in the policies
// (then `npm run docs:permissions` shows it in the docs).

export type Command = 'select' | 'insert' | 'update' | 'delete';

/** The clinic roles, in the docs' order (test/db/isolation.test.ts compares them to CLINIC_ROLES). */
export const ROLES = ['clinic_admin', 'doctor', 'nurse', 'receptionist', 'lab_technician', 'patient'] as const;
export type Role = (typeof ROLES)[number];

/** table → role → the commands that role may run, space-separated ('' for none). */
export const MATRIX: Record<string, Record<Role, string>> = {
  'app_public.departments': {
    clinic_admin: 'select insert update delete',
    doctor: 'select',
    nurse: 'select',
    receptionist: 'select',
    lab_technician: 'select',
    patient: 'select',
  },
  // Patients see the staff and themselves only: a row rule (row-rules.ts), not a command.
  'app_public.clinic_members': {
    clinic_admin: 'select insert update delete',
    doctor: 'select',
    nurse: 'select',
    receptionist: 'select',
    lab_technician: 'select',
    patient: 'select',
  },
  'app_public.clinic_settings': {
    clinic_admin: 'select update',
    doctor: 'select',
    nurse: 'select',
    receptionist: 'select',
    lab_technician: 'select',
    patient: 'select',
  },
  'app_public.support_access_grants': {
    clinic_admin: 'select insert update',
    doctor: '',
    nurse: '',
    receptionist: '',
    lab_technician: '',
    patient: '',
  },
  // The front desk (issue 9). "patient" commands are on their own rows only, "doctor" writes of
  // time off and visits on their own only: row rules (row-rules.ts), the fixture rows being the
  // actors' own.
  'app_public.patients': {
    clinic_admin: 'select insert update',
    doctor: 'select',
    nurse: 'select',
    receptionist: 'select insert update',
    lab_technician: '',
    patient: 'select',
  },
  'app_public.patient_history': {
    clinic_admin: 'select',
    doctor: 'select insert update',
    nurse: 'select insert update',
    receptionist: '',
    lab_technician: '',
    patient: 'select',
  },
  'app_public.patient_access_log': {
    clinic_admin: 'select insert',
    doctor: 'insert',
    nurse: 'insert',
    receptionist: 'insert',
    lab_technician: '',
    patient: 'select insert',
  },
  'app_public.doctor_time_off': {
    clinic_admin: 'select insert update delete',
    doctor: 'select insert update delete',
    nurse: 'select',
    receptionist: 'select insert update delete',
    lab_technician: 'select',
    patient: '',
  },
  'app_public.appointments': {
    clinic_admin: 'select insert update',
    doctor: 'select',
    nurse: 'select',
    receptionist: 'select insert update',
    lab_technician: '',
    patient: 'select insert update',
  },
  'app_public.visits': {
    clinic_admin: 'select insert update',
    doctor: 'select update',
    nurse: 'select',
    receptionist: 'select insert update',
    lab_technician: '',
    patient: 'select',
  },
  'app_public.files': {
    clinic_admin: 'select',
    doctor: 'select insert',
    nurse: 'select insert',
    receptionist: 'select insert',
    lab_technician: 'insert',
    patient: 'select',
  },
  // Clinical care (footnote 7: a patient reads their own records once signed, issued or released).
  // The doctor actor is the fixture consultation's author (footnote 6: only the author updates a draft).
  'app_public.consultations': {
    clinic_admin: 'select',
    doctor: 'select insert update',
    nurse: 'select',
    receptionist: '',
    lab_technician: '',
    patient: 'select',
  },
  // A nurse updates the readings they recorded (a row rule): the fixture reading is not theirs.
  'app_public.vitals': {
    clinic_admin: 'select',
    doctor: 'select insert update',
    nurse: 'select insert',
    receptionist: '',
    lab_technician: '',
    patient: 'select',
  },
  'app_public.diagnoses': { clinic_admin: 'select', doctor: 'select insert update', nurse: 'select', receptionist: '', lab_technician: '', patient: 'select' },
  'app_public.consultation_addenda': {
    clinic_admin: 'select',
    doctor: 'select insert',
    nurse: 'select',
    receptionist: '',
    lab_technician: '',
    patient: 'select',
  },
  'app_public.clinic_icd10_codes': {
    clinic_admin: 'select insert',
    doctor: 'select insert',
    nurse: 'select',
    receptionist: '',
    lab_technician: '',
    patient: '',
  },
  'app_public.prescriptions': {
    clinic_admin: 'select',
    doctor: 'select insert update',
    nurse: 'select',
    receptionist: '',
    lab_technician: '',
    patient: 'select',
  },
  'app_public.prescription_items': {
    clinic_admin: 'select',
    doctor: 'select insert update delete',
    nurse: 'select',
    receptionist: '',
    lab_technician: '',
    patient: 'select',
  },
  'app_public.prescription_allergy_acknowledgements': {
    clinic_admin: 'select',
    doctor: 'select insert',
    nurse: 'select',
    receptionist: '',
    lab_technician: '',
    patient: '',
  },
  // The lab: a doctor requests and cancels; a lab technician moves the request and writes the report (their own draft's: the fixture report is the lab actor's).
  'app_public.test_requests': {
    clinic_admin: 'select',
    doctor: 'select insert update',
    nurse: 'select',
    receptionist: '',
    lab_technician: 'select update',
    patient: 'select',
  },
  'app_public.test_reports': {
    clinic_admin: 'select',
    doctor: 'select',
    nurse: 'select',
    receptionist: '',
    lab_technician: 'select insert update',
    patient: 'select',
  },
  'app_public.test_results': {
    clinic_admin: 'select',
    doctor: 'select',
    nurse: 'select',
    receptionist: '',
    lab_technician: 'select insert update',
    patient: 'select',
  },
  'app_public.follow_ups': { clinic_admin: 'select', doctor: 'select insert update', nurse: 'select', receptionist: '', lab_technician: '', patient: 'select' },
  'app_public.clinic_exports': { clinic_admin: 'select insert', doctor: '', nurse: '', receptionist: '', lab_technician: '', patient: '' },
};

/**
 * Footnote 7: the tables whose rows a patient reads only once final: signed (a consultation, and its
 * vital signs and diagnoses through it), issued (a prescription and its items) or released (a lab
 * report and its results). Written out by hand like MATRIX. Their fixture rows are drafts, so the
 * matrix's patient 'select' on them is checked on a final row of the patient's own
 * (helpers/chart-rows.ts); that the patient never sees the draft is a row rule (row-rules.ts).
 */
export const PATIENT_READS_FINAL_ONLY: ReadonlySet<string> = new Set([
  'app_public.consultations',
  'app_public.vitals',
  'app_public.diagnoses',
  'app_public.prescriptions',
  'app_public.prescription_items',
  'app_public.test_reports',
  'app_public.test_results',
]);

export function mayRun(table: string, role: Role, command: Command): boolean {
  return MATRIX[table]![role].split(' ').includes(command);
}
