// The prescription rules as the database holds them, under app_user as the app runs (withTenant),
// with no route in between: who writes, the state machine (CBSTA and its rule names), the lock
// (CBLCK) on the prescription, its items and acknowledgements for every role and the superuser,
// numbering under concurrent issues, and the allergy rule (CBALG) with its word matching.
import { sql } from 'kysely';
import pg from 'pg';
import t from 'tap';
import { withTenant, type ClinicRole, type TenantContext } from '../../src/db/tenant.ts';
import { actorIn, createActors, insertAsAdmin } from '../helpers/actors.ts';
import { allergyOf, consultationFor } from '../helpers/clinical.ts';
import { createClinics, createTestDatabase, sqlstateOf } from '../helpers/db.ts';

const db = await createTestDatabase(t, { poolSize: 12 });
const clinics = await createClinics(db);
await createActors(db, [clinics.a, clinics.b]);
const as = (role: ClinicRole, clinicId = clinics.a): TenantContext => ({ clinicId, userId: actorIn(db, clinicId, role).account, role });
const doctor = actorIn(db, clinics.a, 'doctor').member;

const newPatient = (name = 'Rx Patient') =>
  insertAsAdmin(db, clinics.a, 'app_public.patients', { full_name: name, date_of_birth: '1980-01-01', sex: 'female' });

async function errorOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'resolved';
  } catch (error) {
    const e = error as { code?: string; constraint?: string };
    return `${e.code}${e.constraint ? ` ${e.constraint}` : ''}`;
  }
}

/** As the doctor (or another role): one statement in a transaction of its own. */
const run = <T = unknown>(query: (trx: Parameters<Parameters<typeof withTenant>[2]>[0]) => Promise<{ rows: unknown[] }>, ctx = as('doctor')): Promise<T[]> =>
  withTenant(db.pool, ctx, (trx) => query(trx).then((r) => r.rows as T[]));

interface Item {
  medicine_name: string;
  generic_name?: string | null;
}

/** A draft prescription of a new consultation of the patient by the doctor, with its items, written as the doctor. */
async function draft(patientId?: string, items: Item[] = [{ medicine_name: 'Paracetamol' }]): Promise<{ id: string; patientId: string }> {
  const patient = patientId ?? (await newPatient());
  const consultation = await consultationFor(db, clinics.a, patient, doctor);
  const id = await withTenant(db.pool, as('doctor'), async (trx) => {
    const { rows } = await sql<{
      id: string;
    }>`insert into app_public.prescriptions (consultation_id, patient_id) values (${consultation}, ${patient}) returning id`.execute(trx);
    const prescription = rows[0]!.id;
    let position = 0;
    for (const item of items) {
      await sql`insert into app_public.prescription_items (prescription_id, patient_id, position, medicine_name, generic_name, dose_form, dose, frequency, route, quantity)
        values (${prescription}, ${patient}, ${++position}, ${item.medicine_name}, ${item.generic_name ?? null}, 'tablet', '500 mg', 'TDS', 'oral', 15)`.execute(
        trx,
      );
    }
    return prescription;
  });
  return { id, patientId: patient };
}

const move = (id: string, status: string, ctx = as('doctor')) =>
  run(
    (trx) =>
      sql`update app_public.prescriptions set status = ${status}, cancellation_reason = ${status === 'cancelled' ? 'Not needed' : null} where id = ${id} returning id`.execute(
        trx,
      ),
    ctx,
  );

async function inState(state: 'draft' | 'issued' | 'completed' | 'cancelled'): Promise<string> {
  const { id } = await draft();
  if (state === 'issued' || state === 'completed') await move(id, 'issued');
  if (state === 'completed') await move(id, 'completed');
  if (state === 'cancelled') await move(id, 'cancelled');
  return id;
}

t.test('the state machine: every move from every state, literally', async (t) => {
  const table: [string, string, string][] = [
    ['draft', 'issued', 'resolved'],
    ['draft', 'cancelled', 'resolved'],
    ['draft', 'completed', 'CBSTA prescription_complete_needs_issue'],
    ['issued', 'completed', 'resolved'],
    ['issued', 'cancelled', 'resolved'],
    ['issued', 'draft', 'CBSTA prescription_issued_is_final'],
    ['completed', 'issued', 'CBSTA prescription_closed_is_final'],
    ['completed', 'cancelled', 'CBSTA prescription_closed_is_final'],
    ['completed', 'draft', 'CBSTA prescription_closed_is_final'],
    ['cancelled', 'issued', 'CBSTA prescription_closed_is_final'],
    ['cancelled', 'draft', 'CBSTA prescription_closed_is_final'],
    ['cancelled', 'completed', 'CBSTA prescription_closed_is_final'],
  ];
  for (const [from, to, expected] of table) {
    const id = await inState(from as 'draft');
    t.equal(await errorOf(move(id, to)), expected, `${from} → ${to}: ${expected}`);
  }
});

