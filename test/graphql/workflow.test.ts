// The workflows through GraphQL with real tokens, against the real database: what REST refuses,
// GraphQL refuses too, because the same constraints and triggers judge both (a taken slot, a
// second check-in), and what REST keeps to itself (merging patients) has no way in; the CRUD the
// policies allow works. Expected rows are read from the database as superuser.
import type { FastifyInstance } from 'fastify';
import t, { type Test } from 'tap';
import type { ClinicRole } from '../../src/db/tenant.ts';
import { actorIn, insertAsAdmin } from '../helpers/actors.ts';
import { buildTestApp } from '../helpers/app.ts';
import { testClient } from '../helpers/client.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { graphql, type GraphqlRequest } from '../helpers/graphql.ts';
// Mondays 09:00–12:00 UTC in 30-minute slots.
import { bookableClinics, onBookableMonday as at } from '../helpers/schedule.ts';

interface Setup {
  db: TestDatabase;
  app: FastifyInstance;
  clinics: { a: string; b: string };
  /** GraphQL as the clinic's actor in that role. */
  as(role: ClinicRole, request: GraphqlRequest | string, clinic?: 'a' | 'b'): ReturnType<typeof graphql>;
  register(clinic?: 'a' | 'b', fullName?: string): Promise<string>;
  count(table: string): Promise<number>;
}

async function setUp(t: Test): Promise<Setup> {
  const db = await createTestDatabase(t);
  const clinics = await bookableClinics(db);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const client = testClient(app);
  return {
    db,
    app,
    clinics,
    as: async (role, request, clinic = 'a') =>
      graphql(app, await client.clinicToken(role, { id: clinics[clinic], slug: `clinic-${clinic}` }, actorIn(db, clinics[clinic], role).account), request),
    register: (clinic = 'a', fullName = 'Booked Patient') =>
      insertAsAdmin(db, clinics[clinic], 'app_public.patients', { full_name: fullName, date_of_birth: '1980-01-01', sex: 'male' }),
    count: async (table) => (await db.admin.query<{ n: number }>(`select count(*)::int as n from ${table}`)).rows[0]!.n,
  };
}

const BOOK = `mutation Book($patientId: UUID!, $doctorId: UUID!, $startsAt: Datetime!, $endsAt: Datetime!) {
  createAppointment(input: { appointment: { patientId: $patientId, doctorId: $doctorId, startsAt: $startsAt, endsAt: $endsAt } }) {
    appointment { rowId status startsAt doctor { rowId } patient { rowId } }
  }
}`;

t.test('booking: a free slot is booked; the same slot again is refused and writes nothing', async (t) => {
  const s = await setUp(t);
  const doctorId = actorIn(s.db, s.clinics.a, 'doctor').member;
  const [first, second] = [await s.register(), await s.register('a', 'Second Patient')];
  const booked = await s.as('receptionist', { query: BOOK, variables: { patientId: first, doctorId, startsAt: at('10:00'), endsAt: at('10:30') } });
  t.equal(booked.errors, undefined, 'no error');
  t.match(booked.data, { createAppointment: { appointment: { status: 'booked', doctor: { rowId: doctorId }, patient: { rowId: first } } } });
  t.equal(await s.count('app_public.appointments'), 1, 'one appointment');

  const taken = await s.as('receptionist', { query: BOOK, variables: { patientId: second, doctorId, startsAt: at('10:00'), endsAt: at('10:30') } });
  t.equal(taken.status, 200, 'a GraphQL answer');
  t.same(taken.data, { createAppointment: null }, 'no appointment');
  t.equal(taken.errors?.length, 1, 'one error');
  t.same(taken.errors?.[0]?.path, ['createAppointment'], 'on the mutation');
  t.equal(await s.count('app_public.appointments'), 1, 'still one appointment: the exclusion constraint refused it');

  const offGrid = await s.as('receptionist', { query: BOOK, variables: { patientId: second, doctorId, startsAt: at('10:10'), endsAt: at('10:40') } });
  t.same(offGrid.data, { createAppointment: null }, 'a time off the slot grid is refused too (the schedule trigger)');
  const longer = await s.as('receptionist', { query: BOOK, variables: { patientId: second, doctorId, startsAt: at('11:00'), endsAt: at('12:00') } });
  t.same(longer.data, { createAppointment: null }, 'so is an end that is not the slot’s');
  t.equal(await s.count('app_public.appointments'), 1, 'nothing written');

  const moved = await s.as('receptionist', {
    query: `mutation Move($rowId: UUID!, $startsAt: Datetime!, $endsAt: Datetime!) {
      updateAppointment(input: { rowId: $rowId, patch: { startsAt: $startsAt, endsAt: $endsAt } }) { appointment { startsAt } }
    }`,
    variables: {
      rowId: (booked.data as { createAppointment: { appointment: { rowId: string } } }).createAppointment.appointment.rowId,
      startsAt: at('11:30'),
      endsAt: at('12:00'),
    },
  });
  t.equal(moved.errors, undefined, 'moving the booking to a free slot works');
  t.same(
    (await s.db.admin.query('select starts_at from app_public.appointments')).rows.map((row) => (row.starts_at as Date).toISOString()),
    [at('11:30')],
  );

  const checkedInWithoutVisit = await s.as('receptionist', {
    query: `mutation Mark($rowId: UUID!) { updateAppointment(input: { rowId: $rowId, patch: { status: "checked_in" } }) { appointment { status } } }`,
    variables: { rowId: (booked.data as { createAppointment: { appointment: { rowId: string } } }).createAppointment.appointment.rowId },
  });
  t.match(checkedInWithoutVisit.errors, [{ message: /status/ }], 'no status to patch: only a check-in checks an appointment in');
  t.same((await s.db.admin.query('select status from app_public.appointments')).rows, [{ status: 'booked' }], 'still booked');
});

