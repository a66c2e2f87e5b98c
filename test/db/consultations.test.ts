// Consultations as the database holds them, under app_user as the app runs (withTenant), as the
// owner role and as superuser, with no route in between: opening copies the visit's patient and
// moves the visit; the state machine (draft → signed, once: CBSTA); the version bumped by every
// update, whoever writes; signing locks the consultation, its vital signs and diagnoses for every
// role, the owner and the superuser included (CBLCK with the rule's name); addenda never change;
// two concurrent writes at one version: exactly one wins.
import pg from 'pg';
import { sql } from 'kysely';
import t, { type Test } from 'tap';
import { ROLES } from '../helpers/matrix.ts';
import { withTenant, type ClinicRole, type TenantContext } from '../../src/db/tenant.ts';
import { actorIn, createActors, insertAsAdmin } from '../helpers/actors.ts';
import { createClinics, createTestDatabase, type TestDatabase } from '../helpers/db.ts';

async function setup(t: Test) {
  const db = await createTestDatabase(t, { poolSize: 4 });
  const clinics = await createClinics(db);
  await createActors(db, [clinics.a, clinics.b]);
  const as = (role: ClinicRole): TenantContext => ({ clinicId: clinics.a, userId: actorIn(db, clinics.a, role).account, role });
  const patient = await insertAsAdmin(db, clinics.a, 'app_public.patients', { full_name: 'Chart Patient', date_of_birth: '1970-01-01', sex: 'male' });
  const visit = async () => {
    const id = await insertAsAdmin(db, clinics.a, 'app_public.visits', { patient_id: patient, doctor_id: actorIn(db, clinics.a, 'doctor').member });
    await db.admin.query(`update app_public.visits set status = 'called' where id = $1`, [id]);
    return id;
  };
  const open = async () => {
    const visitId = await visit();
    const id = await withTenant(db.pool, as('doctor'), (trx) =>
      sql<{ id: string }>`insert into app_public.consultations (visit_id, chief_complaint) values (${visitId}, 'Headache') returning id`
        .execute(trx)
        .then((r) => r.rows[0]!.id),
    );
    return { id, visitId };
  };
  return { db, clinics, as, patient, visit, open };
}

/** The error of a statement as superuser (or another client): SQLSTATE and the RAISE's constraint. */
async function refusal(run: () => Promise<unknown>): Promise<{ code: string; constraint?: string } | 'done'> {
  try {
    await run();
    return 'done';
  } catch (error) {
    const e = error as { code: string; constraint?: string };
    return { code: e.code, constraint: e.constraint };
  }
}

const row = async (db: TestDatabase, id: string) =>
  (
    await db.admin.query(
      'select status, version, findings, signed_at is not null as signed, completed_at is not null as completed from app_public.consultations where id = $1',
      [id],
    )
  ).rows[0];

t.test('opening: the patient is the visit’s, the visit moves to in_consultation, one consultation per visit', async (t) => {
  const { db, clinics, as, patient, visit } = await setup(t);
  const visitId = await visit();
  const other = await insertAsAdmin(
    db,
    (await db.admin.query('select clinic_id from app_public.visits where id = $1', [visitId])).rows[0].clinic_id,
    'app_public.patients',
    {
      full_name: 'Other Patient',
      date_of_birth: '1990-01-01',
      sex: 'female',
    },
  );
  const sneaky = await refusal(() =>
    withTenant(db.pool, as('doctor'), (trx) => sql`insert into app_public.consultations (visit_id, patient_id) values (${visitId}, ${other})`.execute(trx)),
  );
  t.match(sneaky, { code: '42501' }, 'app_user may not name the patient (no column grant)');
  const { rows } = await db.admin.query(
    `with context as materialized (select set_config('app.clinic_id', clinic_id::text, true) from app_public.visits where id = $1)
     insert into app_public.consultations (clinic_id, visit_id, patient_id, doctor_id)
     select v.clinic_id, v.id, $2, v.doctor_id from app_public.visits v, context where v.id = $1 returning patient_id`,
    [visitId, other],
  );
  t.equal(rows[0].patient_id, patient, "even the superuser's patient is replaced by the visit's");
  t.equal((await db.admin.query('select status from app_public.visits where id = $1', [visitId])).rows[0].status, 'in_consultation');
  const second = await refusal(() =>
    withTenant(db.pool, as('doctor'), (trx) => sql`insert into app_public.consultations (visit_id) values (${visitId})`.execute(trx)),
  );
  t.match(second, { code: '23505', constraint: 'consultations_visit_id_key' }, 'a second consultation of the visit: the unique key');
  for (const role of ['clinic_admin', 'nurse', 'receptionist'] as const) {
    const v = await visit();
    // Naming the visit's doctor as the author: the policy refuses (without it, the visit's doctor check: 23514).
    const doctor = actorIn(db, clinics.a, 'doctor').member;
    const refused = await refusal(() =>
      withTenant(db.pool, as(role), (trx) => sql`insert into app_public.consultations (visit_id, doctor_id) values (${v}, ${doctor})`.execute(trx)),
    );
    t.match(refused, { code: '42501' }, `${role} does not open consultations`);
    t.equal((await db.admin.query('select status from app_public.visits where id = $1', [v])).rows[0].status, 'called', `${role}: the visit did not move`);
  }
});

