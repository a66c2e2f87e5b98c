// Appointments, availability and time off over HTTP, against the real app and database: the race
// for one slot (exactly one 201), refusals the database makes (SLOT_UNAVAILABLE, SLOT_TAKEN,
// INVALID_TRANSITION) as problem+json with nothing written, reschedule atomicity, the portal
// patient's own bookings, time off by whom it belongs to, and another clinic's ids answered like
// unknown ones. Expected slots and statuses are written out here, never computed by the code under test.
import { randomUUID } from 'node:crypto';
import t, { type Test } from 'tap';
import type { ClinicRole } from '../../src/db/tenant.ts';
import { actorIn, insertAsAdmin } from '../helpers/actors.ts';
import { buildTestApp } from '../helpers/app.ts';
import { type Method, testClient } from '../helpers/client.ts';
import { createTestDatabase } from '../helpers/db.ts';
// Mondays 09:00–12:00 UTC in 30-minute slots.
import { bookableClinics, BOOKABLE_MONDAY as MONDAY, onBookableMonday as at } from '../helpers/schedule.ts';

async function setUp(t: Test, poolSize = 2) {
  const db = await createTestDatabase(t);
  const clinics = await bookableClinics(db);
  const { app } = await buildTestApp(t, db.authenticatorUrl, undefined, undefined, { poolSize });
  const client = testClient(app);
  const tokens = new Map<string, string>();
  const tokenOf = async (role: ClinicRole, clinic: 'a' | 'b') => {
    const key = `${role}@${clinic}`;
    if (!tokens.has(key))
      tokens.set(key, await client.clinicToken(role, { id: clinics[clinic], slug: `clinic-${clinic}` }, actorIn(db, clinics[clinic], role).account));
    return tokens.get(key)!;
  };
  const call = async (method: Method, url: string, role: ClinicRole, payload?: object, clinic: 'a' | 'b' = 'a') =>
    client.call(method, `/api/v1/clinics/clinic-${clinic}${url}`, await tokenOf(role, clinic), payload);
  const register = (clinic: 'a' | 'b', memberId: string | null = null) =>
    insertAsAdmin(db, clinics[clinic], 'app_public.patients', { full_name: 'Booked Patient', date_of_birth: '1980-01-01', sex: 'male', member_id: memberId });
  const doctor = actorIn(db, clinics.a, 'doctor').member;
  const patient = await register('a', actorIn(db, clinics.a, 'patient').member);
  const snapshot = async () =>
    (await db.admin.query('select id, patient_id, doctor_id, starts_at, ends_at, status, reason, cancellation_reason from app_public.appointments order by id'))
      .rows;
  return { db, clinics, app, call, register, doctor, patient, snapshot };
}

t.test('twenty concurrent bookings of one slot: one 201, nineteen SLOT_TAKEN', async (t) => {
  const { call, doctor, register, db } = await setUp(t, 10);
  const patients = await Promise.all(Array.from({ length: 20 }, () => register('a')));
  const responses = await Promise.all(
    patients.map((patientId) => call('POST', '/appointments', 'receptionist', { patientId, doctorId: doctor, startsAt: at('10:00') })),
  );
  const statuses = responses.map((r) => r.statusCode).sort();
  t.same(statuses, [201, ...Array(19).fill(409)], 'exactly one booking wins');
  t.same([...new Set(responses.filter((r) => r.statusCode === 409).map((r) => r.json().code))], ['SLOT_TAKEN'], 'every loser is told the slot is taken');
  t.match(responses.find((r) => r.statusCode === 409)!.json(), { errors: [{ path: 'body.startsAt' }] }, 'naming the start time');
  const { rows } = await db.admin.query(`select count(*)::int as n, min(starts_at) = $1::timestamptz as at_ten from app_public.appointments`, [at('10:00')]);
  t.same(rows, [{ n: 1, at_ten: true }], 'one row in the database');
});

