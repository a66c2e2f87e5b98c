// Check-in, tokens and the doctors' queues over HTTP against the real database: token numbers
// under concurrency, the state machine move by move (refused moves change nothing), the queue's
// order with skips and recalls, calling next under concurrency, the wait estimate from history
// and its default, appointments checked in and completed with their visits, and who may see or
// do what (patients their own visit, doctors their own queue, other clinics nothing).
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { frontDesk, type FrontDesk } from '../helpers/visits.ts';

/** The visit row as the database holds it (superuser). */
async function rowOf(desk: FrontDesk, id: string) {
  const { rows } = await desk.db.admin.query(
    `select status, called_at, consultation_started_at, completed_at, skipped_at, updated_at from app_public.visits where id = $1`,
    [id],
  );
  return rows[0];
}

t.test('20 concurrent check-ins get 20 distinct consecutive tokens', async (t) => {
  const desk = await frontDesk(t, { poolSize: 10 });
  const patient = await desk.patient();
  const token = await desk.token('receptionist');
  const responses = await Promise.all(
    Array.from({ length: 20 }, () => desk.client.post(desk.url('/visits'), { patientId: patient, doctorId: desk.doctor() }, token)),
  );
  t.same(
    responses.map((r) => r.statusCode),
    Array(20).fill(201),
  );
  const tokens = responses.map((r) => r.json().tokenNumber as number).sort((x, y) => x - y);
  t.same(
    tokens,
    Array.from({ length: 20 }, (_, i) => i + 1),
    'tokens 1 to 20, each once',
  );
  const b = await desk.checkIn({ patientId: await desk.patient('b'), doctorId: desk.doctor('b') }, 'b');
  t.equal(b.tokenNumber, 1, "clinic B's day starts at token 1: tokens are per clinic");
});

t.test('check-in: input refused with a 4xx naming the field, nothing written', async (t) => {
  const desk = await frontDesk(t);
  const token = await desk.token('receptionist');
  const patient = await desk.patient();
  const theirPatient = await desk.patient('b');
  const cases: [string, object, number, string][] = [
    ['neither patient nor appointment', { doctorId: desk.doctor() }, 400, 'body.patientId'],
    ['an unknown priority', { patientId: patient, priority: 'whenever' }, 400, 'body.priority'],
    ['a purpose with a control character', { patientId: patient, purpose: 'ch\u0007est' }, 400, 'body.purpose'],
    ['an unknown field', { patientId: patient, tokenNumber: 7 }, 400, 'body'],
    ['an unknown patient', { patientId: randomUUID() }, 422, 'body.patientId'],
    ["another clinic's patient", { patientId: theirPatient }, 422, 'body.patientId'],
    ["another clinic's doctor", { patientId: patient, doctorId: desk.doctor('b') }, 422, 'body.doctorId'],
    [
      'a member who is not a doctor',
      {
        patientId: patient,
        doctorId: (await desk.db.admin.query(`select id from app_public.clinic_members where clinic_id = $1 and role = 'nurse'`, [desk.clinics.a])).rows[0].id,
      },
      422,
      'body.doctorId',
    ],
  ];
  for (const [what, body, status, path] of cases) {
    const response = await desk.client.post(desk.url('/visits'), body, token);
    t.equal(response.statusCode, status, `${what}: ${status}`);
    t.match(response.json().errors, [{ path }], `${what}: names ${path}`);
  }
  t.equal((await desk.db.admin.query('select count(*)::int as n from app_public.visits')).rows[0].n, 0, 'no visit written');
});

