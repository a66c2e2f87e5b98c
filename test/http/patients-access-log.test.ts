// The chart access log: every read of a patient's record (GET {id}, GET me, the history) is
// recorded with who, what, when, the address and the request id, in the read's own statement (one
// round trip); a refused or empty read records nothing; clinic admins read the whole log of a
// patient, the patient who viewed their record; reads under a support grant are recorded too,
// naming the grant, and shown to both.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import t from 'tap';
import { withContext, withTenant } from '../../src/db/tenant.ts';
import { createPool } from '../../src/db/pool.ts';
import { type ChartDoors, readWithChartAccess } from '../../src/records/chart-access.ts';
import { actorIn, insertAsAdmin } from '../helpers/actors.ts';
import { patientsApp, person } from '../helpers/patients.ts';
import { countRoundTrips } from '../helpers/round-trips.ts';

const logRows = async (db: { admin: { query: (sql: string) => Promise<{ rows: unknown[] }> } }) =>
  (
    await db.admin.query(
      `select l.patient_id, l.file_id, l.action, m.role, l.support_grant_id, l.request_id, host(l.client_ip) as client_ip
       from app_public.patient_access_log l left join app_public.clinic_members m on m.id = l.member_id order by l.accessed_at, l.id`,
    )
  ).rows;

t.test('each read is recorded with who, what, the address and the request; refused reads are not', async (t) => {
  const { db, app, token, call, register, member } = await patientsApp(t);
  const id = await register(person(1));
  const other = await register(person(2));
  const theirs = await register(person(3), 'b');
  await call('PATCH', `/${id}`, 'receptionist', { memberId: member('patient') });

  const read = async (url: string, role: Parameters<typeof token>[0], requestId: string, address: string) =>
    app.inject({
      method: 'GET',
      url: `/api/v1/clinics/clinic-a/patients${url}`,
      headers: { authorization: `Bearer ${await token(role)}`, 'x-request-id': requestId },
      remoteAddress: address,
    });
  t.equal((await read(`/${id}`, 'doctor', 'req-doctor-1', '203.0.113.7')).statusCode, 200);
  t.equal((await read(`/${id}/history`, 'nurse', 'req-nurse-1', '198.51.100.23')).statusCode, 200);
  t.equal((await read('/me', 'patient', 'req-patient-1', '2001:db8::5')).statusCode, 200);
  t.same(await logRows(db), [
    { patient_id: id, file_id: null, action: 'read_record', role: 'doctor', support_grant_id: null, request_id: 'req-doctor-1', client_ip: '203.0.113.7' },
    { patient_id: id, file_id: null, action: 'read_record', role: 'nurse', support_grant_id: null, request_id: 'req-nurse-1', client_ip: '198.51.100.23' },
    { patient_id: id, file_id: null, action: 'read_record', role: 'patient', support_grant_id: null, request_id: 'req-patient-1', client_ip: '2001:db8::5' },
  ]);

  const refused: [string, Parameters<typeof token>[0], number][] = [
    [`/${randomUUID()}`, 'doctor', 404],
    [`/${theirs}`, 'doctor', 404],
    [`/${id}`, 'lab_technician', 403],
    [`/${other}`, 'patient', 404],
    [`/${other}/history`, 'patient', 404],
    [`/${id}/history`, 'receptionist', 403],
    ['/me', 'doctor', 404],
    [`/${theirs}/history`, 'nurse', 404],
  ];
  for (const [url, role, status] of refused) t.equal((await read(url, role, 'req-refused', '192.0.2.1')).statusCode, status, `${role} GET ${url}`);
  t.equal((await db.admin.query('select count(*)::int as n from app_public.patient_access_log')).rows[0]!.n, 3, 'no refused or empty read was recorded');

  const search = await call('GET', `?phone=${encodeURIComponent('+44 20 7946 1001')}`, 'doctor');
  t.equal(search.json().items.length, 1);
  t.equal((await db.admin.query('select count(*)::int as n from app_public.patient_access_log')).rows[0]!.n, 3, 'search results (summaries) are not recorded');
});

