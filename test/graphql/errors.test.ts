// GraphQL errors speak REST's language: the database's refusals carry the same `extensions.code` as
// REST's problem codes, with the catalogue's message; nothing of the database (SQL, tables,
// constraints, a row's values) reaches a production client; an unknown failure is INTERNAL with
// the request id that finds it in the log; a support token's mutation is refused before it runs.
import type { Test } from 'tap';
import t from 'tap';
import { buildTestApp, type TestAppOptions } from '../helpers/app.ts';
import { actorIn, insertAsAdmin } from '../helpers/actors.ts';
import { testClient } from '../helpers/client.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { errorCodes, graphql } from '../helpers/graphql.ts';
import { createOperator } from '../helpers/people.ts';
// Clinics whose doctors can be booked on Mondays 09:00–12:00 UTC in 30-minute slots.
import { bookableClinics, onBookableMonday as at } from '../helpers/schedule.ts';

// The schema's names these tests rely on, in one place (they may change with the naming work).
const DEPARTMENTS = 'departments';
const createDepartment = (code: string) =>
  `mutation { createDepartment(input: { department: { code: "${code}", name: "Department ${code}" } }) { department { code } } }`;
const BOOK = `mutation Book($patientId: UUID!, $doctorId: UUID!, $startsAt: Datetime!, $endsAt: Datetime!) {
  createAppointment(input: { appointment: { patientId: $patientId, doctorId: $doctorId, startsAt: $startsAt, endsAt: $endsAt } }) { appointment { status } }
}`;

/** What a database error says and a client must never read. */
const DATABASE_WORDS = /departments_|clinic_members|violates|row-level|relation|sqlstate|debug|insert into|update app/i;

async function setup(t: Test, surface: TestAppOptions = {}) {
  const db = await createTestDatabase(t);
  const clinics = await bookableClinics(db);
  await db.admin.query(`insert into app_public.departments (clinic_id, code, name) values ($1, 'CARD', 'Cardiology')`, [clinics.a]);
  const { app, logs } = await buildTestApp(t, db.authenticatorUrl, undefined, undefined, undefined, surface);
  const clinicA = { id: clinics.a, slug: 'clinic-a' };
  const client = testClient(app);
  const admin = await client.clinicToken('clinic_admin', clinicA, actorIn(db, clinics.a, 'clinic_admin').account);
  const nurse = await client.clinicToken('nurse', clinicA, actorIn(db, clinics.a, 'nurse').account);
  const receptionist = await client.clinicToken('receptionist', clinicA, actorIn(db, clinics.a, 'receptionist').account);
  return { db, app, logs, clinics, client, admin, nurse, receptionist };
}

t.test("production: the database's refusals carry REST's codes and messages, and nothing of the database", async (t) => {
  const { db, app, clinics, admin, nurse, receptionist } = await setup(t, { env: 'production' });

  const taken = await graphql(app, admin, createDepartment('CARD'));
  t.same(errorCodes(taken), ['CONFLICT'], 'a unique key: CONFLICT, as REST');
  t.equal(taken.errors?.[0]?.message, 'The request conflicts with existing data: code is already taken.');
  t.same(taken.errors?.[0]?.extensions, { code: 'CONFLICT', errors: [{ path: 'code', message: 'is already taken' }] }, 'the input field at fault, no debug');
  t.same(taken.errors?.[0]?.path, ['createDepartment']);

  const badCode = await graphql(app, admin, createDepartment('not a code'));
  t.same(errorCodes(badCode), ['CONSTRAINT_VIOLATION'], 'a check constraint');
  t.equal(badCode.errors?.[0]?.message, 'The data breaks a rule: code is not allowed.');

  const refused = await graphql(app, nurse, createDepartment('NURSE'));
  t.same(errorCodes(refused), ['FORBIDDEN'], 'a row-level security refusal (42501): FORBIDDEN, not a masked message');
  t.equal(refused.errors?.[0]?.message, 'This action is not allowed');

  const booking = async (startsAt: string, endsAt: string) => ({
    patientId: await insertAsAdmin(db, clinics.a, 'app_public.patients', { full_name: 'Booked Patient', date_of_birth: '1980-01-01', sex: 'male' }),
    doctorId: actorIn(db, clinics.a, 'doctor').member,
    startsAt: at(startsAt),
    endsAt: at(endsAt),
  });
  t.same(errorCodes(await graphql(app, receptionist, { query: BOOK, variables: await booking('10:00', '10:30') })), [], 'a free slot is booked');
  const slotTaken = await graphql(app, receptionist, { query: BOOK, variables: await booking('10:00', '10:30') });
  t.same(errorCodes(slotTaken), ['SLOT_TAKEN'], 'the double-booking constraint: SLOT_TAKEN, as REST');
  t.equal(slotTaken.errors?.[0]?.message, 'Another appointment holds this slot.');
  const offGrid = await graphql(app, receptionist, { query: BOOK, variables: await booking('10:10', '10:40') });
  t.same(errorCodes(offGrid), ['SLOT_UNAVAILABLE'], 'the schedule trigger (CBSLT): SLOT_UNAVAILABLE, as REST');
  t.equal(offGrid.errors?.[0]?.message, "This time is not a free slot of the doctor's schedule.");

  for (const [what, result] of Object.entries({ taken, badCode, refused, slotTaken, offGrid })) {
    t.notMatch(result.response.body, DATABASE_WORDS, `${what}: no table, constraint or database wording`);
  }
  const { rows } = await db.admin.query(`select code from app_public.departments order by code`);
  t.same(rows, [{ code: 'CARD' }], 'nothing was written');
});