t.test('moves stamp their times and the number; cancelling needs a reason; issuing needs an item', async (t) => {
  const id = await inState('draft');
  const [issued] = await run<{ status: string; prescriptionNumber: string; issuedAt: Date | null; version: number }>((trx) =>
    sql`update app_public.prescriptions set status = 'issued' where id = ${id} returning status, prescription_number, issued_at, version`.execute(trx),
  );
  t.equal(issued!.status, 'issued');
  t.match(issued!.prescriptionNumber, /^RX-\d{4}-\d{5}$/);
  t.ok(issued!.issuedAt, 'issued_at stamped');
  t.equal(issued!.version, 2, 'version bumped by the database');
  const [completed] = await run<{ completedAt: Date | null; version: number }>((trx) =>
    sql`update app_public.prescriptions set status = 'completed' where id = ${id} returning completed_at, version`.execute(trx),
  );
  t.ok(completed!.completedAt, 'completed_at stamped');
  t.equal(completed!.version, 3);

  const other = await inState('draft');
  t.equal(
    await errorOf(run((trx) => sql`update app_public.prescriptions set status = 'cancelled' where id = ${other}`.execute(trx).then(() => ({ rows: [] })))),
    'CBSTA prescription_cancel_needs_reason',
  );
  const [cancelled] = await run<{ cancelledAt: Date | null; prescriptionNumber: string | null }>((trx) =>
    sql`update app_public.prescriptions set status = 'cancelled', cancellation_reason = 'Wrong patient' where id = ${other} returning cancelled_at, prescription_number`.execute(
      trx,
    ),
  );
  t.ok(cancelled!.cancelledAt, 'cancelled_at stamped');
  t.equal(cancelled!.prescriptionNumber, null, 'a draft cancelled has no number');

  const empty = await draft(undefined, []);
  t.equal(await errorOf(move(empty.id, 'issued')), 'CBSTA prescription_issue_needs_items');
});

t.test('issued, completed and cancelled prescriptions are locked with their items, for the doctor and the superuser', async (t) => {
  for (const state of ['issued', 'completed', 'cancelled'] as const) {
    const id = await inState(state);
    const lock = 'CBLCK prescription_issued_is_locked';
    t.equal(
      await errorOf(run((trx) => sql`update app_public.prescriptions set notes = 'changed' where id = ${id}`.execute(trx).then(() => ({ rows: [] })))),
      lock,
      `${state}: doctor updates notes`,
    );
    t.equal(
      await errorOf(
        run((trx) => sql`update app_public.prescription_items set quantity = 99 where prescription_id = ${id}`.execute(trx).then(() => ({ rows: [] }))),
      ),
      lock,
      `${state}: doctor updates an item`,
    );
    t.equal(
      await errorOf(run((trx) => sql`delete from app_public.prescription_items where prescription_id = ${id}`.execute(trx).then(() => ({ rows: [] })))),
      lock,
      `${state}: doctor deletes an item`,
    );
    const { rows } = await db.admin.query('select patient_id from app_public.prescriptions where id = $1', [id]);
    const patient = rows[0].patient_id as string;
    t.equal(
      await errorOf(
        run((trx) =>
          sql`insert into app_public.prescription_items (prescription_id, patient_id, position, medicine_name, dose_form, dose, frequency, route, quantity)
          values (${id}, ${patient}, 9, 'Ibuprofen', 'tablet', '200 mg', 'TDS', 'oral', 10)`
            .execute(trx)
            .then(() => ({ rows: [] })),
        ),
      ),
      lock,
      `${state}: doctor adds an item`,
    );
    // The superuser: bypasses RLS, not the triggers.
    t.equal(
      await errorOf(db.admin.query(`update app_public.prescriptions set notes = 'changed' where id = $1`, [id])),
      lock,
      `${state}: superuser updates notes`,
    );
    t.equal(
      await errorOf(db.admin.query(`update app_public.prescriptions set prescription_number = 'RX-2000-00001' where id = $1`, [id])),
      lock,
      `${state}: superuser renumbers`,
    );
    t.equal(await errorOf(db.admin.query('delete from app_public.prescriptions where id = $1', [id])), lock, `${state}: superuser deletes`);
    t.equal(
      await errorOf(db.admin.query('update app_public.prescription_items set dose = $2 where prescription_id = $1', [id, '1 g'])),
      lock,
      `${state}: superuser updates an item`,
    );
    t.equal(
      await errorOf(db.admin.query('delete from app_public.prescription_items where prescription_id = $1', [id])),
      lock,
      `${state}: superuser deletes items`,
    );
  }
  // The owner role (migrations run as it): forced RLS with no policy of its own, so it reaches no
  // prescription at all; were RLS off for it, the trigger would refuse as it does the superuser.
  const owner = new pg.Client({ connectionString: db.ownerUrl });
  await owner.connect();
  try {
    const id = await inState('issued');
    const updated = await owner.query(`update app_public.prescriptions set notes = 'owner' where id = $1`, [id]);
    t.equal(updated.rowCount, 0, 'the owner updates nothing');
    t.equal((await owner.query('delete from app_public.prescription_items where prescription_id = $1', [id])).rowCount, 0, 'the owner deletes no item');
    await owner.query('begin');
    await owner.query('set local row_security = off');
    t.equal(
      await errorOf(owner.query(`update app_public.prescriptions set notes = 'owner' where id = $1`, [id])),
      '42501',
      'nor with row security off (forced RLS refuses it)',
    );
    await owner.query('rollback');
  } finally {
    await owner.end();
  }

  const issued = await inState('issued');
  t.equal(
    await errorOf(
      db.admin.query(`update app_public.prescriptions set status = 'cancelled', cancellation_reason = 'x', notes = 'sneaked in' where id = $1`, [issued]),
    ),
    'CBLCK prescription_issued_is_locked',
    'a move carries no other change',
  );
});

