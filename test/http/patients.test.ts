// The patient registry over HTTP: registration with every field, the identification number
// encrypted (a DBA reading the table sees no number), shown whole or masked by role, possible
// duplicates, changes and archive, bad input named by field, another clinic's ids like unknown ones,
// and the plan's patient limit. Refused writes leave the table as it was.
import { randomUUID } from 'node:crypto';
import t from 'tap';
import type { ClinicRole } from '../../src/db/tenant.ts';
import { patientsApp, person } from '../helpers/patients.ts';

const YEAR = new Date().getUTCFullYear();

t.test('registration, reading by role, and what a DBA sees', async (t) => {
  const { db, call, logs } = await patientsApp(t);
  const body = {
    fullName: 'Amara Okafor',
    dateOfBirth: '1984-07-19',
    sex: 'female',
    phone: '+234 (803) 555-0142',
    email: 'amara@example.test',
    address: '12 Marina Road\nLagos',
    emergencyContactName: 'Chidi Okafor',
    emergencyContactPhone: '+234 803 555 0199',
    bloodGroup: 'O+',
    identificationType: 'national_id',
    identificationNumber: 'ng-4471 2093 8815',
  };
  const created = await call('POST', '', 'receptionist', body);
  t.equal(created.statusCode, 201);
  const { id, createdAt, updatedAt, ...rest } = created.json();
  t.same(rest, {
    patientNumber: `PT-${YEAR}-00001`,
    fullName: 'Amara Okafor',
    dateOfBirth: '1984-07-19',
    sex: 'female',
    phone: '+234 (803) 555-0142',
    email: 'amara@example.test',
    address: '12 Marina Road\nLagos',
    emergencyContactName: 'Chidi Okafor',
    emergencyContactPhone: '+234 803 555 0199',
    bloodGroup: 'O+',
    identificationType: 'national_id',
    identificationNumber: 'NG447120938815',
    contactChannel: 'email',
    status: 'registered',
    mergedIntoId: null,
    memberId: null,
  });
  t.match(createdAt, /^\d{4}-\d\d-\d\dT/);
  t.equal(createdAt, updatedAt);

  // docs/permissions.md: the front desk sees the number whole, clinical roles the last four.
  const seen: Record<ClinicRole, { status: number; number?: string }> = {
    clinic_admin: { status: 200, number: 'NG447120938815' },
    receptionist: { status: 200, number: 'NG447120938815' },
    doctor: { status: 200, number: '**********8815' },
    nurse: { status: 200, number: '**********8815' },
    lab_technician: { status: 403 },
    // Not linked to this record: it does not exist for them.
    patient: { status: 404 },
  };
  for (const [role, expected] of Object.entries(seen) as [ClinicRole, { status: number; number?: string }][]) {
    const read = await call('GET', `/${id}`, role);
    t.equal(read.statusCode, expected.status, `${role} reads per the matrix`);
    if (expected.number) t.equal(read.json().identificationNumber, expected.number, `${role} sees ${expected.number}`);
  }

  // A DBA (a superuser reading the table past RLS) sees ciphertext and a keyed hash, not the number.
  const { rows } = await db.admin.query('select * from app_public.patients where id = $1', [id]);
  const stored = JSON.stringify(rows);
  for (const plain of ['NG447120938815', 'ng-4471 2093 8815', '4471', '20938815']) t.notOk(stored.includes(plain), `the row does not hold ${plain}`);
  t.match(rows[0].identification_number_ciphertext, /^v1\.[a-z0-9-]+\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
  t.match(rows[0].identification_number_hmac, /^[a-z0-9-]+:[0-9a-f]{64}$/);
  const audit = await db.admin.query(`select after::text from app_audit.audit_log where table_name = 'app_public.patients'`);
  t.notOk(JSON.stringify(audit.rows).includes('20938815'), 'nor does its audit row');
  t.notOk(JSON.stringify(logs()).includes('20938815'), 'nor any log line');
});

t.test('changes, archive, and refused writes', async (t) => {
  const { db, call, register } = await patientsApp(t);
  const id = await register(person(1, { identificationType: 'passport', identificationNumber: 'X1234567' }));
  const row = async () =>
    (
      await db.admin.query(
        'select full_name, status, identification_number_ciphertext as c, identification_number_hmac as h from app_public.patients where id = $1',
        [id],
      )
    ).rows[0];
  const before = await row();

  const changed = await call('PATCH', `/${id}`, 'clinic_admin', { identificationNumber: 'y 7654321', fullName: 'Renamed Person', status: 'in_treatment' });
  t.equal(changed.statusCode, 200);
  t.match(changed.json(), { fullName: 'Renamed Person', identificationType: 'passport', identificationNumber: 'Y7654321', status: 'in_treatment' });
  const after = await row();
  t.not(after.c, before.c, 're-encrypted');
  t.not(after.h, before.h, 'and hashed anew');
  t.equal((await call('GET', `/${id}`, 'nurse')).json().identificationNumber, '****4321');

  const cleared = await call('PATCH', `/${id}`, 'receptionist', { identificationNumber: null, identificationType: null });
  t.equal(cleared.statusCode, 200);
  t.match(cleared.json(), { identificationType: null, identificationNumber: null });
  t.match(await row(), { c: null, h: null });

  const unchanged = await row();
  for (const role of ['doctor', 'nurse', 'lab_technician', 'patient'] as const) {
    const refused = await call('PATCH', `/${id}`, role, { fullName: 'Not Allowed' });
    t.equal(refused.statusCode, 403, `${role} may not change a patient`);
    t.equal((await call('POST', `/${id}/archive`, role)).statusCode, 403, `${role} may not archive`);
  }
  t.same(await row(), unchanged, 'nothing changed');

  const archived = await call('POST', `/${id}/archive`, 'receptionist');
  t.equal(archived.statusCode, 200);
  t.equal(archived.json().status, 'archived');
  t.equal((await call('PATCH', `/${id}`, 'receptionist', { status: 'registered' })).json().status, 'registered', 'an archived record comes back');

  const optedOut = await call('PATCH', `/${id}`, 'receptionist', { contactChannel: 'none' });
  t.equal(optedOut.json().contactChannel, 'none', 'the front desk records an opt-out of messages');
  t.same((await db.admin.query('select contact_channel from app_public.patients where id = $1', [id])).rows, [{ contact_channel: 'none' }]);
});

t.test('possible duplicates', async (t) => {
  const { db, call, register } = await patientsApp(t);
  const first = await register({ fullName: 'Jonathan Smith', dateOfBirth: '1975-03-02', sex: 'male', phone: '+1 (555) 010-2030' });
  const second = await register({
    fullName: 'Maria Garcia',
    dateOfBirth: '1990-11-30',
    sex: 'female',
    identificationType: 'passport',
    identificationNumber: 'P-998877',
  });
  await register({ fullName: 'Jonathan Smith', dateOfBirth: '1980-01-01', sex: 'male' }, 'b');
  const count = async () => (await db.admin.query('select count(*)::int as n from app_public.patients')).rows[0].n;
  const numberOf = async (id: string) => (await db.admin.query('select patient_number from app_public.patients where id = $1', [id])).rows[0].patient_number;
  const before = await count();

  const cases: [string, Record<string, unknown>, string][] = [
    ['the same phone, however written', { fullName: 'Someone Else', dateOfBirth: '2001-01-01', sex: 'other', phone: '+15550102030' }, first],
    ['a similar name with the same date of birth', { fullName: 'Jonathon Smith', dateOfBirth: '1975-03-02', sex: 'male' }, first],
    [
      'the same identification number',
      { fullName: 'M Garcia', dateOfBirth: '1991-01-01', sex: 'female', identificationType: 'passport', identificationNumber: 'p998877' },
      second,
    ],
  ];
  for (const [what, body, match] of cases) {
    const refused = await call('POST', '', 'receptionist', body);
    t.equal(refused.statusCode, 409, what);
    t.equal(refused.json().code, 'POSSIBLE_DUPLICATE');
    t.same(refused.json().candidates, [{ id: match, patientNumber: await numberOf(match), fullName: match === first ? 'Jonathan Smith' : 'Maria Garcia' }]);
  }
  t.equal(await count(), before, 'nothing registered');

  const differentDay = await call('POST', '', 'receptionist', { fullName: 'Jonathan Smith', dateOfBirth: '1975-03-03', sex: 'male' });
  t.equal(differentDay.statusCode, 201, 'the same name on another day is another person');
  const anyway = await call('POST', '', 'receptionist', { ...cases[0]![1], allowDuplicate: true });
  t.equal(anyway.statusCode, 201, 'registered anyway when asked');
});

t.test('bad input names the field; nothing is written', async (t) => {
  const { db, call } = await patientsApp(t);
  const valid = person(3);
  const cases: [Record<string, unknown>, number, string][] = [
    [{ ...valid, sex: 'robot' }, 400, 'body.sex'],
    [{ ...valid, fullName: '' }, 400, 'body.fullName'],
    [{ ...valid, fullName: 'x'.repeat(201) }, 400, 'body.fullName'],
    [{ ...valid, dateOfBirth: '1999-02-30' }, 400, 'body.dateOfBirth'],
    [{ ...valid, dateOfBirth: `${YEAR + 2}-01-01` }, 422, 'body.dateOfBirth'],
    [{ ...valid, phone: 'call me' }, 400, 'body.phone'],
    [{ ...valid, email: 'not-an-email' }, 400, 'body.email'],
    [{ ...valid, bloodGroup: 'C+' }, 400, 'body.bloodGroup'],
    [{ ...valid, contactChannel: 'fax' }, 400, 'body.contactChannel'],
    [{ ...valid, identificationNumber: 'AB123' }, 400, 'body.identificationType'],
    [{ ...valid, identificationType: 'passport', identificationNumber: '-- / --' }, 400, 'body.identificationNumber'],
    [{ ...valid, patientNumber: 'PT-2020-00001' }, 400, 'body'],
    [{ ...valid, status: 'archived' }, 400, 'body'],
  ];
  for (const [body, status, path] of cases) {
    const refused = await call('POST', '', 'receptionist', body);
    t.equal(refused.statusCode, status, `${JSON.stringify(body).slice(0, 80)} → ${status}`);
    t.ok(
      refused.json().errors.some((error: { path: string }) => error.path === path || (path === 'body' && error.path.startsWith('body'))),
      `names ${path}: ${JSON.stringify(refused.json().errors)}`,
    );
  }
  t.equal((await db.admin.query('select count(*)::int as n from app_public.patients')).rows[0].n, 0, 'nothing registered');
  t.equal((await call('GET', '/not-a-uuid', 'doctor')).statusCode, 400, 'a malformed id is a 400');
  t.equal((await call('PATCH', `/${randomUUID()}`, 'receptionist', {})).statusCode, 400, 'an empty change is a 400');
});

t.test("another clinic's patients are unknown ids", async (t) => {
  const { db, call, register } = await patientsApp(t);
  const theirs = await register(person(4), 'b');
  const snapshot = async () => (await db.admin.query('select * from app_public.patients order by id')).rows;
  const before = await snapshot();
  for (const [method, url, payload] of [
    ['GET', `/${theirs}`, undefined],
    ['PATCH', `/${theirs}`, { fullName: 'Taken Over' }],
    ['POST', `/${theirs}/archive`, undefined],
    ['GET', `/${theirs}/history`, undefined],
    ['GET', `/${theirs}/access-log`, undefined],
    ['POST', `/${theirs}/merge`, { survivorId: theirs }],
  ] as const) {
    const answer = await call(method, url, 'clinic_admin', payload);
    const unknown = await call(method, url.replace(theirs, randomUUID()), 'clinic_admin', payload);
    t.equal(answer.statusCode, 404, `${method} ${url.replace(theirs, '{theirs}')}`);
    t.same({ ...answer.json(), requestId: null }, { ...unknown.json(), requestId: null }, 'the same answer as an unknown id');
  }
  t.same(await snapshot(), before, 'nothing changed');
  t.equal((await db.admin.query('select count(*)::int as n from app_public.patient_access_log')).rows[0].n, 0, 'and no read was recorded');
});

t.test("the plan's patient limit", async (t) => {
  const { db, clinics, call, register } = await patientsApp(t);
  await db.admin.query(`insert into app_private.plans (code, name, max_patients, max_storage_mb) values ('two', 'Two', 2, 10)`);
  await db.admin.query(`update app_public.clinics set plan = 'two' where id = $1`, [clinics.a]);
  await register(person(5));
  await register(person(6));
  const third = await call('POST', '', 'receptionist', person(7));
  t.equal(third.statusCode, 409);
  t.match(third.json(), { code: 'CONFLICT', detail: "The clinic's plan limit is reached (patients or storage)." });
  t.equal((await db.admin.query('select count(*)::int as n from app_public.patients where clinic_id = $1', [clinics.a])).rows[0].n, 2);
});
