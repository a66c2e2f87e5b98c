// The per-clinic upkeep functions with a controlled clock: each effect a second before and a
// second after its boundary, a second run changing nothing, clinic B untouched by clinic A's run,
// and requests refused. Clinic A is in Asia/Kolkata: its 9 March 2026 ends at 18:30 UTC. The
// dates are past: the functions never act at a later time than the database's clock.
import { sql } from 'kysely';
import t from 'tap';
import { withContext } from '../../src/db/tenant.ts';
import { createTestDatabase, sqlstateOf } from '../helpers/db.ts';
import { callAsRequest, callAsWorker, insertAsItStands, statuses, type UpkeepClinic, upkeepClinics } from '../helpers/upkeep.ts';

const utc = (iso: string) => new Date(`${iso}Z`);
const DAY_ENDS = '2026-03-09T18:30:00';

t.test('the per-clinic upkeep', async (t) => {
  const db = await createTestDatabase(t);
  const { a, b } = await upkeepClinics(db);
  const run = await callAsWorker(t, db);
  await db.admin.query('update app_public.clinic_settings set no_show_grace_minutes = 45 where clinic_id = $1', [a.id]);

  const appointment = (clinic: UpkeepClinic, startsAt: string, status = 'booked') =>
    insertAsItStands(db, 'app_public.appointments', {
      clinic_id: clinic.id,
      patient_id: clinic.patient,
      doctor_id: clinic.doctor,
      starts_at: utc(startsAt),
      ends_at: new Date(utc(startsAt).getTime() + 15 * 60_000),
      status,
      cancellation_reason: status === 'cancelled' ? 'patient called' : null,
      booked_by: clinic.admin,
    });
  let token = 0;
  const visit = (clinic: UpkeepClinic, visitDate: string, status: string, appointmentId: string | null = null) =>
    insertAsItStands(db, 'app_public.visits', {
      clinic_id: clinic.id,
      patient_id: clinic.patient,
      doctor_id: clinic.doctor,
      appointment_id: appointmentId,
      visit_date: visitDate,
      token_number: ++token,
      status,
    });

  t.test('booked appointments become no-shows after the clinic grace', async (t) => {
    const rows = async (clinic: UpkeepClinic) => ({
      booked: await appointment(clinic, '2026-03-09T10:00:00'),
      later: await appointment(clinic, '2026-03-09T10:15:00'),
      checkedIn: await appointment(clinic, '2026-03-09T09:00:00', 'checked_in'),
      cancelled: await appointment(clinic, '2026-03-09T09:15:00', 'cancelled'),
    });
    const inA = await rows(a);
    const inB = await rows(b);
    const bBefore = await statuses(db, 'app_public.appointments', b.id);

    t.same(await run(a.id, 'app_hidden.mark_no_shows', utc('2026-03-09T10:44:59')), { result: 0 }, 'a second inside the 45 minutes: nothing');
    t.same(await run(a.id, 'app_hidden.mark_no_shows', utc('2026-03-09T10:45:01')), { result: 1 }, 'a second after: one');
    t.match(await statuses(db, 'app_public.appointments', a.id), {
      [inA.booked]: 'no_show',
      [inA.later]: 'booked',
      [inA.checkedIn]: 'checked_in',
      [inA.cancelled]: 'cancelled',
    });
    t.same(await run(a.id, 'app_hidden.mark_no_shows', utc('2026-03-09T10:45:01')), { result: 0 }, 'a second run changes nothing');
    t.same(await statuses(db, 'app_public.appointments', b.id), bBefore, "clinic B's appointments, past its own 30 minutes, are untouched");
    t.equal(bBefore[inB.booked], 'booked');

    const { rows: audited } = await db.admin.query(
      `select actor_role, request_id, before ->> 'status' as before, after ->> 'status' as after from app_audit.audit_log
       where table_name = 'app_public.appointments' and row_key ->> 'id' = $1`,
      [inA.booked],
    );
    t.same(audited, [{ actor_role: null, request_id: 'job-1', before: 'booked', after: 'no_show' }], 'audited as the job');
  });

  t.test("visits left open are closed when the clinic's day is over", async (t) => {
    const rows = async (clinic: UpkeepClinic) => {
      const checkedIn = await appointment(clinic, '2026-03-09T08:00:00', 'checked_in');
      return {
        checkedIn,
        waiting: await visit(clinic, '2026-03-09', 'waiting', checkedIn),
        called: await visit(clinic, '2026-03-09', 'called'),
        inConsultation: await visit(clinic, '2026-03-09', 'in_consultation'),
        completed: await visit(clinic, '2026-03-09', 'completed'),
        tomorrow: await visit(clinic, '2026-03-10', 'waiting'),
      };
    };
    const inA = await rows(a);
    await rows(b);
    const bBefore = [await statuses(db, 'app_public.visits', b.id), await statuses(db, 'app_public.appointments', b.id)];

    t.same(await run(a.id, 'app_hidden.close_stale_visits', utc('2026-03-09T18:29:59')), { result: 0 }, 'a second before midnight in Kolkata: nothing');
    t.same(await run(a.id, 'app_hidden.close_stale_visits', utc('2026-03-09T18:30:01')), { result: 2 }, 'a second after: the waiting and the called visit');
    t.match(await statuses(db, 'app_public.visits', a.id), {
      [inA.waiting]: 'no_show',
      [inA.called]: 'no_show',
      [inA.inConsultation]: 'in_consultation',
      [inA.completed]: 'completed',
      [inA.tomorrow]: 'waiting',
    });
    t.equal((await statuses(db, 'app_public.appointments', a.id))[inA.checkedIn], 'no_show', "the waiting visit's checked-in appointment too");
    t.same(await run(a.id, 'app_hidden.close_stale_visits', utc('2026-03-10T18:29:59')), { result: 0 }, 'a second run changes nothing');
    t.same([await statuses(db, 'app_public.visits', b.id), await statuses(db, 'app_public.appointments', b.id)], bBefore, "clinic B's are untouched");
  });

  t.test('pending follow-ups past their date are missed unless an appointment holds or took place', async (t) => {
    const rows = async (clinic: UpkeepClinic) => {
      const consultedVisit = await visit(clinic, '2026-03-01', 'completed');
      const consultation = await insertAsItStands(db, 'app_public.consultations', {
        clinic_id: clinic.id,
        visit_id: consultedVisit,
        patient_id: clinic.patient,
        doctor_id: clinic.doctor,
      });
      const followUp = (dueDate: string, appointmentId: string | null = null, status = 'pending') =>
        insertAsItStands(db, 'app_public.follow_ups', {
          clinic_id: clinic.id,
          consultation_id: consultation,
          patient_id: clinic.patient,
          doctor_id: clinic.doctor,
          due_date: dueDate,
          reason: 'review',
          status,
          appointment_id: appointmentId,
        });
      return {
        unlinked: await followUp('2026-03-09'),
        appointmentMissed: await followUp('2026-03-09', await appointment(clinic, '2026-03-08T05:00:00', 'no_show')),
        appointmentCancelled: await followUp('2026-03-09', await appointment(clinic, '2026-03-08T05:15:00', 'cancelled')),
        appointmentAhead: await followUp('2026-03-09', await appointment(clinic, '2026-03-12T05:00:00')),
        appointmentAttended: await followUp('2026-03-09', await appointment(clinic, '2026-03-08T05:30:00', 'completed')),
        dueTomorrow: await followUp('2026-03-10'),
        closed: await followUp('2026-03-09', null, 'cancelled'),
      };
    };
    const inA = await rows(a);
    await rows(b);
    const bBefore = await statuses(db, 'app_public.follow_ups', b.id);

    t.same(await run(a.id, 'app_hidden.mark_missed_follow_ups', utc('2026-03-09T18:29:59')), { result: 0 }, 'a second before midnight in Kolkata: nothing');
    t.same(await run(a.id, 'app_hidden.mark_missed_follow_ups', utc('2026-03-09T18:30:01')), { result: 3 }, 'a second after: three');
    t.same(await statuses(db, 'app_public.follow_ups', a.id), {
      [inA.unlinked]: 'missed',
      [inA.appointmentMissed]: 'missed',
      [inA.appointmentCancelled]: 'missed',
      [inA.appointmentAhead]: 'pending',
      [inA.appointmentAttended]: 'pending',
      [inA.dueTomorrow]: 'pending',
      [inA.closed]: 'cancelled',
    });
    t.same(await run(a.id, 'app_hidden.mark_missed_follow_ups', utc('2026-03-09T18:30:01')), { result: 0 }, 'a second run changes nothing');
    t.same(await statuses(db, 'app_public.follow_ups', b.id), bBefore, "clinic B's are untouched");
  });

  t.test('the logs are purged past the retention, never inside it', async (t) => {
    // The purge never looks past the database's clock: `at` is a little behind it.
    const at = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
    const retention = 400 * 24 * 3600_000;
    const cutoff = at.getTime() - retention;
    await db.admin.query('update app_public.clinic_settings set retention_days = 400');
    const logs = async (clinic: UpkeepClinic, offsetsMs: number[]) => {
      for (const offset of offsetsMs) {
        await db.admin.query(`insert into app_audit.audit_log (clinic_id, occurred_at, action, details) values ($1, $2, 'test.event', '{}')`, [
          clinic.id,
          new Date(cutoff + offset),
        ]);
        await insertAsItStands(db, 'app_public.patient_access_log', {
          clinic_id: clinic.id,
          patient_id: clinic.patient,
          member_id: clinic.doctor,
          action: 'read_record',
          accessed_at: new Date(cutoff + offset),
        });
      }
    };
    const kept = async (clinic: UpkeepClinic) => {
      const { rows } = await db.admin.query<{ log: string; at: Date }>(
        `select 'audit' as log, occurred_at as at from app_audit.audit_log where clinic_id = $1 and action = 'test.event'
         union all select 'access', accessed_at from app_public.patient_access_log where clinic_id = $1 order by 1, 2`,
        [clinic.id],
      );
      return rows.map((r) => `${r.log} ${r.at.getTime() - cutoff}`);
    };
    await logs(a, [-86_400_000, -1000, 0, 1000, 86_400_000]);
    await logs(b, [-86_400_000, -1000]);

    t.same(await run(a.id, 'app_hidden.purge_expired_logs', at), { auditLog: 2, accessLog: 2, more: false }, 'a day and a second past the retention');
    t.same(
      await kept(a),
      ['access 0', 'access 1000', 'access 86400000', 'audit 0', 'audit 1000', 'audit 86400000'],
      'the rows at the cutoff and inside it stay',
    );
    t.same(await kept(b), ['access -86400000', 'access -1000', 'audit -86400000', 'audit -1000'], "clinic B's rows stay");
    const { rows: events } = await db.admin.query(
      `select clinic_id, (details ->> 'before')::timestamptz as before, details - 'before' as counts from app_audit.audit_log where action = 'retention.purged'`,
    );
    t.same(events, [{ clinic_id: a.id, before: new Date(cutoff), counts: { auditLog: 2, accessLog: 2 } }], 'one event says what went');
    t.same(await run(a.id, 'app_hidden.purge_expired_logs', at), { auditLog: 0, accessLog: 0, more: false }, 'a second run purges nothing');
    // Ten days ahead, but the database's clock is only seconds past `at`: the rows at and a second
    // after the old cutoff go, the row a day inside it stays.
    t.same(await run(a.id, 'app_hidden.purge_expired_logs', new Date(at.getTime() + 10 * 86_400_000)), {
      auditLog: 2,
      accessLog: 2,
      more: false,
    });
    t.same(await kept(a), ['access 86400000', 'audit 86400000'], "an `at` ahead of the database's clock cuts no deeper than the clock");

    t.equal(
      await sqlstateOf(db.admin.query(`delete from app_audit.audit_log where clinic_id = $1`, [b.id])),
      'CBAUD',
      'outside the purge the audit log stays append-only, even for the superuser',
    );
    const forged = `${b.id}:${(cutoff + 10 * 86_400_000) * 1000}`;
    t.equal(
      await sqlstateOf(
        withContext(db.pool, 'app_user', { clinicId: b.id, userId: null, role: 'clinic_admin' }, async (trx) => {
          await sql`select set_config('app.retention_purge', ${forged}, true)`.execute(trx);
          await sql`delete from app_audit.audit_log`.execute(trx);
        }),
      ),
      '42501',
      'a request that sets the purge setting itself still has no delete on the log',
    );
    const owner = await db.admin.connect();
    try {
      await owner.query('begin');
      await owner.query('set local role app_owner');
      t.equal((await owner.query('delete from app_public.patient_access_log')).rowCount, 0, 'app_owner outside the purge reaches no access-log row');
      // app_owner forging the purge's setting for clinic A with a cutoff a year ahead of the clock.
      await owner.query(`select set_config('app.retention_purge', $1, true)`, [`${a.id}:${(Date.now() + 365 * 86_400_000) * 1000}`]);
      t.equal(
        (await owner.query('delete from app_audit.audit_log where clinic_id = $1', [a.id])).rowCount,
        0,
        'a forged setting reaches no audit row inside the retention',
      );
      t.equal((await owner.query('delete from app_public.patient_access_log where clinic_id = $1', [a.id])).rowCount, 0, 'nor an access-log row');
      await owner.query('commit');
    } finally {
      owner.release();
    }
    t.same(await kept(a), ['access 86400000', 'audit 86400000'], "clinic A's rows inside the retention are all there");
    t.same(await kept(b), ['access -86400000', 'access -1000', 'audit -86400000', 'audit -1000'], "clinic B's rows are all there");
  });

  t.test("a worker clock ahead of the database's marks nothing early", async (t) => {
    // What is due by the database's clock is done first: the earlier tests' rows are long past.
    await run(a.id, 'app_hidden.mark_no_shows', new Date());
    await run(a.id, 'app_hidden.close_stale_visits', new Date());
    const ahead = new Date(Date.now() + 2 * 3600_000);
    const startsNow = new Date(Math.floor(Date.now() / 60_000) * 60_000);
    const booked = await appointment(a, startsNow.toISOString().slice(0, -1));
    t.same(await run(a.id, 'app_hidden.mark_no_shows', ahead), { result: 0 }, 'an appointment starting now is no no-show two hours early');
    t.equal((await statuses(db, 'app_public.appointments', a.id))[booked], 'booked');
    const { rows } = await db.admin.query<{ today: string }>(`select to_char(now() at time zone 'Asia/Kolkata', 'YYYY-MM-DD') as today`);
    const open = await visit(a, rows[0]!.today, 'waiting');
    t.same(
      await run(a.id, 'app_hidden.close_stale_visits', new Date(Date.now() + 2 * 86_400_000)),
      { result: 0 },
      "today's visit is not closed two days early",
    );
    t.equal((await statuses(db, 'app_public.visits', a.id))[open], 'waiting');
    await run(a.id, 'app_hidden.mark_missed_follow_ups', new Date());
    const consultation = await insertAsItStands(db, 'app_public.consultations', {
      clinic_id: a.id,
      visit_id: await visit(a, rows[0]!.today, 'completed'),
      patient_id: a.patient,
      doctor_id: a.doctor,
    });
    const dueToday = await insertAsItStands(db, 'app_public.follow_ups', {
      clinic_id: a.id,
      consultation_id: consultation,
      patient_id: a.patient,
      doctor_id: a.doctor,
      due_date: rows[0]!.today,
      reason: 'review',
    });
    t.same(
      await run(a.id, 'app_hidden.mark_missed_follow_ups', new Date(Date.now() + 2 * 86_400_000)),
      { result: 0 },
      'a follow-up due today is not missed two days early',
    );
    t.equal((await statuses(db, 'app_public.follow_ups', a.id))[dueToday], 'pending');
  });

  t.test('requests cannot call them', async (t) => {
    for (const fn of ['mark_no_shows', 'close_stale_visits', 'mark_missed_follow_ups', 'purge_expired_logs']) {
      t.equal(await sqlstateOf(callAsRequest(db, a, `app_hidden.${fn}`, utc(DAY_ENDS))), '42501', `${fn}: 42501 for a clinic admin's request`);
    }
  });
});
