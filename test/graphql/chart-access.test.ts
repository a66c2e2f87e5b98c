// The chart access log through GraphQL: every way of reading a patient's record, history or files
// (a lookup, node(id:), a connection, a relation, the patient's own record, a support grant) writes
// the rows REST would (who, what, the address, the request id sent as x-request-id); a read of
// another clinic's patient, of nothing, of no chart, or of a patient's summary alone (what REST's
// search answers unrecorded) writes none; a read that cannot be recorded answers no field of the
// record; and recording costs the same statements for one patient as for many.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import t from 'tap';
import { withContext } from '../../src/db/tenant.ts';
import { actorIn, insertAsAdmin } from '../helpers/actors.ts';
import { buildTestApp } from '../helpers/app.ts';
import { holdLock } from '../helpers/db.ts';
import { graphql } from '../helpers/graphql.ts';
import { patientsApp, person } from '../helpers/patients.ts';
import { countRoundTrips } from '../helpers/round-trips.ts';
import { eventually } from '../helpers/wait.ts';

/** Every document this file sends (the schema's names in one place). */
const DOCUMENTS = {
  byLookup: 'query ($id: UUID!) { patient(rowId: $id) { fullName address } }',
  byNode: 'query ($nodeId: ID!) { node(id: $nodeId) { ... on Patient { fullName address } } }',
  connection: 'query ($first: Int!) { patients(first: $first, orderBy: PATIENT_NUMBER_ASC) { nodes { fullName address } } }',
  appointmentPatients: 'query { appointments { nodes { startsAt patient { fullName address } } } }',
  // Only what REST's search answers unrecorded: a schedule, a list to pick the right person from.
  schedule: 'query { appointments { nodes { patient { id rowId patientNumber fullName dateOfBirth sex phone status mergedIntoId } } } }',
  search: 'query { patients(filter: { fullName: { includesInsensitive: "number" } }, orderBy: PATIENT_NUMBER_ASC) { nodes { rowId fullName dateOfBirth } } }',
  chart: `query ($id: UUID!) { patient(rowId: $id) {
    patientNumber
    patientHistories { nodes { name } }
    files { nodes { originalName } }
  } }`,
  typenameOnly: 'query ($id: UUID!) { patient(rowId: $id) { __typename } }',
  noPatients: 'query { departments { nodes { name } } }',
  updateHistory: `mutation ($id: UUID!) {
    updatePatientHistory(input: { rowId: $id, patch: { detail: "Rash" } }) { patientHistory { detail patient { fullName } } }
  }`,
};

/** The log as a clinic admin would audit it: who (membership or grant), what, the request and the address. */
async function logRows(db: { admin: { query: (sql: string, values: unknown[]) => Promise<{ rows: unknown[] }> } }, requestId?: string) {
  const { rows } = await db.admin.query(
    `select member_id, support_grant_id, patient_id, file_id, action, request_id, host(client_ip) as client_ip
     from app_public.patient_access_log where $1::text is null or request_id = $1 order by action, patient_id`,
    [requestId ?? null],
  );
  return rows;
}

/** From now on the log refuses rows of request `requestId` (a check constraint added by the superuser). */
async function refuseRecording(db: { admin: { query: (sql: string) => Promise<unknown> } }, requestId: string) {
  await db.admin.query(
    `alter table app_public.patient_access_log add constraint test_refuses_request check (request_id is distinct from '${requestId}') not valid`,
  );
}

/** A registration with an address: a column of the record, not of the summary. */
const withAddress = (n: number) => person(n, { address: `${n} High Street` });

/** Patient's node id as PostGraphile encodes it (base64 of the JSON [type, clinic, id]), made here by hand. */
const patientNodeId = (clinicId: string, id: string) => Buffer.from(JSON.stringify(['Patient', clinicId, id])).toString('base64');

