// The patient's history in one call (issue 11, point 2) and the patient's own view of it (point 7):
// allergies and medication, visits newest first with their consultations (vital signs, diagnoses,
// addenda), active prescriptions, test requests with their reports, follow-ups; cursor pages of
// visits; the chart access log records each call once; RLS gives a patient signed, issued and
// released records only; and the statements per call do not grow with the history (1 visit and 50).
import t from 'tap';
import { actorIn } from '../helpers/actors.ts';
import { buildTestApp } from '../helpers/app.ts';
import { insertChartRecord, type ChartRecord } from '../helpers/chart-rows.ts';
import { testClient } from '../helpers/client.ts';
import { countRoundTrips } from '../helpers/round-trips.ts';
import { frontDesk, type FrontDesk } from '../helpers/visits.ts';

/** A visit checked in at `at` (superuser; the check-in's own rules are the visits tests'). */
async function visitAt(desk: FrontDesk, patientId: string, at: string, clinic: 'a' | 'b' = 'a'): Promise<string> {
  const { rows } = await desk.db.admin.query(
    `insert into app_public.visits (clinic_id, patient_id, doctor_id, purpose, checked_in_at) values ($1, $2, $3, 'history', $4) returning id`,
    [desk.clinics[clinic], patientId, desk.doctor(clinic), at],
  );
  return rows[0].id as string;
}

async function recordAt(desk: FrontDesk, patientId: string, at: string, state: 'draft' | 'final', clinic: 'a' | 'b' = 'a') {
  const visitId = await visitAt(desk, patientId, at, clinic);
  const record = await insertChartRecord(desk.db, {
    clinicId: desk.clinics[clinic],
    patientId,
    doctorId: desk.doctor(clinic),
    visitId,
    state,
    at: new Date(at),
    dueDate: state === 'final' ? '2030-01-10' : '2030-02-20',
  });
  return { visitId, record };
}

const logged = async (desk: FrontDesk, patientId: string) =>
  (await desk.db.admin.query(`select count(*)::int as n from app_public.patient_access_log where patient_id = $1 and action = 'read_record'`, [patientId]))
    .rows[0].n as number;

