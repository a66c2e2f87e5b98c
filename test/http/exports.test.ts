// Exports over HTTP: a clinic admin requests one (202 and Location), follows it, downloads the
// ready archive (each download in the audit log); other roles, other clinics and support tokens
// are refused with nothing recorded; an expired or unfinished export is not downloadable. A
// patient's own export: their record only, recorded in the chart access log.
import { createHash } from 'node:crypto';
import t from 'tap';
import { storageKey } from '../../src/storage/blob-storage.ts';
import type { LocalDiskStorage } from '../../src/storage/local-disk.ts';
import { actorIn } from '../helpers/actors.ts';
import { patientsApp } from '../helpers/patients.ts';
import { runDueJobs } from '../helpers/worker.ts';

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

t.test('an admin requests, follows and downloads an export; nobody else gets it', async (t) => {
  const { db, clinics, app, client, token, supportAccess } = await patientsApp(t);
  const exportsOf = (clinic: 'a' | 'b') => `/api/v1/clinics/clinic-${clinic}/exports`;
  const auditRows = async () =>
    (
      await db.admin.query(
        `select actor_user_id as "actorUserId", clinic_id as "clinicId", details from app_audit.audit_log where action = 'clinic.export_downloaded' order by id`,
      )
    ).rows;

  const requested = await client.post(exportsOf('a'), {}, await token('clinic_admin'));
  t.equal(requested.statusCode, 202);
  const exportId = requested.json().id as string;
  t.equal(requested.headers.location, `/api/v1/clinics/clinic-a/exports/${exportId}`);
  t.match(requested.json(), { status: 'requested', progress: 0, requestedBy: actorIn(db, clinics.a, 'clinic_admin').member, sha256: null });

  const support = await supportAccess();
  const bySupport = await client.post(exportsOf('a'), {}, support.token);
  t.equal(bySupport.statusCode, 403, 'support tokens cannot request one');
  t.equal(bySupport.json().code, 'FORBIDDEN');
  t.same((await db.admin.query('select count(*)::int as n from app_public.clinic_exports')).rows, [{ n: 1 }], 'nothing inserted for them');

  const notReady = await client.call('GET', `${exportsOf('a')}/${exportId}/download`, await token('clinic_admin'));
  t.equal(notReady.statusCode, 409, 'not ready yet');
  t.equal(notReady.json().detail, 'This export is requested: only a ready export can be downloaded.');

  await runDueJobs(t, db, { storageDir: (app.storage as LocalDiskStorage).root });
  const status = await client.call('GET', `${exportsOf('a')}/${exportId}`, await token('clinic_admin'));
  t.match(status.json(), { id: exportId, status: 'ready', progress: 100, error: null });
  const listed = await client.call('GET', exportsOf('a'), await token('clinic_admin'));
  t.same(
    listed.json().items.map((item: { id: string }) => item.id),
    [exportId],
  );

  const download = await client.call('GET', `${exportsOf('a')}/${exportId}/download`, await token('clinic_admin'));
  t.equal(download.statusCode, 200);
  t.equal(download.headers['content-type'], 'application/gzip');
  t.equal(
    download.headers['content-disposition'],
    `attachment; filename="clinic-a-export-${exportId}.tar.gz"; filename*=UTF-8''clinic-a-export-${exportId}.tar.gz`,
  );
  t.equal(sha256(download.rawPayload), status.json().sha256, 'the bytes are the archive the status names');
  t.equal(download.rawPayload.length, status.json().sizeBytes);
  t.same(
    await auditRows(),
    [{ actorUserId: actorIn(db, clinics.a, 'clinic_admin').account, clinicId: clinics.a, details: { exportId } }],
    'the download is audited',
  );

  for (const role of ['doctor', 'nurse', 'receptionist', 'lab_technician', 'patient'] as const) {
    const refused = await client.call('GET', `${exportsOf('a')}/${exportId}/download`, await token(role));
    t.equal(refused.statusCode, 403, `${role}: 403`);
  }
  const otherClinic = await client.call('GET', `${exportsOf('b')}/${exportId}/download`, await token('clinic_admin', 'b'));
  t.equal(otherClinic.statusCode, 404, "another clinic's admin: unknown");
  const otherStatus = await client.call('GET', `${exportsOf('b')}/${exportId}`, await token('clinic_admin', 'b'));
  t.equal(otherStatus.statusCode, 404);
  const supportDownload = await client.call('GET', `${exportsOf('a')}/${exportId}/download`, support.token);
  t.equal(supportDownload.statusCode, 403, 'a support token: refused');
  t.equal(supportDownload.json().detail, 'Support access cannot download a clinic export.');
  t.equal((await auditRows()).length, 1, 'no refused download is audited');

  // Its end: a few seconds before, downloadable; after, expired and refused, before the expiry job has run.
  await db.admin.query(`update app_public.clinic_exports set expires_at = now() + interval '5 seconds' where id = $1`, [exportId]);
  t.equal((await client.call('GET', `${exportsOf('a')}/${exportId}/download`, await token('clinic_admin'))).statusCode, 200, 'inside its lifetime');
  await db.admin.query(`update app_public.clinic_exports set expires_at = now() where id = $1`, [exportId]);
  const expired = await client.call('GET', `${exportsOf('a')}/${exportId}/download`, await token('clinic_admin'));
  t.equal(expired.statusCode, 409, 'at its end: refused');
  t.equal(expired.json().detail, 'This export is expired: only a ready export can be downloaded.');
  t.match((await client.call('GET', `${exportsOf('a')}/${exportId}`, await token('clinic_admin'))).json(), { status: 'expired' });
  t.equal((await auditRows()).length, 2, 'only the two downloads are audited');
  t.ok(await app.storage.get(storageKey(clinics.a, exportId)).then((blob) => blob?.stream.destroy() ?? true), 'the archive waits for its expiry job');
});

