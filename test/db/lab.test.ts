// The lab's rules in the database (migrations/current.sql, 0310-lab-rules), through SQL as the app's
// roles and as superuser: the request's state machine (who makes which move, the rule each refusal
// names, the stamps), the lock of a released report and its results for every role including
// the superuser, the flags the database computes for literal values at every edge, footnote 3
// (a lab technician reads of a patient only the identity, only with an open request, through
// app_hidden.lab_patient_identities) and footnote 9 (the lab's files are report files of those
// patients).
import { sql } from 'kysely';
import t, { type Test } from 'tap';
import { type ClinicRole, type TenantDb, withTenant } from '../../src/db/tenant.ts';
import { actorIn, createActors, insertAsAdmin } from '../helpers/actors.ts';
import { createClinics, createTestDatabase } from '../helpers/db.ts';

interface Refusal {
  code: string;
  rule?: string | undefined;
}

async function setup(t: Test, poolSize?: number) {
  const db = await createTestDatabase(t, { poolSize });
  const clinics = await createClinics(db);
  await createActors(db, [clinics.a, clinics.b]);
  const as = <T>(role: ClinicRole, fn: (trx: TenantDb) => Promise<T>) =>
    withTenant(db.pool, { clinicId: clinics.a, userId: actorIn(db, clinics.a, role).account, role }, fn);
  /** What a statement as `role` gives: its rows affected, or its SQLSTATE and rule. */
  const run = async (role: ClinicRole, statement: ReturnType<typeof sql>): Promise<number | Refusal> => {
    try {
      return await as(role, async (trx) => Number((await statement.execute(trx)).numAffectedRows ?? 0));
    } catch (error) {
      const e = error as { code: string; constraint?: string };
      return { code: e.code, rule: e.constraint };
    }
  };
  const asAdmin = async (text: string, values: unknown[] = []): Promise<number | Refusal> => {
    try {
      return (await db.admin.query(text, values)).rowCount ?? 0;
    } catch (error) {
      const e = error as { code: string; constraint?: string };
      return { code: e.code, rule: e.constraint };
    }
  };
  const patient = async (name = 'Ada Lab') =>
    (
      await db.admin.query<{ id: string }>(
        `insert into app_public.patients (clinic_id, full_name, date_of_birth, sex, phone, address, email) values ($1, $2, '1970-01-02', 'male', '+44 20 7946 0002', '2 Lab Road', 'ada@example.test') returning id`,
        [clinics.a, name],
      )
    ).rows[0]!.id;
  const request = async (patientId: string) => {
    const visit = await insertAsAdmin(db, clinics.a, 'app_public.visits', {
      patient_id: patientId,
      doctor_id: actorIn(db, clinics.a, 'doctor').member,
      purpose: 'lab',
    });
    const consultation = await insertAsAdmin(db, clinics.a, 'app_public.consultations', {
      visit_id: visit,
      patient_id: patientId,
      doctor_id: actorIn(db, clinics.a, 'doctor').member,
      chief_complaint: 'Secret complaint',
    });
    return as('doctor', async (trx) => {
      const { rows } = await sql<{ id: string }>`insert into app_public.test_requests (consultation_id, patient_id, test_name, category)
        values (${consultation}, ${patientId}, 'FBC', 'haematology') returning id`.execute(trx);
      return rows[0]!.id;
    });
  };
  const status = async (id: string) =>
    (
      await db.admin.query(
        'select status, collected_at is not null as c, started_at is not null as s, completed_at is not null as d, cancelled_at is not null as x from app_public.test_requests where id = $1',
        [id],
      )
    ).rows[0];
  const move = (role: ClinicRole, id: string, to: string) => run(role, sql`update app_public.test_requests set status = ${to} where id = ${id}`);
  return { db, clinics, as, run, asAdmin, patient, request, status, move };
}

/** A released report with two results, its request completed (as the lab technician). */
async function releasedReport(s: Awaited<ReturnType<typeof setup>>, patientId: string) {
  const requestId = await s.request(patientId);
  await s.move('lab_technician', requestId, 'collected');
  await s.move('lab_technician', requestId, 'in_progress');
  const reportId = await s.as('lab_technician', async (trx) => {
    const { rows } = await sql<{ id: string }>`insert into app_public.test_reports (test_request_id, patient_id, technician_id)
      values (${requestId}, ${patientId}, app_public.current_member_id()) returning id`.execute(trx);
    await sql`insert into app_public.test_results (test_report_id, patient_id, position, analyte, value_numeric) values
      (${rows[0]!.id}, ${patientId}, 1, 'Hb', 130), (${rows[0]!.id}, ${patientId}, 2, 'K', 4.0)`.execute(trx);
    return rows[0]!.id;
  });
  const released = await s.run('lab_technician', sql`update app_public.test_reports set status = 'released' where id = ${reportId}`);
  return { requestId, reportId, released };
}

