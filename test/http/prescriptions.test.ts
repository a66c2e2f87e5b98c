// Prescriptions over HTTP against the real app and database: writing a draft with its items,
// optimistic concurrency (ETag/If-Match, 428/409, two doctors at once), the state machine's 409s
// with their rule names, the lock, the allergy rule (409 naming the allergy and the item, then a
// recorded acknowledgement), the patient's own view (never drafts), another clinic's ids (404),
// bad input (400 naming the field) and the chart access log. Consultations are made as superuser
// (test/helpers/clinical.ts), not through their API.
import t from 'tap';
import { allergyOf, consultationFor } from '../helpers/clinical.ts';
import { frontDesk } from '../helpers/visits.ts';
import { actorIn } from '../helpers/actors.ts';

const desk = await frontDesk(t, { poolSize: 4 });
const { app, db, clinics } = desk;
const doctorToken = await desk.token('doctor');
const url = (path = '') => desk.url(`/prescriptions${path}`);

type Headers = Record<string, string>;
const call = (method: 'GET' | 'POST' | 'PATCH', path: string, token: string, payload?: object, headers: Headers = {}) =>
  app.inject({ method, url: url(path), headers: { authorization: `Bearer ${token}`, ...headers }, ...(payload ? { payload } : {}) });

const ITEM = {
  medicineName: 'Amoxicillin',
  strength: '500 mg',
  doseForm: 'capsule',
  dose: '1 capsule',
  frequency: 'TDS',
  route: 'oral',
  durationDays: 5,
  quantity: 15,
};
const PARACETAMOL = {
  medicineName: 'Paracetamol',
  doseForm: 'tablet',
  dose: '1 g',
  frequency: 'PRN',
  route: 'oral',
  quantity: 20,
  instructions: 'At most 4 g a day.',
};

async function newConsultation(name?: string, clinic: 'a' | 'b' = 'a') {
  const patient = await desk.patient(clinic, name);
  const consultation = await consultationFor(db, clinics[clinic], patient, desk.doctor(clinic));
  return { patient, consultation };
}

async function draft(items: object[] = [ITEM], name?: string) {
  const { patient, consultation } = await newConsultation(name);
  const response = await call('POST', '', doctorToken, { consultationId: consultation, notes: 'Take with food.', items });
  if (response.statusCode !== 201) throw new Error(`draft: ${response.statusCode} ${response.body}`);
  return { ...(response.json() as { id: string; version: number }), patient, consultation };
}

t.test('a doctor writes a draft from their consultation: 201 with its items in order, version 1 as the ETag', async (t) => {
  const { patient, consultation } = await newConsultation();
  const response = await call('POST', '', doctorToken, { consultationId: consultation, items: [ITEM, PARACETAMOL] });
  t.equal(response.statusCode, 201);
  t.equal(response.headers.etag, '"1"');
  const body = response.json();
  t.match(body, {
    consultationId: consultation,
    patientId: patient,
    doctorId: desk.doctor(),
    status: 'draft',
    prescriptionNumber: null,
    version: 1,
    notes: null,
    allergyAcknowledgements: [],
  });
  t.same(
    body.items.map((i: { position: number; medicineName: string; frequency: string; refills: number }) => [i.position, i.medicineName, i.frequency, i.refills]),
    [
      [1, 'Amoxicillin', 'TDS', 0],
      [2, 'Paracetamol', 'PRN', 0],
    ],
  );
  const read = await call('GET', `/${body.id}`, doctorToken);
  t.equal(read.statusCode, 200);
  t.equal(read.headers.etag, '"1"');
});

t.test('who may write: not a nurse, not another doctor, not from an unknown consultation', async (t) => {
  const { consultation } = await newConsultation();
  const body = { consultationId: consultation, items: [ITEM] };
  t.equal((await call('POST', '', await desk.token('nurse'), body)).statusCode, 403, 'nurse: 403 (the guard)');
  const other = await desk.client.clinicToken(
    'doctor',
    { id: clinics.a, slug: 'clinic-a' },
    (await db.admin.query('select account_id from app_public.clinic_members where id = $1', [desk.otherDoctor()])).rows[0].account_id,
  );
  const byOther = await call('POST', '', other, body);
  t.equal(byOther.statusCode, 403, "another doctor: 403 (the database's row rule)");
  const unknown = await call('POST', '', doctorToken, { consultationId: '00000000-0000-4000-8000-000000000000', items: [ITEM] });
  t.equal(unknown.statusCode, 422);
  t.same(unknown.json().errors, [{ path: 'body.consultationId', message: 'refers to something that does not exist' }]);
});