t.test('check-in: an appointment checks in once; the second check-in is refused and writes nothing', async (t) => {
  const s = await setUp(t);
  const doctorId = actorIn(s.db, s.clinics.a, 'doctor').member;
  const patientId = await s.register();
  // An appointment of today, written as the fixture it is (the schedule trigger wants a future slot of the grid).
  const client = await s.db.admin.connect();
  let appointmentId: string;
  try {
    await client.query('begin');
    await client.query('set local session_replication_role = replica');
    const { rows } = await client.query(
      `insert into app_public.appointments (clinic_id, patient_id, doctor_id, starts_at, ends_at, booked_by)
       values ($1, $2, $3, date_trunc('hour', now()), date_trunc('hour', now()) + interval '30 minutes', $3) returning id`,
      [s.clinics.a, patientId, doctorId],
    );
    await client.query('commit');
    appointmentId = rows[0].id as string;
  } finally {
    client.release();
  }
  const checkIn = {
    query: `mutation CheckIn($patientId: UUID!, $appointmentId: UUID!) {
      createVisit(input: { visit: { patientId: $patientId, appointmentId: $appointmentId } }) { visit { tokenNumber status appointment { status } } }
    }`,
    variables: { patientId, appointmentId },
  };
  const first = await s.as('receptionist', checkIn);
  t.equal(first.errors, undefined, 'no error');
  t.match(first.data, { createVisit: { visit: { tokenNumber: 1, status: 'waiting', appointment: { status: 'checked_in' } } } });

  const again = await s.as('receptionist', checkIn);
  t.same(again.data, { createVisit: null }, 'the second check-in is refused');
  t.equal(again.errors?.length, 1, 'with one error');
  t.equal(await s.count('app_public.visits'), 1, 'one visit');

  const walkIn = await s.as('receptionist', {
    query: `mutation WalkIn($patientId: UUID!, $doctorId: UUID!) {
      createVisit(input: { visit: { patientId: $patientId, doctorId: $doctorId } }) { visit { rowId tokenNumber } }
    }`,
    variables: { patientId, doctorId },
  });
  t.match(walkIn.data, { createVisit: { visit: { tokenNumber: 2 } } }, 'a walk-in gets the next token');

  // The queue moves are status changes the state machine judges (the doctor's own queue): waiting → completed is not one.
  const visitId = (walkIn.data as { createVisit: { visit: { rowId: string } } }).createVisit.visit.rowId;
  const move = (status: string) =>
    s.as('doctor', {
      query: `mutation Move($rowId: UUID!, $status: String!) { updateVisit(input: { rowId: $rowId, patch: { status: $status } }) { visit { status } } }`,
      variables: { rowId: visitId, status },
    });
  const skipped = await move('completed');
  t.same(skipped.data, { updateVisit: null }, 'a waiting visit cannot be completed');
  t.same((await s.db.admin.query('select status from app_public.visits where id = $1', [visitId])).rows, [{ status: 'waiting' }], 'it still waits');
  t.same((await move('called')).data, { updateVisit: { visit: { status: 'called' } } }, 'calling it is a move the state machine allows');
});