t.test('the request state machine: who moves, the rules named, the stamps', async (t) => {
  const s = await setup(t);
  const patientId = await s.patient();
  const id = await s.request(patientId);
  t.same(await s.status(id), { status: 'requested', c: false, s: false, d: false, x: false });

  t.same(await s.move('doctor', id, 'collected'), { code: 'CBSTA', rule: 'test_request_lab_moves_by_technician' });
  t.same(await s.move('lab_technician', id, 'in_progress'), { code: 'CBSTA', rule: 'test_request_status_flow' });
  t.same(await s.move('lab_technician', id, 'completed'), { code: 'CBSTA', rule: 'test_request_status_flow' });
  t.same(await s.move('lab_technician', id, 'cancelled'), { code: 'CBSTA', rule: 'test_request_cancel_by_doctor' });
  t.equal(await s.move('nurse', id, 'collected'), 0, 'a nurse updates nothing (no policy)');
  t.equal(await s.move('clinic_admin', id, 'cancelled'), 0, 'a clinic admin updates nothing (no policy)');

  t.equal(await s.move('lab_technician', id, 'collected'), 1);
  t.same(await s.status(id), { status: 'collected', c: true, s: false, d: false, x: false });
  t.equal(await s.move('lab_technician', id, 'in_progress'), 1);
  t.same(await s.status(id), { status: 'in_progress', c: true, s: true, d: false, x: false });
  t.same(await s.move('doctor', id, 'cancelled'), { code: 'CBSTA', rule: 'test_request_status_flow' }, 'a started test is not cancelled');
  t.same(await s.move('lab_technician', id, 'completed'), { code: 'CBSTA', rule: 'test_request_completed_by_release' });
  t.same(
    await s.asAdmin(`update app_public.test_requests set status = 'completed' where id = $1`, [id]),
    { code: 'CBSTA', rule: 'test_request_completed_by_release' },
    'superuser too',
  );

  // A request starts requested, whoever inserts it; only status is writable; no delete.
  t.same(
    await s.asAdmin(
      `insert into app_public.test_requests (clinic_id, consultation_id, patient_id, requested_by, test_name, category, status)
       select clinic_id, consultation_id, patient_id, requested_by, 'X', 'other', 'completed' from app_public.test_requests where id = $1`,
      [id],
    ),
    { code: 'CBSTA', rule: 'test_request_starts_requested' },
  );
  t.same(await s.run('doctor', sql`update app_public.test_requests set test_name = 'Other' where id = ${id}`), { code: '42501', rule: undefined });
  t.same(await s.run('doctor', sql`delete from app_public.test_requests where id = ${id}`), { code: '42501', rule: undefined });

  // Cancelled by a doctor: final, for the superuser too.
  const other = await s.request(patientId);
  t.equal(await s.move('doctor', other, 'cancelled'), 1);
  t.same(await s.status(other), { status: 'cancelled', c: false, s: false, d: false, x: true });
  t.same(await s.move('doctor', other, 'requested'), { code: 'CBLCK', rule: 'test_request_closed_is_final' });
  t.same(await s.asAdmin(`update app_public.test_requests set test_name = 'Changed' where id = $1`, [other]), {
    code: 'CBLCK',
    rule: 'test_request_closed_is_final',
  });
  t.same(await s.asAdmin('delete from app_public.test_requests where id = $1', [other]), { code: 'CBLCK', rule: 'test_request_closed_is_final' });
});