t.test('bad input is a 400 naming the field', async (t) => {
  const { consultation } = await newConsultation();
  const cases: [object, string][] = [
    [{ consultationId: consultation, items: [{ ...ITEM, dose: undefined }] }, 'body.items.0.dose'],
    [{ consultationId: consultation, items: [ITEM, { ...ITEM, frequency: 'custom' }] }, 'body.items.1.frequencyCustom'],
    [{ consultationId: consultation, items: [{ ...ITEM, frequencyCustom: 'every 8 hours' }] }, 'body.items.0.frequencyCustom'],
    [{ consultationId: consultation, items: [{ ...ITEM, frequency: 'hourly' }] }, 'body.items.0.frequency'],
    [{ consultationId: consultation, items: [{ ...ITEM, quantity: 0 }] }, 'body.items.0.quantity'],
    [{ consultationId: consultation, items: [{ ...ITEM, medicineName: 'Amoxi\u0007cillin' }] }, 'body.items.0.medicineName'],
    [{ consultationId: 'nope', items: [] }, 'body.consultationId'],
  ];
  for (const [body, path] of cases) {
    const response = await call('POST', '', doctorToken, body);
    t.equal(response.statusCode, 400, path);
    t.ok(
      (response.json().errors as { path: string }[]).some((e) => e.path === path),
      `names ${path}: ${response.body}`,
    );
  }
});

t.test('PATCH needs If-Match: 428 without, 409 when stale; two doctors at once: one wins, one 409', async (t) => {
  const { id } = await draft();
  t.equal((await call('PATCH', `/${id}`, doctorToken, { notes: 'x' })).statusCode, 428);
  const stale = await call('PATCH', `/${id}`, doctorToken, { notes: 'x' }, { 'if-match': '"7"' });
  t.equal(stale.statusCode, 409);
  t.equal(stale.json().code, 'VERSION_CONFLICT');
  t.equal((await call('PATCH', `/${id}`, doctorToken, { notes: 'x' }, { 'if-match': 'W/"1"' })).statusCode, 400, 'a weak or foreign ETag: 400');
  const patched = await call('PATCH', `/${id}`, doctorToken, { notes: 'Twice a day with food', items: [PARACETAMOL] }, { 'if-match': '"1"' });
  t.equal(patched.statusCode, 200);
  t.equal(patched.headers.etag, '"2"');
  t.match(patched.json(), { version: 2, notes: 'Twice a day with food' });
  t.same(
    patched.json().items.map((i: { medicineName: string }) => i.medicineName),
    ['Paracetamol'],
    'the items replaced',
  );
  const both = await Promise.all([
    call('PATCH', `/${id}`, doctorToken, { notes: 'first' }, { 'if-match': '"2"' }),
    call('PATCH', `/${id}`, doctorToken, { notes: 'second' }, { 'if-match': '"2"' }),
  ]);
  t.same(both.map((r) => r.statusCode).sort(), [200, 409], 'last write does not silently win');
  const read = await call('GET', `/${id}`, doctorToken);
  t.equal(read.json().version, 3);
});

t.test('issue, complete, cancel: the numbers, the stamps and every refused move with its rule', async (t) => {
  const empty = await draft([]);
  const noItems = await call('POST', `/${empty.id}/issue`, doctorToken, {}, { 'if-match': '"1"' });
  t.equal(noItems.statusCode, 409);
  t.match(noItems.json(), { code: 'INVALID_TRANSITION', rule: 'prescription_issue_needs_items' });

  const { id } = await draft();
  t.equal((await call('POST', `/${id}/issue`, doctorToken, {})).statusCode, 428);
  const early = await call('POST', `/${id}/complete`, doctorToken, undefined, { 'if-match': '"1"' });
  t.match(early.json(), { code: 'INVALID_TRANSITION', rule: 'prescription_complete_needs_issue' });
  const issued = await call('POST', `/${id}/issue`, doctorToken, {}, { 'if-match': '"1"' });
  t.equal(issued.statusCode, 200);
  t.equal(issued.headers.etag, '"2"');
  const year = new Date().getUTCFullYear();
  t.match(issued.json(), { status: 'issued', version: 2, prescriptionNumber: new RegExp(`^RX-${year}-\\d{5}$`) });
  t.ok(issued.json().issuedAt);

  const again = await call('POST', `/${id}/issue`, doctorToken, {}, { 'if-match': '"2"' });
  t.equal(again.statusCode, 409);
  t.match(again.json(), { code: 'INVALID_TRANSITION', rule: 'prescription_issued_is_final' });
  const edit = await call('PATCH', `/${id}`, doctorToken, { notes: 'changed after issue' }, { 'if-match': '"2"' });
  t.equal(edit.statusCode, 409);
  t.match(edit.json(), { code: 'RECORD_LOCKED', rule: 'prescription_issued_is_locked' });

  t.equal((await call('POST', `/${id}/cancel`, doctorToken, {}, { 'if-match': '"2"' })).statusCode, 400, 'a cancellation names its reason');
  const cancelled = await call('POST', `/${id}/cancel`, doctorToken, { reason: 'Allergy reported by pharmacy' }, { 'if-match': '"2"' });
  t.equal(cancelled.statusCode, 200);
  t.match(cancelled.json(), { status: 'cancelled', cancellationReason: 'Allergy reported by pharmacy', version: 3 });
  const closed = await call('POST', `/${id}/complete`, doctorToken, undefined, { 'if-match': '"3"' });
  t.match(closed.json(), { code: 'INVALID_TRANSITION', rule: 'prescription_closed_is_final' });

  const other = await draft();
  await call('POST', `/${other.id}/issue`, doctorToken, {}, { 'if-match': '"1"' });
  const completed = await call('POST', `/${other.id}/complete`, doctorToken, undefined, { 'if-match': '"2"' });
  t.equal(completed.statusCode, 200);
  t.match(completed.json(), { status: 'completed', version: 3 });
  t.ok(completed.json().completedAt);
  const n1 = Number(issued.json().prescriptionNumber.slice(-5));
  const n2 = Number(completed.json().prescriptionNumber.slice(-5));
  t.equal(n2, n1 + 1, 'consecutive numbers in the clinic');
});