t.test('version: every update bumps it, whoever writes; the client cannot set it', async (t) => {
  const { db, as, open } = await setup(t);
  const { id } = await open();
  t.equal((await row(db, id)).version, 1);
  await withTenant(db.pool, as('doctor'), (trx) =>
    sql`update app_public.consultations set findings = 'Mild fever' where id = ${id} and version = 1`.execute(trx),
  );
  t.equal((await row(db, id)).version, 2, 'the author’s update: 2');
  await db.admin.query(`update app_public.consultations set symptoms = 'x', version = 99 where id = $1`, [id]);
  t.equal((await row(db, id)).version, 3, 'a superuser writing version 99 still gets old + 1');
  const direct = await refusal(() =>
    withTenant(db.pool, as('doctor'), (trx) => sql`update app_public.consultations set version = 10 where id = ${id}`.execute(trx)),
  );
  t.match(direct, { code: '42501' }, 'app_user has no grant on version');
});

t.test('signing: draft → signed once, stamps, completes the visit; signed → draft is CBSTA', async (t) => {
  const { db, as, open } = await setup(t);
  const { id, visitId } = await open();
  const signedAt = await refusal(() =>
    withTenant(db.pool, as('doctor'), (trx) => sql`update app_public.consultations set signed_at = now() where id = ${id}`.execute(trx)),
  );
  t.match(signedAt, { code: '42501' }, 'signed_at is the database’s');
  await withTenant(db.pool, as('doctor'), (trx) => sql`update app_public.consultations set status = 'signed' where id = ${id}`.execute(trx));
  t.match(await row(db, id), { status: 'signed', version: 2, signed: true, completed: true });
  t.equal((await db.admin.query('select status from app_public.visits where id = $1', [visitId])).rows[0].status, 'completed', 'the visit completed');
  t.match(await refusal(() => db.admin.query(`update app_public.consultations set status = 'draft' where id = $1`, [id])), {
    code: 'CBSTA',
    constraint: 'consultation_status_transition',
  });
});

