// Follow-ups over HTTP (issue 11, point 6): asked for in a consultation of the doctor's own, in N
// days or on a date; the doctors' worklists; pending → completed | cancelled | missed and final
// after (CBSTA, rule follow_up_closed_is_final); who may (footnote 8: never the receptionist); the
// patient's own; booking the follow-up's appointment links the two, with one answer for every id
// that may not be linked.
import t from 'tap';
import { actorIn } from '../helpers/actors.ts';
import { insertChartRecord } from '../helpers/chart-rows.ts';
import { graphql } from '../helpers/graphql.ts';
import { frontDesk, type FrontDesk } from '../helpers/visits.ts';

async function consultationOf(desk: FrontDesk, patientId: string, { clinic = 'a' as 'a' | 'b', doctor = desk.doctor(clinic) } = {}) {
  const visit = await desk.checkIn({ patientId, doctorId: doctor }, clinic);
  const record = await insertChartRecord(desk.db, {
    clinicId: desk.clinics[clinic],
    patientId,
    doctorId: doctor,
    visitId: visit.id,
    state: 'draft',
    dueDate: false,
  });
  return record['app_public.consultations'];
}

const clinicToday = async (desk: FrontDesk, plusDays: number) =>
  (
    await desk.db.admin.query<{ d: string }>(
      `select to_char((now() at time zone timezone)::date + $2::int, 'YYYY-MM-DD') as d from app_public.clinics where id = $1`,
      [desk.clinics.a, plusDays],
    )
  ).rows[0]!.d;

