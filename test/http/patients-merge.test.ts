// Merging a duplicate into its survivor: every reference moves in one transaction (appointments,
// visits, files, history, records merged earlier), the chart access log keeps naming the record
// that was read, the merged record is archived and points at the survivor, the portal login
// follows; both patients and every moved row are audited. Refused merges change nothing.
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { insertAsAdmin } from '../helpers/actors.ts';
import { patientsApp, person } from '../helpers/patients.ts';

t.test('a merge moves every reference', async (t) => {
  const { db, clinics, app, token, call, register, member } = await patientsApp(t);
  const merged = await register(person(1));
  const survivor = await register(person(2));
  const earlier = await register(person(3));
  const bystander = await register(person(4));
  await call('PATCH', `/${merged}`, 'receptionist', { memberId: member('patient') });
  const refs = {
    appointment: await insertAsAdmin(db, clinics.a, 'app_public.appointments', {
      patient_id: merged,
      doctor_id: member('doctor'),
      starts_at: '2030-01-07T09:00:00Z',
      ends_at: '2030-01-07T09:15:00Z',
    }),
    visit: await insertAsAdmin(db, clinics.a, 'app_public.visits', { patient_id: merged, doctor_id: member('doctor'), purpose: 'check-up' }),
    file: await insertAsAdmin(db, clinics.a, 'app_public.files', {
      patient_id: merged,
      category: 'report',
      original_name: 'report.pdf',
      content_type: 'application/pdf',
      size_bytes: 10,
      sha256: 'a'.repeat(64),
    }),
    history: await insertAsAdmin(db, clinics.a, 'app_public.patient_history', { patient_id: merged, kind: 'allergy', name: 'Penicillin' }),
    untouched: await insertAsAdmin(db, clinics.a, 'app_public.patient_history', { patient_id: bystander, kind: 'allergy', name: 'Latex' }),
  };
  t.equal((await call('GET', `/${merged}`, 'doctor')).statusCode, 200, 'a read of the merged record, in the access log');
  const first = await call('POST', `/${earlier}/merge`, 'clinic_admin', { survivorId: merged });
  t.equal(first.statusCode, 200, 'an earlier merge into the record that is merged now');
  t.same(first.json().moved, {});

  const response = await app.inject({
    method: 'POST',
    url: `/api/v1/clinics/clinic-a/patients/${merged}/merge`,
    headers: { authorization: `Bearer ${await token('clinic_admin')}`, 'x-request-id': 'req-merge-1' },
    payload: { survivorId: survivor },
  });
  t.equal(response.statusCode, 200);
  const body = response.json();
  t.same(body.moved, {
    'app_public.appointments.patient_id': 1,
    'app_public.files.patient_id': 1,
    'app_public.patient_history.patient_id': 1,
    'app_public.patients.merged_into_id': 1,
    'app_public.visits.patient_id': 1,
  });
  t.match(body.merged, { id: merged, status: 'archived', mergedIntoId: survivor, memberId: null });
  t.match(body.survivor, { id: survivor, status: 'registered', mergedIntoId: null, memberId: member('patient') });

  const owner = async (table: string, id: string) => (await db.admin.query(`select patient_id from ${table} where id = $1`, [id])).rows[0].patient_id;
  t.equal(await owner('app_public.appointments', refs.appointment), survivor);
  t.equal(await owner('app_public.visits', refs.visit), survivor);
  t.equal(await owner('app_public.files', refs.file), survivor);
  t.equal(await owner('app_public.patient_history', refs.history), survivor);
  t.equal(await owner('app_public.patient_history', refs.untouched), bystander, "another patient's rows stay");
  const { rows: log } = await db.admin.query('select patient_id from app_public.patient_access_log');
  t.same(log, [{ patient_id: merged }], 'the access log still names the record that was read');
  const { rows: chain } = await db.admin.query('select merged_into_id, status from app_public.patients where id = $1', [earlier]);
  t.same(chain, [{ merged_into_id: survivor, status: 'archived' }], 'the record merged earlier now points at the survivor: no chain');

  const { rows: audit } = await db.admin.query(
    `select action, table_name, row_key->>'id' as id, changed_columns, details from app_audit.audit_log
     where request_id = 'req-merge-1' order by id`,
  );
  const audited = (table: string) =>
    audit
      .filter((row) => row.table_name === table)
      .map((row) => row.id)
      .sort();
  t.same(audited('app_public.patients'), [earlier, merged, survivor].sort(), 'both patients (and the earlier one) are audited');
  t.same(audit.find((row) => row.table_name === 'app_public.patients' && row.id === merged).changed_columns, [
    'member_id',
    'merged_into_id',
    'status',
    'updated_at',
  ]);
  for (const table of ['app_public.appointments', 'app_public.visits', 'app_public.files', 'app_public.patient_history']) {
    t.equal(audited(table).length, 1, `the moved ${table} row is audited`);
  }
  t.match(audit.find((row) => row.action === 'patients.merged').details, { merged, survivor, moved: body.moved });

  const portal = await call('GET', '/me', 'patient');
  t.equal(portal.json().id, survivor, "the patient's login now opens the survivor");
});