t.test('who viewed a record: the clinic admin sees every read, the patient who read theirs', async (t) => {
  const { app, token, call, register, member } = await patientsApp(t);
  const id = await register(person(1));
  const other = await register(person(2));
  await call('PATCH', `/${id}`, 'receptionist', { memberId: member('patient') });
  for (const [role, requestId] of [
    ['doctor', 'req-a'],
    ['nurse', 'req-b'],
    ['patient', 'req-c'],
  ] as const) {
    await app.inject({
      method: 'GET',
      url: `/api/v1/clinics/clinic-a/patients/${role === 'patient' ? 'me' : id}`,
      headers: { authorization: `Bearer ${await token(role)}`, 'x-request-id': requestId },
      remoteAddress: '203.0.113.9',
    });
  }
  await call('GET', `/${other}`, 'doctor');

  const forAdmin = await call('GET', `/${id}/access-log`, 'clinic_admin');
  t.equal(forAdmin.statusCode, 200);
  t.same(
    forAdmin.json().items.map(({ id: _, accessedAt: __, ...entry }: Record<string, unknown>) => entry),
    [
      {
        action: 'read_record',
        fileId: null,
        viewer: { kind: 'member', memberId: member('patient'), displayName: 'Actor patient', role: 'patient' },
        supportGrantId: null,
        requestId: 'req-c',
        clientIp: '203.0.113.9',
      },
      {
        action: 'read_record',
        fileId: null,
        viewer: { kind: 'member', memberId: member('nurse'), displayName: 'Actor nurse', role: 'nurse' },
        supportGrantId: null,
        requestId: 'req-b',
        clientIp: '203.0.113.9',
      },
      {
        action: 'read_record',
        fileId: null,
        viewer: { kind: 'member', memberId: member('doctor'), displayName: 'Actor doctor', role: 'doctor' },
        supportGrantId: null,
        requestId: 'req-a',
        clientIp: '203.0.113.9',
      },
    ],
    'newest first, with the request and address',
  );
  const forPatient = await call('GET', `/${id}/access-log`, 'patient');
  t.equal(forPatient.statusCode, 200);
  t.same(
    forPatient.json().items.map((entry: Record<string, unknown>) => Object.keys(entry).sort()),
    [0, 1, 2].map(() => ['accessedAt', 'action', 'fileId', 'id', 'viewer']),
    'the patient sees who and when, not the request or address',
  );
  t.same(
    forPatient.json().items.map((entry: { viewer: { displayName: string } }) => entry.viewer.displayName),
    ['Actor patient', 'Actor nurse', 'Actor doctor'],
  );
  t.equal((await call('GET', `/${other}/access-log`, 'patient')).statusCode, 404, "another patient's log does not exist for them");
  for (const role of ['doctor', 'nurse', 'receptionist', 'lab_technician'] as const) {
    t.equal((await call('GET', `/${id}/access-log`, role)).statusCode, 403, `${role} does not read the log`);
  }

  const first = await call('GET', `/${id}/access-log?limit=2`, 'clinic_admin');
  const second = await call('GET', `/${id}/access-log?limit=2&after=${first.json().nextCursor}`, 'clinic_admin');
  t.same(
    [...first.json().items, ...second.json().items].map((entry: { id: string }) => entry.id),
    forAdmin.json().items.map((entry: { id: string }) => entry.id),
    'pages neither repeat nor skip',
  );
  t.equal(second.json().nextCursor, null);
  t.equal((await call('GET', `/${randomUUID()}/access-log`, 'clinic_admin')).statusCode, 404);
  for (const forged of [
    ['yesterday', randomUUID()],
    ['2024-13-45T99:99:99.000000Z', randomUUID()],
  ]) {
    const cursor = Buffer.from(JSON.stringify(forged)).toString('base64url');
    const refused = await call('GET', `/${id}/access-log?after=${cursor}`, 'clinic_admin');
    t.equal(refused.statusCode, 400, `a forged cursor ${forged[0]}: 400`);
  }
});