t.test('release completes the request; a released report and its results refuse every change, as every role and as superuser', async (t) => {
  const s = await setup(t);
  const patientId = await s.patient();
  // Not before results exist.
  const empty = await s.request(patientId);
  await s.move('lab_technician', empty, 'collected');
  await s.move('lab_technician', empty, 'in_progress');
  const emptyReport = await s.as(
    'lab_technician',
    async (trx) =>
      (
        await sql<{
          id: string;
        }>`insert into app_public.test_reports (test_request_id, patient_id, technician_id) values (${empty}, ${patientId}, app_public.current_member_id()) returning id`.execute(
          trx,
        )
      ).rows[0]!.id,
  );
  t.same(await s.run('lab_technician', sql`update app_public.test_reports set status = 'released' where id = ${emptyReport}`), {
    code: 'CBSTA',
    rule: 'test_report_release_needs_results',
  });
  t.equal(await s.run('doctor', sql`update app_public.test_reports set status = 'released' where id = ${emptyReport}`), 0, 'a doctor releases nothing');

  const { requestId, reportId, released } = await releasedReport(s, patientId);
  t.equal(released, 1);
  t.same((await s.status(requestId)).status, 'completed');
  const { rows } = await s.db.admin.query('select status, version, released_at is not null as stamped from app_public.test_reports where id = $1', [reportId]);
  t.same(rows, [{ status: 'released', version: 2, stamped: true }]);
  t.same(await s.asAdmin(`update app_public.test_requests set status = 'in_progress' where id = $1`, [requestId]), {
    code: 'CBLCK',
    rule: 'test_request_closed_is_final',
  });

  const lock = { code: 'CBLCK', rule: 'test_report_released_is_final' };
  t.same(await s.run('lab_technician', sql`update app_public.test_reports set conclusion = 'Changed' where id = ${reportId}`), lock);
  t.same(await s.run('lab_technician', sql`update app_public.test_reports set status = 'draft' where id = ${reportId}`), lock);
  t.same(await s.run('lab_technician', sql`update app_public.test_results set value_numeric = 1 where test_report_id = ${reportId}`), lock);
  t.same(
    await s.run(
      'lab_technician',
      sql`insert into app_public.test_results (test_report_id, patient_id, position, analyte, value_text) values (${reportId}, ${patientId}, 3, 'Late', 'added')`,
    ),
    lock,
  );
  for (const role of ['clinic_admin', 'doctor', 'nurse', 'receptionist', 'patient'] as const) {
    const changed = await s.run(role, sql`update app_public.test_reports set conclusion = 'Changed' where id = ${reportId}`);
    t.ok(changed === 0 || (typeof changed === 'object' && changed.code === '42501'), `${role} changes nothing`);
  }
  t.same(await s.asAdmin(`update app_public.test_reports set conclusion = 'Changed' where id = $1`, [reportId]), lock, 'superuser update');
  t.same(await s.asAdmin('delete from app_public.test_reports where id = $1', [reportId]), lock, 'superuser delete');
  t.same(await s.asAdmin('update app_public.test_results set value_numeric = 1 where test_report_id = $1', [reportId]), lock, 'superuser result update');
  t.same(await s.asAdmin('delete from app_public.test_results where test_report_id = $1', [reportId]), lock, 'superuser result delete');
  t.same(
    await s.asAdmin(
      `insert into app_public.test_results (clinic_id, test_report_id, patient_id, position, analyte, value_text) values ($1, $2, $3, 3, 'Late', 'x')`,
      [s.clinics.a, reportId, patientId],
    ),
    lock,
    'superuser result insert',
  );
  const owner = async (text: string) => {
    const client = await s.db.admin.connect();
    try {
      await client.query('begin');
      await client.query(`select set_config('app.clinic_id', $1, true)`, [s.clinics.a]);
      await client.query('set local role app_owner');
      return (await client.query(text, [reportId])).rowCount;
    } catch (error) {
      const e = error as { code: string; constraint?: string };
      return { code: e.code, rule: e.constraint };
    } finally {
      await client.query('rollback');
      client.release();
    }
  };
  t.same(
    await owner(`update app_public.test_results set value_numeric = 1 where test_report_id = $1`),
    0,
    'the owner role: no update policy (RLS is forced), nothing changed',
  );
  const { rows: after } = await s.db.admin.query('select value_numeric::text as v from app_public.test_results where test_report_id = $1 order by position', [
    reportId,
  ]);
  t.same(after, [{ v: '130' }, { v: '4.0' }], 'the values as released');
});