t.test('who writes: the consultation author only, doctors only; no deletes of prescriptions', async (t) => {
  const patient = await newPatient();
  const consultation = await consultationFor(db, clinics.a, patient, doctor);
  const insert = (ctx: TenantContext) =>
    run(
      (trx) =>
        sql`insert into app_public.prescriptions (consultation_id, patient_id) values (${consultation}, ${patient})`.execute(trx).then(() => ({ rows: [] })),
      ctx,
    );
  for (const role of ['clinic_admin', 'nurse', 'receptionist', 'lab_technician', 'patient'] as const) {
    t.equal(await sqlstateOf(insert(as(role))), '42501', `${role} cannot write a prescription`);
  }
  const second = await insertAsAdmin(db, clinics.a, 'app_public.clinic_members', {
    account_id: await accountId('second-rx@example.test'),
    role: 'doctor',
    display_name: 'Second',
  });
  const secondCtx: TenantContext = {
    clinicId: clinics.a,
    userId: (await db.admin.query('select account_id from app_public.clinic_members where id = $1', [second])).rows[0].account_id,
    role: 'doctor',
  };
  t.equal(await sqlstateOf(insert(secondCtx)), '42501', "another doctor cannot prescribe from a colleague's consultation");
  t.equal(await sqlstateOf(insert(as('doctor'))), 'resolved', 'the author can');
  const { id } = await draft();
  const updated = await run((trx) => sql`update app_public.prescriptions set notes = 'mine?' where id = ${id} returning id`.execute(trx), secondCtx);
  t.same(updated, [], "another doctor updates nothing of a colleague's draft");
  t.equal(
    await sqlstateOf(run((trx) => sql`delete from app_public.prescriptions where id = ${id}`.execute(trx).then(() => ({ rows: [] })))),
    '42501',
    'nobody deletes a prescription',
  );
  t.equal(
    await sqlstateOf(run((trx) => sql`update app_public.prescriptions set version = 7 where id = ${id}`.execute(trx).then(() => ({ rows: [] })))),
    '42501',
    'version is not writable',
  );
});

async function accountId(email: string): Promise<string> {
  const { rows } = await db.admin.query(`insert into app_private.accounts (email, password_hash) values ($1, '$argon2id$v=19$x') returning id`, [email]);
  return rows[0].id as string;
}