t.test('each way of reading a patient writes one row per patient read, in the request', async (t) => {
  const { db, clinics, app, token, register, member } = await patientsApp(t);
  const first = await register(withAddress(1));
  const second = await register(withAddress(2));
  const theirs = await register(withAddress(3), 'b');
  const doctor = member('doctor');
  const send = async (document: string, variables: Record<string, unknown>, requestId: string) => {
    const response = await app.inject({
      method: 'POST',
      url: '/graphql',
      headers: { authorization: `Bearer ${await token('doctor')}`, 'x-request-id': requestId },
      payload: { query: document, variables },
      remoteAddress: '203.0.113.7',
    });
    t.equal(response.json().errors, undefined, `${requestId}: no errors`);
    return response.json().data;
  };
  const row = (patientId: string, requestId: string) => ({
    member_id: doctor,
    support_grant_id: null,
    patient_id: patientId,
    file_id: null,
    action: 'read_record',
    request_id: requestId,
    client_ip: '203.0.113.7',
  });

  t.same(await send(DOCUMENTS.byLookup, { id: first }, 'req-lookup'), {
    patient: { fullName: 'Person Number1 Testcase', address: '1 High Street' },
  });
  t.same(await logRows(db), [row(first, 'req-lookup')], 'a lookup');

  t.same(await send(DOCUMENTS.byNode, { nodeId: patientNodeId(clinics.a, second) }, 'req-node'), {
    node: { fullName: 'Person Number2 Testcase', address: '2 High Street' },
  });
  t.same(await logRows(db, 'req-node'), [row(second, 'req-node')], 'node(id:)');

  t.same(await send(DOCUMENTS.connection, { first: 10 }, 'req-connection'), {
    patients: {
      nodes: [
        { fullName: 'Person Number1 Testcase', address: '1 High Street' },
        { fullName: 'Person Number2 Testcase', address: '2 High Street' },
      ],
    },
  });
  t.same(
    await logRows(db, 'req-connection'),
    [first, second].sort().map((id) => row(id, 'req-connection')),
    'a connection: each patient of the page',
  );

  for (const [hour, patientId] of [second, first, second].entries()) {
    await insertAsAdmin(db, clinics.a, 'app_public.appointments', {
      patient_id: patientId,
      doctor_id: doctor,
      starts_at: new Date(Date.UTC(2030, 0, 1, 9 + hour)),
      ends_at: new Date(Date.UTC(2030, 0, 1, 9 + hour, 15)),
    });
  }
  const viaRelation = (await send(DOCUMENTS.appointmentPatients, {}, 'req-relation')) as { appointments: { nodes: unknown[] } };
  t.equal(viaRelation.appointments.nodes.length, 3);
  t.same(
    await logRows(db, 'req-relation'),
    [first, second].sort().map((id) => row(id, 'req-relation')),
    'a relation: each patient once per request',
  );

  const before = (await logRows(db)).length;
  t.same(await send(DOCUMENTS.byLookup, { id: theirs }, 'req-theirs'), { patient: null }, "another clinic's patient is not there");
  t.same(await send(DOCUMENTS.byNode, { nodeId: patientNodeId(clinics.b, theirs) }, 'req-theirs-node'), { node: null });
  t.same(await send(DOCUMENTS.byLookup, { id: randomUUID() }, 'req-unknown'), { patient: null });
  t.same(await send(DOCUMENTS.noPatients, {}, 'req-no-patients'), { departments: { nodes: [] } });
  t.same(await send(DOCUMENTS.typenameOnly, { id: first }, 'req-typename'), { patient: { __typename: 'Patient' } });
  const schedule = (await send(DOCUMENTS.schedule, {}, 'req-schedule')) as { appointments: { nodes: { patient: Record<string, unknown> }[] } };
  t.same(schedule.appointments.nodes.map(({ patient }) => patient.fullName).sort(), [
    'Person Number1 Testcase',
    'Person Number2 Testcase',
    'Person Number2 Testcase',
  ]);
  t.same(await send(DOCUMENTS.search, {}, 'req-search'), {
    patients: {
      nodes: [first, second].map((rowId, i) => ({ rowId, fullName: `Person Number${i + 1} Testcase`, dateOfBirth: ['1911-02-11', '1912-03-12'][i] })),
    },
  });
  t.equal(
    (await logRows(db)).length,
    before,
    'nothing recorded for another clinic, an unknown id, no patient, no field, or the summary alone (as REST search)',
  );

  await refuseRecording(db, 'req-refused');
  const refused = await graphql(app, await token('doctor'), { query: DOCUMENTS.connection, variables: { first: 10 } }, { 'x-request-id': 'req-refused' });
  t.same(
    refused.data,
    {
      patients: {
        nodes: [
          { fullName: 'Person Number1 Testcase', address: null },
          { fullName: 'Person Number2 Testcase', address: null },
        ],
      },
    },
    'a read that cannot be recorded answers no field of the record (the summary is not one)',
  );
  t.same(
    refused.errors?.map((error) => error.path),
    [
      ['patients', 'nodes', 0, 'address'],
      ['patients', 'nodes', 1, 'address'],
    ],
  );
  t.equal((await logRows(db)).length, before);
});