t.test('a signed consultation, its vitals and diagnoses are locked for every role, the owner and the superuser', async (t) => {
  const { db, as, open } = await setup(t);
  const { id } = await open();
  const ids = await withTenant(db.pool, as('doctor'), async (trx) => ({
    vitals: (await sql<{ id: string }>`insert into app_public.vitals (consultation_id, heart_rate_bpm) values (${id}, 70) returning id`.execute(trx)).rows[0]!
      .id,
    diagnosis: (
      await sql<{ id: string }>`insert into app_public.diagnoses (consultation_id, icd10_code, is_primary) values (${id}, 'R51.9', true) returning id`.execute(
        trx,
      )
    ).rows[0]!.id,
  }));
  await withTenant(db.pool, as('doctor'), (trx) => sql`update app_public.consultations set status = 'signed' where id = ${id}`.execute(trx));
  const addendum = (
    await withTenant(db.pool, as('doctor'), (trx) =>
      sql<{ id: string }>`insert into app_public.consultation_addenda (consultation_id, body) values (${id}, 'Later: migraine.') returning id`.execute(trx),
    )
  ).rows[0]!.id;
  const before = (await db.admin.query('select * from app_public.consultations where id = $1', [id])).rows[0];

  const statements: [string, string, string][] = [
    ['update the consultation', `update app_public.consultations set findings = 'changed' where id = '${id}'`, 'consultation_signed_is_final'],
    ['delete the consultation', `delete from app_public.consultations where id = '${id}'`, 'consultation_signed_is_final'],
    ['update a vital sign', `update app_public.vitals set heart_rate_bpm = 90 where id = '${ids.vitals}'`, 'consultation_vitals_are_final'],
    ['delete a vital sign', `delete from app_public.vitals where id = '${ids.vitals}'`, 'consultation_vitals_are_final'],
    [
      'add a vital sign',
      `insert into app_public.vitals (clinic_id, consultation_id, patient_id, recorded_by, heart_rate_bpm) select clinic_id, id, patient_id, doctor_id, 88 from app_public.consultations where id = '${id}'`,
      'consultation_vitals_are_final',
    ],
    ['update a diagnosis', `update app_public.diagnoses set description = 'changed' where id = '${ids.diagnosis}'`, 'consultation_diagnoses_are_final'],
    ['delete a diagnosis', `delete from app_public.diagnoses where id = '${ids.diagnosis}'`, 'consultation_diagnoses_are_final'],
    [
      'add a diagnosis',
      `insert into app_public.diagnoses (clinic_id, consultation_id, patient_id, icd10_code, description) select clinic_id, id, patient_id, 'J00', 'x' from app_public.consultations where id = '${id}'`,
      'consultation_diagnoses_are_final',
    ],
    ['update the addendum', `update app_public.consultation_addenda set body = 'changed' where id = '${addendum}'`, 'addendum_is_final'],
    ['delete the addendum', `delete from app_public.consultation_addenda where id = '${addendum}'`, 'addendum_is_final'],
  ];
  for (const [what, statement, rule] of statements) {
    t.match(await refusal(() => db.admin.query(statement)), { code: 'CBLCK', constraint: rule }, `superuser: ${what} → CBLCK ${rule}`);
    const owner = new pg.Client({ connectionString: db.ownerUrl });
    await owner.connect();
    const asOwner = await refusal(() => owner.query(statement).then((r) => (r.rowCount ? Promise.reject({ code: `changed ${r.rowCount}` }) : r)));
    await owner.end();
    t.ok(
      asOwner === 'done' || (asOwner as { code: string }).code === 'CBLCK' || (asOwner as { code: string }).code === '42501',
      `app_owner: ${what} changes nothing (${JSON.stringify(asOwner)})`,
    );
    for (const role of ROLES) {
      const result = await refusal(() =>
        withTenant(db.pool, as(role), (trx) => sql.raw(statement).execute(trx)).then((r) =>
          Number(r.numAffectedRows ?? 0) > 0 ? Promise.reject({ code: 'changed' }) : r,
        ),
      );
      t.not((result as { code?: string }).code, 'changed', `${role}: ${what} changes nothing`);
      if (result !== 'done')
        t.ok(['CBLCK', '42501'].includes((result as { code: string }).code), `${role}: ${what} refused (${(result as { code: string }).code})`);
    }
  }
  const after = (await db.admin.query('select * from app_public.consultations where id = $1', [id])).rows[0];
  t.same(after, before, 'the signed consultation is exactly as signed');
  t.equal((await db.admin.query('select count(*)::int as n from app_public.vitals where consultation_id = $1', [id])).rows[0].n, 1);
  t.equal((await db.admin.query('select count(*)::int as n from app_public.diagnoses where consultation_id = $1', [id])).rows[0].n, 1);
  // Only session_replication_role (superuser, no app role may set it) skips triggers.
  t.match(
    await refusal(() => withTenant(db.pool, as('clinic_admin'), (trx) => sql`set session_replication_role = replica`.execute(trx))),
    { code: '42501' },
    'app_user cannot switch the triggers off',
  );
});

t.test('addenda only on signed consultations; nurses write none', async (t) => {
  const { db, as, open } = await setup(t);
  const { id } = await open();
  t.match(
    await refusal(() =>
      withTenant(db.pool, as('doctor'), (trx) => sql`insert into app_public.consultation_addenda (consultation_id, body) values (${id}, 'x')`.execute(trx)),
    ),
    { code: 'CBSTA', constraint: 'addendum_needs_signed_consultation' },
  );
  await withTenant(db.pool, as('doctor'), (trx) => sql`update app_public.consultations set status = 'signed' where id = ${id}`.execute(trx));
  t.match(
    await refusal(() =>
      withTenant(db.pool, as('nurse'), (trx) => sql`insert into app_public.consultation_addenda (consultation_id, body) values (${id}, 'x')`.execute(trx)),
    ),
    { code: '42501' },
  );
});