t.test('the history: every section, newest first, per role; the patient reads signed, issued and released only', async (t) => {
  const desk = await frontDesk(t);
  const { client } = desk;
  const patient = await desk.patient('a', 'History Patient');
  const other = await desk.patient('a', 'Other Patient');
  await desk.db.admin.query('update app_public.patients set member_id = $2 where id = $1', [patient, actorIn(desk.db, desk.clinics.a, 'patient').member]);
  await desk.db.admin.query(
    `insert into app_public.patient_history (clinic_id, patient_id, kind, name, severity, recorded_by) values ($1, $2, 'allergy', 'Penicillin', 'severe', $3)`,
    [desk.clinics.a, patient, desk.doctor()],
  );
  const older = await recordAt(desk, patient, '2026-03-02T09:00:00Z', 'final');
  const newer = await recordAt(desk, patient, '2026-05-04T10:30:00Z', 'draft');
  await recordAt(desk, other, '2026-05-05T10:30:00Z', 'final');
  const url = (id: string, query = '') => desk.url(`/patients/${id}/history${query}`);
  const id = (r: { record: ChartRecord }, table: keyof ChartRecord) => r.record[table];

  const asDoctor = await client.call('GET', url(patient), await desk.token('doctor'));
  t.equal(asDoctor.statusCode, 200);
  const body = asDoctor.json();
  t.match(body.items, [{ kind: 'allergy', name: 'Penicillin', severity: 'severe' }], 'items: allergies and medication as before');
  t.equal(body.items.length, 1);
  t.same(
    body.visits.items.map((v: { id: string; checkedInAt: string }) => [v.id, v.checkedInAt]),
    [
      [newer.visitId, '2026-05-04T10:30:00.000Z'],
      [older.visitId, '2026-03-02T09:00:00.000Z'],
    ],
    'visits newest first',
  );
  t.equal(body.visits.nextCursor, null);
  const [draftVisit, signedVisit] = body.visits.items;
  t.match(
    draftVisit.consultations,
    [{ id: id(newer, 'app_public.consultations'), status: 'draft', signedAt: null, addenda: [] }],
    'a clinician sees the draft',
  );
  t.same(signedVisit.consultations.length, 1);
  t.match(signedVisit.consultations[0], {
    id: id(older, 'app_public.consultations'),
    status: 'signed',
    signedAt: '2026-03-02T09:00:00.000Z',
    vitals: [{ id: id(older, 'app_public.vitals'), heartRateBpm: 72, systolicMmhg: null }],
    diagnoses: [{ id: id(older, 'app_public.diagnoses'), icd10Code: 'J06.9', isPrimary: true }],
    addenda: [{ id: id(older, 'app_public.consultation_addenda') }],
  });
  t.same(
    body.activePrescriptions.map((p: { id: string; status: string; items: unknown[] }) => [p.id, p.status, p.items.length]),
    [[id(older, 'app_public.prescriptions'), 'issued', 1]],
    'active prescriptions: the issued one only, with its item',
  );
  t.match(body.activePrescriptions[0].items[0], { position: 1, medicineName: 'Amoxicillin', frequency: 'TDS', quantity: 15, refills: 0 });
  t.same(
    body.testRequests.map((r: { id: string; reports: { status: string; results: unknown }[] }) => [r.id, r.reports.map((x) => [x.status, x.results])]),
    [
      [id(newer, 'app_public.test_requests'), [['draft', null]]],
      [id(older, 'app_public.test_requests'), [['released', { count: 1, abnormal: 0, critical: 0 }]]],
    ],
    'test requests newest first, with their reports; results summarised once released',
  );
  t.same(
    body.followUps.map((f: { id: string; dueDate: string }) => [f.id, f.dueDate]),
    [
      [id(newer, 'app_public.follow_ups'), '2030-02-20'],
      [id(older, 'app_public.follow_ups'), '2030-01-10'],
    ],
    'follow-ups, latest due first',
  );

  await t.test('the patient reads their own: signed, issued, released; never drafts', async (t) => {
    const me = await client.call('GET', desk.url('/patients/me'), await desk.token('patient'));
    t.equal(me.statusCode, 200, 'patients/me');
    t.equal(me.json().id, patient, 'names their record');
    const mine = await client.call('GET', url(me.json().id), await desk.token('patient'));
    t.equal(mine.statusCode, 200);
    const own = mine.json();
    t.same(
      own.visits.items.map((v: { consultations: { id: string; status: string }[] }) => v.consultations.map((c) => [c.id, c.status])),
      [[], [[id(older, 'app_public.consultations'), 'signed']]],
      'the draft consultation is not there, the signed one is',
    );
    t.equal(own.visits.items[1].consultations[0].vitals.length, 1, 'with its vital signs');
    t.equal(own.visits.items[1].consultations[0].diagnoses.length, 1, 'and diagnoses');
    t.same(
      own.activePrescriptions.map((p: { id: string }) => p.id),
      [id(older, 'app_public.prescriptions')],
    );
    // The sections hang off the consultations the caller reads: a draft's requests and follow-ups
    // are not in a patient's history (their own lists show the requests and follow-ups themselves).
    t.same(
      own.testRequests.map((r: { id: string; reports: { status: string }[] }) => [r.id, r.reports.map((x) => x.status)]),
      [[id(older, 'app_public.test_requests'), ['released']]],
      'the released report of the signed consultation',
    );
    t.same(
      own.followUps.map((f: { id: string }) => f.id),
      [id(older, 'app_public.follow_ups')],
      'the follow-up of the signed consultation',
    );
    const theirs = await client.call('GET', url(other), await desk.token('patient'));
    t.equal(theirs.statusCode, 404, "another patient's history: 404");
  });

  await t.test('pages of visits: the sections follow the page', async (t) => {
    const token = await desk.token('nurse');
    const first = (await client.call('GET', url(patient, '?limit=1'), token)).json();
    t.same(
      first.visits.items.map((v: { id: string }) => v.id),
      [newer.visitId],
    );
    t.same(
      first.testRequests.map((r: { id: string }) => r.id),
      [id(newer, 'app_public.test_requests')],
    );
    t.same(
      first.followUps.map((f: { id: string }) => f.id),
      [id(newer, 'app_public.follow_ups')],
    );
    t.equal(first.activePrescriptions.length, 1, 'active prescriptions are on every page');
    t.type(first.visits.nextCursor, 'string');
    const second = (await client.call('GET', url(patient, `?limit=1&after=${first.visits.nextCursor}`), token)).json();
    t.same(
      second.visits.items.map((v: { id: string }) => v.id),
      [older.visitId],
    );
    t.same(
      second.testRequests.map((r: { id: string }) => r.id),
      [id(older, 'app_public.test_requests')],
    );
    t.equal(second.visits.nextCursor, null);
    for (const query of ['?limit=0', '?limit=101', '?after=nope', '?limit=1&color=red']) {
      const bad = await client.call('GET', url(patient, query), token);
      t.equal(bad.statusCode, 400, `${query}: 400`);
    }
  });

  await t.test('who may; the chart access log records each call once', async (t) => {
    for (const role of ['receptionist', 'lab_technician'] as const)
      t.equal((await client.call('GET', url(patient), await desk.token(role))).statusCode, 403, `${role}: 403`);
    t.equal((await client.call('GET', url(patient), await desk.token('doctor', 'b'))).statusCode, 404, "clinic B's doctor: 404 like an unknown id");
    t.equal((await client.call('GET', url('00000000-0000-4000-8000-000000000000'), await desk.token('doctor'))).statusCode, 404, 'an unknown patient: 404');
    const before = await logged(desk, patient);
    t.equal((await client.call('GET', url(patient), await desk.token('clinic_admin'))).statusCode, 200);
    t.equal(await logged(desk, patient), before + 1, 'one row for one call');
  });
});