t.test('issuing needs no body; two issues of one draft at once: one 200, one 409, one number', async (t) => {
  const bare = await draft();
  const issued = await app.inject({ method: 'POST', url: url(`/${bare.id}/issue`), headers: { authorization: `Bearer ${doctorToken}`, 'if-match': '"1"' } });
  t.equal(issued.statusCode, 200, issued.body);

  const { id } = await draft();
  const both = await Promise.all([
    call('POST', `/${id}/issue`, doctorToken, {}, { 'if-match': '"1"' }),
    call('POST', `/${id}/issue`, doctorToken, {}, { 'if-match': '"1"' }),
  ]);
  t.same(both.map((r) => r.statusCode).sort(), [200, 409]);
  const loser = both.find((r) => r.statusCode === 409)!.json();
  t.ok(['VERSION_CONFLICT', 'INVALID_TRANSITION'].includes(loser.code), `the loser: ${loser.code}`);
  const { rows } = await db.admin.query('select count(*)::int as n from app_public.prescriptions where id = $1 and prescription_number is not null', [id]);
  t.equal(rows[0].n, 1);
});

t.test('the allergy rule: 409 naming the allergy and the item until it is acknowledged, then recorded with the prescription', async (t) => {
  const { id, patient } = await draft([PARACETAMOL, { ...ITEM, medicineName: 'Penicillin V', strength: '250 mg' }], 'Allergic Patient');
  const allergy = await allergyOf(db, clinics.a, patient, 'Penicillin');
  await allergyOf(db, clinics.a, patient, 'Latex');
  const refused = await call('POST', `/${id}/issue`, doctorToken, {}, { 'if-match': '"1"' });
  t.equal(refused.statusCode, 409);
  const problem = refused.json();
  t.equal(problem.code, 'ALLERGY_ACKNOWLEDGEMENT_REQUIRED');
  t.match(problem.detail, /"Penicillin"/);
  t.same(problem.errors, [{ path: 'items.1.medicineName', message: `matches the allergy "Penicillin" (allergyId ${allergy})` }]);
  t.same(problem.allergies, [{ allergyId: allergy, name: 'Penicillin', itemPositions: [2] }]);
  t.equal((await call('GET', `/${id}`, doctorToken)).json().status, 'draft', 'still a draft');

  const issued = await call(
    'POST',
    `/${id}/issue`,
    doctorToken,
    { allergyAcknowledgements: [{ allergyId: allergy, note: 'Tolerated penicillin V in 2024 without reaction' }] },
    { 'if-match': '"1"' },
  );
  t.equal(issued.statusCode, 200, issued.body);
  t.equal(issued.json().status, 'issued');
  t.match(issued.json().allergyAcknowledgements, [
    { allergyId: allergy, allergyName: 'Penicillin', note: 'Tolerated penicillin V in 2024 without reaction', acknowledgedBy: desk.doctor() },
  ]);
  t.equal(issued.json().allergyAcknowledgements.length, 1);
});