t.test('races: two signers, and a sign against a patch, at the same version: exactly one wins', async (t) => {
  const { db, as, open } = await setup(t);
  for (const [what, other] of [
    ['two signers', sql`update app_public.consultations set status = 'signed'`],
    ['sign against patch', sql`update app_public.consultations set findings = 'late edit'`],
  ] as const) {
    const { id } = await open();
    const sign = withTenant(db.pool, as('doctor'), (trx) =>
      sql`update app_public.consultations set status = 'signed' where id = ${id} and version = 1`.execute(trx).then((r) => Number(r.numAffectedRows)),
    );
    const second = withTenant(db.pool, as('doctor'), (trx) =>
      sql`${other} where id = ${id} and version = 1`.execute(trx).then((r) => Number(r.numAffectedRows)),
    );
    const counts = (await Promise.allSettled([sign, second])).map((r) => (r.status === 'fulfilled' ? r.value : 0));
    t.same(counts.sort(), [0, 1], `${what}: one write matched, the other found version 2`);
    t.equal((await row(db, id)).version, 2, `${what}: one bump`);
  }
});

/** Whether a backend waits on a lock while running a statement that contains `fragment` (polls 5 s). */
async function blockedOnLock(db: TestDatabase, fragment: string): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    const { rows } = await db.admin.query(
      `select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and state = 'active' and strpos(query, $1) > 0 and pid <> pg_backend_pid()`,
      [fragment],
    );
    if (rows[0].n > 0) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

/** A promise and the function that settles it: a transaction held open until the test says so. */
function gate() {
  let open!: () => void;
  const closed = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { closed, open };
}

t.test('races: a vital sign in flight and the sign are ordered by the consultation row (FOR SHARE)', async (t) => {
  const { db, as, open } = await setup(t);

  // 1. The nurse's insert comes first and holds its transaction open: the sign waits for it, then
  //    signs; the vital sign is under the signed consultation legitimately (it was there first).
  {
    const { id } = await open();
    const held = gate();
    let inserted!: () => void;
    const insertDone = new Promise<void>((resolve) => {
      inserted = resolve;
    });
    const nurse = withTenant(db.pool, as('nurse'), async (trx) => {
      await sql`insert into app_public.vitals (consultation_id, heart_rate_bpm) values (${id}, 71)`.execute(trx);
      inserted();
      await held.closed;
    });
    await insertDone;
    let signSettled = false;
    const sign = withTenant(db.pool, as('doctor'), (trx) =>
      sql`update app_public.consultations set status = 'signed' where id = ${id} /* race-1-sign */`.execute(trx).then((r) => Number(r.numAffectedRows)),
    ).finally(() => {
      signSettled = true;
    });
    t.ok(await blockedOnLock(db, 'race-1-sign'), 'the sign waits on a row lock');
    t.equal(signSettled, false, 'insert first: the sign waits for the open insert');
    held.open();
    await nurse;
    t.equal(await sign, 1, '… and signs once the insert has committed');
    t.same(
      (
        await db.admin.query(
          'select c.status, count(v.*)::int as vitals from app_public.consultations c left join app_public.vitals v on v.consultation_id = c.id where c.id = $1 group by c.status',
          [id],
        )
      ).rows[0],
      { status: 'signed', vitals: 1 },
      '… the vital sign came first, the consultation is signed over it',
    );
  }

  // 2. The sign comes first and holds its transaction open: the nurse's insert waits for it, then
  //    sees the consultation signed and is refused (CBLCK).
  {
    const { id } = await open();
    const held = gate();
    let signed!: () => void;
    const signDone = new Promise<void>((resolve) => {
      signed = resolve;
    });
    const sign = withTenant(db.pool, as('doctor'), async (trx) => {
      await sql`update app_public.consultations set status = 'signed' where id = ${id}`.execute(trx);
      signed();
      await held.closed;
    });
    await signDone;
    let insertSettled = false;
    const insert = refusal(() =>
      withTenant(db.pool, as('nurse'), (trx) =>
        sql`insert into app_public.vitals (consultation_id, heart_rate_bpm) values (${id}, 72) /* race-2-insert */`.execute(trx),
      ),
    ).finally(() => {
      insertSettled = true;
    });
    t.ok(await blockedOnLock(db, 'race-2-insert'), 'the insert waits on a row lock');
    t.equal(insertSettled, false, 'sign first: the insert waits for the open sign');
    held.open();
    await sign;
    t.same(await insert, { code: 'CBLCK', constraint: 'consultation_vitals_are_final' }, '… and is refused once the sign has committed');
    t.same(
      (await db.admin.query('select count(*)::int as n from app_public.vitals where consultation_id = $1', [id])).rows[0],
      { n: 0 },
      '… no vital sign under the signed consultation',
    );
  }
});
