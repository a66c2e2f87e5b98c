// Two workers running the same upkeep at once: the second neither waits for the first nor
// changes a row twice (each row is counted once in all), and neither fails. One run holds its
// transaction open while the other runs whole, the order two workers would meet in.
import { sql } from 'kysely';
import t from 'tap';
import { type TenantDb, withContext } from '../../src/db/tenant.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { insertAsItStands, upkeepClinics } from '../helpers/upkeep.ts';
import { workerPool } from '../helpers/worker.ts';

const AT = new Date('2026-03-09T18:30:01Z');
const ROWS = 30;

t.test('two runs at once', async (t) => {
  const db = await createTestDatabase(t);
  const { a } = await upkeepClinics(db);
  const pool = await workerPool(t, db);
  const asJob = <T>(fn: (trx: TenantDb) => Promise<T>) =>
    withContext(pool, 'app_user', { clinicId: a.id, userId: null, role: null, requestId: 'job-2' }, fn, { lockTimeoutMs: 1000 });
  const call = async (trx: TenantDb, fn: string, at: Date) =>
    (await sql<{ result: unknown }>`select ${sql.raw(fn)}(${at}) as result`.execute(trx)).rows[0]!.result;

  for (let i = 0; i < ROWS; i++) {
    const startsAt = new Date(Date.UTC(2026, 2, 9, 4, 0) + i * 15 * 60_000);
    await insertAsItStands(db, 'app_public.appointments', {
      clinic_id: a.id,
      patient_id: a.patient,
      doctor_id: a.doctor,
      starts_at: startsAt,
      ends_at: new Date(startsAt.getTime() + 15 * 60_000),
      booked_by: a.admin,
    });
    await insertAsItStands(db, 'app_public.visits', {
      clinic_id: a.id,
      patient_id: a.patient,
      doctor_id: a.doctor,
      visit_date: '2026-03-08',
      token_number: i + 1,
      status: 'waiting',
    });
  }

  const consultedVisit = await insertAsItStands(db, 'app_public.visits', {
    clinic_id: a.id,
    patient_id: a.patient,
    doctor_id: a.doctor,
    visit_date: '2026-03-01',
    token_number: 1,
    status: 'completed',
  });
  const consultation = await insertAsItStands(db, 'app_public.consultations', {
    clinic_id: a.id,
    visit_id: consultedVisit,
    patient_id: a.patient,
    doctor_id: a.doctor,
  });
  for (let i = 0; i < ROWS; i++) {
    await insertAsItStands(db, 'app_public.follow_ups', {
      clinic_id: a.id,
      consultation_id: consultation,
      patient_id: a.patient,
      doctor_id: a.doctor,
      due_date: '2026-03-08',
      reason: 'review',
    });
  }

  for (const fn of ['app_hidden.mark_no_shows', 'app_hidden.close_stale_visits', 'app_hidden.mark_missed_follow_ups']) {
    const counts = await asJob(async (first) => {
      const held = await call(first, fn, AT);
      const meanwhile = await asJob((second) => call(second, fn, AT));
      return [held, meanwhile];
    });
    t.same(counts, [ROWS, 0], `${fn}: the second run skips the rows the first holds, without waiting`);
    const racing = await Promise.all([asJob((trx) => call(trx, fn, AT)), asJob((trx) => call(trx, fn, AT))]);
    t.same(racing, [0, 0], `${fn}: and two more at once find nothing left`);
  }
  const { rows } = await db.admin.query(
    `select 'appointment ' || status as state, count(*)::int as n from app_public.appointments group by status
     union all select 'follow-up ' || status, count(*)::int from app_public.follow_ups group by status
     union all select 'visit ' || status, count(*)::int from app_public.visits group by status order by 1`,
  );
  t.same(rows, [
    { state: 'appointment no_show', n: ROWS },
    { state: 'follow-up missed', n: ROWS },
    { state: 'visit completed', n: 1 },
    { state: 'visit no_show', n: ROWS },
  ]);
  const { rows: audited } = await db.admin.query(
    `select table_name, count(*)::int as n from app_audit.audit_log where action = 'UPDATE' and request_id = 'job-2' group by 1 order by 1`,
  );
  t.same(
    audited,
    [
      { table_name: 'app_public.appointments', n: ROWS },
      { table_name: 'app_public.follow_ups', n: ROWS },
      { table_name: 'app_public.visits', n: ROWS },
    ],
    'each row changed once',
  );

  const at = new Date(Date.now() - 60_000);
  for (let i = 0; i < ROWS; i++) {
    await db.admin.query(`insert into app_audit.audit_log (clinic_id, occurred_at, action) values ($1, $2, 'test.event')`, [
      a.id,
      new Date(at.getTime() - 3651 * 86_400_000),
    ]);
  }
  const purged = await asJob(async (first) => {
    const held = await call(first, 'app_hidden.purge_expired_logs', at);
    const meanwhile = await asJob((second) => call(second, 'app_hidden.purge_expired_logs', at));
    return [held, meanwhile];
  });
  t.same(purged, ['(30,0,f)', '(0,0,f)'], 'the retention purge: one at a time per clinic, the second leaves at once');
});
