// Consultations over HTTP against the real database: opening from a visit (the visit moves on),
// the draft with vital signs (a nurse too) and diagnoses, If-Match (428, 409 VERSION_CONFLICT that
// changes nothing), signing (the visit completes, everything locks: 409 RECORD_LOCKED with the
// rule), addenda, the ICD-10 look-up and clinic codes, the chart access log, input refused with
// the field named, other clinics' ids as 404 and roles that may not (403).
import { randomUUID } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import t from 'tap';
import { actorIn } from '../helpers/actors.ts';
import { createOperator } from '../helpers/people.ts';
import { frontDesk, type FrontDesk } from '../helpers/visits.ts';

async function send(desk: FrontDesk, method: 'GET' | 'POST' | 'PATCH', path: string, token: string, body?: object, ifMatch?: string, clinic: 'a' | 'b' = 'a') {
  return desk.app.inject({
    method,
    url: desk.url(path, clinic),
    headers: { authorization: `Bearer ${token}`, ...(ifMatch ? { 'if-match': ifMatch } : {}) },
    ...(body ? { payload: body } : {}),
  });
}

/** A visit of the doctor actor, checked in and (by default) called. */
async function visitFor(desk: FrontDesk, { call = true, clinic = 'a' as 'a' | 'b' } = {}) {
  const patientId = await desk.patient(clinic);
  const visit = await desk.checkIn({ patientId, doctorId: desk.doctor(clinic) }, clinic);
  if (call) {
    const called = await send(desk, 'POST', `/visits/${visit.id}/call`, await desk.token('receptionist', clinic), undefined, undefined, clinic);
    if (called.statusCode !== 200) throw new Error(`call failed: ${called.body}`);
  }
  return { visitId: visit.id, patientId };
}

const visitStatus = async (desk: FrontDesk, id: string) =>
  (await desk.db.admin.query('select status from app_public.visits where id = $1', [id])).rows[0].status as string;

const problem = (r: LightMyRequestResponse) => r.json() as { code: string; rule?: string; errors?: { path: string }[] };