t.test('the flags, computed by the database for literal values at every edge', async (t) => {
  const s = await setup(t);
  const patientId = await s.patient();
  const requestId = await s.request(patientId);
  const reportId = await s.as(
    'lab_technician',
    async (trx) =>
      (
        await sql<{
          id: string;
        }>`insert into app_public.test_reports (test_request_id, patient_id, technician_id) values (${requestId}, ${patientId}, app_public.current_member_id()) returning id`.execute(
          trx,
        )
      ).rows[0]!.id,
  );
  // [value, reference low, reference high, critical low, critical high, expected flag]
  const cases: [string | null, string | null, string | null, string | null, string | null, string | null][] = [
    ['140', '120', '160', '70', '200', 'normal'],
    ['120', '120', '160', '70', '200', 'normal'],
    ['160', '120', '160', '70', '200', 'normal'],
    ['119.9', '120', '160', '70', '200', 'low'],
    ['160.1', '120', '160', '70', '200', 'high'],
    ['70.1', '120', '160', '70', '200', 'low'],
    ['70', '120', '160', '70', '200', 'critical_low'],
    ['12', '120', '160', '70', '200', 'critical_low'],
    ['199.9', '120', '160', '70', '200', 'high'],
    ['200', '120', '160', '70', '200', 'critical_high'],
    ['900', '120', '160', '70', '200', 'critical_high'],
    ['5', null, null, null, null, null],
    ['5', '3.5', null, null, null, 'normal'],
    ['3', '3.5', null, null, null, 'low'],
    ['9', null, '5.1', null, null, 'high'],
    ['100', null, null, '50', '150', null],
    ['150', null, null, '50', '150', 'critical_high'],
  ];
  for (const [index, [value, low, high, cLow, cHigh, expected]] of cases.entries()) {
    const { rows } = await s.as('lab_technician', (trx) =>
      sql<{
        flag: string | null;
      }>`insert into app_public.test_results (test_report_id, patient_id, position, analyte, value_numeric, reference_low, reference_high, critical_low, critical_high)
        values (${reportId}, ${patientId}, ${index + 1}, 'Analyte', ${value}::numeric, ${low}::numeric, ${high}::numeric, ${cLow}::numeric, ${cHigh}::numeric)
        returning flag`.execute(trx),
    );
    t.equal(rows[0]!.flag, expected, `${value} in [${low}, ${high}] critical [${cLow}, ${cHigh}]`);
  }
  const text = await s.as('lab_technician', (trx) =>
    sql<{ flag: string | null }>`insert into app_public.test_results (test_report_id, patient_id, position, analyte, value_text, reference_low, reference_high)
      values (${reportId}, ${patientId}, 100, 'Culture', 'no growth', 1, 2) returning flag`.execute(trx),
  );
  t.equal(text.rows[0]!.flag, null, 'a text value is never flagged');
  t.same(
    await s.run('lab_technician', sql`update app_public.test_results set flag = 'normal' where test_report_id = ${reportId}`),
    { code: '428C9', rule: undefined },
    'the flag is not writable (generated)',
  );
});

t.test('footnote 3: a lab technician reads of a patient the identity only, only with an open request', async (t) => {
  const s = await setup(t);
  const patientId = await s.patient('Open Request');
  const otherId = await s.patient('No Request');
  const identities = (role: ClinicRole, ids: string[]) =>
    s.as(role, async (trx) => (await sql<Record<string, unknown>>`select * from app_hidden.lab_patient_identities(${ids}::uuid[])`.execute(trx)).rows);

  t.same(await identities('lab_technician', [patientId, otherId]), [], 'nobody has an open request yet');
  const requestId = await s.request(patientId);
  const seen = await identities('lab_technician', [patientId, otherId]);
  t.equal(seen.length, 1);
  t.same(Object.keys(seen[0]!).sort(), ['dateOfBirth', 'fullName', 'id', 'patientNumber', 'sex']);
  t.match(seen[0], { id: patientId, fullName: 'Open Request', sex: 'male', patientNumber: /^PT-/ });
  for (const role of ['clinic_admin', 'doctor', 'nurse', 'receptionist', 'patient'] as const) {
    t.same(await identities(role, [patientId]), [], `${role}: the function answers nothing`);
  }
  // Nothing else of the patient, by any path.
  const count = (statement: ReturnType<typeof sql>) => s.as('lab_technician', async (trx) => (await statement.execute(trx)).rows);
  t.same(await count(sql`select id from app_public.patients`), [], 'no patient row');
  t.same(await count(sql`select id from app_public.patient_history`), [], 'no history');
  t.same(await count(sql`select id from app_public.consultations`), [], 'no consultation');
  t.same(await count(sql`select id from app_public.files`), [], 'no file of others');
  // Another clinic's context sees nothing of clinic A's patient.
  const foreign = await withTenant(
    s.db.pool,
    { clinicId: s.clinics.b, userId: actorIn(s.db, s.clinics.b, 'lab_technician').account, role: 'lab_technician' },
    async (trx) => (await sql`select * from app_hidden.lab_patient_identities(${[patientId]}::uuid[])`.execute(trx)).rows,
  );
  t.same(foreign, [], "clinic B's technician");

  // Closed: the identity is gone again.
  t.equal(await s.move('doctor', requestId, 'cancelled'), 1);
  t.same(await identities('lab_technician', [patientId]), [], 'a cancelled request opens nothing');
});

