// The patient portal and the clinical history: a patient membership linked to one record reads
// that record (masked identification number), its allergies and medication, never another's
// (404, as for an unknown id); doctors and nurses write the history, clinic admins read it,
// receptionists and lab technicians get 403 (matrix footnote 2). And 50 registrations at once
// get 50 distinct, consecutive patient numbers.
import { randomUUID } from 'node:crypto';
import t from 'tap';
import type { ClinicRole } from '../../src/db/tenant.ts';
import { patientsApp, person } from '../helpers/patients.ts';

t.test('the portal: a patient reads their own record only', async (t) => {
  const { db, clinics, call, register, member } = await patientsApp(t);
  const own = await register(person(1, { identificationType: 'national_id', identificationNumber: '880101-5555-77' }));
  const other = await register(person(2));
  t.equal((await call('GET', '/me', 'patient')).statusCode, 404, 'no linked record yet');

  const refused = await call('PATCH', `/${own}`, 'receptionist', { memberId: member('doctor') });
  t.equal(refused.statusCode, 422, "a staff membership is not a patient's login");
  t.match(refused.json(), { errors: [{ path: 'body.memberId' }] });
  t.equal((await call('PATCH', `/${own}`, 'receptionist', { memberId: member('patient', 'b') })).statusCode, 422, "another clinic's membership");
  t.equal((await call('PATCH', `/${own}`, 'clinic_admin', { memberId: member('patient') })).statusCode, 200, 'linked by the front desk');
  const taken = await call('PATCH', `/${other}`, 'receptionist', { memberId: member('patient') });
  t.equal(taken.statusCode, 409, 'one record per login');
  t.match(taken.json(), { errors: [{ path: 'body.memberId', message: 'is already taken' }] });

  const me = await call('GET', '/me', 'patient');
  t.equal(me.statusCode, 200);
  t.match(me.json(), { id: own, memberId: member('patient'), identificationNumber: '********5577' });
  t.equal((await call('GET', `/${own}`, 'patient')).statusCode, 200, 'by id too');
  t.equal((await call('GET', `/${other}`, 'patient')).statusCode, 404, "another patient's record does not exist for them");
  t.equal((await call('GET', `/${randomUUID()}`, 'patient')).statusCode, 404);
  t.equal((await call('PATCH', `/${own}`, 'patient', { fullName: 'Self Edited' })).statusCode, 403, 'and they do not edit it');
  t.equal((await call('POST', '', 'patient', person(3))).statusCode, 403);
  for (const role of ['clinic_admin', 'doctor', 'nurse', 'receptionist'] as const) {
    t.equal((await call('GET', '/me', role)).statusCode, 404, `${role} has no own record`);
  }
  t.equal((await call('GET', '/me', 'lab_technician')).statusCode, 403);

  await call('PATCH', `/${own}`, 'receptionist', { memberId: null });
  t.equal((await call('GET', '/me', 'patient')).statusCode, 404, 'unlinked: no record');
  const { rows } = await db.admin.query('select member_id from app_public.patients where clinic_id = $1 and id = $2', [clinics.a, own]);
  t.same(rows, [{ member_id: null }]);
});