t.test('the day of a consultation: open, vitals, diagnoses, edit with If-Match, sign, locked, addendum', async (t) => {
  const desk = await frontDesk(t);
  const doctor = await desk.token('doctor');
  const nurse = await desk.token('nurse');
  const { visitId, patientId } = await visitFor(desk);

  const opened = await send(desk, 'POST', '/consultations', doctor, {
    visitId,
    chiefComplaint: 'Cough for a week',
    urgency: 'urgent',
    patientId: randomUUID(),
  });
  t.equal(opened.statusCode, 400, 'patientId is not the client’s to send: 400');
  t.match(problem(opened).errors, [{ path: 'body' }]);

  const created = await send(desk, 'POST', '/consultations', doctor, { visitId, chiefComplaint: 'Cough for a week', urgency: 'urgent' });
  t.equal(created.statusCode, 201);
  const c = created.json();
  t.equal(created.headers.etag, '"1"', 'a draft answers its version as the ETag');
  t.match(c, {
    visitId,
    patientId,
    doctorId: desk.doctor(),
    status: 'draft',
    chiefComplaint: 'Cough for a week',
    urgency: 'urgent',
    version: 1,
    vitals: [],
    diagnoses: [],
    addenda: [],
  });
  t.equal(await visitStatus(desk, visitId), 'in_consultation', 'the visit moved to in_consultation');

  const again = await send(desk, 'POST', '/consultations', doctor, { visitId });
  t.equal(again.statusCode, 409, 'a second consultation of the visit: 409');
  t.match(problem(again), { code: 'CONFLICT', errors: [{ path: 'body.visitId' }] });

  const byNurse = await send(desk, 'POST', `/consultations/${c.id}/vitals`, nurse, {
    systolicMmhg: 128,
    diastolicMmhg: 82,
    heartRateBpm: 76,
    temperatureC: 37.8,
    spo2Percent: 97,
  });
  t.equal(byNurse.statusCode, 201, 'a nurse records vital signs');
  t.match(byNurse.json(), { systolicMmhg: 128, diastolicMmhg: 82, heartRateBpm: 76, temperatureC: 37.8, spo2Percent: 97, weightKg: null });
  const byDoctor = await send(desk, 'POST', `/consultations/${c.id}/vitals`, doctor, { weightKg: 72.5, heightCm: 168 });
  t.equal(byDoctor.statusCode, 201, 'the author records vital signs');

  const primary = await send(desk, 'POST', `/consultations/${c.id}/diagnoses`, doctor, { icd10Code: 'J20.9', isPrimary: true });
  t.equal(primary.statusCode, 201);
  t.match(primary.json(), { icd10Code: 'J20.9', description: 'Acute bronchitis, unspecified', isPrimary: true }, 'the text defaults to the bundled list’s');
  const secondPrimary = await send(desk, 'POST', `/consultations/${c.id}/diagnoses`, doctor, { icd10Code: 'R05.9', isPrimary: true });
  t.equal(secondPrimary.statusCode, 409, 'one primary diagnosis per consultation');
  const secondary = await send(desk, 'POST', `/consultations/${c.id}/diagnoses`, doctor, { icd10Code: 'R05.9', description: 'Persistent cough' });
  t.equal(secondary.statusCode, 201);
  const changed = await send(desk, 'PATCH', `/consultations/${c.id}/diagnoses/${secondary.json().id}`, doctor, { icd10Code: 'R50.9' });
  t.equal(changed.statusCode, 200);
  t.match(changed.json(), { icd10Code: 'R50.9', description: 'Fever, unspecified' }, 'a new code without text takes the code’s text');

  const noIfMatch = await send(desk, 'PATCH', `/consultations/${c.id}`, doctor, { findings: 'Wheeze, left base' });
  t.equal(noIfMatch.statusCode, 428);
  t.equal(problem(noIfMatch).code, 'PRECONDITION_REQUIRED');
  const badIfMatch = await send(desk, 'PATCH', `/consultations/${c.id}`, doctor, { findings: 'x' }, 'W/"1"');
  t.equal(badIfMatch.statusCode, 400, 'a weak or malformed ETag: 400');
  t.match(problem(badIfMatch).errors, [{ path: 'headers.if-match' }]);

  const first = await send(desk, 'PATCH', `/consultations/${c.id}`, doctor, { findings: 'Wheeze, left base' }, '"1"');
  t.equal(first.statusCode, 200);
  t.equal(first.headers.etag, '"2"', 'the write bumped the version');
  t.match(first.json(), { findings: 'Wheeze, left base', version: 2, chiefComplaint: 'Cough for a week' });
  const stale = await send(desk, 'PATCH', `/consultations/${c.id}`, doctor, { findings: 'Clear chest' }, '"1"');
  t.equal(stale.statusCode, 409, "the author's second tab, still at version 1: 409");
  t.equal(problem(stale).code, 'VERSION_CONFLICT');
  t.equal(stale.headers.etag, '"2"', 'the conflict names the current version');

  const read = await send(desk, 'GET', `/consultations/${c.id}`, doctor);
  t.equal(read.statusCode, 200);
  t.equal(read.headers.etag, '"2"');
  t.match(read.json(), { findings: 'Wheeze, left base', version: 2 }, 'the stale write changed nothing');
  t.equal(read.json().vitals.length, 2);
  t.same(
    read.json().diagnoses.map((d: { icd10Code: string }) => d.icd10Code),
    ['J20.9', 'R50.9'],
    'primary first',
  );

  const earlyAddendum = await send(desk, 'POST', `/consultations/${c.id}/addenda`, doctor, { body: 'Too early' });
  t.equal(earlyAddendum.statusCode, 409, 'an addendum to a draft: 409');
  t.match(problem(earlyAddendum), { code: 'INVALID_TRANSITION', rule: 'addendum_needs_signed_consultation' });

  const staleSign = await send(desk, 'POST', `/consultations/${c.id}/sign`, doctor, undefined, '"1"');
  t.equal(staleSign.statusCode, 409);
  t.equal(problem(staleSign).code, 'VERSION_CONFLICT');
  const noIfMatchSign = await send(desk, 'POST', `/consultations/${c.id}/sign`, doctor);
  t.equal(noIfMatchSign.statusCode, 428);
  const signed = await send(desk, 'POST', `/consultations/${c.id}/sign`, doctor, undefined, '"2"');
  t.equal(signed.statusCode, 200);
  t.match(signed.json(), { status: 'signed', version: 3 });
  t.ok(signed.json().signedAt && signed.json().completedAt, 'signed_at and completed_at stamped');
  t.equal(signed.headers.etag, '"3"');
  t.equal(await visitStatus(desk, visitId), 'completed', 'signing completed the visit');

  const resign = await send(desk, 'POST', `/consultations/${c.id}/sign`, doctor, undefined, '"3"');
  t.equal(resign.statusCode, 409);
  t.match(problem(resign), { code: 'INVALID_TRANSITION', rule: 'consultation_status_transition' });
  const patchSigned = await send(desk, 'PATCH', `/consultations/${c.id}`, doctor, { findings: 'Changed' }, '"3"');
  t.equal(patchSigned.statusCode, 409);
  t.match(problem(patchSigned), { code: 'RECORD_LOCKED', rule: 'consultation_signed_is_final' });
  const lateVitals = await send(desk, 'POST', `/consultations/${c.id}/vitals`, nurse, { heartRateBpm: 80 });
  t.equal(lateVitals.statusCode, 409);
  t.match(problem(lateVitals), { code: 'RECORD_LOCKED', rule: 'consultation_vitals_are_final' });
  const lateDiagnosis = await send(desk, 'POST', `/consultations/${c.id}/diagnoses`, doctor, { icd10Code: 'J45.909' });
  t.equal(lateDiagnosis.statusCode, 409);
  t.match(problem(lateDiagnosis), { code: 'RECORD_LOCKED', rule: 'consultation_diagnoses_are_final' });
  const lateDiagnosisPatch = await send(desk, 'PATCH', `/consultations/${c.id}/diagnoses/${primary.json().id}`, doctor, { description: 'Changed' });
  t.equal(lateDiagnosisPatch.statusCode, 409);
  t.match(problem(lateDiagnosisPatch), { code: 'RECORD_LOCKED', rule: 'consultation_diagnoses_are_final' });

  const addendum = await send(desk, 'POST', `/consultations/${c.id}/addenda`, doctor, { body: 'Chest X-ray clear.\nBronchitis confirmed.' });
  t.equal(addendum.statusCode, 201);
  const final = (await send(desk, 'GET', `/consultations/${c.id}`, doctor)).json();
  t.match(final.addenda, [{ body: 'Chest X-ray clear.\nBronchitis confirmed.', authorId: desk.doctor() }], 'the addendum is shown with the consultation');
  t.match(final, { findings: 'Wheeze, left base', version: 3 }, 'nothing of the signed record changed');

  const list = await send(desk, 'GET', `/consultations?patientId=${patientId}`, doctor);
  t.equal(list.statusCode, 200);
  t.same(
    list.json().items.map((i: { id: string }) => i.id),
    [c.id],
  );
  const logged = await desk.db.admin.query(`select count(*)::int as n from app_public.patient_access_log where patient_id = $1 and action = 'read_record'`, [
    patientId,
  ]);
  t.ok(logged.rows[0].n >= 5, 'every read of the consultation is in the chart access log');
});

