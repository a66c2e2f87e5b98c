// The appointment rules as the database holds them, under app_user as the app runs (withTenant),
// with no route in between: free slots from office hours ∩ operating hours on the clinic's wall
// clock (daylight-saving days included), bookings outside them refused (CBSLT), the state machine
// (CBSTA), the portal patient's limits, and doctor_free_slots' own guards. Expected slots are
// written out as UTC instants worked out by hand from the zone's rules, never computed.
import { sql } from 'kysely';
import t, { type Test } from 'tap';
import { withTenant, type ClinicRole, type TenantContext, type TenantDb } from '../../src/db/tenant.ts';
import { actorIn, createActors } from '../helpers/actors.ts';
import { createClinics, createTestDatabase, sqlstateOf, type TestDatabase } from '../helpers/db.ts';

interface Schedule {
  timezone: string;
  slotMinutes: number;
  operatingHours: Record<string, string[][]>;
  officeHours: Record<string, string[][]>;
}

async function clinicWith(t: Test, schedule: Schedule) {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  await createActors(db, [clinics.a, clinics.b]);
  await db.admin.query('update app_public.clinics set timezone = $2 where id = $1', [clinics.a, schedule.timezone]);
  await db.admin.query('insert into app_public.clinic_settings (clinic_id, appointment_slot_minutes, operating_hours) values ($1, $2, $3)', [
    clinics.a,
    schedule.slotMinutes,
    schedule.operatingHours,
  ]);
  const doctor = actorIn(db, clinics.a, 'doctor').member;
  await db.admin.query('update app_public.clinic_members set office_hours = $2 where id = $1', [doctor, schedule.officeHours]);
  const as = (role: ClinicRole, clinicId = clinics.a): TenantContext => ({ clinicId, userId: actorIn(db, clinicId, role).account, role });
  const patient = await patientOf(db, as('receptionist'), actorIn(db, clinics.a, 'patient').member);
  return { db, clinics, as, doctor, patient };
}

function patientOf(db: TestDatabase, ctx: TenantContext, memberId: string | null = null): Promise<string> {
  return withTenant(db.pool, ctx, (trx) =>
    sql<{
      id: string;
    }>`insert into app_public.patients (full_name, date_of_birth, sex, member_id) values ('Slot Patient', '1970-07-07', 'female', ${memberId}) returning id`
      .execute(trx)
      .then((r) => r.rows[0]!.id),
  );
}

const slotsOf = (db: TestDatabase, ctx: TenantContext, doctor: string, from: string, to: string) =>
  withTenant(db.pool, ctx, (trx) =>
    sql<{ startsAt: string; endsAt: string }>`
      select to_char(starts_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI"Z"') as starts_at, to_char(ends_at at time zone 'UTC', 'HH24:MI"Z"') as ends_at
      from app_public.doctor_free_slots(${doctor}, ${from}::date, ${to}::date)`
      .execute(trx)
      .then((r) => r.rows.map((s) => `${s.startsAt}–${s.endsAt}`)),
  );

const book = (db: TestDatabase, ctx: TenantContext, patient: string, doctor: string, starts: string, ends: string) =>
  withTenant(db.pool, ctx, (trx) =>
    sql<{
      id: string;
    }>`insert into app_public.appointments (patient_id, doctor_id, starts_at, ends_at) values (${patient}, ${doctor}, ${starts}, ${ends}) returning id`
      .execute(trx)
      .then((r) => r.rows[0]!.id),
  );

const SUNDAY_NIGHT = { sun: [['00:00', '04:00']] };

