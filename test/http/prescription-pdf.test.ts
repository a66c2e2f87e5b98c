// The prescription PDF over HTTP: only issued (and completed) prescriptions render (409 with the
// rule otherwise); the answer is a PDF, not cached, as an attachment; its text, read back with
// unpdf, holds the clinic's name and address, the doctor and licence number, the patient with
// number and age at the issue date, the date, the number, every medicine literally, the
// instructions and a signature line. Reading it is a chart read.
import t from 'tap';
import { extractText, getDocumentProxy } from 'unpdf';
import { consultationFor } from '../helpers/clinical.ts';
import { frontDesk } from '../helpers/visits.ts';

const desk = await frontDesk(t);
const { app, db, clinics } = desk;
await db.admin.query(`update app_public.clinics set name = 'Riverside Family Clinic', address = '12 Harbour Road, Portsmouth PO1 2AB' where id = $1`, [
  clinics.a,
]);
await db.admin.query(`insert into app_public.clinic_settings (clinic_id, brand_primary_colour, brand_secondary_colour) values ($1, '#0a7f5a', '#e3f4ec')`, [
  clinics.a,
]);
await db.admin.query(`update app_public.clinic_members set display_name = 'Dr Amara Okafor', licence_number = 'GMC-7654321' where id = $1`, [desk.doctor()]);
const doctorToken = await desk.token('doctor');
const url = (path: string) => desk.url(`/prescriptions${path}`);
const call = (method: 'GET' | 'POST', path: string, payload?: object, headers: Record<string, string> = {}) =>
  app.inject({ method, url: url(path), headers: { authorization: `Bearer ${doctorToken}`, ...headers }, ...(payload ? { payload } : {}) });

// Born 1985-06-15 (frontDesk's patients): age at an issue date in this year, worked out here.
const today = new Date();
const birthdayPassed = today.getUTCMonth() > 5 || (today.getUTCMonth() === 5 && today.getUTCDate() >= 15);
const age = today.getUTCFullYear() - 1985 - (birthdayPassed ? 0 : 1);

const patient = await desk.patient('a', 'Grace Hopper-Lee');
const { rows } = await db.admin.query('select patient_number from app_public.patients where id = $1', [patient]);
const patientNumber = rows[0].patient_number as string;
const consultation = await consultationFor(db, clinics.a, patient, desk.doctor());
const created = await call('POST', '', {
  consultationId: consultation,
  notes: 'Review in one week if no better.',
  items: [
    {
      medicineName: 'Amoxicillin',
      genericName: 'amoxicillin trihydrate',
      strength: '500 mg',
      doseForm: 'capsule',
      dose: '1 capsule',
      frequency: 'TDS',
      route: 'oral',
      durationDays: 7,
      quantity: 21,
      instructions: 'Finish the course.',
    },
    {
      medicineName: 'Salbutamol',
      strength: '100 mcg',
      doseForm: 'inhaler',
      dose: '2 puffs',
      frequency: 'custom',
      frequencyCustom: 'every 4 hours as needed',
      route: 'inhaled',
      quantity: 1,
      refills: 2,
    },
  ],
});
const id = created.json().id as string;

t.test('a draft has no PDF: 409 INVALID_TRANSITION, rule prescription_pdf_needs_issue', async (t) => {
  const response = await call('GET', `/${id}/pdf`);
  t.equal(response.statusCode, 409);
  t.match(response.json(), { code: 'INVALID_TRANSITION', rule: 'prescription_pdf_needs_issue' });
  t.equal((await call('GET', '/00000000-0000-4000-8000-000000000000/pdf')).statusCode, 404);
});

t.test('an issued prescription renders, with everything on it', async (t) => {
  const issued = await call('POST', `/${id}/issue`, {}, { 'if-match': '"1"' });
  t.equal(issued.statusCode, 200, issued.body);
  const number = issued.json().prescriptionNumber as string;
  const date = (issued.json().issuedAt as string).slice(0, 10); // clinic A runs on UTC
  const logged = async () =>
    Number((await db.admin.query(`select count(*) from app_public.patient_access_log where patient_id = $1`, [patient])).rows[0].count);
  const before = await logged();
  const response = await call('GET', `/${id}/pdf`);
  t.equal(response.statusCode, 200);
  t.equal(response.headers['content-type'], 'application/pdf');
  t.equal(response.headers['cache-control'], 'no-store');
  t.equal(response.headers['content-disposition'], `attachment; filename="${number}.pdf"; filename*=UTF-8''${number}.pdf`);
  t.equal(response.rawPayload.subarray(0, 5).toString('latin1'), '%PDF-');
  t.equal(await logged(), before + 1, 'a chart read, recorded');

  const { text } = await extractText(await getDocumentProxy(new Uint8Array(response.rawPayload)), { mergePages: true });
  const flat = text.replace(/\s+/g, ' ');
  for (const expected of [
    'Riverside Family Clinic',
    '12 Harbour Road, Portsmouth PO1 2AB',
    `Prescription: ${number}`,
    `Date: ${date}`,
    `Patient: Grace Hopper-Lee (${patientNumber}), age ${age}`,
    'Doctor: Dr Amara Okafor, licence GMC-7654321',
    'Amoxicillin 500 mg (amoxicillin trihydrate) capsule',
    '1 capsule',
    'TDS (three times daily)',
    '7 days',
    'Instructions: Finish the course.',
    'Salbutamol 100 mcg inhaler',
    '2 puffs',
    'every 4 hours as needed',
    'inhaled',
    '1 + 2 refills',
    'Review in one week if no better.',
    'Signature: Dr Amara Okafor',
  ]) {
    t.ok(flat.includes(expected), `the PDF says "${expected}"`);
  }
});

t.test('a nurse may read it; a receptionist may not', async (t) => {
  const nurse = await desk.token('nurse');
  t.equal((await app.inject({ method: 'GET', url: url(`/${id}/pdf`), headers: { authorization: `Bearer ${nurse}` } })).statusCode, 200);
  const receptionist = await desk.token('receptionist');
  t.equal((await app.inject({ method: 'GET', url: url(`/${id}/pdf`), headers: { authorization: `Bearer ${receptionist}` } })).statusCode, 403);
});