t.test('the state machine, move by move: allowed moves stamp their time, refused ones are a 409 and change nothing', async (t) => {
  const desk = await frontDesk(t);
  const token = await desk.token('receptionist');
  const patient = await desk.patient();
  // [path to reach the state from waiting, the move, its answer]
  const reach: Record<string, string[]> = {
    waiting: [],
    called: ['call'],
    in_consultation: ['call', 'start'],
    completed: ['call', 'start', 'complete'],
    no_show: ['no-show'],
    cancelled: ['cancel'],
  };
  const allowed: Record<string, Record<string, string>> = {
    waiting: { call: 'called', 'no-show': 'no_show', cancel: 'cancelled' },
    called: { start: 'in_consultation', skip: 'waiting', 'no-show': 'no_show' },
    in_consultation: { complete: 'completed' },
    completed: {},
    no_show: {},
    cancelled: {},
  };
  const stamps: Record<string, string> = { called: 'called_at', in_consultation: 'consultation_started_at', completed: 'completed_at', waiting: 'skipped_at' };
  for (const [from, path] of Object.entries(reach)) {
    for (const move of ['call', 'skip', 'start', 'complete', 'no-show', 'cancel']) {
      const { id } = await desk.checkIn({ patientId: patient, doctorId: desk.doctor() });
      for (const step of path) t.equal((await desk.client.post(desk.url(`/visits/${id}/${step}`), undefined, token)).statusCode, 200);
      const before = await rowOf(desk, id);
      const response = await desk.client.post(desk.url(`/visits/${id}/${move}`), undefined, token);
      const to = allowed[from]![move];
      if (to) {
        t.equal(response.statusCode, 200, `${from} → ${move}: 200`);
        t.equal(response.json().status, to, `${from} → ${move}: ${to}`);
        const after = await rowOf(desk, id);
        if (stamps[to]) t.ok(after[stamps[to]] && after[stamps[to]] > (before[stamps[to]] ?? 0), `${from} → ${move}: ${stamps[to]} stamped`);
      } else {
        t.equal(response.statusCode, 409, `${from} → ${move}: 409`);
        t.match(response.json(), { code: 'INVALID_TRANSITION', detail: 'This change of status is not allowed.' });
        t.same(await rowOf(desk, id), before, `${from} → ${move}: the row is unchanged`);
      }
    }
  }
});

t.test('the queue: priority, then skipped last, then token; skip and recall; positions and waits; call next in that order', async (t) => {
  const desk = await frontDesk(t);
  const token = await desk.token('receptionist');
  const doctorId = desk.doctor();
  const patient = await desk.patient();
  const checkIn = (priority: string) => desk.checkIn({ patientId: patient, doctorId, priority });
  const one = await checkIn('normal'); // token 1
  const two = await checkIn('urgent'); // 2
  const three = await checkIn('normal'); // 3
  const four = await checkIn('emergency'); // 4
  await desk.checkIn({ patientId: patient, doctorId: desk.otherDoctor() }); // 5: another queue
  const queueUrl = desk.url(`/doctors/${doctorId}/queue`);
  const tokensOf = async () => (await desk.client.call('GET', queueUrl, token)).json().entries.map((e: { tokenNumber: number }) => e.tokenNumber);
  t.same(await tokensOf(), [4, 2, 1, 3], 'emergency, urgent, then normal by token');

  const next = async () => desk.client.post(`${queueUrl}/next`, undefined, token);
  t.equal((await next()).json().tokenNumber, 4, 'next calls the emergency');
  t.equal((await desk.client.post(desk.url(`/visits/${four.id}/skip`), undefined, token)).statusCode, 200, 'skipped');
  t.same(await tokensOf(), [4, 2, 1, 3], 'a skipped emergency is still the first: priority comes before skipping');
  t.equal((await desk.client.post(desk.url(`/visits/${one.id}/call`), undefined, token)).statusCode, 200, 'token 1 called out of turn');
  t.equal((await desk.client.post(desk.url(`/visits/${one.id}/skip`), undefined, token)).statusCode, 200, 'and skipped');
  t.same(await tokensOf(), [4, 2, 3, 1], 'a skipped visit waits behind the others of its priority');
  const queue = (await desk.client.call('GET', queueUrl, token)).json();
  t.match(queue, { doctorId, minutesPerPatient: 15, basedOnConsultations: 0 }, 'no history: the default of 15 minutes (no settings row)');
  t.same(
    queue.entries.map((e: { position: number; estimatedWaitMinutes: number; skipped: boolean }) => [e.position, e.estimatedWaitMinutes, e.skipped]),
    [
      [1, 0, true],
      [2, 15, false],
      [3, 30, false],
      [4, 45, true],
    ],
    'positions from 1, waits of 15 minutes per patient ahead',
  );
  t.equal((await desk.client.post(desk.url(`/visits/${four.id}/call`), undefined, token)).statusCode, 200, 'a skipped visit is recalled');
  t.same(
    (await desk.client.call('GET', queueUrl, token))
      .json()
      .entries.map((e: { tokenNumber: number; status: string; position: number | null }) => [e.tokenNumber, e.status, e.position]),
    [
      [4, 'called', null],
      [2, 'waiting', 1],
      [3, 'waiting', 2],
      [1, 'waiting', 3],
    ],
    'the called visit first, without a position',
  );
  t.same(
    (await desk.client.call('GET', desk.url(`/visits/${three.id}`), token)).json().queue,
    { position: 2, estimatedWaitMinutes: 30 },
    'a visit shows its place: 2nd, behind one called and one waiting',
  );
  t.same((await desk.client.call('GET', desk.url(`/visits/${four.id}`), token)).json().queue, null, 'a called visit has no place in the queue');
  t.equal((await next()).json().id, two.id, 'next: the urgent one');
  t.equal((await next()).json().id, three.id, 'next: token 3');
  t.equal((await next()).json().id, one.id, 'next: token 1, skipped');
  const empty = await next();
  t.equal(empty.statusCode, 404, 'nobody waits: 404');
  t.match(empty.json(), { code: 'QUEUE_EMPTY' });
});