t.test('opening: a waiting visit goes through called; not another doctor’s visit, not a finished one', async (t) => {
  const desk = await frontDesk(t);
  const doctor = await desk.token('doctor');
  const waiting = await visitFor(desk, { call: false });
  const opened = await send(desk, 'POST', '/consultations', doctor, { visitId: waiting.visitId });
  t.equal(opened.statusCode, 201, 'a waiting visit opens directly');
  const visit = (await desk.db.admin.query('select status, called_at, consultation_started_at from app_public.visits where id = $1', [waiting.visitId]))
    .rows[0];
  t.equal(visit.status, 'in_consultation');
  t.ok(visit.called_at && visit.consultation_started_at, 'both moves stamped');

  const patientId = await desk.patient();
  const theirs = await desk.checkIn({ patientId, doctorId: desk.otherDoctor() });
  const other = await send(desk, 'POST', '/consultations', doctor, { visitId: theirs.id });
  t.equal(other.statusCode, 422, "another doctor's visit: 422 naming the visit");
  t.match(problem(other).errors, [{ path: 'body.visitId' }]);
  t.equal(await visitStatus(desk, theirs.id), 'waiting', 'and the visit did not move');

  const cancelled = await visitFor(desk, { call: false });
  await send(desk, 'POST', `/visits/${cancelled.visitId}/cancel`, await desk.token('receptionist'));
  const closed = await send(desk, 'POST', '/consultations', doctor, { visitId: cancelled.visitId });
  t.equal(closed.statusCode, 409);
  t.match(problem(closed), { code: 'INVALID_TRANSITION', rule: 'consultation_needs_open_visit' });

  const unknown = await send(desk, 'POST', '/consultations', doctor, { visitId: randomUUID() });
  t.equal(unknown.statusCode, 422);
  t.match(problem(unknown).errors, [{ path: 'body.visitId' }]);
  const b = await visitFor(desk, { clinic: 'b' });
  const foreign = await send(desk, 'POST', '/consultations', doctor, { visitId: b.visitId });
  t.equal(foreign.statusCode, 422, "another clinic's visit: the same answer as an unknown one");
  t.same(problem(foreign).errors, problem(unknown).errors);
});

