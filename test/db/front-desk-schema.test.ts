// The front desk's tables as the database holds them, before any route: per-clinic numbering
// without gaps or duplicates under concurrency (patient numbers, visit tokens), taken on the
// clinic's own calendar; the double-booking exclusion constraint; who current_member_id() and
// current_patient_id() are; the role a referenced membership must have; the access log's
// defaults and append-only rule. Expected calendar values come from the database's own now() with
// the zone written out here, in the same transaction as the insert: never from the clinic row the
// code reads.
import { sql } from 'kysely';
import t, { type Test } from 'tap';
import { createFieldCipher } from '../../src/crypto/field-encryption.ts';
import { fromDatabaseError } from '../../src/errors.ts';
import { withTenant, type ClinicRole, type TenantContext, type TenantDb } from '../../src/db/tenant.ts';
import { ALL_DAY_EVERY_DAY, actorIn, createActors } from '../helpers/actors.ts';
import { createClinics, createTestDatabase, sqlstateOf, type TestDatabase } from '../helpers/db.ts';

// 25 hours apart: at every instant their local dates differ by one or two days, never zero.
const EAST = 'Pacific/Kiritimati'; // UTC+14
const WEST = 'Pacific/Pago_Pago'; // UTC-11

async function frontDesk(t: Test, poolSize = 2) {
  const db = await createTestDatabase(t, { poolSize });
  const clinics = await createClinics(db);
  await db.admin.query('update app_public.clinics set timezone = $2 where id = $1', [clinics.a, EAST]);
  await db.admin.query('update app_public.clinics set timezone = $2 where id = $1', [clinics.b, WEST]);
  await createActors(db, [clinics.a, clinics.b]);
  const as = (role: ClinicRole, clinicId = clinics.a): TenantContext => ({ clinicId, userId: actorIn(db, clinicId, role).account, role });
  return { db, clinics, as };
}

class Rollback extends Error {}

/** Registers a patient and reads, in the same transaction, the year of now() in `zone`; rolls back when asked. */
function register(db: TestDatabase, ctx: TenantContext, zone: string, { rollback = false } = {}) {
  return withTenant(db.pool, ctx, async (trx) => {
    const row = await sql<{ number: string; expectedYear: string }>`
      insert into app_public.patients (full_name, date_of_birth, sex) values ('Concurrent Patient', '1990-05-17', 'male')
      returning patient_number as number, to_char(now() at time zone ${zone}, 'YYYY') as expected_year`
      .execute(trx)
      .then((r) => r.rows[0]!);
    if (rollback) throw new Rollback();
    return row;
  }).catch((error: unknown) => {
    if (error instanceof Rollback) return undefined;
    throw error;
  });
}

const serialOf = (patientNumber: string) => Number(patientNumber.slice('PT-YYYY-'.length));
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

t.test('patient numbers: consecutive per clinic and year, gap-free under concurrency and rollback', async (t) => {
  const { db, clinics, as } = await frontDesk(t, 10);
  // No patient quota: its lock would queue the registrations by itself and hide a counter that does not.
  await db.admin.query(`update app_public.clinics set plan = 'enterprise'`);

  const first = await Promise.all(range(1, 50).map(() => register(db, as('receptionist'), EAST)));
  const numbers = first.map((r) => r!.number);
  t.equal(new Set(numbers).size, 50, '50 concurrent registrations, 50 distinct numbers');
  t.same(
    numbers.map(serialOf).sort((x, y) => x - y),
    range(1, 50),
    'numbered 1 to 50 without a gap',
  );
  const malformed = first.map((r) => r!).filter(({ number, expectedYear }) => !new RegExp(`^PT-${expectedYear}-\\d{5}$`).test(number));
  t.same(malformed, [], `every number is PT-YYYY-NNNNN with the year of now() in ${EAST}`);

  // Seven more at once, three of them rolled back after their insert: their numbers are given back.
  const second = await Promise.all(range(1, 7).map((i) => register(db, as('receptionist'), EAST, { rollback: i % 2 === 0 })));
  const kept = second.filter((r) => r !== undefined).map((r) => serialOf(r.number));
  t.same(
    kept.sort((x, y) => x - y),
    [51, 52, 53, 54],
    'four committed of seven concurrent: 51 to 54, the rolled-back three left no gap',
  );
  const next = await register(db, as('clinic_admin'), EAST);
  t.equal(serialOf(next!.number), 55, 'and the next one is 55');

  const other = await register(db, as('receptionist', clinics.b), WEST);
  t.match(other!.number, new RegExp(`^PT-${other!.expectedYear}-00001$`), 'another clinic counts on its own, in its own year');
  const { rows } = await db.admin.query('select count(*)::int as n from app_public.patients where clinic_id = $1', [clinics.a]);
  t.equal(rows[0].n, 55, 'exactly the committed registrations are stored');
});