t.test('booking, availability, refusals and the state machine over HTTP', async (t) => {
  const { call, doctor, register, snapshot } = await setUp(t);
  const patientId = await register('a');
  const slots = async (role: ClinicRole = 'receptionist') => {
    const response = await call('GET', `/doctors/${doctor}/availability?from=${MONDAY}&to=2027-02-02`, role);
    t.equal(response.statusCode, 200);
    return (response.json().slots as { startsAt: string }[]).map((s) => s.startsAt.slice(11, 16));
  };
  t.same(await slots(), ['09:00', '09:30', '10:00', '10:30', '11:00', '11:30'], 'six free slots on Monday');

  const booked = await call('POST', '/appointments', 'receptionist', { patientId, doctorId: doctor, startsAt: at('09:30'), reason: 'Check-up' });
  t.equal(booked.statusCode, 201);
  t.match(booked.json(), {
    patientId,
    doctorId: doctor,
    startsAt: at('09:30'),
    endsAt: at('10:00'),
    status: 'booked',
    reason: 'Check-up',
    cancellationReason: null,
  });
  const id = booked.json().id as string;
  const timeOff = await call('POST', `/doctors/${doctor}/time-off`, 'doctor', { startsAt: at('10:45'), endsAt: at('11:15'), reason: 'Ward round' });
  t.equal(timeOff.statusCode, 201, 'the doctor blocks their own time');
  t.same(
    await slots('patient'),
    ['09:00', '10:00', '11:30'],
    'availability leaves out the booking and the two slots the time off touches; a patient sees it too',
  );

  const before = await snapshot();
  const refusals: [string, object, number, string][] = [
    ['inside time off', { startsAt: at('11:00') }, 409, 'SLOT_UNAVAILABLE'],
    ['outside operating hours', { startsAt: at('12:00') }, 409, 'SLOT_UNAVAILABLE'],
    ['off the grid', { startsAt: at('09:15') }, 409, 'SLOT_UNAVAILABLE'],
    ['in the past', { startsAt: '2026-01-05T09:00:00.000Z' }, 409, 'SLOT_UNAVAILABLE'],
    ['taken', { startsAt: at('09:30') }, 409, 'SLOT_TAKEN'],
    ['a local time without an offset', { startsAt: '2027-02-01T09:00:00' }, 400, 'VALIDATION_FAILED'],
    ['an unknown doctor', { doctorId: randomUUID(), startsAt: at('09:00') }, 422, 'CONSTRAINT_VIOLATION'],
  ];
  for (const [what, body, status, code] of refusals) {
    const response = await call('POST', '/appointments', 'receptionist', { patientId, doctorId: doctor, ...body });
    t.equal(response.statusCode, status, `${what}: ${status}`);
    t.equal(response.json().code, code, `${what}: ${code}`);
  }
  const noPatient = await call('POST', '/appointments', 'receptionist', { doctorId: doctor, startsAt: at('09:00') });
  t.match(noPatient.json(), { code: 'VALIDATION_FAILED', errors: [{ path: 'body.patientId' }] }, 'staff must say whose booking it is');
  t.same(await snapshot(), before, 'no refused booking wrote anything');

  // Reschedule: to a taken slot, nothing moves; to a free one, the old slot is free again.
  const other = await call('POST', '/appointments', 'receptionist', { patientId, doctorId: doctor, startsAt: at('10:00') });
  t.equal(other.statusCode, 201);
  const kept = await snapshot();
  const onto = await call('PATCH', `/appointments/${id}`, 'receptionist', { startsAt: at('10:00') });
  t.equal(onto.statusCode, 409);
  t.equal(onto.json().code, 'SLOT_TAKEN', 'rescheduling onto a taken slot: SLOT_TAKEN');
  t.same(await snapshot(), kept, 'and the original slot is kept');
  const offGrid = await call('PATCH', `/appointments/${id}`, 'receptionist', { startsAt: at('10:10') });
  t.equal(offGrid.json().code, 'SLOT_UNAVAILABLE', 'onto no slot at all: SLOT_UNAVAILABLE');
  t.same(await snapshot(), kept, 'nothing moved');
  const moved = await call('PATCH', `/appointments/${id}`, 'receptionist', { startsAt: at('11:30') });
  t.equal(moved.statusCode, 200);
  t.match(moved.json(), { startsAt: at('11:30'), endsAt: at('12:00'), status: 'booked' });
  t.same(await slots(), ['09:00', '09:30'], 'the old slot is free again, the new one taken');

  // The state machine through its routes.
  const steps: [string, string, object | undefined, number, string][] = [
    ['complete', id, undefined, 200, 'completed'],
    ['no-show', id, undefined, 409, 'INVALID_TRANSITION'],
    ['cancel', id, { reason: 'Too late' }, 409, 'INVALID_TRANSITION'],
    ['no-show', other.json().id, undefined, 200, 'no_show'],
    ['complete', other.json().id, undefined, 409, 'INVALID_TRANSITION'],
  ];
  for (const [action, target, body, status, outcome] of steps) {
    const response = await call('POST', `/appointments/${target}/${action}`, 'receptionist', body);
    t.equal(response.statusCode, status, `${action}: ${status}`);
    t.equal(status === 200 ? response.json().status : response.json().code, outcome, `${action}: ${outcome}`);
  }
  const third = (await call('POST', '/appointments', 'receptionist', { patientId, doctorId: doctor, startsAt: at('09:00') })).json().id as string;
  const noReason = await call('POST', `/appointments/${third}/cancel`, 'receptionist', {});
  t.match(noReason.json(), { code: 'VALIDATION_FAILED', errors: [{ path: 'body.reason' }] }, 'a cancellation needs a reason');
  const cancelled = await call('POST', `/appointments/${third}/cancel`, 'receptionist', { reason: 'Patient called' });
  t.match(cancelled.json(), { status: 'cancelled', cancellationReason: 'Patient called' });
  const movedCancelled = await call('PATCH', `/appointments/${third}`, 'receptionist', { startsAt: at('09:30') });
  t.equal(movedCancelled.json().code, 'INVALID_TRANSITION', 'a cancelled appointment cannot be moved');

  const listed = await call('GET', `/appointments?doctorId=${doctor}&from=${at('09:00')}&to=${at('12:00')}&limit=2`, 'nurse');
  t.same(
    listed.json().items.map((a: { startsAt: string; status: string }) => [a.startsAt.slice(11, 16), a.status]),
    [
      ['09:00', 'cancelled'],
      ['10:00', 'no_show'],
    ],
    'a nurse lists them in time order',
  );
  const next = await call('GET', `/appointments?doctorId=${doctor}&limit=2&after=${listed.json().nextCursor}`, 'nurse');
  t.same(
    next.json().items.map((a: { startsAt: string }) => a.startsAt.slice(11, 16)),
    ['11:30'],
    'the cursor continues',
  );
  const wide = await call('GET', `/doctors/${doctor}/availability?from=2027-02-01&to=2027-03-04`, 'receptionist');
  t.match(wide.json(), { code: 'VALIDATION_FAILED', errors: [{ path: 'querystring.to' }] }, 'availability over 32 days: 400 naming to');
});