t.test('daylight-saving days in America/New_York: the skipped hour has no slots, the repeated one is not doubled', async (t) => {
  const { db, as, doctor, patient } = await clinicWith(t, { timezone: 'America/New_York', slotMinutes: 30, operatingHours: {}, officeHours: SUNDAY_NIGHT });
  // 2027-03-14: clocks go from 02:00 EST (UTC-5) to 03:00 EDT (UTC-4); 02:00 and 02:30 do not exist.
  t.same(
    await slotsOf(db, as('receptionist'), doctor, '2027-03-14', '2027-03-14'),
    [
      '2027-03-14T05:00Z–05:30Z',
      '2027-03-14T05:30Z–06:00Z',
      '2027-03-14T06:00Z–06:30Z',
      '2027-03-14T06:30Z–07:00Z',
      '2027-03-14T07:00Z–07:30Z',
      '2027-03-14T07:30Z–08:00Z',
    ],
    'spring forward: 00:00, 00:30, 01:00, 01:30 EST then 03:00, 03:30 EDT (six slots, none in the missing hour)',
  );
  // 2027-11-07: clocks go from 02:00 EDT back to 01:00 EST; 01:00–01:59 happens twice.
  t.same(
    await slotsOf(db, as('receptionist'), doctor, '2027-11-07', '2027-11-07'),
    [
      '2027-11-07T04:00Z–04:30Z',
      '2027-11-07T04:30Z–05:00Z',
      '2027-11-07T06:00Z–06:30Z',
      '2027-11-07T06:30Z–07:00Z',
      '2027-11-07T07:00Z–07:30Z',
      '2027-11-07T07:30Z–08:00Z',
      '2027-11-07T08:00Z–08:30Z',
      '2027-11-07T08:30Z–09:00Z',
    ],
    'fall back: eight wall-clock slots, 01:00 and 01:30 once each (at their standard-time occurrence)',
  );
  t.same(
    await slotsOf(db, as('patient'), doctor, '2027-03-06', '2027-03-08'),
    [
      '2027-03-07T05:00Z–05:30Z',
      '2027-03-07T05:30Z–06:00Z',
      '2027-03-07T06:00Z–06:30Z',
      '2027-03-07T06:30Z–07:00Z',
      '2027-03-07T07:00Z–07:30Z',
      '2027-03-07T07:30Z–08:00Z',
      '2027-03-07T08:00Z–08:30Z',
      '2027-03-07T08:30Z–09:00Z',
    ],
    'an ordinary Sunday in winter (UTC-5): eight slots, Saturday and Monday none; a patient sees them too',
  );
  t.ok(await book(db, as('receptionist'), patient, doctor, '2027-03-14 07:00Z', '2027-03-14 07:30Z'), 'the 03:00 EDT slot of the spring-forward day books');
  t.equal(
    await sqlstateOf(book(db, as('receptionist'), patient, doctor, '2027-11-07 05:00Z', '2027-11-07 05:30Z')),
    'CBSLT',
    'the first 01:00 of the fall-back night (EDT) is not a slot: the trigger follows the same rule',
  );
});

