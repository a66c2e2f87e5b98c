// A patient's clinical record arranged as superuser, in the state it ends in: a consultation
// (draft, or signed with its vital signs, diagnosis and addendum), a prescription (draft, or issued)
// with one item, a test request with its report (draft, or released) and one result, and a
// follow-up. The workflows that reach those states (signing, issuing, releasing) have their own
// tests; the row rules, the sweep and the history tests need the rows as they end up, whatever
// triggers the workflows add (a lock refusing a child under a signed parent, a state machine
// refusing a jump). So the rows are written in one transaction with `session_replication_role =
// replica`, which skips triggers (and with them the foreign-key checks: the values below are
// consistent by construction; the checks constraints still hold). Never an app's way around.
import type { TestDatabase } from './db.ts';

export type ChartState = 'draft' | 'final';

/** The id of each row of one record, keyed by table. */
export type ChartRecord = Record<(typeof CHART_TABLES)[number], string>;

export const CHART_TABLES = [
  'app_public.consultations',
  'app_public.vitals',
  'app_public.diagnoses',
  'app_public.consultation_addenda',
  'app_public.prescriptions',
  'app_public.prescription_items',
  'app_public.test_requests',
  'app_public.test_reports',
  'app_public.test_results',
  'app_public.follow_ups',
] as const;

let counter = 0;

export interface ChartRecordOptions {
  clinicId: string;
  patientId: string;
  /** The doctor's membership (author of the consultation, prescriber, requester). */
  doctorId: string;
  visitId: string;
  /** 'final': signed, issued, released; 'draft': none of them (no addendum then: addenda are written signed). */
  state: ChartState;
  /** When the consultation was written (newest first orders by it); now by default. */
  at?: Date;
  /** A lab technician's membership for the report; the doctor by default. */
  technicianId?: string;
  /** Copy the visit whether or not it has a consultation: the sweep's fixture visit, which its own inserts open. */
  copyVisit?: boolean;
  /** The follow-up's due date (2030-06-01 by default), or false for a record without one. */
  dueDate?: string | false;
}

export async function insertChartRecord(db: TestDatabase, options: ChartRecordOptions): Promise<ChartRecord> {
  const { clinicId, patientId, doctorId, visitId, state } = options;
  const at = options.at ?? new Date();
  const final = state === 'final';
  const n = ++counter;
  const client = await db.admin.connect();
  try {
    await client.query('begin');
    await client.query('set local session_replication_role = replica');
    const insert = async (table: string, values: Record<string, unknown>): Promise<string> => {
      const row = { clinic_id: clinicId, patient_id: patientId, created_at: at, ...values };
      const columns = Object.keys(row);
      const { rows } = await client.query<{ id: string }>(
        `insert into ${table} (${columns.map((c) => `"${c}"`).join(', ')}) values (${columns.map((_, i) => `$${i + 1}`).join(', ')}) returning id`,
        Object.values(row),
      );
      return rows[0]!.id;
    };
    // One consultation per visit (consultations_visit_id_key): a visit that has one already (the
    // sweep's fixture visit, a visit given to two records) is copied, the copy with a token of its own.
    const { rows: opened } = await client.query('select 1 from app_public.consultations where clinic_id = $1 and visit_id = $2', [clinicId, visitId]);
    const visit =
      opened.length === 0 && !options.copyVisit
        ? visitId
        : (
            await client.query<{ id: string }>(
              `insert into app_public.visits (clinic_id, patient_id, doctor_id, visit_date, token_number, priority, status, checked_in_at)
               select clinic_id, patient_id, doctor_id, visit_date, 100000 + $3, priority, status, checked_in_at
               from app_public.visits where clinic_id = $1 and id = $2 returning id`,
              [clinicId, visitId, n],
            )
          ).rows[0]!.id;
    const consultation = await insert('app_public.consultations', {
      visit_id: visit,
      doctor_id: doctorId,
      chief_complaint: `Chart record ${n}`,
      status: final ? 'signed' : 'draft',
      signed_at: final ? at : null,
    });
    const ofConsultation = { consultation_id: consultation };
    const vitals = await insert('app_public.vitals', { ...ofConsultation, recorded_by: doctorId, heart_rate_bpm: 72, measured_at: at });
    const diagnoses = await insert('app_public.diagnoses', {
      ...ofConsultation,
      icd10_code: 'J06.9',
      description: 'Acute upper respiratory infection',
      is_primary: true,
    });
    const addendum = final
      ? await insert('app_public.consultation_addenda', { ...ofConsultation, author_id: doctorId, body: `Addendum ${n}`, signed_at: at })
      : '';
    const prescription = await insert('app_public.prescriptions', {
      ...ofConsultation,
      doctor_id: doctorId,
      status: final ? 'issued' : 'draft',
      issued_at: final ? at : null,
      prescription_number: final ? `RX-2030-${90000 + n}` : null,
    });
    const item = await insert('app_public.prescription_items', {
      prescription_id: prescription,
      position: 1,
      medicine_name: 'Amoxicillin',
      dose_form: 'capsule',
      dose: '500 mg',
      frequency: 'TDS',
      route: 'oral',
      quantity: 15,
    });
    const request = await insert('app_public.test_requests', {
      ...ofConsultation,
      requested_by: doctorId,
      test_name: 'Full blood count',
      category: 'haematology',
      status: final ? 'completed' : 'requested',
      completed_at: final ? at : null,
    });
    const report = await insert('app_public.test_reports', {
      test_request_id: request,
      technician_id: options.technicianId ?? doctorId,
      conclusion: `Report ${n}`,
      status: final ? 'released' : 'draft',
      released_at: final ? at : null,
    });
    const result = await insert('app_public.test_results', {
      test_report_id: report,
      position: 1,
      analyte: 'Haemoglobin',
      value_numeric: 135,
      unit: 'g/L',
      reference_low: 120,
      reference_high: 160,
    });
    const followUp =
      options.dueDate === false
        ? ''
        : await insert('app_public.follow_ups', { ...ofConsultation, doctor_id: doctorId, due_date: options.dueDate ?? '2030-06-01', reason: `Review ${n}` });
    await client.query('commit');
    return {
      'app_public.consultations': consultation,
      'app_public.vitals': vitals,
      'app_public.diagnoses': diagnoses,
      'app_public.consultation_addenda': addendum,
      'app_public.prescriptions': prescription,
      'app_public.prescription_items': item,
      'app_public.test_requests': request,
      'app_public.test_reports': report,
      'app_public.test_results': result,
      'app_public.follow_ups': followUp,
    };
  } catch (error) {
    await client.query('rollback');
    throw error;
  } finally {
    client.release();
  }
}