t.test('outside production a refusal also names the database objects, for developers (never a value)', async (t) => {
  const { app, admin } = await setup(t);
  const taken = await graphql(app, admin, createDepartment('CARD'));
  t.same(taken.errors?.[0]?.extensions?.debug, { sqlstate: '23505', table: 'departments', constraint: 'departments_code_key' });
});

t.test('production: an unknown failure is INTERNAL with the request id; no debug, no SQL, no value', async (t) => {
  const { db, app, admin, logs } = await setup(t, { env: 'production' });
  // A test-only trigger that fails in a way no catalogue entry knows, quoting the row it refuses.
  await db.admin.query(`
    create function public.test_unknown_failure() returns trigger language plpgsql as $$
    begin raise exception 'cannot store %', new.name using errcode = 'P0001'; end $$;
    create trigger test_unknown_failure before insert on app_public.departments for each row execute function public.test_unknown_failure()`);

  const failed = await graphql(app, admin, createDepartment('NEW'), { 'x-request-id': 'req-graphql-unknown-1' });
  t.same(
    failed.errors?.map(({ message, path, extensions }) => ({ message, path, extensions })),
    [{ message: 'Internal error', path: ['createDepartment'], extensions: { code: 'INTERNAL', requestId: 'req-graphql-unknown-1' } }],
  );
  t.equal(failed.response.headers['x-request-id'], 'req-graphql-unknown-1', 'the id the client quotes is the one in the response header');
  t.notMatch(failed.response.body, /Department NEW|cannot store|P0001|trigger/, "nothing of the row or the database's message");
  const logged = logs().filter((line) => line.msg === 'graphql operation failed');
  t.match(logged, [{ requestId: 'req-graphql-unknown-1', db: { code: 'P0001' } }], 'logged with the request id and the SQLSTATE');
  t.notMatch(JSON.stringify(logged), /Department NEW|cannot store/, "the log keeps the code, never the database's message");
});

t.test('support access: reads work, a mutation is refused before it reaches the database', async (t) => {
  const { db, app, client, admin } = await setup(t);
  const password = 'operators keep the lights on';
  await createOperator(db, 'ops@example.test', password);
  const grant = await client.post(
    '/api/v1/clinics/clinic-a/support-access',
    { operatorEmail: 'ops@example.test', reason: 'Ticket 12: GraphQL errors', hours: 1 },
    admin,
  );
  t.equal(grant.statusCode, 201);
  const operator = (await client.platformLogin('ops@example.test', password)).json().accessToken as string;
  const issued = await client.call('POST', `/api/v1/platform/support-access/${grant.json().id}/token`, operator);
  const support = issued.json().accessToken as string;

  t.same((await graphql(app, support, `{ ${DEPARTMENTS} { totalCount } }`)).data, { [DEPARTMENTS]: { totalCount: 1 } }, 'the support token reads');
  const write = await graphql(app, support, createDepartment('SUP'));
  t.equal(write.status, 400, 'refused as a request: nothing of it ran');
  t.same(write.errors, [{ message: 'Support access is read-only.', extensions: { code: 'FORBIDDEN' } }], "REST's refusal, not the database's read-only error");
  t.equal(write.data, undefined);
  const { rows } = await db.admin.query(`select count(*)::int as n from app_public.departments`);
  t.same(rows, [{ n: 1 }], 'no department written');
});

t.test("introspection off (production): a misspelt field is refused without graphql-js' suggestions, which would spell out the schema", async (t) => {
  const misspelt = '{ departmentz { totalCount } }';
  const production = await setup(t, { env: 'production' });
  const refused = await graphql(production.app, production.nurse, misspelt);
  t.equal(refused.status, 400);
  t.same(
    refused.errors?.map((error) => error.message),
    ['Cannot query field "departmentz" on type "Query".'],
  );
  const development = await setup(t, { env: 'development' });
  const helped = await graphql(development.app, development.nurse, misspelt);
  t.match(helped.errors?.[0]?.message, / Did you mean "/, 'with introspection on (development) the suggestion stays, for developers');
});

t.test("a cursor that no answer gave is the client's input: VALIDATION_FAILED, worded for the client", async (t) => {
  const { app, nurse } = await setup(t, { env: 'production' });
  const refused = await graphql(app, nurse, `{ ${DEPARTMENTS}(after: "not-a-cursor") { nodes { code } } }`);
  t.same(errorCodes(refused), ['VALIDATION_FAILED']);
  t.equal(refused.errors?.[0]?.message, 'Invalid cursor, please enter a cursor from a previous request, or null.');
});