t.test('bookings outside the schedule are refused by the database itself', async (t) => {
  const { db, clinics, as, doctor, patient } = await clinicWith(t, {
    timezone: 'Europe/Berlin',
    slotMinutes: 20,
    // The clinic opens 08:00–12:00 on Mondays; the doctor works 09:00–13:00: slots 09:00–11:40.
    operatingHours: { mon: [['08:00', '12:00']] },
    officeHours: { mon: [['09:00', '13:00']], tue: [['09:00', '13:00']] },
  });
  // 2027-02-01 is a Monday; Berlin is UTC+1 in winter: 09:00 local is 08:00Z.
  const monday = await slotsOf(db, as('receptionist'), doctor, '2027-02-01', '2027-02-02');
  t.same(
    monday,
    [
      '2027-02-01T08:00Z–08:20Z',
      '2027-02-01T08:20Z–08:40Z',
      '2027-02-01T08:40Z–09:00Z',
      '2027-02-01T09:00Z–09:20Z',
      '2027-02-01T09:20Z–09:40Z',
      '2027-02-01T09:40Z–10:00Z',
      '2027-02-01T10:00Z–10:20Z',
      '2027-02-01T10:20Z–10:40Z',
      '2027-02-01T10:40Z–11:00Z',
    ],
    'Monday 09:00–12:00 local in 20-minute slots; Tuesday none (the clinic is closed)',
  );
  await withTenant(db.pool, as('receptionist'), (trx) =>
    sql`insert into app_public.doctor_time_off (doctor_id, starts_at, ends_at, reason) values (${doctor}, '2027-02-01 08:30Z', '2027-02-01 09:00Z', 'ward round')`.execute(
      trx,
    ),
  );
  await book(db, as('receptionist'), patient, doctor, '2027-02-01 10:00Z', '2027-02-01 10:20Z');
  t.same(
    await slotsOf(db, as('patient'), doctor, '2027-02-01', '2027-02-01'),
    [
      '2027-02-01T08:00Z–08:20Z',
      '2027-02-01T09:00Z–09:20Z',
      '2027-02-01T09:20Z–09:40Z',
      '2027-02-01T09:40Z–10:00Z',
      '2027-02-01T10:20Z–10:40Z',
      '2027-02-01T10:40Z–11:00Z',
    ],
    'time off 09:30–10:00 local removes the two slots it touches, the booking at 11:00 local its own',
  );

  const refused: [string, string, string, string][] = [
    ['inside time off', doctor, '2027-02-01 08:40Z', '2027-02-01 09:00Z'],
    ['outside operating hours (the doctor works, the clinic is closed)', doctor, '2027-02-01 11:00Z', '2027-02-01 11:20Z'],
    ['before office hours', doctor, '2027-02-01 07:40Z', '2027-02-01 08:00Z'],
    ['off the grid', doctor, '2027-02-01 08:10Z', '2027-02-01 08:30Z'],
    ['two slots at once', doctor, '2027-02-01 09:00Z', '2027-02-01 09:40Z'],
    ['on a closed day', doctor, '2027-02-02 08:00Z', '2027-02-02 08:20Z'],
    ['a member who is not a doctor', actorIn(db, clinics.a, 'nurse').member, '2027-02-01 09:00Z', '2027-02-01 09:20Z'],
  ];
  for (const [what, who, starts, ends] of refused) {
    const code = await sqlstateOf(book(db, as('receptionist'), patient, who, starts, ends));
    t.ok(code === 'CBSLT' || (who !== doctor && code === '23514'), `${what}: refused (${code})`);
  }
  const past = await db.admin.query<{ starts: string }>(
    `select to_char(d + time '09:00', 'YYYY-MM-DD HH24:MI') as starts from (select (now() at time zone 'Europe/Berlin')::date - (extract(isodow from now() at time zone 'Europe/Berlin')::int - 1) - 7 as d) x`,
  );
  t.equal(
    await sqlstateOf(
      withTenant(db.pool, as('receptionist'), (trx) =>
        sql`insert into app_public.appointments (patient_id, doctor_id, starts_at, ends_at)
            values (${patient}, ${doctor}, ${past.rows[0]!.starts}::timestamp at time zone 'Europe/Berlin', (${past.rows[0]!.starts}::timestamp at time zone 'Europe/Berlin') + interval '20 minutes')`.execute(
          trx,
        ),
      ),
    ),
    'CBSLT',
    "last week's Monday 09:00, a slot of the schedule once, is in the past",
  );
  await db.admin.query(`update app_public.clinic_members set status = 'deactivated' where id = $1`, [doctor]);
  t.equal(
    await sqlstateOf(book(db, as('receptionist'), patient, doctor, '2027-02-01 08:00Z', '2027-02-01 08:20Z')),
    'CBSLT',
    'a deactivated doctor has no slots',
  );
  t.same(await slotsOf(db, as('receptionist'), doctor, '2027-02-01', '2027-02-01'), [], 'and offers none');
  const { rows } = await db.admin.query('select count(*)::int as n from app_public.appointments');
  t.equal(rows[0].n, 1, 'only the one valid booking was written');
});

t.test('doctor_free_slots guards itself', async (t) => {
  const { db, clinics, as, doctor } = await clinicWith(t, { timezone: 'UTC', slotMinutes: 30, operatingHours: {}, officeHours: { mon: [['09:00', '10:00']] } });
  t.equal(
    await sqlstateOf(slotsOf(db, { ...as('patient'), clinicId: null }, doctor, '2027-02-01', '2027-02-01')),
    '42501',
    'no clinic in the context: refused',
  );
  t.same(await slotsOf(db, as('receptionist', clinics.b), doctor, '2027-02-01', '2027-02-07'), [], "another clinic's doctor has no slots in mine");
  t.equal(await sqlstateOf(slotsOf(db, as('receptionist'), doctor, '2027-02-01', '2027-03-04')), '22023', '32 days: refused');
  t.equal(await sqlstateOf(slotsOf(db, as('receptionist'), doctor, '2027-02-02', '2027-02-01')), '22023', 'to before from: refused');
  t.same(
    await slotsOf(db, as('receptionist'), doctor, '2027-02-01', '2027-03-03'),
    [
      '2027-02-01T09:00Z–09:30Z',
      '2027-02-01T09:30Z–10:00Z',
      '2027-02-08T09:00Z–09:30Z',
      '2027-02-08T09:30Z–10:00Z',
      '2027-02-15T09:00Z–09:30Z',
      '2027-02-15T09:30Z–10:00Z',
      '2027-02-22T09:00Z–09:30Z',
      '2027-02-22T09:30Z–10:00Z',
      '2027-03-01T09:00Z–09:30Z',
      '2027-03-01T09:30Z–10:00Z',
    ],
    '31 days: answered',
  );
  const { rows } = await db.admin.query(`
    select p.prosecdef, p.proconfig, has_function_privilege('app_user', p.oid, 'execute') as app_user,
      coalesce((select bool_or(a.grantee = 0) from aclexplode(p.proacl) a), false) as public
    from pg_proc p where p.oid = 'app_public.doctor_free_slots(uuid, date, date)'::regprocedure`);
  t.same(
    rows,
    [{ prosecdef: true, proconfig: ['search_path=pg_catalog, pg_temp'], app_user: true, public: false }],
    'SECURITY DEFINER, pinned search_path, not executable by PUBLIC',
  );
});

