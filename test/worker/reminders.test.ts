// Appointment confirmations and reminders (issue 12, point 4): booking over HTTP as the real app
// queues a confirmation now and reminders 24 h and 2 h before the start; moving the start moves
// them under the same keys; leaving `booked` removes them; running them writes the patient's
// outbox rows once, and nothing for a slot the patient no longer holds, another clinic's
// appointment or a patient who opted out. The clock is controlled the only way the database's
// now() allows: a job is made due by moving its run_at to now, as if that time had come. Every
// expected run_at, key and payload is written out here, never computed by the code under test.
import t, { type Test } from 'tap';
import type { ClinicRole } from '../../src/db/tenant.ts';
import { actorIn, insertAsAdmin } from '../helpers/actors.ts';
import { buildTestApp } from '../helpers/app.ts';
import { type Method, testClient } from '../helpers/client.ts';
import { createTestDatabase, sqlstateOf, type TestDatabase } from '../helpers/db.ts';
// Mondays 09:00–12:00 (clinic-local) in 30-minute slots; 2027-02-01 is such a Monday.
import { bookableClinics, onBookableMonday as at } from '../helpers/schedule.ts';
import { queuedJobs, runDueJobs, workerPool } from '../helpers/worker.ts';

const TASK = 'appointments__remind';
const HOUR = 3_600_000;

async function setUp(t: Test) {
  const db = await createTestDatabase(t);
  const clinics = await bookableClinics(db);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const client = testClient(app);
  const call = async (method: Method, url: string, payload?: object, clinic: 'a' | 'b' = 'a', role: ClinicRole = 'receptionist') => {
    const token = await client.clinicToken(role, { id: clinics[clinic], slug: `clinic-${clinic}` }, actorIn(db, clinics[clinic], role).account);
    return client.call(method, `/api/v1/clinics/clinic-${clinic}${url}`, token, payload);
  };
  const register = (clinic: 'a' | 'b', email: string | null = 'ada@example.test') =>
    insertAsAdmin(db, clinics[clinic], 'app_public.patients', { full_name: 'Ada Reminded', date_of_birth: '1980-01-01', sex: 'female', email });
  /** Books as the clinic's receptionist over HTTP; the new appointment's id. */
  const book = async (patientId: string, startsAt: string, clinic: 'a' | 'b' = 'a') => {
    const doctorId = actorIn(db, clinics[clinic], 'doctor').member;
    const response = await call('POST', '/appointments', { patientId, doctorId, startsAt }, clinic);
    t.equal(response.statusCode, 201, `booked ${startsAt}`);
    return response.json().id as string;
  };
  return { db, clinics, call, register, book };
}

interface Job {
  key: string;
  runAt: string;
  payload: unknown;
}

/** The reminder jobs queued, by key, with run_at as an ISO instant. */
async function reminderJobs(db: TestDatabase): Promise<Job[]> {
  const jobs = await queuedJobs(db, TASK);
  return jobs
    .map((job) => ({ key: job.key as string, runAt: new Date(job.runAt).toISOString(), payload: job.payload }))
    .sort((x, y) => x.key.localeCompare(y.key));
}

const keyOf = (clinic: string, appointment: string, window: string) => `${TASK}:${clinic}:${appointment}:${window}`;

/** The job of that key becomes due now (the controlled clock: its time has come). */
async function makeDue(db: TestDatabase, key: string): Promise<void> {
  const { rowCount } = await db.admin.query('update graphile_worker._private_jobs set run_at = now() where key = $1', [key]);
  if (rowCount !== 1) throw new Error(`no job ${key}`);
}

async function reminderOutbox(db: TestDatabase) {
  const { rows } = await db.admin.query(
    `select clinic_id, kind, recipient, channel, payload, dedup_key from app_private.notification_outbox
     where kind in ('appointment_confirmation', 'appointment_reminder') order by id`,
  );
  return rows;
}

/**
 * A booked appointment that has begun, written as the past allows it only to a restore: with
 * triggers off (the schedule's trigger refuses a start in the past), so no job is queued for it.
 */
async function pastAppointment(db: TestDatabase, clinic: string, patient: string, startsAt: string): Promise<string> {
  const client = await db.admin.connect();
  try {
    await client.query('begin');
    await client.query('set local session_replication_role = replica');
    const { rows } = await client.query<{ id: string }>(
      `insert into app_public.appointments (clinic_id, patient_id, doctor_id, starts_at, ends_at, booked_by)
       values ($1, $2, $3, $4, $4::timestamptz + interval '30 minutes', $5) returning id`,
      [clinic, patient, actorIn(db, clinic, 'doctor').member, startsAt, actorIn(db, clinic, 'receptionist').member],
    );
    await client.query('commit');
    return rows[0]!.id;
  } finally {
    client.release();
  }
}