t.test('refused merges change nothing', async (t) => {
  const { db, clinics, call, register, member } = await patientsApp(t);
  const a = await register(person(1));
  const b = await register(person(2));
  const c = await register(person(3));
  const theirs = await register(person(4), 'b');
  t.equal((await call('POST', `/${c}/merge`, 'clinic_admin', { survivorId: b })).statusCode, 200, 'c merged into b');
  await call('PATCH', `/${a}`, 'receptionist', { memberId: member('patient') });
  const { rows: created } = await db.admin.query(
    `with account as (insert into app_private.accounts (email, password_hash) values ('second.patient@example.test', '$argon2id$v=19$actor') returning id)
     insert into app_public.clinic_members (clinic_id, account_id, role, display_name) select $1, id, 'patient', 'Second Patient' from account returning id`,
    [clinics.a],
  );
  const d = await register(person(5));
  await call('PATCH', `/${d}`, 'receptionist', { memberId: created[0].id });
  const snapshot = async () => (await db.admin.query('select * from app_public.patients order by id')).rows;
  const before = await snapshot();
  const auditBefore = (await db.admin.query('select count(*)::int as n from app_audit.audit_log')).rows[0].n;

  const conflict = 'These records cannot be merged: the same record, a record already merged (or merged into), or two records that both have a portal login.';
  const cases: [string, string, object, number, object][] = [
    ['into itself', a, { survivorId: a }, 409, { code: 'CONFLICT', detail: conflict }],
    ['a record already merged', c, { survivorId: a }, 409, { code: 'CONFLICT', detail: conflict }],
    ['into a merged record (a chain)', a, { survivorId: c }, 409, { code: 'CONFLICT', detail: conflict }],
    ['two portal logins', a, { survivorId: d }, 409, { code: 'CONFLICT', detail: conflict }],
    ['an unknown survivor', b, { survivorId: randomUUID() }, 422, { errors: [{ path: 'body.survivorId' }] }],
    ["another clinic's survivor", b, { survivorId: theirs }, 422, { errors: [{ path: 'body.survivorId' }] }],
    ['no survivor', b, {}, 400, { errors: [{ path: 'body.survivorId' }] }],
    ['an unknown record', randomUUID(), { survivorId: b }, 404, { code: 'NOT_FOUND' }],
  ];
  for (const [what, id, payload, status, match] of cases) {
    const refused = await call('POST', `/${id}/merge`, 'clinic_admin', payload);
    t.equal(refused.statusCode, status, what);
    t.match(refused.json(), match, what);
  }
  for (const role of ['receptionist', 'doctor', 'nurse', 'lab_technician', 'patient'] as const) {
    t.equal((await call('POST', `/${a}/merge`, role, { survivorId: b })).statusCode, 403, `${role} may not merge`);
  }
  t.same(await snapshot(), before, 'no patient changed');
  t.equal((await db.admin.query('select count(*)::int as n from app_audit.audit_log')).rows[0].n, auditBefore, 'nothing audited');
});
