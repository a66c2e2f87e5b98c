// One valid row per tenant table, as the columns a client may write (never clinic_id or id).
// The catalog sweep refuses to pass while a tenant table has no entry here: adding a table
// means adding its fixture, and with it the isolation tests for that table.
import type { ClinicRole } from '../../src/db/tenant.ts';

export interface FixtureRefs {
  /** The id of that tenant table's fixture row in the clinic being filled. */
  idOf(table: string): string;
  /** The membership of the clinic's actor in that role (helpers/actors.ts): the one the checks act as. */
  member(role: ClinicRole): string;
  /** A login account no fixture row of this clinic uses yet. */
  freshAccount(): string;
  /** A platform operator's account. */
  operator(): string;
}

export type Fixture = (refs: FixtureRefs) => Record<string, unknown>;

let counter = 0;
const unique = (prefix: string) => `${prefix}${++counter}`;
/**
 * An hour of its own in 2030 for every call (the checks insert each fixture again, and bookings
 * must not overlap), lasting one slot of the default 15 minutes: an appointment must be one slot
 * of its doctor's schedule, and the doctor actors work all day (helpers/actors.ts).
 */
const hourOfItsOwn = () => {
  const starts = Date.UTC(2030, 0, 1) + ++counter * 3_600_000;
  return { starts_at: new Date(starts), ends_at: new Date(starts + 900_000) };
};

export const FIXTURES: Record<string, Fixture> = {
  'app_public.departments': () => ({ code: unique('D'), name: unique('Department '), description: 'fixture' }),
  // One row per clinic; updates only, through the API (onboarding inserts it).
  'app_public.clinic_settings': () => ({ currency: 'EUR', session_idle_minutes: 30 }),
  // A nurse: the actors take the doctor and receptionist seats a trial plan has (helpers/actors.ts).
  'app_public.clinic_members': ({ freshAccount }) => ({
    account_id: freshAccount(),
    role: 'nurse',
    display_name: unique('Nurse Fixture '),
    licence_number: unique('LIC-'),
  }),
  'app_public.support_access_grants': ({ operator }) => ({
    operator_account_id: operator(),
    reason: 'fixture',
    expires_at: new Date(Date.now() + 3_600_000),
  }),
  // Linked to the clinic's patient actor afterwards (OWNERSHIP): its patient sees this record, and the rows below.
  'app_public.patients': () => ({ full_name: unique('Patient Fixture '), date_of_birth: '1980-02-29', sex: 'female', phone: '+44 20 7946 0000' }),
  'app_public.patient_history': ({ idOf }) => ({ patient_id: idOf('app_public.patients'), kind: 'allergy', name: unique('Penicillin '), severity: 'severe' }),
  // The doctor actor's own: a doctor manages their own time off and works their own queue.
  'app_public.doctor_time_off': ({ member }) => ({ doctor_id: member('doctor'), ...hourOfItsOwn(), reason: 'fixture' }),
  'app_public.appointments': ({ idOf, member }) => ({ patient_id: idOf('app_public.patients'), doctor_id: member('doctor'), ...hourOfItsOwn() }),
  // A walk-in: an appointment is checked in once, and the checks insert the fixture again.
  'app_public.visits': ({ idOf, member }) => ({ patient_id: idOf('app_public.patients'), doctor_id: member('doctor'), purpose: 'fixture' }),
  'app_public.files': ({ idOf }) => ({
    patient_id: idOf('app_public.patients'),
    // A report file: the one category every uploader may attach (lab technicians: for a patient with an open test request).
    category: 'report',
    original_name: 'consent.pdf',
    content_type: 'application/pdf',
    size_bytes: 1024,
    sha256: 'a'.repeat(64),
  }),
  'app_public.patient_access_log': ({ idOf }) => ({ patient_id: idOf('app_public.patients'), file_id: idOf('app_public.files'), action: 'download_file' }),
  // Clinical care: every child names its parent and the parent's patient (composite references).
  // Opens its visit (the doctor actor's; the visit moves to in_consultation, so each insert uses
  // the next fixture visit: USES_UP). The patient is the visit's, copied by the database.
  'app_public.consultations': ({ idOf, member }) => ({ visit_id: idOf('app_public.visits'), doctor_id: member('doctor'), chief_complaint: 'fixture' }),
  // Under the draft fixture consultation (the patient is the consultation's, copied by the database).
  'app_public.vitals': ({ idOf }) => ({ consultation_id: idOf('app_public.consultations'), heart_rate_bpm: 72 }),
  'app_public.diagnoses': ({ idOf }) => ({
    consultation_id: idOf('app_public.consultations'),
    icd10_code: 'J06.9',
    description: 'Acute upper respiratory infection',
  }),
  // Addenda are written on signed consultations only: the signed variant (VARIANTS).
  'app_public.consultation_addenda': ({ idOf }) => ({ consultation_id: idOf('app_public.consultations#signed'), body: 'fixture' }),
  'app_public.clinic_icd10_codes': () => {
    const n = ++counter;
    return { code: `Z${String(n % 100).padStart(2, '0')}.${n % 10000}`, description: 'fixture code' };
  },
  'app_public.prescriptions': ({ idOf, member }) => ({
    consultation_id: idOf('app_public.consultations'),
    patient_id: idOf('app_public.patients'),
    doctor_id: member('doctor'),
  }),
  'app_public.prescription_items': ({ idOf }) => ({
    prescription_id: idOf('app_public.prescriptions'),
    patient_id: idOf('app_public.patients'),
    // 1–50 (the check): the sweep's inserts are rolled back before the deferred key is checked.
    position: (++counter % 50) + 1,
    medicine_name: 'Amoxicillin',
    dose_form: 'capsule',
    dose: '500 mg',
    frequency: 'TDS',
    route: 'oral',
    quantity: 15,
  }),
  'app_public.prescription_allergy_acknowledgements': ({ idOf }) => ({
    prescription_id: idOf('app_public.prescriptions'),
    patient_id: idOf('app_public.patients'),
    allergy_id: idOf('app_public.patient_history'),
    note: 'fixture',
  }),
  'app_public.test_requests': ({ idOf, member }) => ({
    consultation_id: idOf('app_public.consultations'),
    patient_id: idOf('app_public.patients'),
    requested_by: member('doctor'),
    test_name: 'Full blood count',
    category: 'haematology',
  }),
  // The lab actor's draft: only the report's own technician updates it and its results.
  'app_public.test_reports': ({ idOf, member }) => ({
    test_request_id: idOf('app_public.test_requests'),
    patient_id: idOf('app_public.patients'),
    technician_id: member('lab_technician'),
  }),
  'app_public.test_results': ({ idOf }) => ({
    test_report_id: idOf('app_public.test_reports'),
    patient_id: idOf('app_public.patients'),
    position: (++counter % 200) + 1,
    analyte: 'Haemoglobin',
    value_numeric: 135,
    unit: 'g/L',
  }),
  'app_public.follow_ups': ({ idOf }) => ({
    consultation_id: idOf('app_public.consultations'),
    patient_id: idOf('app_public.patients'),
    due_date: '2030-06-01',
    reason: 'fixture',
  }),
  // An export is requested by an admin as themselves (the worker builds it).
  'app_public.clinic_exports': ({ member }) => ({ requested_by: member('clinic_admin') }),
};