t.test('merging patients: no mutation, and mergedIntoId cannot be written', async (t) => {
  const s = await setUp(t);
  const [duplicate, survivor] = [await s.register(), await s.register('a', 'Survivor')];
  const mutations = await s.as('clinic_admin', '{ __schema { mutationType { fields { name } } } }');
  const names = (mutations.data as { __schema: { mutationType: { fields: { name: string }[] } } }).__schema.mutationType.fields.map((field) => field.name);
  t.same(
    names.filter((name) => /merge/i.test(name)),
    [],
    'no merge mutation',
  );
  const patched = await s.as('clinic_admin', {
    query: `mutation Merge($rowId: UUID!, $into: UUID!) { updatePatient(input: { rowId: $rowId, patch: { mergedIntoId: $into, status: "archived" } }) { patient { mergedIntoId } } }`,
    variables: { rowId: duplicate, into: survivor },
  });
  t.equal(patched.data, undefined, 'the document does not validate');
  t.match(patched.errors, [{ message: /mergedIntoId/ }], 'naming the field it does not know');
  t.same(
    (await s.db.admin.query('select merged_into_id, status from app_public.patients where id = $1', [duplicate])).rows,
    [{ merged_into_id: null, status: 'registered' }],
    'the record is untouched',
  );
});

t.test('departments: a clinic admin creates, updates and deletes by row id; a receptionist may not', async (t) => {
  const s = await setUp(t);
  const created = await s.as('clinic_admin', {
    query: `mutation { createDepartment(input: { department: { code: "CARD", name: "Cardiology" } }) { department { rowId code name isActive } } }`,
  });
  t.equal(created.errors, undefined, 'created');
  const rowId = (created.data as { createDepartment: { department: { rowId: string } } }).createDepartment.department.rowId;
  t.same(
    (await s.db.admin.query('select clinic_id, code, name from app_public.departments')).rows,
    [{ clinic_id: s.clinics.a, code: 'CARD', name: 'Cardiology' }],
    "in the token's clinic",
  );

  const refused = await s.as('receptionist', {
    query: `mutation Rename($rowId: UUID!) { updateDepartment(input: { rowId: $rowId, patch: { name: "Heart" } }) { department { name } } }`,
    variables: { rowId },
  });
  // RLS shows the receptionist no row to update: PostGraphile answers a payload without a record, no error.
  t.same(refused.data, { updateDepartment: { department: null } }, 'a receptionist updates nothing (RLS)');
  const theirs = await s.as(
    'clinic_admin',
    {
      query: `mutation Rename($rowId: UUID!) { updateDepartment(input: { rowId: $rowId, patch: { name: "Heart" } }) { department { name } } }`,
      variables: { rowId },
    },
    'b',
  );
  t.same(theirs.data, { updateDepartment: { department: null } }, "another clinic's admin finds nothing to update, as for an id that does not exist");
  t.same((await s.db.admin.query('select name from app_public.departments')).rows, [{ name: 'Cardiology' }], 'unchanged');

  const renamed = await s.as('clinic_admin', {
    query: `mutation Rename($rowId: UUID!) { updateDepartment(input: { rowId: $rowId, patch: { name: "Heart" } }) { department { name } } }`,
    variables: { rowId },
  });
  t.same(renamed.data, { updateDepartment: { department: { name: 'Heart' } } }, 'renamed by its row id');
  const found = await s.as('clinic_admin', { query: `{ departmentByCode(code: "CARD") { name } departments(condition: { code: "CARD" }) { totalCount } }` });
  t.same(found.data, { departmentByCode: { name: 'Heart' }, departments: { totalCount: 1 } }, 'found by its code, without a clinic id');
  const nodeId = (
    (await s.as('clinic_admin', { query: `query One($rowId: UUID!) { department(rowId: $rowId) { id } }`, variables: { rowId } })).data as {
      department: { id: string };
    }
  ).department.id;
  const byNode = await s.as('clinic_admin', { query: `query ByNode($id: ID!) { node(id: $id) { ... on Department { rowId } } }`, variables: { id: nodeId } });
  t.same(byNode.data, { node: { rowId } }, 'its node id (the real key, clinic included) finds it too');

  const bell = await s.as('clinic_admin', {
    query: `mutation Bell($name: String!) { createDepartment(input: { department: { code: "BELL", name: $name } }) { department { rowId } } }`,
    variables: { name: 'Ring\u0007ing' },
  });
  t.same(bell.data, { createDepartment: null }, 'a control character is refused, as REST refuses it (departments_name_check)');
  const lines = await s.as('clinic_admin', {
    query: `mutation Lines($rowId: UUID!, $description: String!) { updateDepartment(input: { rowId: $rowId, patch: { description: $description } }) { department { description } } }`,
    variables: { rowId, description: 'First line\nsecond line' },
  });
  t.same(lines.data, { updateDepartment: { department: { description: 'First line\nsecond line' } } }, 'line breaks are fine in a description');
  t.equal(await s.count('app_public.departments'), 1, 'still one department');

  const deleted = await s.as('clinic_admin', {
    query: `mutation Remove($rowId: UUID!) { deleteDepartment(input: { rowId: $rowId }) { department { code } } }`,
    variables: { rowId },
  });
  t.same(deleted.data, { deleteDepartment: { department: { code: 'CARD' } } }, 'deleted by its row id');
  t.equal(await s.count('app_public.departments'), 0, 'gone');
});