/** The confirmation's run_at is the booking's now: between the instants read before and after it. */
function queuedNow(t: Test, job: Job | undefined, before: number, after: number): void {
  const runAt = Date.parse(job?.runAt ?? '');
  t.ok(runAt >= before - 1000 && runAt <= after + 1000, `the confirmation is due at once (${job?.runAt})`);
}

t.test('booking queues a confirmation and the reminders 24 h and 2 h before; moving the start moves them; cancelling removes them', async (t) => {
  const { db, clinics, call, register, book } = await setUp(t);
  const patient = await register('a');
  const before = Date.now();
  const id = await book(patient, at('10:00'));
  const after = Date.now();

  const booked = await reminderJobs(db);
  t.same(
    booked.map(({ key, payload }) => ({ key, payload })),
    [
      { key: keyOf(clinics.a, id, '24h'), payload: { clinicId: clinics.a, appointmentId: id, window: '24h', startsAt: '2027-02-01T10:00:00.000000Z' } },
      { key: keyOf(clinics.a, id, '2h'), payload: { clinicId: clinics.a, appointmentId: id, window: '2h', startsAt: '2027-02-01T10:00:00.000000Z' } },
      {
        key: keyOf(clinics.a, id, 'confirmation'),
        payload: { clinicId: clinics.a, appointmentId: id, window: 'confirmation', startsAt: '2027-02-01T10:00:00.000000Z' },
      },
    ],
    'three jobs, ids and the start only',
  );
  t.equal(booked[0]!.runAt, '2027-01-31T10:00:00.000Z', '24 h before');
  t.equal(booked[1]!.runAt, '2027-02-01T08:00:00.000Z', '2 h before');
  queuedNow(t, booked[2], before, after);

  const moved = await call('PATCH', `/appointments/${id}`, { startsAt: at('11:30') });
  t.equal(moved.statusCode, 200);
  const rescheduled = await reminderJobs(db);
  t.same(
    rescheduled.map(({ key, runAt, payload }) => ({
      key,
      runAt: key.endsWith('confirmation') ? 'now' : runAt,
      startsAt: (payload as { startsAt: string }).startsAt,
    })),
    [
      { key: keyOf(clinics.a, id, '24h'), runAt: '2027-01-31T11:30:00.000Z', startsAt: '2027-02-01T11:30:00.000000Z' },
      { key: keyOf(clinics.a, id, '2h'), runAt: '2027-02-01T09:30:00.000Z', startsAt: '2027-02-01T11:30:00.000000Z' },
      { key: keyOf(clinics.a, id, 'confirmation'), runAt: 'now', startsAt: '2027-02-01T11:30:00.000000Z' },
    ],
    'the same three keys, at the new times, for the new start',
  );

  const cancelled = await call('POST', `/appointments/${id}/cancel`, { reason: 'Patient called' });
  t.equal(cancelled.statusCode, 200);
  t.same(await reminderJobs(db), [], 'cancelling removes every waiting job');
});

t.test('the run times are instants: 24 real hours before, across the night New York moves its clocks forward', async (t) => {
  const { db, clinics, register, book } = await setUp(t);
  // Clinic B in New York, open all day (the doctor's all-day hours hold). 2027-03-14 09:00 EDT
  // (13:00Z) is the first morning of daylight-saving time: 24 h earlier is 08:00 EST on Saturday.
  await db.admin.query(`update app_public.clinics set timezone = 'America/New_York' where id = $1`, [clinics.b]);
  await db.admin.query(`update app_public.clinic_settings set operating_hours = '{}' where clinic_id = $1`, [clinics.b]);
  const id = await book(await register('b'), '2027-03-14T13:00:00.000Z', 'b');
  const jobs = await reminderJobs(db);
  t.same(
    jobs.filter((job) => !job.key.endsWith('confirmation')).map(({ key, runAt }) => ({ key, runAt })),
    [
      { key: keyOf(clinics.b, id, '24h'), runAt: '2027-03-13T13:00:00.000Z' },
      { key: keyOf(clinics.b, id, '2h'), runAt: '2027-03-14T11:00:00.000Z' },
    ],
  );
});