// Planned from set-returning functions Postgres cannot count, the schedule's query is estimated at
// billions; a server with JIT then spent ~650 ms compiling it on every booking (seen on Postgres 15).
t.test('the schedule is never JIT-compiled, and its functions state realistic row counts', async (t) => {
  const db = await createTestDatabase(t);
  const { rows } = await db.admin.query(`
    select p.oid::regprocedure::text as function, p.prorows::int as rows, p.proconfig as config from pg_proc p
    where p.oid in ('app_private.doctor_schedule(uuid, uuid, date, date)'::regprocedure, 'app_private.weekday_ranges(jsonb, text)'::regprocedure)
    order by 1`);
  t.same(rows, [
    { function: 'app_private.doctor_schedule(uuid,uuid,date,date)', rows: 40, config: ['search_path=pg_catalog, pg_temp', 'jit=off'] },
    { function: 'app_private.weekday_ranges(jsonb,text)', rows: 3, config: ['search_path=pg_catalog, pg_temp'] },
  ]);
});

/** Every transition from each state, as the receptionist: allowed or CBSTA. */
const TRANSITIONS: [from: string, to: string, outcome: 'allowed' | 'CBSTA'][] = [
  ['booked', 'checked_in', 'allowed'],
  ['booked', 'completed', 'allowed'],
  ['booked', 'cancelled', 'allowed'],
  ['booked', 'no_show', 'allowed'],
  ['checked_in', 'completed', 'allowed'],
  ['checked_in', 'no_show', 'allowed'],
  ['checked_in', 'booked', 'CBSTA'],
  ['checked_in', 'cancelled', 'CBSTA'],
  ['completed', 'booked', 'CBSTA'],
  ['completed', 'checked_in', 'CBSTA'],
  ['completed', 'cancelled', 'CBSTA'],
  ['completed', 'no_show', 'CBSTA'],
  ['cancelled', 'booked', 'CBSTA'],
  ['cancelled', 'checked_in', 'CBSTA'],
  ['cancelled', 'completed', 'CBSTA'],
  ['no_show', 'booked', 'CBSTA'],
  ['no_show', 'checked_in', 'CBSTA'],
  ['no_show', 'completed', 'CBSTA'],
];

/** The path from booked to each state, through allowed transitions. */
const PATH: Record<string, string[]> = { booked: [], checked_in: ['checked_in'], completed: ['completed'], cancelled: ['cancelled'], no_show: ['no_show'] };

t.test('the state machine of appointments', async (t) => {
  const { db, as, doctor, patient } = await clinicWith(t, { timezone: 'UTC', slotMinutes: 15, operatingHours: {}, officeHours: { mon: [['08:00', '18:00']] } });
  const setStatus = (id: string, status: string) => (trx: TenantDb) =>
    sql`update app_public.appointments set status = ${status}, cancellation_reason = ${status === 'cancelled' ? 'called off' : null} where id = ${id}`.execute(
      trx,
    );
  const statusOf = async (id: string) => (await db.admin.query('select status from app_public.appointments where id = $1', [id])).rows[0].status as string;
  let minute = 0;
  for (const [from, to, outcome] of TRANSITIONS) {
    const starts = new Date(Date.UTC(2027, 1, 1, 8) + minute * 60_000);
    minute += 15;
    const id = await book(db, as('receptionist'), patient, doctor, starts.toISOString(), new Date(starts.getTime() + 900_000).toISOString());
    for (const step of PATH[from]!) await withTenant(db.pool, as('receptionist'), setStatus(id, step));
    const code = await sqlstateOf(withTenant(db.pool, as('receptionist'), setStatus(id, to)));
    t.equal(code, outcome === 'allowed' ? 'resolved' : 'CBSTA', `${from} → ${to}: ${outcome}`);
    t.equal(await statusOf(id), outcome === 'allowed' ? to : from, `${from} → ${to}: the row is ${outcome === 'allowed' ? to : `still ${from}`}`);
  }

  const id = await book(db, as('receptionist'), patient, doctor, '2027-02-08 08:00Z', '2027-02-08 08:15Z');
  const move = (trx: TenantDb) =>
    sql`update app_public.appointments set starts_at = '2027-02-08 09:00Z', ends_at = '2027-02-08 09:15Z' where id = ${id}`.execute(trx);
  await withTenant(db.pool, as('receptionist'), setStatus(id, 'checked_in'));
  t.equal(await sqlstateOf(withTenant(db.pool, as('receptionist'), move)), 'CBSTA', 'a checked-in appointment keeps its time');
  const noReason = await sqlstateOf(
    withTenant(db.pool, as('receptionist'), async (trx) => {
      const other = await book(db, as('receptionist'), patient, doctor, '2027-02-08 10:00Z', '2027-02-08 10:15Z');
      await sql`update app_public.appointments set status = 'cancelled' where id = ${other}`.execute(trx);
    }),
  );
  t.equal(noReason, '23514', 'cancelling needs a reason (appointments_cancellation_reason_valid)');
});