t.test('10 concurrent calls of next on a queue of 5 call 5 distinct visits; the other 5 find it empty', async (t) => {
  const desk = await frontDesk(t, { poolSize: 10 });
  const doctorId = desk.doctor();
  const patient = await desk.patient();
  for (let i = 0; i < 5; i += 1) await desk.checkIn({ patientId: patient, doctorId });
  const [receptionist, doctor] = [await desk.token('receptionist'), await desk.token('doctor')];
  const responses = await Promise.all(
    Array.from({ length: 10 }, (_, i) => desk.client.post(desk.url(`/doctors/${doctorId}/queue/next`), undefined, i % 2 ? receptionist : doctor)),
  );
  const called = responses.filter((r) => r.statusCode === 200).map((r) => r.json().tokenNumber as number);
  t.same(
    called.sort((x, y) => x - y),
    [1, 2, 3, 4, 5],
    'five visits called, each once',
  );
  t.same(
    responses.filter((r) => r.statusCode !== 200).map((r) => [r.statusCode, r.json().code]),
    Array(5).fill([404, 'QUEUE_EMPTY']),
    'five found the queue empty',
  );
  t.same(
    (await desk.db.admin.query(`select status, count(*)::int as n from app_public.visits group by status`)).rows,
    [{ status: 'called', n: 5 }],
    'all five called, in the database',
  );
});

t.test('the wait estimate: the average of the doctor’s last 20 consultations, else the clinic’s slot', async (t) => {
  const desk = await frontDesk(t);
  const token = await desk.token('receptionist');
  const doctorId = desk.doctor();
  const estimate = async () => {
    const { minutesPerPatient, basedOnConsultations } = (await desk.client.call('GET', desk.url(`/doctors/${doctorId}/queue`), token)).json();
    return [minutesPerPatient, basedOnConsultations];
  };
  await desk.db.admin.query('insert into app_public.clinic_settings (clinic_id, appointment_slot_minutes) values ($1, 20)', [desk.clinics.a]);
  t.same(await estimate(), [20, 0], "no history: the clinic's appointment slot");
  // History made as superuser: 22 completed visits, the 2 oldest of 60 minutes, the latest 20 alternating 8 and 12.
  const patient = await desk.patient();
  await desk.db.admin.query(
    `insert into app_public.visits (clinic_id, patient_id, doctor_id, visit_date, token_number, status, consultation_started_at, completed_at)
     select $1, $2, $3, current_date - 1, g, 'completed', t - d, t
     from generate_series(1, 22) g,
          lateral (select now() - interval '1 day' + g * interval '1 minute' as t,
                          case when g <= 2 then interval '60 minutes' when g % 2 = 0 then interval '8 minutes' else interval '12 minutes' end as d) x`,
    [desk.clinics.a, patient, doctorId],
  );
  // Another doctor's long consultations do not count.
  await desk.db.admin.query(
    `insert into app_public.visits (clinic_id, patient_id, doctor_id, visit_date, token_number, status, consultation_started_at, completed_at)
     values ($1, $2, $3, current_date - 1, 100, 'completed', now() - interval '3 hours', now())`,
    [desk.clinics.a, patient, desk.otherDoctor()],
  );
  t.same(await estimate(), [10, 20], 'the last 20: 10 minutes on average');
});