t.test('leaving booked removes the jobs: completed, no-show, checked in', async (t) => {
  const { db, clinics, call, register, book } = await setUp(t);
  const patient = await register('a');
  const completed = await book(patient, at('09:00'));
  const noShow = await book(patient, at('09:30'));
  const checkedIn = await book(patient, at('10:00'));
  const kept = await book(patient, at('10:30'));
  t.equal((await reminderJobs(db)).length, 12, 'three jobs for each of four bookings');

  t.equal((await call('POST', `/appointments/${completed}/complete`)).statusCode, 200);
  t.equal((await call('POST', `/appointments/${noShow}/no-show`)).statusCode, 200);
  // Check-in is for today's appointments (the visits' rule): the status itself is what counts here.
  await db.admin.query(`update app_public.appointments set status = 'checked_in' where id = $1`, [checkedIn]);
  t.same(
    (await reminderJobs(db)).map((job) => job.key),
    [keyOf(clinics.a, kept, '24h'), keyOf(clinics.a, kept, '2h'), keyOf(clinics.a, kept, 'confirmation')],
    'only the booking still booked keeps its jobs',
  );
});

t.test("the portal: a patient's own booking queues the jobs, their own cancellation removes them", async (t) => {
  const { db, clinics, call } = await setUp(t);
  const portal = actorIn(db, clinics.a, 'patient').member;
  await insertAsAdmin(db, clinics.a, 'app_public.patients', {
    full_name: 'Pat Portal',
    date_of_birth: '1990-01-01',
    sex: 'other',
    email: 'pat@example.test',
    member_id: portal,
  });
  const doctorId = actorIn(db, clinics.a, 'doctor').member;
  const booked = await call('POST', '/appointments', { doctorId, startsAt: at('11:00') }, 'a', 'patient');
  t.equal(booked.statusCode, 201);
  const id = booked.json().id as string;
  t.same(
    (await reminderJobs(db)).map((job) => job.key),
    [keyOf(clinics.a, id, '24h'), keyOf(clinics.a, id, '2h'), keyOf(clinics.a, id, 'confirmation')],
  );
  t.equal((await call('POST', `/appointments/${id}/cancel`, { reason: 'Cannot come' }, 'a', 'patient')).statusCode, 200);
  t.same(await reminderJobs(db), [], 'removed');
});

t.test('a booking less than 24 h ahead gets no 24 h reminder; moving it in and out of the window adds and removes it', async (t) => {
  const { db, clinics, call, register, book } = await setUp(t);
  // Clinic B open all day (no operating hours: the doctor's all-day office hours hold), 30-minute
  // slots from 00:00 to 23:00 UTC: the first slot at least 3 h ahead is less than 4 h ahead.
  await db.admin.query(`update app_public.clinic_settings set operating_hours = '{}' where clinic_id = $1`, [clinics.b]);
  const slot = 30 * 60_000;
  let start = Math.ceil((Date.now() + 3 * HOUR) / slot) * slot;
  if (new Date(start).getUTCHours() === 23 && new Date(start).getUTCMinutes() === 30) start += slot;
  const iso = (ms: number) => new Date(ms).toISOString();
  const id = await book(await register('b'), iso(start), 'b');

  const soon = await reminderJobs(db);
  t.same(
    soon.map((job) => job.key),
    [keyOf(clinics.b, id, '2h'), keyOf(clinics.b, id, 'confirmation')],
    'a confirmation and the 2 h reminder, no 24 h one',
  );
  t.equal(soon[0]!.runAt, iso(start - 2 * HOUR), '2 h before');

  const later = start + 24 * HOUR;
  t.equal((await call('PATCH', `/appointments/${id}`, { startsAt: iso(later) }, 'b')).statusCode, 200);
  t.same(
    (await reminderJobs(db)).filter((job) => !job.key.endsWith('confirmation')).map(({ key, runAt }) => ({ key, runAt })),
    [
      { key: keyOf(clinics.b, id, '24h'), runAt: iso(start) },
      { key: keyOf(clinics.b, id, '2h'), runAt: iso(later - 2 * HOUR) },
    ],
    'moved a day later: both reminders',
  );

  t.equal((await call('PATCH', `/appointments/${id}`, { startsAt: iso(start) }, 'b')).statusCode, 200);
  t.same(
    (await reminderJobs(db)).map((job) => job.key),
    [keyOf(clinics.b, id, '2h'), keyOf(clinics.b, id, 'confirmation')],
    'moved back within 24 h: the 24 h reminder is removed',
  );
});