t.test('history and files: read_record and read_files, as REST records them', async (t) => {
  const { db, clinics, app, token, register, member } = await patientsApp(t);
  const id = await register(withAddress(1));
  const history: string[] = [];
  for (const name of ['Penicillin', 'Latex']) {
    history.push(await insertAsAdmin(db, clinics.a, 'app_public.patient_history', { patient_id: id, kind: 'allergy', name, severity: 'severe' }));
  }
  const scan = { original_name: 'consent.png', content_type: 'image/png', size_bytes: 2048, sha256: 'c'.repeat(64) };
  await insertAsAdmin(db, clinics.a, 'app_public.files', { patient_id: id, category: 'registration', ...scan });
  const result = await graphql(app, await token('nurse'), { query: DOCUMENTS.chart, variables: { id } }, { 'x-request-id': 'req-chart' });
  t.equal(result.errors, undefined);
  const patient = (
    result.data as {
      patient: { patientNumber: string; patientHistories: { nodes: { name: string }[] }; files: unknown };
    }
  ).patient;
  t.match(patient.patientNumber, /^PT-\d{4}-00001$/);
  t.same(patient.patientHistories.nodes.map(({ name }) => name).sort(), ['Latex', 'Penicillin']);
  t.same(patient.files, { nodes: [{ originalName: 'consent.png' }] });
  const row = { member_id: member('nurse'), support_grant_id: null, patient_id: id, file_id: null, request_id: 'req-chart', client_ip: '127.0.0.1' };
  t.same(await logRows(db), [
    { ...row, action: 'read_files' },
    { ...row, action: 'read_record' },
  ]);

  // The front desk does not see the history (RLS): it reads the files only, and only they are recorded.
  const desk = await graphql(app, await token('receptionist'), { query: DOCUMENTS.chart, variables: { id } }, { 'x-request-id': 'req-desk' });
  const deskChart = (desk.data as { patient: Record<string, unknown> }).patient;
  t.same(deskChart.patientHistories, { nodes: [] });
  t.same(deskChart.files, { nodes: [{ originalName: 'consent.png' }] });
  t.same(await logRows(db, 'req-desk'), [{ ...row, member_id: member('receptionist'), action: 'read_files', request_id: 'req-desk' }]);

  // A mutation's payload is a read like any other (it reaches related records, and `query`).
  const updated = await graphql(
    app,
    await token('doctor'),
    { query: DOCUMENTS.updateHistory, variables: { id: history[0] } },
    { 'x-request-id': 'req-update' },
  );
  t.same(updated.data, { updatePatientHistory: { patientHistory: { detail: 'Rash', patient: { fullName: 'Person Number1 Testcase' } } } });
  t.same(await logRows(db, 'req-update'), [{ ...row, member_id: member('doctor'), action: 'read_record', request_id: 'req-update' }]);
});

t.test("a patient's own record is recorded as theirs; another patient's is not there", async (t) => {
  const { db, app, token, call, register, member } = await patientsApp(t);
  const own = await register(withAddress(1));
  const other = await register(withAddress(2));
  await call('PATCH', `/${own}`, 'receptionist', { memberId: member('patient') });
  const read = async (id: string, requestId: string) =>
    graphql(app, await token('patient'), { query: DOCUMENTS.byLookup, variables: { id } }, { 'x-request-id': requestId });
  t.same((await read(own, 'req-own')).data, { patient: { fullName: 'Person Number1 Testcase', address: '1 High Street' } });
  t.same((await read(other, 'req-other')).data, { patient: null });
  t.same(await logRows(db), [
    {
      member_id: member('patient'),
      support_grant_id: null,
      patient_id: own,
      file_id: null,
      action: 'read_record',
      request_id: 'req-own',
      client_ip: '127.0.0.1',
    },
  ]);
});