t.test('appointments: checked in with their visit, completed with it; a mismatch, another day or another status refused', async (t) => {
  const desk = await frontDesk(t);
  const token = await desk.token('receptionist');
  const doctorId = desk.doctor();
  const patient = await desk.patient();
  const otherPatient = await desk.patient();
  const theirs = await desk.patient('b');
  /** An appointment written as superuser without its triggers (their slot rules are the appointments' tests). */
  const appointment = async (startsAt: string, { status = 'booked', patientId = patient, clinic = desk.clinics.a, doctor = doctorId } = {}) => {
    const client = await desk.db.admin.connect();
    try {
      await client.query('begin');
      await client.query('set local session_replication_role = replica');
      const { rows } = await client.query(
        `insert into app_public.appointments (clinic_id, patient_id, doctor_id, starts_at, ends_at, status, booked_by, cancellation_reason)
         values ($1, $2, $3, ${startsAt}, ${startsAt} + interval '15 minutes', $4, $3, case when $4 = 'cancelled' then 'fixture' end) returning id`,
        [clinic, patientId, doctor, status],
      );
      await client.query('commit');
      return rows[0].id as string;
    } finally {
      client.release();
    }
  };
  const statusOf = async (id: string) => (await desk.db.admin.query('select status from app_public.appointments where id = $1', [id])).rows[0].status;
  // Distinct quarter-hours of today (UTC, the clinic's zone): the doctor's appointments must not overlap.
  let slot = 0;
  const at = (days = 0) => `(date_trunc('day', now() at time zone 'UTC') at time zone 'UTC') + interval '${days} days' + interval '${15 * ++slot} minutes'`;

  const today = await appointment(at());
  const checkedIn = await desk.client.post(desk.url('/visits'), { appointmentId: today }, token);
  t.equal(checkedIn.statusCode, 201, 'an appointment of today checks in');
  t.match(checkedIn.json(), { patientId: patient, doctorId, appointmentId: today, status: 'waiting' }, "the visit takes the appointment's patient and doctor");
  t.equal(await statusOf(today), 'checked_in', 'the appointment is checked in');
  const again = await desk.client.post(desk.url('/visits'), { appointmentId: today }, token);
  t.equal(again.statusCode, 409, 'checking it in again: 409');

  const visitId = checkedIn.json().id;
  const doctor = await desk.token('doctor');
  for (const move of ['call', 'start']) await desk.client.post(desk.url(`/visits/${visitId}/${move}`), undefined, doctor);
  t.equal((await desk.client.post(desk.url(`/visits/${visitId}/complete`), undefined, doctor)).statusCode, 200, 'the doctor completes the consultation');
  t.equal(await statusOf(today), 'completed', 'and with it the appointment, which the doctor may not update otherwise');

  const refused: [string, string, object, number, string][] = [
    ['another patient than the appointment’s', await appointment(at()), { patientId: otherPatient }, 422, 'CONSTRAINT_VIOLATION'],
    ['another doctor than the appointment’s', await appointment(at()), { doctorId: desk.otherDoctor() }, 422, 'CONSTRAINT_VIOLATION'],
    ['an appointment of tomorrow', await appointment(at(1)), {}, 422, 'CONSTRAINT_VIOLATION'],
    ['an appointment of yesterday', await appointment(at(-1)), {}, 422, 'CONSTRAINT_VIOLATION'],
    ['a cancelled appointment', await appointment(at(), { status: 'cancelled' }), {}, 409, 'INVALID_TRANSITION'],
    ['a no-show', await appointment(at(), { status: 'no_show' }), {}, 409, 'INVALID_TRANSITION'],
    [
      "another clinic's appointment",
      await appointment(at(), { clinic: desk.clinics.b, patientId: theirs, doctor: desk.doctor('b') }),
      {},
      422,
      'CONSTRAINT_VIOLATION',
    ],
    ['an unknown appointment', randomUUID(), {}, 422, 'CONSTRAINT_VIOLATION'],
  ];
  for (const [what, appointmentId, extra, status, code] of refused) {
    const before = (await desk.db.admin.query('select status, updated_at from app_public.appointments where id = $1', [appointmentId])).rows;
    const response = await desk.client.post(desk.url('/visits'), { appointmentId, ...extra }, token);
    t.equal(response.statusCode, status, `${what}: ${status}`);
    t.match(response.json(), { code }, `${what}: ${code}`);
    if (status === 422) t.match(response.json().errors, [{ path: /^body\.(appointmentId|patientId|doctorId)$/ }], `${what}: names the field`);
    t.same(
      (await desk.db.admin.query('select status, updated_at from app_public.appointments where id = $1', [appointmentId])).rows,
      before,
      `${what}: the appointment is unchanged`,
    );
  }
  t.equal((await desk.db.admin.query('select count(*)::int as n from app_public.visits')).rows[0].n, 1, 'only the first check-in wrote a visit');
});