t.test('running the jobs writes the patient one outbox row each, once', async (t) => {
  const { db, clinics, register, book } = await setUp(t);
  const patient = await register('a');
  const id = await book(patient, at('10:00'));
  const row = (kind: string, window: string) => ({
    clinic_id: clinics.a,
    kind,
    recipient: 'ada@example.test',
    channel: 'email',
    payload: { appointmentId: id, clinicId: clinics.a, window },
    dedup_key: `${keyOf(clinics.a, id, window)}:1801476000`,
  });

  await runDueJobs(t, db);
  t.same(await reminderOutbox(db), [row('appointment_confirmation', 'confirmation')], 'the confirmation at once');
  t.same(
    (await reminderJobs(db)).map((job) => job.key),
    [keyOf(clinics.a, id, '24h'), keyOf(clinics.a, id, '2h')],
    'the reminders wait for their time',
  );

  await makeDue(db, keyOf(clinics.a, id, '24h'));
  await runDueJobs(t, db);
  await makeDue(db, keyOf(clinics.a, id, '2h'));
  await runDueJobs(t, db);
  const all = [row('appointment_confirmation', 'confirmation'), row('appointment_reminder', '24h'), row('appointment_reminder', '2h')];
  t.same(await reminderOutbox(db), all, 'then each reminder when its time comes');
  t.same(await reminderJobs(db), [], 'nothing left queued');

  // The same job again (graphile-worker runs a job at least once: a crash after the commit runs it again).
  for (const window of ['confirmation', '24h', '2h']) {
    await db.admin.query('select graphile_worker.add_job($1, $2::json)', [
      TASK,
      { clinicId: clinics.a, appointmentId: id, window, startsAt: '2027-02-01T10:00:00.000000Z' },
    ]);
  }
  await runDueJobs(t, db);
  t.same(await reminderOutbox(db), all, 'a second run writes nothing');
});

t.test('a job for a slot the patient no longer holds, one begun, another clinic, or a patient who opted out writes nothing', async (t) => {
  const { db, clinics, call, register, book } = await setUp(t);
  const moved = await book(await register('a'), at('10:00'));
  const stale = (await reminderJobs(db)).find((job) => job.key === keyOf(clinics.a, moved, '24h'))!;
  t.equal((await call('PATCH', `/appointments/${moved}`, { startsAt: at('11:30') })).statusCode, 200);
  const optedOut = await register('a');
  await db.admin.query(`update app_public.patients set contact_channel = 'none' where id = $1`, [optedOut]);
  const silent = await book(optedOut, at('09:00'));
  const inB = await book(await register('b', 'bea@example.test'), at('10:00'), 'b');
  t.ok(
    (await reminderJobs(db)).some((job) => job.key === keyOf(clinics.a, silent, 'confirmation')),
    "the opted-out patient's confirmation is queued like any other",
  );
  const begun = await pastAppointment(db, clinics.a, await register('a'), '2026-01-05T09:00:00Z');

  // The 2 h reminder of an appointment that has begun (a worker down past its time).
  await db.admin.query('select graphile_worker.add_job($1, $2::json)', [
    TASK,
    { clinicId: clinics.a, appointmentId: begun, window: '2h', startsAt: '2026-01-05T09:00:00.000000Z' },
  ]);
  // The 24 h job as it was queued before the move (a run already under way when the move removed it).
  await db.admin.query('select graphile_worker.add_job($1, $2::json)', [TASK, stale.payload]);
  // Clinic A's job carrying clinic B's appointment and its real start.
  await db.admin.query('select graphile_worker.add_job($1, $2::json)', [
    TASK,
    { clinicId: clinics.a, appointmentId: inB, window: '24h', startsAt: '2027-02-01T10:00:00.000000Z' },
  ]);
  await runDueJobs(t, db);
  t.same(
    (await reminderOutbox(db)).map(({ clinic_id, kind, payload }) => ({ clinic_id, kind, payload })),
    [
      { clinic_id: clinics.a, kind: 'appointment_confirmation', payload: { appointmentId: moved, clinicId: clinics.a, window: 'confirmation' } },
      { clinic_id: clinics.b, kind: 'appointment_confirmation', payload: { appointmentId: inB, clinicId: clinics.b, window: 'confirmation' } },
    ],
    'the confirmations of the moved booking (its new time) and of clinic B; nothing for the stale start, the begun appointment, the opted-out patient or the crossed clinic',
  );
  t.same(
    (await reminderOutbox(db)).map((row) => row.dedup_key),
    [`${keyOf(clinics.a, moved, 'confirmation')}:1801481400`, `${keyOf(clinics.b, inB, 'confirmation')}:1801476000`],
    'the moved booking is confirmed for 11:30',
  );
});