t.test('numbering: ten concurrent issues get ten distinct, consecutive numbers of the clinic and year', async (t) => {
  const doctorB = actorIn(db, clinics.b, 'doctor').member;
  const patientB = await insertAsAdmin(db, clinics.b, 'app_public.patients', { full_name: 'B Patient', date_of_birth: '1980-01-01', sex: 'male' });
  const ids: string[] = [];
  for (let i = 0; i < 10; i++) {
    const consultation = await consultationFor(db, clinics.b, patientB, doctorB);
    ids.push(
      await withTenant(db.pool, as('doctor', clinics.b), async (trx) => {
        const { rows } = await sql<{
          id: string;
        }>`insert into app_public.prescriptions (consultation_id, patient_id) values (${consultation}, ${patientB}) returning id`.execute(trx);
        await sql`insert into app_public.prescription_items (prescription_id, patient_id, position, medicine_name, dose_form, dose, frequency, route, quantity)
          values (${rows[0]!.id}, ${patientB}, 1, 'Cetirizine', 'tablet', '10 mg', 'OD', 'oral', 10)`.execute(trx);
        return rows[0]!.id;
      }),
    );
  }
  const numbers = await Promise.all(
    ids.map((id) =>
      run<{ prescriptionNumber: string }>(
        (trx) => sql`update app_public.prescriptions set status = 'issued' where id = ${id} returning prescription_number`.execute(trx),
        as('doctor', clinics.b),
      ).then((rows) => rows[0]!.prescriptionNumber),
    ),
  );
  const year = String(new Date().getUTCFullYear());
  t.same(
    [...numbers].sort(),
    ['00001', '00002', '00003', '00004', '00005', '00006', '00007', '00008', '00009', '00010'].map((n) => `RX-${year}-${n}`),
    'RX-YYYY-00001 … 00010, each once',
  );
});

t.test('the allergy rule: a matching medicine needs a recorded acknowledgement, else the issue is refused', async (t) => {
  const patient = await newPatient('Allergic Patient');
  const penicillin = await allergyOf(db, clinics.a, patient, 'Penicillin');
  await allergyOf(db, clinics.a, patient, 'Sulfa');
  await allergyOf(db, clinics.a, patient, 'Aspirin', false); // inactive: does not count
  await allergyOf(db, clinics.a, patient, 'C++ (test)');

  const cases: [Item, string][] = [
    [{ medicine_name: 'Penicillin V' }, 'CBALG prescription_allergy_needs_acknowledgement'],
    [{ medicine_name: 'PENICILLIN' }, 'CBALG prescription_allergy_needs_acknowledgement'],
    [{ medicine_name: 'Pen-V', generic_name: 'phenoxymethyl penicillin' }, 'CBALG prescription_allergy_needs_acknowledgement'],
    [{ medicine_name: 'Amoxicillin' }, 'resolved'],
    [{ medicine_name: 'Penicillinase' }, 'resolved'],
    [{ medicine_name: 'Sulfamethoxazole' }, 'resolved'],
    [{ medicine_name: 'Aspirin' }, 'resolved'],
    [{ medicine_name: 'c++ (TEST) cream' }, 'CBALG prescription_allergy_needs_acknowledgement'],
    [{ medicine_name: 'C (test)' }, 'resolved'],
  ];
  for (const [item, expected] of cases) {
    const { id } = await draft(patient, [item]);
    t.equal(await errorOf(move(id, 'issued')), expected, `${item.medicine_name}${item.generic_name ? ` (${item.generic_name})` : ''}: ${expected}`);
  }

  const { id } = await draft(patient, [{ medicine_name: 'Paracetamol' }, { medicine_name: 'Penicillin V' }]);
  const matches = await run<{ allergyName: string; itemPosition: number; acknowledged: boolean }>((trx) =>
    sql`select allergy_name, item_position, acknowledged from app_public.prescription_allergy_matches(${id})`.execute(trx),
  );
  t.same(matches, [{ allergyName: 'Penicillin', itemPosition: 2, acknowledged: false }]);
  const [issued] = await withTenant(db.pool, as('doctor'), async (trx) => {
    await sql`insert into app_public.prescription_allergy_acknowledgements (prescription_id, patient_id, allergy_id, note)
      values (${id}, ${patient}, ${penicillin}, 'Tolerated before under supervision')`.execute(trx);
    return (await sql<{ status: string }>`update app_public.prescriptions set status = 'issued' where id = ${id} returning status`.execute(trx)).rows;
  });
  t.equal(issued!.status, 'issued', 'issued once acknowledged');
  const { rows: acks } = await db.admin.query(
    'select a.note, a.acknowledged_by, a.created_at is not null as dated from app_public.prescription_allergy_acknowledgements a where a.prescription_id = $1',
    [id],
  );
  t.same(acks, [{ note: 'Tolerated before under supervision', acknowledged_by: doctor, dated: true }], 'who, when, which note');
  t.equal(
    await errorOf(db.admin.query(`update app_public.prescription_allergy_acknowledgements set note = 'rewritten' where prescription_id = $1`, [id])),
    'CBLCK prescription_issued_is_locked',
    'the acknowledgement is locked with the prescription',
  );

  const other = await newPatient('Other');
  const otherAllergy = await allergyOf(db, clinics.a, other, 'Penicillin');
  const { id: mine } = await draft(patient, [{ medicine_name: 'Penicillin V' }]);
  t.equal(
    await errorOf(
      run((trx) =>
        sql`insert into app_public.prescription_allergy_acknowledgements (prescription_id, patient_id, allergy_id, note)
        values (${mine}, ${patient}, ${otherAllergy}, 'wrong patient')`
          .execute(trx)
          .then(() => ({ rows: [] })),
      ),
    ),
    '23514 prescription_allergy_acknowledgements_allergy_id_valid',
    "another patient's allergy cannot be acknowledged",
  );
  // The rule holds for the superuser too (SQL cannot go around it).
  t.equal(
    await errorOf(db.admin.query(`update app_public.prescriptions set status = 'issued' where id = $1`, [mine])),
    'CBALG prescription_allergy_needs_acknowledgement',
  );
});