t.test('who may: a patient their own visit and place; a doctor their own queue; another clinic nothing', async (t) => {
  const desk = await frontDesk(t);
  const receptionist = await desk.token('receptionist');
  const doctorId = desk.doctor();
  const own = await desk.patient();
  await desk.db.admin.query('update app_public.patients set member_id = $2 where id = $1', [
    own,
    (await desk.db.admin.query(`select id from app_public.clinic_members where clinic_id = $1 and role = 'patient'`, [desk.clinics.a])).rows[0].id,
  ]);
  const someoneElse = await desk.patient();
  const ahead = await desk.checkIn({ patientId: someoneElse, doctorId });
  const mine = await desk.checkIn({ patientId: own, doctorId });
  const patient = await desk.token('patient');

  const read = await desk.client.call('GET', desk.url(`/visits/${mine.id}`), patient);
  t.equal(read.statusCode, 200, 'a patient reads their own visit');
  t.same(read.json().queue, { position: 2, estimatedWaitMinutes: 15 }, 'with their place in the queue');
  t.equal((await desk.client.call('GET', desk.url(`/visits/${ahead.id}`), patient)).statusCode, 404, "another patient's visit: 404");
  t.same(
    (await desk.client.call('GET', desk.url('/visits'), patient)).json().items.map((v: { id: string }) => v.id),
    [mine.id],
    'the list: their own visit only',
  );
  t.equal((await desk.client.call('GET', desk.url(`/doctors/${doctorId}/queue`), patient)).statusCode, 403, "a patient does not read a doctor's queue");

  const doctor = await desk.token('doctor');
  const otherQueue = desk.otherDoctor();
  const theirVisit = await desk.checkIn({ patientId: someoneElse, doctorId: otherQueue });
  t.equal(
    (await desk.client.post(desk.url(`/doctors/${otherQueue}/queue/next`), undefined, doctor)).statusCode,
    403,
    'a doctor calls only their own queue: 403',
  );
  t.equal((await desk.client.post(desk.url(`/visits/${theirVisit.id}/call`), undefined, doctor)).statusCode, 404, "another doctor's visit: 404 to a doctor");
  t.equal((await rowOf(desk, theirVisit.id)).status, 'waiting', 'unchanged');
  t.equal((await desk.client.post(desk.url(`/doctors/${doctorId}/queue/next`), undefined, doctor)).json().id, ahead.id, 'their own queue: called');

  const b = await desk.token('receptionist', 'b');
  for (const [method, path] of [
    ['GET', `/visits/${mine.id}`],
    ['POST', `/visits/${mine.id}/cancel`],
    ['GET', `/doctors/${doctorId}/queue`],
    ['POST', `/doctors/${doctorId}/queue/next`],
  ] as const) {
    const response = await desk.client.call(method, desk.url(path, 'b'), b);
    t.equal(response.statusCode, 404, `clinic B, ${method} ${path} with clinic A's ids: 404`);
    t.match(response.json(), { code: 'NOT_FOUND' });
  }
  t.same((await desk.client.call('GET', desk.url('/visits', 'b'), b)).json().items, [], "clinic B's list holds none of clinic A's visits");
  t.equal((await rowOf(desk, mine.id)).status, 'waiting', "clinic A's visit unchanged");
  t.equal((await desk.client.call('GET', desk.url(`/visits?date=2024-02-30`), receptionist)).statusCode, 400, 'a date that does not exist: 400');
});