t.test("the patient reads their issued prescriptions, never drafts; another clinic's id is unknown", async (t) => {
  const patientActor = actorIn(db, clinics.a, 'patient');
  const { consultation } = await newConsultation();
  const { rows } = await db.admin.query('select patient_id from app_public.consultations where id = $1', [consultation]);
  const patient = rows[0].patient_id as string;
  await db.admin.query('update app_public.patients set member_id = $2 where id = $1', [patient, patientActor.member]);
  const made = await call('POST', '', doctorToken, { consultationId: consultation, items: [ITEM] });
  const draftId = made.json().id as string;
  const made2 = await call('POST', '', doctorToken, { consultationId: consultation, items: [PARACETAMOL] });
  const issuedId = made2.json().id as string;
  await call('POST', `/${issuedId}/issue`, doctorToken, {}, { 'if-match': '"1"' });
  const patientToken = await desk.token('patient');
  t.equal((await call('GET', `/${draftId}`, patientToken)).statusCode, 404, 'a draft: unknown to the patient');
  t.equal((await call('GET', `/${issuedId}`, patientToken)).statusCode, 200, 'issued: theirs to read');
  const list = await call('GET', `?patientId=${patient}`, patientToken);
  t.same(
    list.json().items.map((p: { id: string }) => p.id),
    [issuedId],
  );
  const staffList = await call('GET', `?patientId=${patient}&status=draft`, doctorToken);
  t.same(
    staffList.json().items.map((p: { id: string }) => p.id),
    [draftId],
  );
  t.equal((await call('POST', `/${issuedId}/complete`, patientToken, undefined, { 'if-match': '"2"' })).statusCode, 403);

  const tokenB = await desk.token('doctor', 'b');
  const inB = (path: string) =>
    app.inject({ method: 'GET', url: `/api/v1/clinics/clinic-b/prescriptions${path}`, headers: { authorization: `Bearer ${tokenB}` } });
  t.equal((await inB(`/${issuedId}`)).statusCode, 404, "another clinic's prescription: 404");
  t.equal((await inB(`/00000000-0000-4000-8000-000000000000`)).statusCode, 404, 'a missing one: 404 alike');
  t.equal(
    (
      await app.inject({
        method: 'POST',
        url: `/api/v1/clinics/clinic-b/prescriptions/${issuedId}/cancel`,
        headers: { authorization: `Bearer ${tokenB}`, 'if-match': '"2"' },
        payload: { reason: 'x' },
      })
    ).statusCode,
    404,
  );
});

t.test('reading a prescription is recorded in the chart access log', async (t) => {
  const { id, patient } = await draft();
  const count = async () =>
    Number(
      (await db.admin.query(`select count(*) from app_public.patient_access_log where patient_id = $1 and action = 'read_record'`, [patient])).rows[0].count,
    );
  const before = await count();
  await call('GET', `/${id}`, doctorToken);
  t.equal(await count(), before + 1, 'one read, one row');
  await call('GET', `?patientId=${patient}`, doctorToken);
  t.equal(await count(), before + 2, 'the list too');
});

t.test('a list pages rows created in one transaction (one created_at to the microsecond) each exactly once', async (t) => {
  const { patient, consultation } = await newConsultation();
  // Five drafts in ONE statement (superuser, triggers off): one now() for all.
  const connection = await db.admin.connect();
  let ids: string[];
  try {
    await connection.query('begin');
    await connection.query('set local session_replication_role = replica');
    const { rows } = await connection.query<{ id: string }>(
      `insert into app_public.prescriptions (clinic_id, consultation_id, patient_id, doctor_id)
       select $1, $2, $3, $4 from generate_series(1, 5) returning id`,
      [clinics.a, consultation, patient, desk.doctor()],
    );
    await connection.query('commit');
    ids = rows.map((r) => r.id);
  } finally {
    connection.release();
  }
  t.equal(ids.length, 5);
  const { rows: times } = await db.admin.query('select count(distinct created_at)::int as times from app_public.prescriptions where patient_id = $1', [
    patient,
  ]);
  t.same(times, [{ times: 1 }], 'one created_at for all five');
  const seen: string[] = [];
  const sizes: number[] = [];
  let cursor: string | null = null;
  do {
    const page = await call('GET', `?patientId=${patient}&limit=2${cursor ? `&after=${cursor}` : ''}`, doctorToken);
    t.equal(page.statusCode, 200, page.body);
    const body = page.json() as { items: { id: string }[]; nextCursor: string | null };
    sizes.push(body.items.length);
    seen.push(...body.items.map((p) => p.id));
    cursor = body.nextCursor;
  } while (cursor !== null && sizes.length < 10);
  t.same(sizes, [2, 2, 1], 'three pages');
  t.same([...seen].sort(), [...ids].sort(), 'each listed exactly once');
});