t.test('reads under a support grant: answered, recorded naming the grant, shown to the admin and the patient', async (t) => {
  const { db, clinics, app, call, register, member, supportAccess } = await patientsApp(t);
  const id = await register(person(1, { identificationType: 'passport', identificationNumber: 'K55501234' }));
  await call('PATCH', `/${id}`, 'receptionist', { memberId: member('patient') });
  const { operator, grant, token: support } = await supportAccess();
  const get = (url: string) =>
    app.inject({
      method: 'GET',
      url: `/api/v1/clinics/clinic-a/patients${url}`,
      headers: { authorization: `Bearer ${support}`, 'x-request-id': 'req-support-1' },
      remoteAddress: '192.0.2.44',
    });

  const read = await get(`/${id}`);
  t.equal(read.statusCode, 200, 'a support read works');
  t.equal(read.json().identificationNumber, '*****1234', 'masked: support reads as clinic admin but is not the front desk');
  t.equal((await get(`/${randomUUID()}`)).statusCode, 404);
  t.equal((await get(`/${id}/history`)).statusCode, 200);
  // The files module reads through the same door: a file's metadata under the grant.
  const file = await insertAsAdmin(db, clinics.a, 'app_public.files', {
    patient_id: id,
    category: 'report',
    original_name: 'report.pdf',
    content_type: 'application/pdf',
    size_bytes: 10,
    sha256: 'b'.repeat(64),
  });
  const metadata = await app.inject({
    method: 'GET',
    url: `/api/v1/clinics/clinic-a/files/${file}`,
    headers: { authorization: `Bearer ${support}`, 'x-request-id': 'req-support-1' },
    remoteAddress: '192.0.2.44',
  });
  t.equal(metadata.statusCode, 200, "a file's metadata under the grant");
  t.same(await logRows(db), [
    { patient_id: id, file_id: null, action: 'read_record', role: null, support_grant_id: grant, request_id: 'req-support-1', client_ip: '192.0.2.44' },
    { patient_id: id, file_id: null, action: 'read_record', role: null, support_grant_id: grant, request_id: 'req-support-1', client_ip: '192.0.2.44' },
    { patient_id: id, file_id: null, action: 'read_files', role: null, support_grant_id: grant, request_id: 'req-support-1', client_ip: '192.0.2.44' },
  ]);
  const seenByAdmin = (await call('GET', `/${id}/access-log`, 'clinic_admin')).json().items;
  t.match(seenByAdmin, [
    {
      action: 'read_files',
      viewer: { kind: 'support', memberId: null, displayName: 'Platform support', role: null },
      supportGrantId: grant,
      requestId: 'req-support-1',
    },
    { viewer: { kind: 'support' } },
    { viewer: { kind: 'support' } },
  ]);
  t.match((await call('GET', `/${id}/access-log`, 'patient')).json().items, [{ viewer: { kind: 'support', displayName: 'Platform support' } }, {}, {}]);

  // The recording checks the grant itself: only its operator, only while it is in force.
  const platformPool = createPool({ url: db.authenticatorUrl, size: 1 });
  t.teardown(() => platformPool.end());
  const record = (operatorId: string) =>
    withContext(platformPool, 'app_platform', { clinicId: null, userId: operatorId, role: null }, async (trx) => {
      const { rows } = await sql<{
        ok: boolean;
      }>`select app_hidden.record_support_chart_access(${grant}, ${clinics.a}, 'read_record', ${id}, null) as ok`.execute(trx);
      return rows[0]!.ok;
    });
  t.equal(await record(randomUUID()), false, 'another operator cannot record under the grant');
  await db.admin.query(
    `update app_public.support_access_grants set created_at = now() - interval '2 hours', expires_at = now() - interval '1 second' where id = $1`,
    [grant],
  );
  t.equal(await record(operator), false, 'nor its operator once it has expired');
  t.equal((await db.admin.query('select count(*)::int as n from app_public.patient_access_log')).rows[0]!.n, 3, 'nothing more recorded');
  t.equal((await get(`/${id}`)).statusCode, 401, 'and an expired grant reads nothing');
});

t.test('a recorded read costs one round trip, like a plain read', async (t) => {
  const { db, clinics, register } = await patientsApp(t);
  const id = await register(person(1));
  const wire = await countRoundTrips(t, db.authenticatorUrl);
  const pool = createPool({ url: wire.url, size: 1 });
  t.teardown(() => pool.end());
  const doctor = actorIn(db, clinics.a, 'doctor');
  const tenant = { clinicId: clinics.a, userId: doctor.account, role: 'doctor' as const, requestId: 'req-rt', clientIp: '192.0.2.9' };
  const doors: ChartDoors = {
    withTenant: (ctx, fn, options) => withTenant(pool, ctx, fn, options),
    withPlatform: (ctx, fn) => withContext(pool, 'app_platform', ctx, fn),
  };
  const readRecord = () =>
    readWithChartAccess(doors, { tenant }, { action: 'read_record', patientId: id }, (q) =>
      q.selectFrom('appPublic.patients').select(['id', 'fullName']).where('id', '=', id).executeTakeFirst(),
    );
  await readRecord(); // connect and prepare
  wire.take();
  t.same(await readRecord(), { id, fullName: 'Person Number1 Testcase' });
  t.equal(wire.take(), 1, 'the read and its record: one round trip');
  await withTenant(pool, tenant, (db) => db.selectFrom('appPublic.patients').select(['id', 'fullName']).where('id', '=', id).executeTakeFirst());
  t.equal(wire.take(), 1, 'as a plain read');
  t.equal(
    (await db.admin.query(`select count(*)::int as n from app_public.patient_access_log where request_id = 'req-rt' and host(client_ip) = '192.0.2.9'`))
      .rows[0]!.n,
    2,
  );
});