t.test('only the author edits and signs; roles that may not get 403; other clinics 404', async (t) => {
  const desk = await frontDesk(t);
  const doctor = await desk.token('doctor');
  const { visitId } = await visitFor(desk);
  const c = (await send(desk, 'POST', '/consultations', doctor, { visitId })).json();

  for (const role of ['receptionist', 'lab_technician'] as const) {
    const token = await desk.token(role);
    t.equal((await send(desk, 'GET', `/consultations/${c.id}`, token)).statusCode, 403, `${role}: no read`);
    t.equal((await send(desk, 'POST', `/consultations/${c.id}/vitals`, token, { heartRateBpm: 70 })).statusCode, 403, `${role}: no vitals`);
  }
  const admin = await desk.token('clinic_admin');
  t.equal((await send(desk, 'GET', `/consultations/${c.id}`, admin)).statusCode, 200, 'clinic admins read');
  t.equal((await send(desk, 'PATCH', `/consultations/${c.id}`, admin, { findings: 'x' }, '"1"')).statusCode, 403, 'clinic admins do not edit');
  t.equal((await send(desk, 'POST', `/consultations/${c.id}/sign`, admin, undefined, '"1"')).statusCode, 403, 'nor sign');
  const nurse = await desk.token('nurse');
  t.equal((await send(desk, 'POST', `/consultations/${c.id}/diagnoses`, nurse, { icd10Code: 'J00' })).statusCode, 403, 'nurses do not diagnose');

  // The second doctor: a doctor, not the author.
  const { rows } = await desk.db.admin.query('select account_id from app_public.clinic_members where id = $1', [desk.otherDoctor()]);
  const second = await desk.client.clinicToken('doctor', { id: desk.clinics.a, slug: 'clinic-a' }, rows[0].account_id);
  const notAuthor = await send(desk, 'PATCH', `/consultations/${c.id}`, second, { findings: 'Mine now' }, '"1"');
  t.equal(notAuthor.statusCode, 403, 'another doctor cannot edit the draft');
  t.equal((await send(desk, 'POST', `/consultations/${c.id}/sign`, second, undefined, '"1"')).statusCode, 403, 'nor sign it');
  t.equal((await send(desk, 'POST', `/consultations/${c.id}/diagnoses`, second, { icd10Code: 'J00' })).statusCode, 403, 'nor diagnose in it');

  const doctorB = await desk.token('doctor', 'b');
  for (const [method, path, body, ifMatch] of [
    ['GET', `/consultations/${c.id}`, undefined, undefined],
    ['PATCH', `/consultations/${c.id}`, { findings: 'x' }, '"1"'],
    ['POST', `/consultations/${c.id}/sign`, undefined, '"1"'],
    ['POST', `/consultations/${c.id}/vitals`, { heartRateBpm: 70 }, undefined],
    ['POST', `/consultations/${c.id}/diagnoses`, { icd10Code: 'J00' }, undefined],
    ['POST', `/consultations/${c.id}/addenda`, { body: 'x' }, undefined],
  ] as const) {
    const response = await send(desk, method, path, doctorB, body, ifMatch, 'b');
    t.equal(response.statusCode, 404, `${method} ${path.replace(c.id, '{id}')} from clinic B: 404`);
    const unknown = await send(desk, method, path.replace(c.id, randomUUID()), doctorB, body, ifMatch, 'b');
    t.equal(unknown.statusCode, 404, '… exactly like an unknown id');
  }
  const row = (await desk.db.admin.query('select version, findings from app_public.consultations where id = $1', [c.id])).rows[0];
  t.same(row, { version: 1, findings: null }, 'nothing changed');
});