t.test('the portal patient: their own future bookings, times and cancellation only', async (t) => {
  const { db, clinics, as, doctor, patient } = await clinicWith(t, {
    timezone: 'UTC',
    slotMinutes: 15,
    operatingHours: {},
    officeHours: { mon: [['08:00', '18:00']] },
  });
  const otherPatient = await patientOf(db, as('receptionist'));
  const asPatient = (statement: ReturnType<typeof sql>) => sqlstateOf(withTenant(db.pool, as('patient'), (trx) => statement.execute(trx)));
  const own = await book(db, as('patient'), patient, doctor, '2027-02-01 08:00Z', '2027-02-01 08:15Z');
  t.ok(own, 'a patient books a free slot for themselves');
  t.equal(await sqlstateOf(book(db, as('patient'), otherPatient, doctor, '2027-02-01 09:00Z', '2027-02-01 09:15Z')), '42501', 'not for another patient');
  t.equal(await sqlstateOf(book(db, as('patient'), patient, doctor, '2027-02-01 08:05Z', '2027-02-01 08:20Z')), 'CBSLT', 'nor off the grid');
  t.equal(
    await asPatient(sql`update app_public.appointments set reason = 'changed my mind' where id = ${own}`),
    '42501',
    'a patient does not rewrite the reason',
  );
  const secondDoctor = (
    await db.admin.query(
      `with a as (insert into app_private.accounts (email, password_hash) values ('doc2@example.test', '$argon2id$x') returning id)
       insert into app_public.clinic_members (clinic_id, account_id, role, display_name, office_hours) select $1, id, 'doctor', 'Doctor Two', $2 from a returning id`,
      [clinics.a, { mon: [['08:00', '18:00']] }],
    )
  ).rows[0].id as string;
  t.equal(await asPatient(sql`update app_public.appointments set doctor_id = ${secondDoctor} where id = ${own}`), '42501', 'nor moves it to another doctor');
  t.equal(
    await asPatient(sql`update app_public.appointments set starts_at = '2027-02-01 10:00Z', ends_at = '2027-02-01 10:15Z' where id = ${own}`),
    'resolved',
    'but reschedules it to another free slot',
  );
  t.equal(await asPatient(sql`update app_public.appointments set status = 'completed' where id = ${own}`), '42501', 'and cannot complete it');
  // An appointment of theirs that has started (written by the superuser: nobody can book the past).
  await db.admin.query(`alter table app_public.appointments disable trigger _310_in_schedule`);
  const started = (
    await db.admin.query(
      `insert into app_public.appointments (clinic_id, patient_id, doctor_id, starts_at, ends_at, booked_by)
       values ($1, $2, $3, now() - interval '5 minutes', now() + interval '10 minutes', $3) returning id`,
      [clinics.a, patient, doctor],
    )
  ).rows[0].id as string;
  await db.admin.query(`alter table app_public.appointments enable trigger _310_in_schedule`);
  t.equal(
    await asPatient(sql`update app_public.appointments set status = 'cancelled', cancellation_reason = 'too late' where id = ${started}`),
    '42501',
    'an appointment that has begun is no longer theirs to cancel',
  );
  t.equal(
    await asPatient(sql`update app_public.appointments set status = 'cancelled', cancellation_reason = 'cannot come' where id = ${own}`),
    'resolved',
    'a future one is',
  );
  const { rows } = await db.admin.query('select id, status, reason, doctor_id, starts_at from app_public.appointments order by starts_at');
  t.same(
    rows.map((r) => [r.id, r.status, r.reason, r.doctor_id]),
    [
      [started, 'booked', null, doctor],
      [own, 'cancelled', null, doctor],
    ],
    'nothing else changed',
  );
});