t.test('the portal: a patient books, reschedules and cancels their own', async (t) => {
  const { call, doctor, patient, register, snapshot } = await setUp(t);
  const otherPatient = await register('a');
  const mine = await call('POST', '/appointments', 'patient', { doctorId: doctor, startsAt: at('09:00') });
  t.equal(mine.statusCode, 201, 'a patient books without naming themselves');
  t.equal(mine.json().patientId, patient, 'for their own record, which the database knows');
  const theirs = await call('POST', '/appointments', 'receptionist', { patientId: otherPatient, doctorId: doctor, startsAt: at('10:00') });
  const before = await snapshot();
  const forOther = await call('POST', '/appointments', 'patient', { patientId: otherPatient, doctorId: doctor, startsAt: at('09:30') });
  t.equal(forOther.statusCode, 403, 'booking for another patient: 403');
  t.same(await snapshot(), before, 'nothing written');

  const id = mine.json().id as string;
  const otherId = theirs.json().id as string;
  t.equal((await call('GET', `/appointments/${otherId}`, 'patient')).statusCode, 404, "another patient's appointment is not found");
  t.equal((await call('POST', `/appointments/${otherId}/cancel`, 'patient', { reason: 'Not mine' })).statusCode, 404, 'nor cancelled');
  t.equal((await call('PATCH', `/appointments/${otherId}`, 'patient', { startsAt: at('11:00') })).statusCode, 404, 'nor moved');
  t.same(
    (await call('GET', '/appointments', 'patient')).json().items.map((a: { id: string }) => a.id),
    [id],
    'a patient lists their own appointments only',
  );
  t.equal((await call('POST', `/appointments/${id}/complete`, 'patient')).statusCode, 403, 'a patient does not complete their own');
  t.equal(
    (await call('PATCH', `/appointments/${id}`, 'patient', { startsAt: at('09:00'), doctorId: otherPatient })).statusCode,
    422,
    'nor hands it to a non-doctor',
  );
  t.same(await snapshot(), before, 'nothing changed by the refused calls');

  const moved = await call('PATCH', `/appointments/${id}`, 'patient', { startsAt: at('11:00') });
  t.equal(moved.statusCode, 200, 'a patient reschedules their own to a free slot');
  t.equal((await call('PATCH', `/appointments/${id}`, 'patient', { startsAt: at('10:00') })).json().code, 'SLOT_TAKEN', 'not onto a taken one');
  const cancelled = await call('POST', `/appointments/${id}/cancel`, 'patient', { reason: 'Feeling better' });
  t.match(cancelled.json(), { status: 'cancelled', cancellationReason: 'Feeling better', startsAt: at('11:00') }, 'and cancels it');
  t.equal((await call('GET', `/doctors/${doctor}/time-off`, 'patient')).statusCode, 403, 'a patient does not read time off');
});