t.test('vital signs out of range and bad input: the field is named', async (t) => {
  const desk = await frontDesk(t);
  const doctor = await desk.token('doctor');
  const c = (await send(desk, 'POST', '/consultations', doctor, { visitId: (await visitFor(desk)).visitId })).json();
  const cases: [string, object, number, string][] = [
    ['a temperature of 370 °C', { temperatureC: 370 }, 422, 'body.temperatureC'],
    ['a pulse of 7', { heartRateBpm: 7 }, 422, 'body.heartRateBpm'],
    ['SpO2 of 101 %', { spo2Percent: 101 }, 422, 'body.spo2Percent'],
    ['a respiratory rate of 200', { respiratoryRatePerMin: 200 }, 422, 'body.respiratoryRatePerMin'],
    ['a weight of 900 kg', { weightKg: 900 }, 422, 'body.weightKg'],
    ['a height of 5 cm', { heightCm: 5 }, 422, 'body.heightCm'],
    ['systolic 400', { systolicMmhg: 400, diastolicMmhg: 80 }, 422, 'body.systolicMmhg'],
    ['diastolic above systolic', { systolicMmhg: 80, diastolicMmhg: 120 }, 422, 'body.diastolicMmhg'],
    ['systolic alone', { systolicMmhg: 120 }, 422, 'body.diastolicMmhg'],
    ['no measurement', {}, 422, 'body'],
    ['a temperature of 10 °C', { temperatureC: 10 }, 422, 'body.temperatureC'],
    ['diastolic 250 (and systolic 280)', { systolicMmhg: 280, diastolicMmhg: 250 }, 422, 'body.diastolicMmhg'],
    ['a pulse as text', { heartRateBpm: 'fast' }, 400, 'body.heartRateBpm'],
    ['an unknown field', { pulse: 70 }, 400, 'body'],
  ];
  for (const [what, body, status, path] of cases) {
    const response = await send(desk, 'POST', `/consultations/${c.id}/vitals`, doctor, body);
    t.equal(response.statusCode, status, `${what}: ${status}`);
    t.same(
      (problem(response).errors ?? []).map((e) => e.path),
      [path],
      `${what}: names exactly ${path}`,
    );
  }
  const bad: [string, string, object, string][] = [
    ['diagnoses', `/consultations/${c.id}/diagnoses`, { icd10Code: 'j45' }, 'body.icd10Code'],
    ['diagnoses', `/consultations/${c.id}/diagnoses`, { icd10Code: 'U99.9' }, 'body.description'],
    ['patch', `/consultations/${c.id}`, { urgency: 'whenever' }, 'body.urgency'],
    ['patch', `/consultations/${c.id}`, { chiefComplaint: 'a\u0007b' }, 'body.chiefComplaint'],
    ['open', '/consultations', { visitId: 'nope' }, 'body.visitId'],
  ];
  for (const [what, path, body, field] of bad) {
    const response = await send(desk, path === '/consultations' ? 'POST' : what === 'patch' ? 'PATCH' : 'POST', path, doctor, body, '"1"');
    t.ok([400, 422].includes(response.statusCode), `${what} ${JSON.stringify(body)}: ${response.statusCode}`);
    t.match(problem(response).errors, [{ path: field }], `names ${field}`);
  }
  t.equal((await desk.db.admin.query('select count(*)::int as n from app_public.vitals')).rows[0].n, 0, 'no reading written');
});