t.test('the statements per call do not grow with the history: 1 visit and 50', async (t) => {
  const desk = await frontDesk(t);
  const wire = await countRoundTrips(t, desk.db.authenticatorUrl);
  const { app } = await buildTestApp(t, wire.url, undefined, undefined, { poolSize: 1 });
  const client = testClient(app);
  const token = await client.clinicToken('doctor', { id: desk.clinics.a, slug: 'clinic-a' }, actorIn(desk.db, desk.clinics.a, 'doctor').account);
  const small = await desk.patient();
  const large = await desk.patient();
  await recordAt(desk, small, '2026-01-01T09:00:00Z', 'final');
  for (let day = 0; day < 50; day++) await recordAt(desk, large, new Date(Date.UTC(2025, 0, 1 + day, 9)).toISOString(), day % 2 ? 'final' : 'draft');
  const read = async (patientId: string) => {
    const response = await client.call('GET', `/api/v1/clinics/clinic-a/patients/${patientId}/history?limit=50`, token);
    t.equal(response.statusCode, 200);
    return response.json();
  };
  await read(small); // connect, prepare
  wire.takeBoth();
  t.equal((await read(small)).visits.items.length, 1);
  const one = wire.takeBoth();
  const fifty = await read(large);
  const many = wire.takeBoth();
  t.equal(fifty.visits.items.length, 50);
  t.equal(fifty.testRequests.length, 50);
  t.equal(fifty.followUps.length, 50);
  t.equal(fifty.activePrescriptions.length, 25);
  t.same(many, one, 'the same round trips and statements for 50 visits as for 1');
  const record = await client.call('GET', `/api/v1/clinics/clinic-a/patients/${small}`, token);
  t.equal(record.statusCode, 200);
  t.same(wire.takeBoth(), one, 'as many as reading the patient record alone');
  // The tenant context (withTenant's settings) and the history with its access log row (a CTE):
  // two statements pipelined in one round trip.
  t.same(one, { roundTrips: 1, statements: 2 }, 'the context and the history with its access log row: two statements, one round trip');
});