t.test('follow-ups: asked for, listed, moved, read by whom the matrix says', async (t) => {
  const desk = await frontDesk(t);
  const { client } = desk;
  const doctor = await desk.token('doctor');
  const url = (path = '') => desk.url(`/follow-ups${path}`);
  const patient = await desk.patient('a', 'Follow Up Patient');
  const other = await desk.patient('a', 'Other Patient');
  const consultation = await consultationOf(desk, patient);

  const inDays = await client.post(url(), { consultationId: consultation, inDays: 14, reason: 'Review blood pressure' }, doctor);
  t.equal(inDays.statusCode, 201, 'in 14 days: 201');
  t.match(inDays.json(), {
    consultationId: consultation,
    patientId: patient,
    doctorId: desk.doctor(),
    dueDate: await clinicToday(desk, 14),
    reason: 'Review blood pressure',
    status: 'pending',
    appointmentId: null,
  });
  const onDate = await client.post(url(), { consultationId: consultation, dueDate: '2030-03-01', reason: 'Repeat the test' }, doctor);
  t.equal(onDate.statusCode, 201, 'on a date: 201');
  t.equal(onDate.json().dueDate, '2030-03-01');

  await t.test('bad input: 400 naming the field, nothing written', async (t) => {
    const bad: [string, object, string][] = [
      ['both inDays and dueDate', { consultationId: consultation, inDays: 3, dueDate: '2030-03-01', reason: 'x' }, 'body.inDays'],
      ['neither', { consultationId: consultation, reason: 'x' }, 'body.inDays'],
      ['inDays 0', { consultationId: consultation, inDays: 0, reason: 'x' }, 'body.inDays'],
      ['a date that is none', { consultationId: consultation, dueDate: '2030-02-30', reason: 'x' }, 'body.dueDate'],
      ['no reason', { consultationId: consultation, inDays: 3 }, 'body.reason'],
      ['a control character', { consultationId: consultation, inDays: 3, reason: 'a\u0007b' }, 'body.reason'],
      ['no uuid', { consultationId: 'nope', inDays: 3, reason: 'x' }, 'body.consultationId'],
    ];
    for (const [what, body, path] of bad) {
      const response = await client.post(url(), body, doctor);
      t.equal(response.statusCode, 400, `${what}: 400`);
      t.match(response.json(), { code: 'VALIDATION_FAILED', errors: [{ path }] }, `${what}: names ${path}`);
    }
    const { rows } = await desk.db.admin.query('select count(*)::int as n from app_public.follow_ups');
    t.equal(rows[0].n, 2, 'only the two follow-ups above exist');
  });

  await t.test("a due date before the clinic's today: 422 naming dueDate; today is fine", async (t) => {
    const past = await client.post(url(), { consultationId: consultation, dueDate: await clinicToday(desk, -1), reason: 'late' }, doctor);
    t.equal(past.statusCode, 422);
    t.match(past.json(), { code: 'CONSTRAINT_VIOLATION', errors: [{ path: 'body.dueDate' }] });
    const today = await client.post(url(), { consultationId: consultation, dueDate: await clinicToday(desk, 0), reason: 'today' }, doctor);
    t.equal(today.statusCode, 201);
    await desk.db.admin.query('delete from app_public.follow_ups where id = $1', [today.json().id]);
  });

  await t.test("another clinic's, an unknown, another doctor's consultation", async (t) => {
    const theirs = await consultationOf(desk, await desk.patient('b'), { clinic: 'b' });
    for (const [what, id] of [
      ["another clinic's", theirs],
      ['an unknown', '00000000-0000-4000-8000-000000000000'],
    ] as const) {
      const response = await client.post(url(), { consultationId: id, inDays: 7, reason: 'x' }, doctor);
      t.equal(response.statusCode, 404, `${what} consultation: 404`);
      t.equal(response.json().code, 'NOT_FOUND');
    }
    const colleagues = await consultationOf(desk, patient, { doctor: desk.otherDoctor() });
    const response = await client.post(url(), { consultationId: colleagues, inDays: 7, reason: 'x' }, doctor);
    t.equal(response.statusCode, 403, "another doctor's consultation: 403 (the database's insert policy)");
  });

  await t.test('the worklists: per clinic and per doctor, soonest first, paged', async (t) => {
    const colleagues = await consultationOf(desk, other, { doctor: desk.otherDoctor() });
    await insertChartRecord(desk.db, {
      clinicId: desk.clinics.a,
      patientId: other,
      doctorId: desk.otherDoctor(),
      visitId: (await desk.checkIn({ patientId: other, doctorId: desk.otherDoctor() })).id,
      state: 'draft',
      dueDate: '2029-12-31',
    });
    t.ok(colleagues);
    const mine = await client.call('GET', url(`?status=pending&doctorId=${desk.doctor()}`), doctor);
    t.equal(mine.statusCode, 200);
    t.same(
      mine.json().items.map((f: { dueDate: string }) => f.dueDate),
      [await clinicToday(desk, 14), '2030-03-01'],
      "the doctor's pending follow-ups, soonest first",
    );
    const clinic = await client.call('GET', url('?status=pending'), await desk.token('nurse'));
    t.same(
      clinic.json().items.map((f: { dueDate: string }) => f.dueDate),
      [await clinicToday(desk, 14), '2029-12-31', '2030-03-01'],
      "the clinic's pending follow-ups (a nurse reads them)",
    );
    const first = await client.call('GET', url('?status=pending&limit=2'), doctor);
    t.equal(first.json().items.length, 2);
    const second = await client.call('GET', url(`?status=pending&limit=2&after=${first.json().nextCursor}`), doctor);
    t.same(
      second.json().items.map((f: { dueDate: string }) => f.dueDate),
      ['2030-03-01'],
      'the next page after the cursor',
    );
    t.equal(second.json().nextCursor, null);
    const bad = await client.call('GET', url('?status=open'), doctor);
    t.equal(bad.statusCode, 400, 'an unknown status: 400');
  });

  await t.test('the chart access log records the patients of every read, nothing for none', async (t) => {
    const rows = async () =>
      (
        await desk.db.admin.query<{ patient_id: string; n: number }>(
          `select patient_id, count(*)::int as n from app_public.patient_access_log where action = 'read_record' group by patient_id order by patient_id`,
        )
      ).rows;
    await desk.db.admin.query('delete from app_public.patient_access_log');
    t.equal((await client.call('GET', url(`/${inDays.json().id}`), doctor)).statusCode, 200);
    t.same(await rows(), [{ patient_id: patient, n: 1 }], 'one by id: its patient, once');
    await desk.db.admin.query('delete from app_public.patient_access_log');
    const page = await client.call('GET', url('?status=pending&limit=3'), await desk.token('nurse'));
    t.equal(page.json().items.length, 3);
    const shown = [...new Set(page.json().items.map((f: { patientId: string }) => f.patientId))].sort();
    t.same(
      await rows(),
      (shown as string[]).map((id) => ({ patient_id: id, n: 1 })),
      "a page: each of its patients once, not the look-ahead row's",
    );
    await desk.db.admin.query('delete from app_public.patient_access_log');
    t.equal((await client.call('GET', url('/00000000-0000-4000-8000-000000000000'), doctor)).statusCode, 404);
    t.equal((await client.call('GET', url('?doctorId=00000000-0000-4000-8000-000000000000'), doctor)).json().items.length, 0);
    t.same(await rows(), [], 'nothing read, nothing recorded');
  });

  await t.test('GraphQL reads them as chart data and writes none', async (t) => {
    await desk.db.admin.query('delete from app_public.patient_access_log');
    const read = await graphql<{ followUps: { nodes: { rowId: string; patientId: string; status: string }[] } }>(
      desk.app,
      doctor,
      `{ followUps(condition: { patientId: "${patient}" }) { nodes { rowId patientId status } } }`,
    );
    t.same(read.errors, undefined);
    t.ok(read.data!.followUps.nodes.length >= 2, "the patient's follow-ups");
    const { rows } = await desk.db.admin.query(`select patient_id from app_public.patient_access_log where action = 'read_record'`);
    t.same(
      rows.map((r) => r.patient_id),
      [patient],
      'the read is in the chart access log',
    );
    const mutation = await graphql(
      desk.app,
      doctor,
      `mutation { updateFollowUp(input: { rowId: "${inDays.json().id}", patch: { status: "completed" } }) { clientMutationId } }`,
    );
    t.ok(mutation.errors?.length, 'no updateFollowUp');
    const receptionist = await graphql<{ followUps: { nodes: unknown[] } }>(desk.app, await desk.token('receptionist'), '{ followUps { nodes { rowId } } }');
    t.same(receptionist.data?.followUps?.nodes ?? [], [], 'a receptionist reads none (footnote 8)');
  });

  await t.test('pending → completed | cancelled | missed, final after', async (t) => {
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await client.post(url(), { consultationId: consultation, inDays: 30 + i, reason: 'moves' }, doctor)).json().id);
    const moves = [
      ['complete', 'completed'],
      ['cancel', 'cancelled'],
      ['miss', 'missed'],
    ] as const;
    for (const [i, [move, status]] of moves.entries()) {
      const response = await client.post(url(`/${ids[i]}/${move}`), undefined, doctor);
      t.equal(response.statusCode, 200, `${move}: 200`);
      t.equal(response.json().status, status);
      for (const [again] of moves) {
        const refused = await client.post(url(`/${ids[i]}/${again}`), undefined, doctor);
        t.equal(refused.statusCode, 409, `${status} then ${again}: 409`);
        t.match(refused.json(), { code: 'INVALID_TRANSITION', rule: 'follow_up_closed_is_final' });
      }
    }
    const { rows } = await desk.db.admin.query('select status from app_public.follow_ups where id = any($1) order by array_position($1, id)', [ids]);
    t.same(
      rows.map((r) => r.status),
      ['completed', 'cancelled', 'missed'],
      'the refused moves changed nothing',
    );
    const unknown = await client.post(url('/00000000-0000-4000-8000-000000000000/complete'), undefined, doctor);
    t.equal(unknown.statusCode, 404, 'an unknown follow-up: 404');
  });

  await t.test('two doctors complete one follow-up at once: one 200, one 409', async (t) => {
    const id = (await client.post(url(), { consultationId: consultation, inDays: 60, reason: 'race' }, doctor)).json().id;
    const colleague = await desk.token('doctor');
    const answers = await Promise.all([client.post(url(`/${id}/complete`), undefined, doctor), client.post(url(`/${id}/cancel`), undefined, colleague)]);
    t.same(answers.map((r) => r.statusCode).sort(), [200, 409]);
  });

  await t.test('who may (footnote 8)', async (t) => {
    const id = inDays.json().id;
    for (const role of ['receptionist', 'lab_technician'] as const) {
      const token = await desk.token(role);
      t.equal((await client.call('GET', url(), token)).statusCode, 403, `${role}: no list`);
      t.equal((await client.call('GET', url(`/${id}`), token)).statusCode, 403, `${role}: no follow-up`);
    }
    for (const role of ['nurse', 'clinic_admin'] as const) {
      const token = await desk.token(role);
      t.equal((await client.call('GET', url(`/${id}`), token)).statusCode, 200, `${role} reads it`);
      t.equal((await client.post(url(), { consultationId: consultation, inDays: 3, reason: 'x' }, token)).statusCode, 403, `${role} asks for none`);
      t.equal((await client.post(url(`/${id}/cancel`), undefined, token)).statusCode, 403, `${role} moves none`);
    }
    const b = await client.call('GET', url(`/${id}`), await desk.token('doctor', 'b'));
    t.equal(b.statusCode, 404, "clinic B's doctor: 404 like an unknown id");
  });

  await t.test("the patient reads their own follow-ups, nobody else's", async (t) => {
    await desk.db.admin.query('update app_public.patients set member_id = $2 where id = $1', [patient, actorIn(desk.db, desk.clinics.a, 'patient').member]);
    const token = await desk.token('patient');
    const list = await client.call('GET', url(), token);
    t.equal(list.statusCode, 200);
    t.ok(list.json().items.length >= 2, 'their own');
    t.ok(
      list.json().items.every((f: { patientId: string }) => f.patientId === patient),
      'only their own',
    );
    const { rows } = await desk.db.admin.query('select id from app_public.follow_ups where patient_id = $1 limit 1', [other]);
    t.equal((await client.call('GET', url(`/${rows[0].id}`), token)).statusCode, 404, "another patient's: 404");
    t.equal((await client.post(url(`/${inDays.json().id}/cancel`), undefined, token)).statusCode, 403, 'a patient moves none');
  });
});