t.test('visit tokens: consecutive per clinic and clinic-local day, under concurrency', async (t) => {
  const { db, clinics, as } = await frontDesk(t, 10);
  const patientIn = (clinicId: string) =>
    withTenant(db.pool, as('receptionist', clinicId), (trx) =>
      sql<{ id: string }>`insert into app_public.patients (full_name, date_of_birth, sex) values ('Queue Patient', '1975-01-01', 'other') returning id`
        .execute(trx)
        .then((r) => r.rows[0]!.id),
    );
  const checkIn = (clinicId: string, patientId: string, zone: string) =>
    withTenant(db.pool, as('receptionist', clinicId), (trx: TenantDb) =>
      sql<{ token: number; visitDate: string; expectedDate: string }>`
        insert into app_public.visits (patient_id, doctor_id, priority)
        values (${patientId}, ${actorIn(db, clinicId, 'doctor').member}, 'normal')
        returning token_number as token, visit_date::text as visit_date, (now() at time zone ${zone})::date::text as expected_date`
        .execute(trx)
        .then((r) => r.rows[0]!),
    );

  const east = await patientIn(clinics.a);
  const tokens = await Promise.all(range(1, 20).map(() => checkIn(clinics.a, east, EAST)));
  t.same(
    tokens.map((v) => v.token).sort((x, y) => x - y),
    range(1, 20),
    '20 concurrent check-ins get tokens 1 to 20, none twice',
  );
  t.ok(
    tokens.every((v) => v.visitDate === v.expectedDate),
    `the visit date is today in ${EAST} (now() at time zone, in the same transaction)`,
  );

  const west = await patientIn(clinics.b);
  const inWest = await checkIn(clinics.b, west, WEST);
  t.equal(inWest.token, 1, "another clinic's first token of its day is 1");
  t.equal(inWest.visitDate, inWest.expectedDate, `its visit date is today in ${WEST}`);
  const days = (Date.parse(tokens[0]!.visitDate) - Date.parse(inWest.visitDate)) / 86_400_000;
  t.ok(days === 1 || days === 2, `UTC+14 and UTC-11 check-ins at the same moment are on different dates (${days} days apart), not the server's one date`);

  const { rows } = await db.admin.query(
    `select counter, period, last_value from app_private.clinic_counters where clinic_id = $1 and counter = 'visit_token'`,
    [clinics.a],
  );
  t.same(rows, [{ counter: 'visit_token', period: tokens[0]!.visitDate, last_value: 20 }], 'one counter row for the clinic-local day');
});