t.test('an item written while the prescription is being issued waits for the issue, then is refused', async (t) => {
  const { id, patientId } = await draft();
  let late: Promise<string> | undefined;
  await withTenant(db.pool, as('doctor'), async (trx) => {
    await sql`update app_public.prescriptions set status = 'issued' where id = ${id}`.execute(trx);
    late = errorOf(
      run((other) =>
        sql`insert into app_public.prescription_items (prescription_id, patient_id, position, medicine_name, dose_form, dose, frequency, route, quantity)
          values (${id}, ${patientId}, 2, 'Ibuprofen', 'tablet', '200 mg', 'TDS', 'oral', 10)`.execute(other),
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 300)); // the insert is now waiting on the issuing row
  });
  t.equal(await late, 'CBLCK prescription_issued_is_locked', 'refused once the issue commits');
  const { rows } = await db.admin.query('select count(*)::int as n from app_public.prescription_items where prescription_id = $1', [id]);
  t.equal(rows[0].n, 1, 'the issued prescription kept its one item');
});

t.test('a cancellation reason belongs to a cancelled prescription only: the trigger and the check', async (t) => {
  const withReason = (id: string, status: string) =>
    errorOf(run((trx) => sql`update app_public.prescriptions set status = ${status}, cancellation_reason = 'Side effects' where id = ${id}`.execute(trx)));
  t.equal(await withReason(await inState('draft'), 'issued'), 'CBSTA prescription_reason_needs_cancel', 'draft → issued with a reason: refused');
  t.equal(await withReason(await inState('issued'), 'completed'), 'CBSTA prescription_reason_needs_cancel', 'issued → completed with a reason: refused');
  t.equal(await withReason(await inState('draft'), 'draft'), '23514 prescriptions_cancellation_reason_valid', 'a draft given a reason: the check refuses it');
  t.equal(await withReason(await inState('issued'), 'cancelled'), 'resolved', 'issued → cancelled with a reason: fine');

  // The check holds for the superuser without the trigger (session_replication_role = replica skips triggers).
  const issued = await inState('issued');
  const cancelled = await inState('cancelled');
  const client = await db.admin.connect();
  try {
    await client.query(`set session_replication_role = replica`);
    for (const [what, statement, id] of [
      ['an issued prescription with a reason', `update app_public.prescriptions set cancellation_reason = 'x' where id = $1`, issued],
      [
        'a completed one with a reason',
        `update app_public.prescriptions set status = 'completed', completed_at = now(), cancellation_reason = 'x' where id = $1`,
        issued,
      ],
      ['a cancelled one without', `update app_public.prescriptions set cancellation_reason = null where id = $1`, cancelled],
    ] as const) {
      t.equal(await errorOf(client.query(statement, [id])), '23514 prescriptions_cancellation_reason_valid', `${what}: the check refuses it`);
    }
  } finally {
    await client.query(`reset session_replication_role`);
    client.release();
  }
});