t.test("booking a follow-up's appointment links the two", async (t) => {
  const desk = await frontDesk(t);
  const { client } = desk;
  const doctor = await desk.token('doctor');
  const receptionist = await desk.token('receptionist');
  const patient = await desk.patient();
  const other = await desk.patient();
  const ask = async (patientId: string, clinic: 'a' | 'b' = 'a') =>
    (
      await client.post(
        desk.url('/follow-ups', clinic),
        { consultationId: await consultationOf(desk, patientId, { clinic }), inDays: 14, reason: 'link' },
        await desk.token('doctor', clinic),
      )
    ).json().id as string;
  const followUp = await ask(patient);
  let hour = 8;
  const book = (followUpId: string, patientId = patient) =>
    client.post(
      desk.url('/appointments'),
      { patientId, doctorId: desk.doctor(), startsAt: `2031-03-03T${String(++hour).padStart(2, '0')}:00:00.000Z`, followUpId },
      receptionist,
    );
  const appointments = async () => (await desk.db.admin.query('select count(*)::int as n from app_public.appointments')).rows[0].n as number;

  const booked = await book(followUp);
  t.equal(booked.statusCode, 201, 'booked: 201');
  const linked = await desk.db.admin.query('select appointment_id from app_public.follow_ups where id = $1', [followUp]);
  t.equal(linked.rows[0].appointment_id, booked.json().id, 'the follow-up names the appointment');
  const viewed = await client.call('GET', desk.url(`/follow-ups/${followUp}`), doctor);
  t.equal(viewed.json().appointmentId, booked.json().id, 'and the doctor sees it');

  const closed = await ask(patient);
  await client.post(desk.url(`/follow-ups/${closed}/cancel`), undefined, doctor);
  const before = await appointments();
  for (const [what, id] of [
    ['already linked', followUp],
    ["another patient's", await ask(other)],
    ['a cancelled', closed],
    ["another clinic's", await ask(await desk.patient('b'), 'b')],
    ['an unknown', '00000000-0000-4000-8000-000000000000'],
  ] as const) {
    const refused = await book(id);
    t.equal(refused.statusCode, 400, `${what} follow-up: 400`);
    t.same(refused.json().errors, [{ path: 'body.followUpId', message: 'is not a pending follow-up of this patient' }], `${what}: the same answer`);
  }
  t.equal(await appointments(), before, 'no booking was kept for a refused link');

  // The appointment falls through: the follow-up is still pending and can be booked again.
  const cancelled = await client.post(desk.url(`/appointments/${booked.json().id}/cancel`), { reason: 'Patient travelling' }, receptionist);
  t.equal(cancelled.statusCode, 200, 'the linked appointment is cancelled');
  const again = await book(followUp);
  t.equal(again.statusCode, 201, 'booked again with the same followUpId: 201');
  t.not(again.json().id, booked.json().id, 'a new appointment');
  t.equal(
    (await desk.db.admin.query('select appointment_id from app_public.follow_ups where id = $1', [followUp])).rows[0].appointment_id,
    again.json().id,
    'the follow-up names the new appointment',
  );
  const stillBooked = await book(followUp);
  t.equal(stillBooked.statusCode, 400, 'while the new one is booked: 400 again');
  t.same(stillBooked.json().errors, [{ path: 'body.followUpId', message: 'is not a pending follow-up of this patient' }], '… the same answer');

  // A no-show (marked by the superuser, the appointment being in the future) frees it too.
  await desk.db.admin.query(
    `set session_replication_role = replica; update app_public.appointments set status = 'no_show' where id = '${again.json().id}'; reset session_replication_role`,
  );
  const third = await book(followUp);
  t.equal(third.statusCode, 201, 'after a no-show: booked again, 201');
  t.equal(
    (await desk.db.admin.query('select appointment_id from app_public.follow_ups where id = $1', [followUp])).rows[0].appointment_id,
    third.json().id,
    'the follow-up names the third appointment',
  );
});