t.test('the exclusion constraint: one active appointment per doctor at a time', async (t) => {
  const { db, clinics, as } = await frontDesk(t);
  const doctor = actorIn(db, clinics.a, 'doctor').member;
  const { rows } = await db.admin.query<{ id: string }>(
    `with account as (insert into app_private.accounts (email, password_hash) values ('second-doctor@example.test', '$argon2id$x') returning id)
     insert into app_public.clinic_members (clinic_id, account_id, role, display_name, office_hours)
     select $1, id, 'doctor', 'Second Doctor', $2 from account returning id`,
    [clinics.a, ALL_DAY_EVERY_DAY],
  );
  const secondDoctor = rows[0]!.id;
  const patientOf = (clinicId: string) =>
    withTenant(db.pool, as('receptionist', clinicId), (trx) =>
      sql<{ id: string }>`insert into app_public.patients (full_name, date_of_birth, sex) values ('Booked Patient', '1960-03-03', 'female') returning id`
        .execute(trx)
        .then((r) => r.rows[0]!.id),
    );
  const patient = await patientOf(clinics.a);
  const book = (doctorId: string, starts: string, ends: string, ctx = as('receptionist'), patientId = patient) =>
    withTenant(db.pool, ctx, (trx) =>
      sql<{ id: string }>`insert into app_public.appointments (patient_id, doctor_id, starts_at, ends_at)
        values (${patientId}, ${doctorId}, ${starts}, ${ends}) returning id`
        .execute(trx)
        .then((r) => r.rows[0]!.id),
    );
  const count = async () => (await db.admin.query('select count(*)::int as n from app_public.appointments')).rows[0].n as number;

  // Slots of 15 minutes (the default), the doctors working all day (helpers/actors.ts).
  const first = await book(doctor, '2031-03-10 09:00Z', '2031-03-10 09:15Z');
  const overlap = await book(doctor, '2031-03-10 09:00Z', '2031-03-10 09:15Z').catch((error: unknown) => error);
  t.match(overlap, { code: '23P01', constraint: 'appointments_starts_at_excl' }, 'a second booking of the same doctor and slot is refused');
  t.match(fromDatabaseError(overlap), { status: 409, code: 'SLOT_TAKEN', errors: [{ path: 'body.startsAt' }] }, 'as a 409 SLOT_TAKEN naming the start time');
  t.equal(await sqlstateOf(book(doctor, '2031-03-10 08:45Z', '2031-03-10 09:30Z')), 'CBSLT', 'one that encloses it is not a slot at all');
  t.equal(await count(), 1, 'nothing was written by the refused bookings');

  await book(doctor, '2031-03-10 09:15Z', '2031-03-10 09:30Z');
  t.pass('the next slot back to back is free (the range excludes its end)');
  await book(secondDoctor, '2031-03-10 09:00Z', '2031-03-10 09:15Z');
  t.pass('another doctor at the same time is free');
  await book(actorIn(db, clinics.b, 'doctor').member, '2031-03-10 09:00Z', '2031-03-10 09:15Z', as('receptionist', clinics.b), await patientOf(clinics.b));
  t.pass("another clinic's doctor at the same time is free");

  await withTenant(db.pool, as('receptionist'), (trx) =>
    sql`update app_public.appointments set status = 'cancelled', cancellation_reason = 'patient called' where id = ${first}`.execute(trx),
  );
  await book(doctor, '2031-03-10 09:00Z', '2031-03-10 09:15Z');
  t.pass('a cancelled appointment frees its slot');
  t.equal(
    await sqlstateOf(
      withTenant(db.pool, as('receptionist'), (trx) =>
        sql`update app_public.appointments set status = 'booked', cancellation_reason = null where id = ${first}`.execute(trx),
      ),
    ),
    'CBSTA',
    'and cannot be reinstated (cancelled is final)',
  );
  t.equal(
    await sqlstateOf(book(doctor, '2031-03-11 09:30Z', '2031-03-11 09:00Z')),
    '23514',
    'an appointment ends after it starts (appointments_ends_at_valid)',
  );
});