t.test("time off, and another clinic's ids answered like unknown ones", async (t) => {
  const { db, clinics, call, doctor, patient } = await setUp(t);
  const secondDoctor = (
    await db.admin.query(
      `with a as (insert into app_private.accounts (email, password_hash) values ('doc2@example.test', '$argon2id$x') returning id)
       insert into app_public.clinic_members (clinic_id, account_id, role, display_name) select $1, id, 'doctor', 'Doctor Two' from a returning id`,
      [clinics.a],
    )
  ).rows[0].id as string;
  const count = async () => (await db.admin.query('select count(*)::int as n from app_public.doctor_time_off')).rows[0].n as number;
  const block = { startsAt: at('09:00'), endsAt: at('10:00') };
  t.equal((await call('POST', `/doctors/${secondDoctor}/time-off`, 'doctor', block)).statusCode, 403, "a doctor cannot block another doctor's time");
  t.equal(await count(), 0, 'nothing written');
  const byDesk = await call('POST', `/doctors/${secondDoctor}/time-off`, 'receptionist', { ...block, reason: 'Conference' });
  t.equal(byDesk.statusCode, 201, 'the front desk can');
  const backwards = await call('POST', `/doctors/${doctor}/time-off`, 'doctor', { startsAt: at('10:00'), endsAt: at('09:00') });
  t.match(backwards.json(), { status: 422, errors: [{ path: 'body.endsAt' }] }, 'an end before the start: 422 naming endsAt');
  const own = await call('POST', `/doctors/${doctor}/time-off`, 'doctor', block);
  t.equal(own.statusCode, 201);
  t.same(
    (await call('GET', `/doctors/${secondDoctor}/time-off`, 'lab_technician')).json().items.map((o: { reason: string }) => o.reason),
    ['Conference'],
    'staff read time off per doctor',
  );
  t.equal((await call('DELETE', `/time-off/${byDesk.json().id}`, 'doctor')).statusCode, 404, "a doctor cannot delete another doctor's time off: not found");
  t.equal((await call('DELETE', `/time-off/${own.json().id}`, 'doctor')).statusCode, 204, 'their own they can');
  t.equal(await count(), 1, 'one left');

  // Clinic B's receptionist and clinic A's ids, against ids that exist nowhere.
  const booking = await call('POST', '/appointments', 'receptionist', { patientId: patient, doctorId: doctor, startsAt: at('10:00') });
  const appointmentId = booking.json().id as string;
  const pairs: [string, Method, (id: string) => string, object | undefined, string][] = [
    ['appointment', 'GET', (id) => `/appointments/${id}`, undefined, appointmentId],
    ['appointment', 'PATCH', (id) => `/appointments/${id}`, { startsAt: at('11:00') }, appointmentId],
    ['appointment', 'POST', (id) => `/appointments/${id}/cancel`, { reason: 'Gone' }, appointmentId],
    ['appointment', 'POST', (id) => `/appointments/${id}/complete`, undefined, appointmentId],
    ['doctor', 'GET', (id) => `/doctors/${id}/availability?from=${MONDAY}&to=${MONDAY}`, undefined, doctor],
    ['doctor', 'GET', (id) => `/doctors/${id}/time-off`, undefined, doctor],
    ['doctor', 'POST', (id) => `/doctors/${id}/time-off`, block, doctor],
    ['time off', 'DELETE', (id) => `/time-off/${id}`, undefined, byDesk.json().id],
  ];
  for (const [what, method, url, body, id] of pairs) {
    const foreign = await call(method, url(id), 'receptionist', body, 'b');
    const unknown = await call(method, url(randomUUID()), 'receptionist', body, 'b');
    t.equal(foreign.statusCode, 404, `${method} another clinic's ${what}: 404`);
    t.same(
      [foreign.statusCode, foreign.json().code, foreign.json().detail],
      [unknown.statusCode, unknown.json().code, unknown.json().detail],
      'exactly as an unknown id',
    );
  }
  const bPatient = (await db.admin.query(`select id from app_public.patients where clinic_id = $1 limit 1`, [clinics.a])).rows[0].id as string;
  const withForeign = await call('POST', '/appointments', 'receptionist', { patientId: bPatient, doctorId: doctor, startsAt: at('09:00') }, 'b');
  const withUnknown = await call('POST', '/appointments', 'receptionist', { patientId: randomUUID(), doctorId: randomUUID(), startsAt: at('09:00') }, 'b');
  t.same(
    [withForeign.statusCode, withForeign.json().code],
    [withUnknown.statusCode, withUnknown.json().code],
    "booking clinic A's patient and doctor from clinic B is refused as unknown ids are",
  );
  const { rows } = await db.admin.query(`select count(*)::int as n, bool_and(status = 'booked') as untouched from app_public.appointments`);
  t.same(rows, [{ n: 1, untouched: true }], "clinic B wrote nothing, and clinic A's appointment is untouched");
});
