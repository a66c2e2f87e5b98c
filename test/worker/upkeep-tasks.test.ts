// The upkeep tasks through graphile-worker with a controlled clock: the fan-out queues one job per
// active clinic under its hour's key (twice in an hour: still one), each clinic's job applies that
// clinic's upkeep at the worker's clock, and accounts__upkeep removes what expired.
import t from 'tap';
import { clinicsUpkeepFanOut } from '../../src/worker/tasks/clinics__upkeep_fan_out.ts';
import { createTestDatabase, sqlstateOf } from '../helpers/db.ts';
import { callAsRequest, insertAsItStands, statuses, type UpkeepClinic, upkeepClinics } from '../helpers/upkeep.ts';
import { queuedJobs, runDueJobs } from '../helpers/worker.ts';

const NOW = new Date('2026-03-09T18:30:01Z');

t.test('the hourly fan-out and each clinic upkeep', async (t) => {
  const db = await createTestDatabase(t);
  const { a, b } = await upkeepClinics(db);
  const { rows: suspended } = await db.admin.query<{ id: string }>(
    `insert into app_public.clinics (slug, name, status) values ('clinic-s', 'Suspended', 'suspended') returning id`,
  );
  const booked = (clinic: Pick<UpkeepClinic, 'id' | 'patient' | 'doctor' | 'admin'>) =>
    insertAsItStands(db, 'app_public.appointments', {
      clinic_id: clinic.id,
      patient_id: clinic.patient,
      doctor_id: clinic.doctor,
      starts_at: new Date('2026-03-09T10:00:00Z'),
      ends_at: new Date('2026-03-09T10:15:00Z'),
      booked_by: clinic.admin,
    });
  const inA = await booked(a);
  const inB = await booked(b);
  const addFanOut = () => db.admin.query(`select graphile_worker.add_job('clinics__upkeep_fan_out', '{}')`);

  await addFanOut();
  await runDueJobs(t, db, { now: () => NOW, tasks: [clinicsUpkeepFanOut] });
  await addFanOut();
  await runDueJobs(t, db, { now: () => NOW, tasks: [clinicsUpkeepFanOut] });
  const queued = await queuedJobs(db, 'clinics__upkeep');
  t.same(
    queued.map((job) => ({ key: job.key, payload: job.payload })).sort((x, y) => x.key!.localeCompare(y.key!)),
    [a.id, b.id].sort().map((id) => ({ key: `clinics__upkeep:${id}:2026-03-09T18`, payload: { clinicId: id } })),
    'one job per active clinic under the hour of the clock, twice fanned out; none for the suspended clinic',
  );
  t.notOk(JSON.stringify(queued).includes(suspended[0]!.id));

  const lines: Record<string, unknown>[] = [];
  await runDueJobs(t, db, { now: () => NOW, log: (message, fields) => lines.push({ message, ...fields }) });
  t.same(await queuedJobs(db), [], 'every job ran and is gone');
  t.equal((await statuses(db, 'app_public.appointments', a.id))[inA], 'no_show', "clinic A's appointment at the worker's clock");
  t.equal((await statuses(db, 'app_public.appointments', b.id))[inB], 'no_show', "clinic B's, by its own job");
  const done = lines.filter((line) => line.task === 'clinics__upkeep').map(({ jobId: _, ...line }) => line);
  t.same(
    done,
    [0, 1].map(() => ({
      message: 'clinic upkeep done',
      task: 'clinics__upkeep',
      mark_no_shows: 1,
      close_stale_visits: 0,
      mark_missed_follow_ups: 0,
      purged_audit_log: 0,
      purged_access_log: 0,
      purge_more: false,
    })),
    'each job logs its counts',
  );

  t.equal(await sqlstateOf(callAsRequest(db, a, 'app_hidden.fan_out_clinic_upkeep', NOW)), '42501', 'a request cannot fan out');
});

t.test('a backlog larger than a purge batch is purged by runs the job queues itself', async (t) => {
  const db = await createTestDatabase(t);
  const { a } = await upkeepClinics(db);
  await db.admin.query('update app_public.clinic_settings set retention_days = 400 where clinic_id = $1', [a.id]);
  const expired = new Date(Date.now() - 500 * 86_400_000);
  const fresh = new Date(Date.now() - 300 * 86_400_000);
  await db.admin.query(
    `insert into app_audit.audit_log (clinic_id, occurred_at, action)
     select $1, case when n <= 12000 then $2::timestamptz else $3::timestamptz end, 'test.event' from generate_series(1, 12003) n`,
    [a.id, expired, fresh],
  );
  const client = await db.admin.connect();
  try {
    await client.query('begin');
    await client.query('set local session_replication_role = replica');
    await client.query(
      `insert into app_public.patient_access_log (clinic_id, patient_id, member_id, action, accessed_at)
       select $1, $2, $3, 'read_record', case when n <= 6000 then $4::timestamptz else $5::timestamptz end from generate_series(1, 6002) n`,
      [a.id, a.patient, a.doctor, expired, fresh],
    );
    await client.query('commit');
  } finally {
    client.release();
  }
  await db.admin.query(`select graphile_worker.add_job('clinics__upkeep', json_build_object('clinicId', $1::uuid), job_key := $2)`, [
    a.id,
    `clinics__upkeep:${a.id}:backlog`,
  ]);

  const lines: Record<string, unknown>[] = [];
  await runDueJobs(t, db, { log: (message, fields) => lines.push({ message, ...fields }) });
  t.same(
    lines.filter((line) => line.task === 'clinics__upkeep').map((line) => [line.purged_audit_log, line.purged_access_log, line.purge_more]),
    [
      [5000, 5000, true],
      [5000, 1000, true],
      [2000, 0, false],
    ],
    'three runs of at most 5,000 rows of each log: the job queued itself again after each full batch',
  );
  const { rows } = await db.admin.query(
    `select (select count(*)::int from app_audit.audit_log where clinic_id = $1 and action = 'test.event') as audit,
            (select count(*)::int from app_public.patient_access_log where clinic_id = $1) as access`,
    [a.id],
  );
  t.same(rows, [{ audit: 3, access: 2 }], 'every expired row is gone, the rows inside the retention stay');
  t.same(await queuedJobs(db), [], 'nothing left queued');
});

t.test('accounts__upkeep', async (t) => {
  const db = await createTestDatabase(t);
  const { a } = await upkeepClinics(db);
  const now = new Date(Date.now() - 60_000);
  await db.admin.query(
    `insert into app_private.invitations (token_hash, clinic_id, account_id, expires_at)
     select sha256(n::text::bytea), $1, (select id from app_private.accounts order by id limit 1), $2::timestamptz - n * interval '1 second'
     from generate_series(0, 2) n`,
    [a.id, new Date(now.getTime() - 86_400_000 + 1000)],
  );
  await db.admin.query(`select graphile_worker.add_job('accounts__upkeep', '{}')`);
  await runDueJobs(t, db, { now: () => now });
  t.same(await queuedJobs(db), []);
  t.same(
    (await db.admin.query(`select count(*)::int as n from app_private.invitations`)).rows,
    [{ n: 2 }],
    "the invitation that expired a day and a second before the worker's clock is gone; a day and less stays",
  );
});