t.test('ICD-10: the bundled list by code prefix and words, the clinic’s own codes first', async (t) => {
  const desk = await frontDesk(t);
  const doctor = await desk.token('doctor');
  const byCode = await send(desk, 'GET', '/icd10?q=j45', doctor);
  t.equal(byCode.statusCode, 200);
  t.ok(byCode.json().items.length >= 5, 'asthma codes by prefix');
  t.ok(
    byCode.json().items.every((i: { code: string; source: string }) => i.code.startsWith('J45') && i.source === 'bundled'),
    'all J45…, bundled',
  );
  const byWords = await send(desk, 'GET', '/icd10?q=chest%20pain', doctor);
  t.match(byWords.json().items, [{ code: 'R07.9', description: 'Chest pain, unspecified', source: 'bundled' }]);
  const byWordPrefix = await send(desk, 'GET', '/icd10?q=hypert&limit=3', doctor);
  t.equal(byWordPrefix.json().items.length, 3, 'the limit holds');
  t.equal((await send(desk, 'GET', '/icd10?q=j45&limit=500', doctor)).statusCode, 400, 'a limit above 50: 400');
  t.equal((await send(desk, 'GET', '/icd10', doctor)).statusCode, 400, 'q is required');

  const added = await send(desk, 'POST', '/icd10', doctor, { code: 'U99.1', description: 'Clinic-local code for dengue follow-up' });
  t.equal(added.statusCode, 201);
  t.same(added.json(), { code: 'U99.1', description: 'Clinic-local code for dengue follow-up', source: 'clinic' });
  t.equal((await send(desk, 'POST', '/icd10', doctor, { code: 'U99.1', description: 'Again' })).statusCode, 409, 'a code the clinic has: 409');
  t.equal((await send(desk, 'POST', '/icd10', doctor, { code: 'u99', description: 'x' })).statusCode, 400, 'a malformed code: 400');
  t.equal((await send(desk, 'POST', '/icd10', await desk.token('nurse'), { code: 'U99.2', description: 'x' })).statusCode, 403, 'nurses do not add codes');
  const found = await send(desk, 'GET', '/icd10?q=dengue', doctor);
  t.match(
    found.json().items,
    [
      { code: 'U99.1', source: 'clinic' },
      { code: 'A90', source: 'bundled' },
    ],
    "the clinic's code first",
  );
  const inB = await send(desk, 'GET', '/icd10?q=U99', await desk.token('doctor', 'b'), undefined, undefined, 'b');
  t.same(inB.json().items, [], "clinic B does not see clinic A's codes");

  const c = (await send(desk, 'POST', '/consultations', doctor, { visitId: (await visitFor(desk)).visitId })).json();
  const d = await send(desk, 'POST', `/consultations/${c.id}/diagnoses`, doctor, { icd10Code: 'U99.1' });
  t.match(d.json(), { description: 'Clinic-local code for dengue follow-up' }, "a diagnosis takes the clinic code's text");
});

t.test('two tabs of the author PATCH at once with the same If-Match: one 200, one 409, one bump', async (t) => {
  const desk = await frontDesk(t, { poolSize: 4 });
  const doctor = await desk.token('doctor');
  const c = (await send(desk, 'POST', '/consultations', doctor, { visitId: (await visitFor(desk)).visitId })).json();
  const [one, two] = await Promise.all([
    send(desk, 'PATCH', `/consultations/${c.id}`, doctor, { findings: 'Tab one' }, '"1"'),
    send(desk, 'PATCH', `/consultations/${c.id}`, doctor, { findings: 'Tab two' }, '"1"'),
  ]);
  t.same([one.statusCode, two.statusCode].sort(), [200, 409]);
  const loser = one.statusCode === 409 ? one : two;
  const winner = one.statusCode === 200 ? one : two;
  t.equal(problem(loser).code, 'VERSION_CONFLICT');
  const row = (await desk.db.admin.query('select version, findings from app_public.consultations where id = $1', [c.id])).rows[0];
  t.same(row, { version: 2, findings: winner.json().findings }, "the winner's text, version 2: the last write did not silently win");
});

t.test('a patient reads their own signed consultations, never a draft (footnote 7)', async (t) => {
  const desk = await frontDesk(t);
  const doctor = await desk.token('doctor');
  const { visitId, patientId } = await visitFor(desk);
  const patientMember = (await desk.db.admin.query(`select id from app_public.clinic_members where clinic_id = $1 and role = 'patient'`, [desk.clinics.a]))
    .rows;
  await desk.db.admin.query('update app_public.patients set member_id = $2 where id = $1', [patientId, patientMember[0].id]);
  const patient = await desk.token('patient');
  const c = (await send(desk, 'POST', '/consultations', doctor, { visitId })).json();
  t.equal((await send(desk, 'GET', `/consultations/${c.id}`, patient)).statusCode, 404, 'a draft: 404 to the patient');
  t.same((await send(desk, 'GET', '/consultations', patient)).json().items, [], 'and not listed');
  await send(desk, 'POST', `/consultations/${c.id}/vitals`, doctor, { heartRateBpm: 64 });
  await send(desk, 'POST', `/consultations/${c.id}/sign`, doctor, undefined, '"1"');
  const own = await send(desk, 'GET', `/consultations/${c.id}`, patient);
  t.equal(own.statusCode, 200, 'signed: their own to read');
  t.match(own.json(), { status: 'signed', vitals: [{ heartRateBpm: 64 }] });
  t.same(
    (await send(desk, 'GET', '/consultations', patient)).json().items.map((i: { id: string }) => i.id),
    [c.id],
  );
  const other = await visitFor(desk);
  const theirs = (await send(desk, 'POST', '/consultations', doctor, { visitId: other.visitId })).json();
  await send(desk, 'POST', `/consultations/${theirs.id}/sign`, doctor, undefined, '"1"');
  t.equal((await send(desk, 'GET', `/consultations/${theirs.id}`, patient)).statusCode, 404, "another patient's signed consultation: 404");
});