t.test('allergies and medication: clinicians write, clinical roles and the patient read', async (t) => {
  const { db, call, register, member } = await patientsApp(t);
  const id = await register(person(1));
  const other = await register(person(2));
  await call('PATCH', `/${id}`, 'receptionist', { memberId: member('patient') });
  const rows = async () => (await db.admin.query('select kind, name, detail, severity, is_active from app_public.patient_history order by created_at')).rows;

  const allergy = await call('POST', `/${id}/history`, 'doctor', { kind: 'allergy', name: 'Penicillin', severity: 'severe', detail: 'Anaphylaxis\n2019' });
  t.equal(allergy.statusCode, 201);
  t.match(allergy.json(), { patientId: id, kind: 'allergy', name: 'Penicillin', severity: 'severe', isActive: true, recordedBy: member('doctor') });
  const medication = await call('POST', `/${id}/history`, 'nurse', { kind: 'medication', name: 'Metformin 500 mg', detail: 'twice daily' });
  t.equal(medication.statusCode, 201);
  t.equal(medication.json().recordedBy, member('nurse'));

  const writes: Record<ClinicRole, number> = { clinic_admin: 403, doctor: 201, nurse: 201, receptionist: 403, lab_technician: 403, patient: 403 };
  const reads: Record<ClinicRole, number> = { clinic_admin: 200, doctor: 200, nurse: 200, receptionist: 403, lab_technician: 403, patient: 200 };
  const before = (await rows()).length;
  for (const role of Object.keys(writes) as ClinicRole[]) {
    t.equal((await call('GET', `/${id}/history`, role)).statusCode, reads[role], `${role} reads the history per the matrix`);
    if (writes[role] === 403) {
      t.equal((await call('POST', `/${id}/history`, role, { kind: 'allergy', name: `By ${role}` })).statusCode, 403, `${role} may not write it`);
      t.equal((await call('PATCH', `/${id}/history/${allergy.json().id}`, role, { isActive: false })).statusCode, 403);
    }
  }
  t.equal((await rows()).length, before, 'refused writes wrote nothing');

  const listed = await call('GET', `/${id}/history`, 'patient');
  t.same(
    listed.json().items.map((entry: { name: string }) => entry.name),
    ['Penicillin', 'Metformin 500 mg'],
    'allergies, then medication',
  );
  t.same(
    (await call('GET', `/${other}/history`, 'doctor')).json(),
    { items: [], visits: { items: [], nextCursor: null }, activePrescriptions: [], testRequests: [], followUps: [] },
    'a patient without history: empty lists',
  );
  t.equal((await call('GET', `/${other}/history`, 'patient')).statusCode, 404, "another patient's history does not exist for them");

  const stopped = await call('PATCH', `/${id}/history/${medication.json().id}`, 'doctor', { isActive: false });
  t.equal(stopped.statusCode, 200);
  t.match(stopped.json(), { name: 'Metformin 500 mg', isActive: false });
  t.equal((await call('PATCH', `/${other}/history/${medication.json().id}`, 'doctor', { isActive: true })).statusCode, 404, 'an entry of another patient');

  const bad: [object, number, string][] = [
    [{ kind: 'medication', name: 'Aspirin', severity: 'mild' }, 400, 'body.severity'],
    [{ kind: 'diagnosis', name: 'Flu' }, 400, 'body.kind'],
    [{ kind: 'allergy', name: '' }, 400, 'body.name'],
    [{ kind: 'allergy', name: 'Dust', detail: 'x'.repeat(2001) }, 400, 'body.detail'],
  ];
  for (const [payload, status, path] of bad) {
    const refused = await call('POST', `/${id}/history`, 'doctor', payload);
    t.equal(refused.statusCode, status, JSON.stringify(payload).slice(0, 60));
    t.match(refused.json(), { errors: [{ path }] });
  }
  const onMedication = await call('PATCH', `/${id}/history/${medication.json().id}`, 'doctor', { severity: 'mild' });
  t.equal(onMedication.statusCode, 422, 'a severity on a medication is refused by the table');
  t.match(onMedication.json(), { errors: [{ path: 'body.severity' }] });
  t.equal((await call('POST', `/${randomUUID()}/history`, 'doctor', { kind: 'allergy', name: 'Dust' })).statusCode, 404);
  t.equal((await rows()).length, before, 'nothing written by bad input');
});

t.test('50 concurrent registrations get 50 distinct, consecutive numbers', async (t) => {
  const { db, call } = await patientsApp(t, { poolSize: 10 });
  const responses = await Promise.all(Array.from({ length: 50 }, (_, n) => call('POST', '', 'receptionist', { ...person(n), allowDuplicate: true })));
  t.same(
    responses.map((response) => response.statusCode),
    Array(50).fill(201),
  );
  const year = new Date().getUTCFullYear();
  const numbers = responses.map((response) => response.json().patientNumber as string).sort();
  t.same(
    numbers,
    Array.from({ length: 50 }, (_, n) => `PT-${year}-${String(n + 1).padStart(5, '0')}`),
  );
  const { rows } = await db.admin.query(`select last_value from app_private.clinic_counters where counter = 'patient_number'`);
  t.same(rows, [{ last_value: 50 }]);
});