t.test('a patient exports their own record, recorded as a read of it', async (t) => {
  const { db, clinics, client, token, register, member } = await patientsApp(t);
  const own = await register({
    fullName: 'Ada Own Record',
    dateOfBirth: '1980-02-29',
    sex: 'female',
    identificationType: 'passport',
    identificationNumber: 'ab1234567',
  });
  const other = await register({ fullName: 'Bea Someone Else', dateOfBirth: '1981-03-01', sex: 'female' });
  const otherClinic = await register({ fullName: 'Cy Other Clinic', dateOfBirth: '1982-04-02', sex: 'male' }, 'b');
  await db.admin.query('update app_public.patients set member_id = $1 where id = $2', [member('patient'), own]);
  for (const patient of [own, other]) {
    await db.admin.query(
      `insert into app_public.patient_history (clinic_id, patient_id, kind, name, severity, recorded_by) values ($1, $2, 'allergy', $3, 'severe', $4)`,
      [clinics.a, patient, patient === own ? 'Penicillin' : 'Latex', member('doctor')],
    );
  }

  // The other patient's appointment, visit, signed consultation and issued prescription; the
  // caller's own signed consultation and draft one. Written as history is (no trigger refuses it).
  const chart = await db.admin.connect();
  const records = { ownSigned: '', ownDraft: '', otherAppointment: '', otherConsultation: '', otherPrescription: '' };
  try {
    await chart.query('begin');
    await chart.query('set local session_replication_role = replica');
    const insert = async (text: string, values: unknown[]) => (await chart.query<{ id: string }>(`${text} returning id`, values)).rows[0]!.id;
    const visit = (patient: string, token: number) =>
      insert(`insert into app_public.visits (clinic_id, patient_id, visit_date, token_number, status) values ($1, $2, current_date, $3, 'completed')`, [
        clinics.a,
        patient,
        token,
      ]);
    const consultation = (patient: string, visitId: string, signed: boolean) =>
      insert(
        `insert into app_public.consultations (clinic_id, visit_id, patient_id, doctor_id, status, signed_at, chief_complaint) values ($1, $2, $3, $4, $5, $6, 'Headache')`,
        [clinics.a, visitId, patient, member('doctor'), signed ? 'signed' : 'draft', signed ? new Date() : null],
      );
    records.otherAppointment = await insert(
      `insert into app_public.appointments (clinic_id, patient_id, doctor_id, starts_at, ends_at, booked_by) values ($1, $2, $3, '2030-01-01T09:00Z', '2030-01-01T09:15Z', $3)`,
      [clinics.a, other, member('doctor')],
    );
    records.otherConsultation = await consultation(other, await visit(other, 1), true);
    records.otherPrescription = await insert(
      `insert into app_public.prescriptions (clinic_id, consultation_id, patient_id, doctor_id, status, prescription_number, issued_at) values ($1, $2, $3, $4, 'issued', 'RX-2026-00001', now())`,
      [clinics.a, records.otherConsultation, other, member('doctor')],
    );
    const ownVisit = await visit(own, 2);
    records.ownSigned = await consultation(own, ownVisit, true);
    records.ownDraft = await consultation(own, await visit(own, 3), false);
    await chart.query('commit');
  } catch (error) {
    await chart.query('rollback');
    throw error;
  } finally {
    chart.release();
  }

  const response = await client.call('GET', '/api/v1/clinics/clinic-a/patients/me/export', await token('patient'));
  t.equal(response.statusCode, 200);
  const body = response.json();
  const ids = (rows: { id: string }[]) => rows.map((row) => row.id);
  t.same(ids(body.records.consultations), [records.ownSigned], "their signed consultation only: not their draft, not the other patient's");
  t.same(ids(body.records.appointments), [], "no appointment of the other patient's");
  t.same(ids(body.records.prescriptions), [], "no prescription of the other patient's");
  const text = JSON.stringify(body);
  t.notOk(
    [records.ownDraft, records.otherAppointment, records.otherConsultation, records.otherPrescription].some((id) => text.includes(id)),
    'none of those ids anywhere',
  );
  t.match(body.patient, { id: own, fullName: 'Ada Own Record', dateOfBirth: '1980-02-29', identificationNumber: '*****4567' });
  t.notOk(
    'identificationNumberHmac' in body.patient || 'identificationNumberCiphertext' in body.patient || 'clinicId' in body.patient,
    'no ciphertext, hash or clinic id',
  );
  t.same(
    body.records.patientHistory.map((entry: { name: string }) => entry.name),
    ['Penicillin'],
    "their allergy, not the other patient's",
  );
  t.notOk(JSON.stringify(body).includes(other) || JSON.stringify(body).includes(otherClinic), 'no other patient anywhere');
  t.same(
    Object.keys(body.records).sort(),
    [
      'appointments',
      'consultationAddenda',
      'consultations',
      'diagnoses',
      'files',
      'followUps',
      'patientAccessLog',
      'patientHistory',
      'prescriptionAllergyAcknowledgements',
      'prescriptionItems',
      'prescriptions',
      'testReports',
      'testRequests',
      'testResults',
      'visits',
      'vitals',
    ],
    'every table with a patient_id, as the patient may read it',
  );
  const { rows } = await db.admin.query(`select patient_id as "patientId", member_id as "memberId", action from app_public.patient_access_log`);
  t.same(rows, [{ patientId: own, memberId: member('patient'), action: 'read_record' }], 'one read of their record, by them');

  for (const role of ['clinic_admin', 'doctor', 'receptionist'] as const) {
    t.equal((await client.call('GET', '/api/v1/clinics/clinic-a/patients/me/export', await token(role))).statusCode, 403, `${role}: 403`);
  }
  const noRecord = await client.call('GET', '/api/v1/clinics/clinic-b/patients/me/export', await token('patient', 'b'));
  t.equal(noRecord.statusCode, 404, 'a patient without a record: 404');
});