t.test('a read under a support grant is recorded naming the grant and the patient', async (t) => {
  const desk = await frontDesk(t);
  const doctor = await desk.token('doctor');
  const { visitId, patientId } = await visitFor(desk);
  const c = (await send(desk, 'POST', '/consultations', doctor, { visitId })).json();
  const operator = await createOperator(desk.db, 'ops@example.test', 'a long and correct password');
  const { rows } = await desk.db.admin.query<{ id: string }>(
    `insert into app_public.support_access_grants (clinic_id, operator_account_id, granted_by, reason, expires_at)
     values ($1, $2, $3, 'Ticket 12', now() + interval '1 hour') returning id`,
    [desk.clinics.a, operator, actorIn(desk.db, desk.clinics.a, 'clinic_admin').account],
  );
  const grant = rows[0]!.id;
  const support = await desk.app.signAccessToken({
    sub: operator,
    clinic_id: desk.clinics.a,
    clinic_slug: 'clinic-a',
    role: 'clinic_admin',
    jti: randomUUID(),
    amr: ['pwd'],
    support_grant: grant,
  });
  const read = await send(desk, 'GET', `/consultations/${c.id}`, support);
  t.equal(read.statusCode, 200, 'support reads the consultation');
  const logged = await desk.db.admin.query(`select patient_id, action, support_grant_id from app_public.patient_access_log where support_grant_id = $1`, [
    grant,
  ]);
  t.same(logged.rows, [{ patient_id: patientId, action: 'read_record', support_grant_id: grant }]);
  t.equal((await send(desk, 'PATCH', `/consultations/${c.id}`, support, { findings: 'x' }, '"1"')).statusCode, 403, 'support access writes nothing');
});

t.test('a list pages rows created in one transaction (one created_at to the microsecond) each exactly once', async (t) => {
  const desk = await frontDesk(t);
  const doctor = await desk.token('doctor');
  const patientId = await desk.patient();
  // Five visits and their draft consultations in ONE statement (superuser, triggers off): one now() for all.
  const connection = await desk.db.admin.connect();
  let ids: string[];
  try {
    await connection.query('begin');
    await connection.query('set local session_replication_role = replica');
    const { rows } = await connection.query<{ id: string }>(
      `with visits as (
         insert into app_public.visits (clinic_id, patient_id, doctor_id, visit_date, token_number, status)
         select $1, $2, $3, current_date, 900 + n, 'in_consultation' from generate_series(1, 5) as n returning id
       )
       insert into app_public.consultations (clinic_id, visit_id, patient_id, doctor_id) select $1, id, $2, $3 from visits returning id`,
      [desk.clinics.a, patientId, desk.doctor()],
    );
    await connection.query('commit');
    ids = rows.map((r) => r.id);
  } finally {
    connection.release();
  }
  t.equal(ids.length, 5);
  const { rows: times } = await desk.db.admin.query('select count(distinct created_at)::int as times from app_public.consultations');
  t.same(times, [{ times: 1 }], 'one created_at for all five');
  for (const filter of [`&patientId=${patientId}`, '']) {
    const seen: string[] = [];
    const sizes: number[] = [];
    let cursor: string | null = null;
    do {
      const page: LightMyRequestResponse = await send(desk, 'GET', `/consultations?limit=2${filter}${cursor ? `&after=${cursor}` : ''}`, doctor);
      t.equal(page.statusCode, 200, page.body);
      const body = page.json() as { items: { id: string }[]; nextCursor: string | null };
      sizes.push(body.items.length);
      seen.push(...body.items.map((c) => c.id));
      cursor = body.nextCursor;
    } while (cursor !== null && sizes.length < 10);
    t.same(sizes, [2, 2, 1], `three pages${filter ? ' (by patient)' : ''}`);
    t.same([...seen].sort(), [...ids].sort(), `each listed exactly once${filter ? ' (by patient)' : ''}`);
  }
});