t.test('current_member_id() and current_patient_id(): the caller in the clinic, or NULL', async (t) => {
  const { db, clinics, as } = await frontDesk(t);
  const whoAmI = (ctx: TenantContext) =>
    withTenant(db.pool, ctx, (trx) =>
      sql<{ member: string | null; patient: string | null }>`select app_public.current_member_id() as member, app_public.current_patient_id() as patient`
        .execute(trx)
        .then((r) => r.rows[0]!),
    );
  const patientActor = actorIn(db, clinics.a, 'patient');
  const record = await withTenant(db.pool, as('receptionist'), (trx) =>
    sql<{ id: string }>`insert into app_public.patients (full_name, date_of_birth, sex, member_id)
      values ('Portal Patient', '2001-12-24', 'female', ${patientActor.member}) returning id`
      .execute(trx)
      .then((r) => r.rows[0]!.id),
  );

  t.same(await whoAmI(as('doctor')), { member: actorIn(db, clinics.a, 'doctor').member, patient: null }, 'a doctor: their membership, no patient record');
  t.same(await whoAmI(as('patient')), { member: patientActor.member, patient: record }, 'a patient: their membership and their linked record');
  t.same(await whoAmI({ ...as('patient'), clinicId: null }), { member: null, patient: null }, 'no clinic in the context: NULL');
  t.same(await whoAmI({ ...as('patient'), userId: null }), { member: null, patient: null }, 'no user in the context: NULL');
  t.same(await whoAmI({ ...as('patient'), role: 'doctor' }), { member: null, patient: null }, 'a role the membership does not have: NULL');
  t.same(await whoAmI({ ...as('patient'), clinicId: clinics.b }), { member: null, patient: null }, 'another clinic: NULL');
  await db.admin.query(`update app_public.clinic_members set status = 'deactivated' where id = $1`, [patientActor.member]);
  t.same(await whoAmI(as('patient')), { member: null, patient: null }, 'a deactivated membership: NULL');

  const { rows } = await db.admin.query(`
    select p.proname, p.prosecdef, p.provolatile, p.proconfig,
      has_function_privilege('app_user', p.oid, 'execute') as app_user,
      has_function_privilege('app_platform', p.oid, 'execute') as app_platform,
      coalesce((select bool_or(a.grantee = 0) from aclexplode(p.proacl) a), false) as public
    from pg_proc p where p.oid in ('app_public.current_member_id()'::regprocedure, 'app_public.current_patient_id()'::regprocedure)
    order by 1`);
  const expected = { prosecdef: true, provolatile: 's', proconfig: ['search_path=pg_catalog, pg_temp'], app_user: true, app_platform: false, public: false };
  t.same(
    rows,
    [
      { proname: 'current_member_id', ...expected },
      { proname: 'current_patient_id', ...expected },
    ],
    'STABLE SECURITY DEFINER with a pinned search_path, executable by app_user only',
  );
});

t.test('references to memberships must have the right role', async (t) => {
  const { db, clinics, as } = await frontDesk(t);
  const nurse = actorIn(db, clinics.a, 'nurse').member;
  const linkNurse = await withTenant(db.pool, as('receptionist'), (trx) =>
    sql`insert into app_public.patients (full_name, date_of_birth, sex, member_id) values ('Not A Portal', '1999-09-09', 'male', ${nurse})`.execute(trx),
  ).catch((error: unknown) => error);
  t.match(linkNurse, { code: '23514', constraint: 'patients_member_id_valid' }, "a patient record cannot be linked to a nurse's membership");
  t.match(fromDatabaseError(linkNurse), { status: 422, errors: [{ path: 'body.memberId' }] }, 'a 422 naming memberId');

  const nurseOff = await withTenant(db.pool, as('receptionist'), (trx) =>
    sql`insert into app_public.doctor_time_off (doctor_id, starts_at, ends_at) values (${nurse}, '2031-01-01 09:00Z', '2031-01-01 12:00Z')`.execute(trx),
  ).catch((error: unknown) => error);
  t.match(fromDatabaseError(nurseOff), { status: 422, errors: [{ path: 'body.doctorId' }] }, "time off is a doctor's (422 naming doctorId)");
  const { rows } = await db.admin.query(
    `select (select count(*) from app_public.patients)::int as patients, (select count(*) from app_public.doctor_time_off)::int as time_off`,
  );
  t.same(rows[0], { patients: 0, time_off: 0 }, 'nothing was written');
});

t.test('patient columns the database owns and derives', async (t) => {
  const { db, as } = await frontDesk(t);
  t.equal(
    await sqlstateOf(
      withTenant(db.pool, as('receptionist'), (trx) =>
        sql`insert into app_public.patients (full_name, date_of_birth, sex, patient_number) values ('Chosen', '1990-01-01', 'male', 'PT-2000-00001')`.execute(
          trx,
        ),
      ),
    ),
    '42501',
    'a client cannot choose the patient number',
  );
  const row = await withTenant(db.pool, as('receptionist'), (trx) =>
    sql<{ phoneNormalised: string }>`insert into app_public.patients (full_name, date_of_birth, sex, phone)
      values ('Dialled', '1990-01-01', 'male', '+44 (20) 7946-0018') returning phone_normalised`
      .execute(trx)
      .then((r) => r.rows[0]!),
  );
  t.equal(row.phoneNormalised, '+442079460018', 'the normalised phone keeps the digits and the leading +');
  t.equal(
    await sqlstateOf(
      withTenant(db.pool, as('receptionist'), (trx) =>
        sql`insert into app_public.patients (full_name, date_of_birth, sex) values ('Unborn', (now() at time zone 'Etc/GMT-14')::date + 1, 'male')`.execute(
          trx,
        ),
      ),
    ),
    '23514',
    'a date of birth after today everywhere on earth is refused',
  );
});