t.test('footnote 9: the lab uploads report files of patients with an open request, reads back its own only', async (t) => {
  const s = await setup(t);
  const patientId = await s.patient();
  const otherId = await s.patient('Other');
  await s.request(patientId);
  const upload = (category: string, patient: string) =>
    s.run(
      'lab_technician',
      sql`insert into app_public.files (patient_id, category, original_name, content_type, size_bytes, sha256)
        values (${patient}, ${category}, 'r.pdf', 'application/pdf', 10, ${'b'.repeat(64)})`,
    );
  t.equal(await upload('report', patientId), 1);
  t.same(await upload('registration', patientId), { code: '42501', rule: undefined }, 'not a registration document');
  t.same(await upload('report', otherId), { code: '42501', rule: undefined }, 'not for a patient without an open request');
  await insertAsAdmin(s.db, s.clinics.a, 'app_public.files', {
    patient_id: patientId,
    category: 'report',
    original_name: 'x.pdf',
    content_type: 'application/pdf',
    size_bytes: 1,
    sha256: 'c'.repeat(64),
  });
  const seen = await s.as('lab_technician', async (trx) => (await sql<{ sha256: string }>`select sha256 from app_public.files`.execute(trx)).rows);
  t.same(seen, [{ sha256: 'b'.repeat(64) }], "its own upload only: another member's file is not the lab's to read");
});

/** Whether a backend waits on a lock while running a statement that contains `fragment` (polls 5 s). */
async function blockedOnLock(s: Awaited<ReturnType<typeof setup>>, fragment: string): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    const { rows } = await s.db.admin.query(
      `select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and state = 'active' and strpos(query, $1) > 0 and pid <> pg_backend_pid()`,
      [fragment],
    );
    if (rows[0].n > 0) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

/** Settles `done` when `first` has run in a transaction, which stays open until `release()`. */
function held<T>(s: Awaited<ReturnType<typeof setup>>, first: ReturnType<typeof sql>) {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  let ran!: () => void;
  const done = new Promise<void>((resolve) => {
    ran = resolve;
  });
  const transaction = s.as('lab_technician', async (trx) => {
    await first.execute(trx);
    ran();
    await gate;
  }) as Promise<T>;
  return { done, release, transaction };
}

t.test('races: a result written while the report is released is ordered by the report row (FOR SHARE)', async (t) => {
  const s = await setup(t, 4);
  const patientId = await s.patient();
  const draftReport = async () => {
    const requestId = await s.request(patientId);
    await s.move('lab_technician', requestId, 'collected');
    await s.move('lab_technician', requestId, 'in_progress');
    return s.as('lab_technician', async (trx) => {
      const { rows } = await sql<{ id: string }>`insert into app_public.test_reports (test_request_id, patient_id, technician_id)
        values (${requestId}, ${patientId}, app_public.current_member_id()) returning id`.execute(trx);
      await sql`insert into app_public.test_results (test_report_id, patient_id, position, analyte, value_numeric) values (${rows[0]!.id}, ${patientId}, 1, 'Hb', 130)`.execute(
        trx,
      );
      return rows[0]!.id;
    });
  };
  const results = async (reportId: string) =>
    (await s.db.admin.query('select count(*)::int as n from app_public.test_results where test_report_id = $1', [reportId])).rows[0].n as number;

  // 1. A result first, its transaction open: the release waits, then releases over it.
  {
    const reportId = await draftReport();
    const first = held(
      s,
      sql`insert into app_public.test_results (test_report_id, patient_id, position, analyte, value_numeric) values (${reportId}, ${patientId}, 2, 'K', 4.1)`,
    );
    await first.done;
    const release = s.run('lab_technician', sql`update app_public.test_reports set status = 'released' where id = ${reportId} /* lab-race-1 */`);
    const waited = await blockedOnLock(s, 'lab-race-1');
    first.release();
    await first.transaction;
    t.ok(waited, 'result first: the release waits on the report row');
    t.equal(await release, 1, '… then releases');
    t.equal(await results(reportId), 2, '… with the result that came first');
  }

  // 2. The release first, its transaction open: the result waits, then is refused (CBLCK).
  {
    const reportId = await draftReport();
    const first = held(s, sql`update app_public.test_reports set status = 'released' where id = ${reportId}`);
    await first.done;
    const insert = s.run(
      'lab_technician',
      sql`insert into app_public.test_results (test_report_id, patient_id, position, analyte, value_numeric) values (${reportId}, ${patientId}, 2, 'K', 4.1) /* lab-race-2 */`,
    );
    const waited = await blockedOnLock(s, 'lab-race-2');
    first.release();
    await first.transaction;
    t.ok(waited, 'release first: the result waits on the report row');
    t.same(await insert, { code: 'CBLCK', rule: 'test_report_released_is_final' }, '… then is refused');
    t.equal(await results(reportId), 1, '… nothing added to the released report');
  }
});
