// Merging a duplicate into its survivor: every reference moves in one transaction (appointments,
// visits, files, history, records merged earlier), the chart access log keeps naming the record
// that was read, the merged record is archived and points at the survivor, the portal login
// follows; both patients and every moved row are audited. Refused merges change nothing. The
// duplicate's clinical record (signed, issued, released) is re-filed under the survivor with its
// content unchanged, and stays locked for everyone after the merge.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { sql } from 'kysely';
import t from 'tap';
import { withTenant } from '../../src/db/tenant.ts';
import { actorIn, insertAsAdmin } from '../helpers/actors.ts';
import { CHART_TABLES, insertChartRecord } from '../helpers/chart-rows.ts';
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

t.test("a merge re-files the duplicate's signed, issued and released clinical record, which stays locked", async (t) => {
  const { db, clinics, app, token, register, member } = await patientsApp(t);
  const merged = await register(person(1));
  const survivor = await register(person(2));
  const bystander = await register(person(3));
  const doctor = member('doctor');
  const chartOf = async (patient: string) =>
    insertChartRecord(db, {
      clinicId: clinics.a,
      patientId: patient,
      doctorId: doctor,
      visitId: await insertAsAdmin(db, clinics.a, 'app_public.visits', { patient_id: patient, doctor_id: doctor, purpose: 'check-up' }),
      state: 'final',
    });
  const record = await chartOf(merged);
  const theirs = await chartOf(bystander);
  // An acknowledged allergy on the issued prescription (written as the chart rows are: triggers off).
  const allergy = await insertAsAdmin(db, clinics.a, 'app_public.patient_history', { patient_id: merged, kind: 'allergy', name: 'Penicillin' });
  const client = await db.admin.connect();
  await client.query('begin');
  await client.query('set local session_replication_role = replica');
  const acknowledgement = (
    await client.query(
      `insert into app_public.prescription_allergy_acknowledgements (clinic_id, prescription_id, patient_id, allergy_id, note, acknowledged_by)
       values ($1, $2, $3, $4, 'Tolerated before.', $5) returning id`,
      [clinics.a, record['app_public.prescriptions'], merged, allergy, doctor],
    )
  ).rows[0].id as string;
  await client.query('commit');
  client.release();
  const rows: [string, string][] = [
    ...CHART_TABLES.map((table): [string, string] => [table, record[table]]),
    ['app_public.prescription_allergy_acknowledgements', acknowledgement],
  ];
  // Everything but the patient, the update stamp and the version (the database's own on any update).
  const content = async (table: string, id: string) =>
    (await db.admin.query(`select to_jsonb(r) - array['patient_id', 'updated_at', 'version'] as c from ${table} r where id = $1`, [id])).rows[0].c;
  const before = new Map<string, unknown>();
  for (const [table, id] of rows) before.set(table, await content(table, id));
  const states = async () =>
    (
      await db.admin.query(
        `select (select status from app_public.consultations where id = $1) as consultation,
                (select status from app_public.prescriptions where id = $2) as prescription,
                (select status from app_public.test_reports where id = $3) as report,
                (select status from app_public.test_requests where id = $4) as request,
                (select status from app_public.follow_ups where id = $5) as follow_up`,
        [
          record['app_public.consultations'],
          record['app_public.prescriptions'],
          record['app_public.test_reports'],
          record['app_public.test_requests'],
          record['app_public.follow_ups'],
        ],
      )
    ).rows[0];
  t.same(await states(), { consultation: 'signed', prescription: 'issued', report: 'released', request: 'completed', follow_up: 'pending' });

  const response = await app.inject({
    method: 'POST',
    url: `/api/v1/clinics/clinic-a/patients/${merged}/merge`,
    headers: { authorization: `Bearer ${await token('clinic_admin')}`, 'x-request-id': 'req-merge-chart' },
    payload: { survivorId: survivor },
  });
  t.equal(response.statusCode, 200, response.body);
  t.same(response.json().moved, {
    'app_public.consultations.patient_id': 1,
    'app_public.patient_history.patient_id': 1,
    'app_public.visits.patient_id': 1,
  });

  for (const [table, id] of rows) {
    const { rows: now } = await db.admin.query(`select patient_id from ${table} where id = $1`, [id]);
    t.same(now, [{ patient_id: survivor }], `${table}: filed under the survivor`);
    t.same(await content(table, id), before.get(table), `${table}: content unchanged`);
  }
  t.same(await states(), { consultation: 'signed', prescription: 'issued', report: 'released', request: 'completed', follow_up: 'pending' });
  for (const table of CHART_TABLES) {
    const { rows: still } = await db.admin.query(`select patient_id from ${table} where id = $1`, [theirs[table]]);
    t.same(still, [{ patient_id: bystander }], `${table}: another patient's row stays`);
  }

  const { rows: audit } = await db.admin.query(
    `select table_name, row_key->>'id' as id, changed_columns from app_audit.audit_log
     where request_id = 'req-merge-chart' order by table_name, id`,
  );
  const stamped = ['patient_id', 'updated_at'];
  const versioned = ['patient_id', 'updated_at', 'version'];
  const changed: Record<string, string[]> = {
    'app_public.consultations': versioned,
    'app_public.vitals': stamped,
    'app_public.diagnoses': stamped,
    'app_public.consultation_addenda': ['patient_id'],
    'app_public.prescriptions': versioned,
    'app_public.prescription_items': stamped,
    'app_public.prescription_allergy_acknowledgements': ['patient_id'],
    'app_public.test_requests': stamped,
    'app_public.test_reports': versioned,
    'app_public.test_results': stamped,
    'app_public.follow_ups': stamped,
  };
  for (const [table, id] of rows) {
    const entries = audit.filter((row) => row.table_name === table && row.id === id).map((row) => row.changed_columns);
    t.same(entries, [changed[table]], `${table}: the re-filing is audited once, as a change of the patient`);
  }

  // Locked as before: over HTTP for the author, in SQL as the doctor, the owner role and the superuser.
  const consultation = record['app_public.consultations'];
  const version = (await db.admin.query('select version from app_public.consultations where id = $1', [consultation])).rows[0].version;
  const patch = await app.inject({
    method: 'PATCH',
    url: `/api/v1/clinics/clinic-a/consultations/${consultation}`,
    headers: { authorization: `Bearer ${await token('doctor')}`, 'if-match': `"${version}"` },
    payload: { findings: 'Changed after the merge.' },
  });
  t.equal(patch.statusCode, 409);
  t.match(patch.json(), { code: 'RECORD_LOCKED', rule: 'consultation_signed_is_final' });

  const refusal = (run: () => Promise<{ rowCount?: number | null; numAffectedRows?: bigint }>) =>
    run().then(
      (result) => ({ code: Number(result.rowCount ?? result.numAffectedRows ?? 0) > 0 ? 'changed' : 'nothing' }),
      (error: { code?: string; constraint?: string }) => ({ code: error.code, constraint: error.constraint }),
    );
  const asDoctor = { clinicId: clinics.a, userId: actorIn(db, clinics.a, 'doctor').account, role: 'doctor' as const };
  t.same(
    await refusal(() =>
      withTenant(db.pool, asDoctor, (trx) => sql`update app_public.consultations set patient_id = ${merged} where id = ${consultation}`.execute(trx)),
    ),
    { code: '42501', constraint: undefined },
    "a doctor cannot change a consultation's patient (no grant)",
  );
  t.same(
    await refusal(() => withTenant(db.pool, asDoctor, (trx) => sql`set local role app_owner`.execute(trx))),
    { code: '42501', constraint: undefined },
    'nor become app_owner',
  );
  const owner = new pg.Client({ connectionString: db.ownerUrl });
  await owner.connect();
  t.teardown(() => owner.end());
  // The owner role meets the lock where it has an update policy (definer functions write there),
  // and reaches no row elsewhere (forced RLS, no policy for it).
  const lockedByOwner = (rule: string) => ({ code: 'CBLCK', constraint: rule });
  const unreachable = { code: 'nothing' };
  const locked: [string, string, string, object][] = [
    ['app_public.consultations', consultation, 'consultation_signed_is_final', lockedByOwner('consultation_signed_is_final')],
    ['app_public.vitals', record['app_public.vitals'], 'consultation_vitals_are_final', unreachable],
    ['app_public.diagnoses', record['app_public.diagnoses'], 'consultation_diagnoses_are_final', unreachable],
    ['app_public.consultation_addenda', record['app_public.consultation_addenda'], 'addendum_is_final', unreachable],
    ['app_public.prescriptions', record['app_public.prescriptions'], 'prescription_issued_is_locked', unreachable],
    ['app_public.prescription_items', record['app_public.prescription_items'], 'prescription_issued_is_locked', unreachable],
    ['app_public.prescription_allergy_acknowledgements', acknowledgement, 'prescription_issued_is_locked', unreachable],
    ['app_public.test_requests', record['app_public.test_requests'], 'test_request_closed_is_final', lockedByOwner('test_request_closed_is_final')],
    // The results' lock reads its report FOR SHARE as app_owner, hence an update policy (that changes nothing: with check false).
    ['app_public.test_reports', record['app_public.test_reports'], 'test_report_released_is_final', lockedByOwner('test_report_released_is_final')],
    ['app_public.test_results', record['app_public.test_results'], 'test_report_released_is_final', unreachable],
  ];
  for (const [table, id, rule, asOwner] of locked) {
    const change = `update ${table} set created_at = created_at - interval '1 day' where id = '${id}'`;
    t.same(await refusal(() => db.admin.query(change)), { code: 'CBLCK', constraint: rule }, `superuser: ${table} is still locked`);
    t.same(await refusal(() => owner.query(change)), asOwner, `app_owner: ${table} is still locked or out of reach`);
  }
  // Moving a row back alone, as the superuser: not a merge. The consultation checks the role; in
  // the definer locks (vital signs, results) current_user is the owner, so the refusal there is
  // the parent's patient check.
  const back: [string, string, string, string][] = [
    ['app_public.consultations', consultation, 'consultation_patient_changes_by_merge', 'CBLCK'],
    ['app_public.vitals', record['app_public.vitals'], 'consultation_vitals_are_final', 'CBLCK'],
    ['app_public.test_results', record['app_public.test_results'], 'test_report_released_is_final', 'CBLCK'],
    ['app_public.prescriptions', record['app_public.prescriptions'], 'prescription_issued_is_locked', 'CBLCK'],
  ];
  for (const [table, id, rule, code] of back) {
    const move = `update ${table} set patient_id = '${merged}' where id = '${id}'`;
    t.same(await refusal(() => db.admin.query(move)), { code, constraint: rule }, `superuser: ${table}'s patient does not change`);
  }
  for (const [table, id] of rows) {
    const { rows: now } = await db.admin.query(`select patient_id from ${table} where id = $1`, [id]);
    t.same(now, [{ patient_id: survivor }], `${table}: still the survivor's`);
    t.same(await content(table, id), before.get(table), `${table}: still unchanged`);
  }
});