t.test('only the worker writes reminders: app_user through the app pool is refused', async (t) => {
  const { db, clinics, register, book } = await setUp(t);
  const id = await book(await register('a'), at('10:00'));
  const admin = actorIn(db, clinics.a, 'clinic_admin').account;
  const asApp = db.pool.connect().then(async (client) => {
    try {
      await client.query('begin');
      await client.query(`select set_config('role', 'app_user', true), set_config('app.clinic_id', $1, true), set_config('app.user_id', $2, true)`, [
        clinics.a,
        admin,
      ]);
      return await client.query(`select app_hidden.write_appointment_reminder($1, 'confirmation', '2027-02-01T10:00:00Z')`, [id]);
    } finally {
      await client.query('rollback');
      client.release();
    }
  });
  t.equal(await sqlstateOf(asApp), '42501', 'a request cannot write a reminder');
  const worker = workerPool(t, db);
  const asWorker = await worker.connect();
  try {
    await asWorker.query('begin');
    await asWorker.query(`select set_config('role', 'app_user', true), set_config('app.clinic_id', $1, true)`, [clinics.a]);
    const { rows } = await asWorker.query(`select app_hidden.write_appointment_reminder($1, 'confirmation', '2027-02-01T10:00:00Z') as id`, [id]);
    t.ok(rows[0].id, 'the worker can');
  } finally {
    await asWorker.query('rollback');
    asWorker.release();
  }
  t.same(await reminderOutbox(db), [], 'rolled back: nothing written');
});

t.test('a job running while a cancel is not yet committed waits for it and then writes nothing', async (t) => {
  const { db, clinics, register, book } = await setUp(t);
  const id = await book(await register('a'), at('10:00'));
  const canceller = await db.admin.connect();
  const worker = await workerPool(t, db).connect();
  try {
    await canceller.query('begin');
    await canceller.query(`update app_public.appointments set status = 'cancelled', cancellation_reason = 'Patient called' where id = $1`, [id]);
    await worker.query('begin');
    await worker.query(`select set_config('role', 'app_user', true), set_config('app.clinic_id', $1, true)`, [clinics.a]);
    let settled = false;
    const written = worker
      .query<{ id: string | null }>(`select app_hidden.write_appointment_reminder($1, 'confirmation', '2027-02-01T10:00:00Z') as id`, [id])
      .finally(() => {
        settled = true;
      });
    await new Promise((resolve) => setTimeout(resolve, 500));
    t.equal(settled, false, 'the job waits on the appointment the cancel holds');
    await canceller.query('commit');
    t.same((await written).rows, [{ id: null }], 'after the cancel commits: nothing written');
    await worker.query('commit');
  } finally {
    canceller.release();
    worker.release();
  }
  t.same(await reminderOutbox(db), [], 'no message for the cancelled slot');
});

t.test('cancelling or moving withdraws the messages still pending for the old start; one sent stays', async (t) => {
  const { db, clinics, call, register, book } = await setUp(t);
  const cancelled = await book(await register('a'), at('10:00'));
  const moved = await book(await register('a', 'bob@example.test'), at('11:00'));
  const sent = await book(await register('a', 'cy@example.test'), at('09:00'));
  await runDueJobs(t, db);
  await db.admin.query(`update app_private.notification_outbox set status = 'sent', sent_at = now() where payload ->> 'appointmentId' = $1`, [sent]);
  t.same((await reminderOutbox(db)).length, 3, 'three confirmations written');

  t.equal((await call('POST', `/appointments/${cancelled}/cancel`, { reason: 'Patient called' })).statusCode, 200);
  t.equal((await call('PATCH', `/appointments/${moved}`, { startsAt: at('11:30') })).statusCode, 200);
  t.equal((await call('POST', `/appointments/${sent}/cancel`, { reason: 'Patient called' })).statusCode, 200);
  t.same(
    (await reminderOutbox(db)).map((row) => row.dedup_key),
    [`${keyOf(clinics.a, sent, 'confirmation')}:1801472400`],
    'the pending confirmations of the cancelled and the moved booking are withdrawn; the sent one stays',
  );
  await runDueJobs(t, db);
  t.same(
    (await reminderOutbox(db)).map((row) => row.dedup_key),
    [`${keyOf(clinics.a, sent, 'confirmation')}:1801472400`, `${keyOf(clinics.a, moved, 'confirmation')}:1801481400`],
    'the moved booking is confirmed for its new time',
  );
});
