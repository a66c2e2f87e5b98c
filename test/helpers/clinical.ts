// Clinical records made as superuser for tests that build on a consultation without going through
// the consultations API: a visit checked in for a patient and doctor, and a consultation of it.
import { insertAsAdmin } from './actors.ts';
import type { TestDatabase } from './db.ts';

/** A visit of the patient with the doctor, and a consultation of it by that doctor (draft, or signed). */
export async function consultationFor(
  db: TestDatabase,
  clinicId: string,
  patientId: string,
  doctorId: string,
  status: 'draft' | 'signed' = 'draft',
): Promise<string> {
  const visitId = await insertAsAdmin(db, clinicId, 'app_public.visits', { patient_id: patientId, doctor_id: doctorId, purpose: 'consultation' });
  const id = await insertAsAdmin(db, clinicId, 'app_public.consultations', {
    visit_id: visitId,
    patient_id: patientId,
    doctor_id: doctorId,
    chief_complaint: 'Sore throat',
  });
  if (status === 'signed') {
    await db.admin.query(`update app_public.consultations set status = 'signed', signed_at = now() where id = $1`, [id]);
  }
  return id;
}

/** An allergy (or medication) entry of the patient's history, as superuser. */
export function allergyOf(db: TestDatabase, clinicId: string, patientId: string, name: string, isActive = true): Promise<string> {
  return insertAsAdmin(db, clinicId, 'app_public.patient_history', { patient_id: patientId, kind: 'allergy', name, severity: 'severe', is_active: isActive });
}