/**
 * Columns set on each clinic's fixture row once all fixtures are in, to make the row its actor's own
 * (the patient actor's record: the matrix then reads and books as its owner). Kept out of FIXTURES
 * because they are unique per row, and the checks insert each fixture again.
 */
export const OWNERSHIP: Record<string, Fixture> = {
  'app_public.patients': ({ member }) => ({ member_id: member('patient') }),
};

/**
 * Fixture rows another fixture's insert uses up: opening a consultation moves its visit to
 * in_consultation, and a visit opens once. After each insert of the key table's fixture (the sweep's
 * own row, a variant), the sweep inserts a fresh row of the value table and the fixtures use that one.
 */
export const USES_UP: Record<string, string> = { 'app_public.consultations': 'app_public.visits' };

/**
 * Second fixture rows of a table in another state, named `<table>#<variant>` for idOf: inserted
 * right after the table's own row from its fixture, then `afterwards` runs as superuser with $1 = the
 * new row's id. Signed consultations: addenda are written on them only.
 */
export const VARIANTS: Record<string, { afterwards: string }> = {
  'app_public.consultations#signed': { afterwards: "update app_public.consultations set status = 'signed' where id = $1" },
};

/**
 * Tables with a clinic_id that no app role may touch: the database writes them (triggers, SECURITY
 * DEFINER functions), and the worker reads the outbox through worker-only functions.
 */
export const WRITTEN_BY_DATABASE = new Set([
  'app_audit.audit_log',
  'app_private.refresh_tokens',
  'app_private.invitations',
  'app_private.clinic_counters',
  'app_private.notification_outbox',
]);

/** Login accounts the fixtures draw on, created once per test database. */
export const FIXTURE_ACCOUNTS = 200;