t.test('a support read is recorded through the grant; one revoked meanwhile or that cannot be recorded answers no data', async (t) => {
  const { db, clinics, app, register, supportAccess } = await patientsApp(t);
  const id = await register(withAddress(1));
  const { grant, token: support } = await supportAccess();
  const read = (requestId: string) => graphql(app, support, { query: DOCUMENTS.byLookup, variables: { id } }, { 'x-request-id': requestId });

  const granted = await read('req-support');
  t.equal(granted.errors, undefined);
  t.same(granted.data, { patient: { fullName: 'Person Number1 Testcase', address: '1 High Street' } });
  t.same(await logRows(db), [
    { member_id: null, support_grant_id: grant, patient_id: id, file_id: null, action: 'read_record', request_id: 'req-support', client_ip: '127.0.0.1' },
  ]);

  await refuseRecording(db, 'req-refused');
  const refused = await read('req-refused');
  t.same(
    refused.data,
    { patient: { fullName: 'Person Number1 Testcase', address: null } },
    'a support read that cannot be recorded answers no field of the record',
  );
  t.same(
    refused.errors?.map((error) => error.path),
    [['patient', 'address']],
  );
  t.equal((await logRows(db)).length, 1);

  // Revoked while the read waits, after the guard let the token in: the recording refuses, nothing is sent.
  const release = await holdLock(db.admin, 'app_public.patients');
  const pending = read('req-revoked');
  const waiting = "select count(*)::int as n from pg_locks where relation = 'app_public.patients'::regclass and not granted";
  await eventually(
    async () => (await db.admin.query(waiting)).rows[0]!.n as number,
    (n) => n > 0,
  );
  // The admin revokes it as the API would (the trigger stamps who and when).
  await withContext(db.pool, 'app_user', { clinicId: clinics.a, userId: actorIn(db, clinics.a, 'clinic_admin').account, role: 'clinic_admin' }, (tx) =>
    sql`update app_public.support_access_grants set revoked_at = now() where id = ${grant}`.execute(tx),
  );
  await release();
  const revoked = await pending;
  t.same(revoked.data, { patient: { fullName: 'Person Number1 Testcase', address: null } }, 'nor does a read under a grant revoked meanwhile');
  t.same(
    revoked.errors?.map((error) => [error.path, error.extensions?.code, error.message]),
    [[['patient', 'address'], 'UNAUTHENTICATED', 'This support access has ended.']],
    "REST's answer to an ended grant, on the field withheld",
  );
  t.equal((await logRows(db)).length, 1);
});

t.test('the statements per request do not grow with the patients read', async (t) => {
  const { db, clinics, token, register, member } = await patientsApp(t);
  const ids: string[] = [];
  for (let n = 1; n <= 6; n++) ids.push(await register(withAddress(n)));
  for (const [hour, patientId] of ids.entries()) {
    await insertAsAdmin(db, clinics.a, 'app_public.appointments', {
      patient_id: patientId,
      doctor_id: member('doctor'),
      starts_at: new Date(Date.UTC(2030, 0, 1, 8 + hour)),
      ends_at: new Date(Date.UTC(2030, 0, 1, 8 + hour, 15)),
    });
  }
  const wire = await countRoundTrips(t, db.authenticatorUrl);
  const { app } = await buildTestApp(t, wire.url);
  const roundTrips = async (first: number) => {
    wire.take();
    const result = await graphql(app, await token('doctor'), { query: DOCUMENTS.connection, variables: { first } });
    t.equal(result.errors, undefined);
    t.equal((result.data as { patients: { nodes: unknown[] } }).patients.nodes.length, first);
    return wire.take();
  };
  await roundTrips(1); // a new connection's first request also prepares statements
  // The page's read, a read-only implicit transaction with the context in its message (1), and the
  // log's insert (BEGIN and the context in its message, then COMMIT: 2): 3.
  t.equal(await roundTrips(1), 3, 'one patient');
  t.equal(await roundTrips(6), 3, 'six patients');
  wire.take();
  const related = await graphql(app, await token('doctor'), DOCUMENTS.appointmentPatients);
  t.equal((related.data as { appointments: { nodes: unknown[] } }).appointments.nodes.length, 6);
  t.equal(wire.take(), 3, 'six appointments with their patients (one read, the patients joined) and the log');
  t.equal((await db.admin.query('select count(*)::int as n from app_public.patient_access_log')).rows[0]!.n as number, 1 + 1 + 6 + 6);
});