t.test('identification numbers are stored as field-encryption writes them, never in clear', async (t) => {
  const { db, clinics, as } = await frontDesk(t);
  const cipher = createFieldCipher([{ id: 'k-2031', secret: Buffer.alloc(32, 7) }]);
  const context = { clinicId: clinics.a, field: 'patients.identification_number' };
  const store = (ciphertext: string, hmac: string) =>
    withTenant(db.pool, as('receptionist'), (trx) =>
      sql`insert into app_public.patients (full_name, date_of_birth, sex, identification_type, identification_number_ciphertext, identification_number_hmac)
        values ('Identified', '1985-04-04', 'female', 'passport', ${ciphertext}, ${hmac})`.execute(trx),
    );
  await store(cipher.encrypt('X1234567', context), cipher.lookupHash('X1234567', context));
  t.pass("src/crypto's ciphertext and look-up hash fit the columns");
  const clear = await store('X1234567', cipher.lookupHash('X1234567', context)).catch((error: unknown) => error);
  t.match(fromDatabaseError(clear), { status: 422, errors: [{ path: 'body.identificationNumberCiphertext' }] }, 'a number in clear is refused');
  t.equal(await sqlstateOf(store(cipher.encrypt('X1234567', context), 'a'.repeat(64))), '23514', 'a hash without its key id is refused');
  const { rows } = await db.admin.query('select count(*)::int as n from app_public.patients');
  t.equal(rows[0].n, 1, 'only the well-formed one was stored');
});

t.test('the chart access log: written as the reader, from the context, append-only', async (t) => {
  const { db, clinics, as } = await frontDesk(t);
  const patient = await withTenant(db.pool, as('receptionist'), (trx) =>
    sql<{ id: string }>`insert into app_public.patients (full_name, date_of_birth, sex) values ('Read Patient', '1950-06-06', 'male') returning id`
      .execute(trx)
      .then((r) => r.rows[0]!.id),
  );
  const reader: TenantContext = { ...as('nurse'), requestId: 'req-chart-1', clientIp: '203.0.113.9' };
  await withTenant(db.pool, reader, (trx) =>
    sql`insert into app_public.patient_access_log (patient_id, action) values (${patient}, 'read_record')`.execute(trx),
  );
  const { rows } = await db.admin.query('select member_id, request_id, host(client_ip) as client_ip, action from app_public.patient_access_log');
  t.same(
    rows,
    [{ member_id: actorIn(db, clinics.a, 'nurse').member, request_id: 'req-chart-1', client_ip: '203.0.113.9', action: 'read_record' }],
    'who, which request and which address come from the context',
  );

  const asAdmin = (statement: string) => withTenant(db.pool, as('clinic_admin'), (trx) => sql.raw(statement).execute(trx));
  t.equal(await sqlstateOf(asAdmin('update app_public.patient_access_log set action = action')), '42501', 'no update, not even for clinic admins');
  t.equal(await sqlstateOf(asAdmin('delete from app_public.patient_access_log')), '42501', 'no delete');
  t.equal(
    await sqlstateOf(asAdmin(`insert into app_public.patient_access_log (patient_id, action, member_id) values ('${patient}', 'read_record', null)`)),
    '42501',
    'the reader cannot be named by the caller',
  );
  const owner = new (await import('pg')).default.Client({ connectionString: db.ownerUrl });
  await owner.connect();
  t.teardown(() => owner.end());
  t.equal((await owner.query('update app_public.patient_access_log set action = action')).rowCount, 0, 'the owner reaches no row to update');
  t.equal((await owner.query('delete from app_public.patient_access_log')).rowCount, 0, 'nor to delete');
  const after = await db.admin.query('select count(*)::int as n from app_public.patient_access_log');
  t.equal(after.rows[0].n, 1, 'the entry is still there');
});
