// The worker's foundation: who owns and reaches the queue, how jobs are enqueued for a clinic, and
// what a task's transactions are (the clinic of its payload, app_user, the app_worker login).
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import t, { type Test } from 'tap';
import { z } from 'zod';
import { withTenant, type TenantContext } from '../../src/db/tenant.ts';
import { LocalDiskStorage } from '../../src/storage/local-disk.ts';
import { startWorker } from '../../src/worker/runner.ts';
import { defineSystemTask, defineTenantTask, JobError, scrubbedError, type TaskDefinition } from '../../src/worker/task.ts';
import { createClinics, createTestDatabase, sqlstateOf, type TestDatabase } from '../helpers/db.ts';
import { temporaryStorageDir } from '../helpers/storage.ts';
import { eventually } from '../helpers/wait.ts';
import { queuedJobs, runDueJobs, testWorkerConfig, workerUrl } from '../helpers/worker.ts';

/** Enqueues as the database's own functions do: app_owner, in `clinic`'s transaction when given. */
async function addJob(db: TestDatabase, clinic: string | null, call: string, params: unknown[]): Promise<void> {
  const client = await db.admin.connect();
  try {
    await client.query('begin');
    if (clinic) await client.query(`select set_config('app.clinic_id', $1, true)`, [clinic]);
    await client.query('set local role app_owner');
    await client.query(call, params);
    await client.query('commit');
  } catch (error) {
    await client.query('rollback');
    throw error;
  } finally {
    client.release();
  }
}

/** A clinic task that records the clinics of the jobs it ran, in order. */
function recordingProbe(ran: string[]) {
  return defineTenantTask({
    name: 'probe',
    payload: z.object({ clinicId: z.uuid() }),
    run: async (payload) => {
      ran.push(payload.clinicId);
    },
  });
}

/** A running worker of `tasks` on the test database, with a storage of its own. */
async function startTestWorker(t: Test, db: TestDatabase, tasks: TaskDefinition[], concurrency: number) {
  const storageDir = await temporaryStorageDir(t);
  return startWorker({
    config: testWorkerConfig({ STORAGE_DIR: storageDir }),
    url: workerUrl(db),
    storage: await LocalDiskStorage.open(storageDir),
    log: () => {},
    tasks,
    concurrency,
  });
}

t.test('the queue belongs to app_worker and no request reaches it', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const { rows: owners } = await db.admin.query<{ owner: string; tables: string[] }>(
    `select pg_get_userbyid(n.nspowner) as owner,
            array(select distinct pg_get_userbyid(c.relowner)::text from pg_class c where c.relnamespace = n.oid) as tables
     from pg_namespace n where n.nspname = 'graphile_worker'`,
  );
  t.same(owners, [{ owner: 'app_worker', tables: ['app_worker'] }], 'the schema and every relation in it are app_worker’s');

  const asA: TenantContext = { clinicId: clinics.a, userId: randomUUID(), role: 'clinic_admin' };
  const inRequest = (statement: string) => withTenant(db.pool, asA, (trx) => sql.raw(statement).execute(trx));
  t.equal(await sqlstateOf(inRequest('select * from graphile_worker.jobs')), '42501', 'app_user cannot read the queue');
  t.equal(await sqlstateOf(inRequest("select graphile_worker.add_job('x')")), '42501', 'app_user cannot call add_job');
  t.equal(await sqlstateOf(inRequest(`select app_private.add_job('${clinics.a}', 'x', '{}')`)), '42501', 'app_user cannot call the enqueueing wrapper');
  t.equal(await sqlstateOf(inRequest('select app_hidden.job_clinic_status()')), '42501', 'a request is not the worker');
  const { rows: privileges } = await db.admin.query(
    `select r.rolname, has_schema_privilege(r.oid, 'graphile_worker', 'usage') as usage
     from pg_roles r where r.rolname in ('app_user', 'app_authenticator', 'app_platform') order by r.rolname`,
  );
  t.same(
    privileges,
    [
      { rolname: 'app_authenticator', usage: false },
      { rolname: 'app_platform', usage: false },
      { rolname: 'app_user', usage: false },
    ],
    'no role that serves requests may use the schema',
  );
});

t.test('a clinic’s job carries the clinic of the transaction that added it', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  await addJob(db, clinics.a, `select app_private.add_job($1, 'probe', $2, job_key => 'probe:a')`, [clinics.a, { clinicId: clinics.b, visitId: 'v1' }]);
  const [job] = await queuedJobs(db, 'probe');
  t.same(job?.payload, { clinicId: clinics.a, visitId: 'v1' }, 'clinicId is the clinic given, not the one in the payload');
  t.equal(job?.key, 'probe:a');

  t.equal(
    await sqlstateOf(addJob(db, clinics.a, `select app_private.add_job($1, 'probe', '{}')`, [clinics.b])),
    '42501',
    'a transaction of clinic A cannot enqueue for clinic B',
  );
  t.equal(await sqlstateOf(addJob(db, null, `select app_private.add_job(null, 'probe', '{}')`, [])), '22004', 'a clinic job needs a clinic');

  await addJob(db, clinics.a, `select app_private.add_job($1, 'probe', '{"n": 2}', job_key => 'probe:a')`, [clinics.a]);
  const replaced = await queuedJobs(db, 'probe');
  t.same(
    replaced.map((j) => j.payload),
    [{ clinicId: clinics.a, n: 2 }],
    'the same key replaces the waiting job',
  );
  await addJob(db, null, `select app_private.remove_job('probe:a')`, []);
  t.same(await queuedJobs(db, 'probe'), [], 'remove_job removes it');

  await addJob(db, clinics.a, `select app_private.add_system_job('sweep', $1)`, [{ clinicId: clinics.b, n: 1 }]);
  t.same(
    (await queuedJobs(db, 'sweep')).map((j) => j.payload),
    [{ n: 1 }],
    'a system job carries no clinic',
  );
});

t.test('a task’s transactions are app_user in its payload’s clinic, logged in as app_worker', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const seen: unknown[] = [];
  const probe = defineTenantTask({
    name: 'probe',
    payload: z.object({ clinicId: z.uuid() }),
    run: async (_payload, job) => {
      const row = await job.withTenant(async (trx) => {
        const { rows } = await sql<{ clinic: string; user: string; login: string; requestId: string; clinicsSeen: string }>`
          select app_public.current_clinic_id()::text as clinic, current_user as user, session_user as login,
                 current_setting('app.request_id') as "requestId",
                 (select count(*) from app_public.clinics)::text as "clinicsSeen"`.execute(trx);
        return rows[0];
      });
      seen.push({ ...row, requestId: row?.requestId === `job-${job.id}` });
    },
  });
  await addJob(db, null, `select app_private.add_job($1, 'probe', '{}')`, [clinics.a]);
  await runDueJobs(t, db, { tasks: [probe] });
  t.same(seen, [{ clinic: clinics.a, user: 'app_user', login: 'app_worker', requestId: true, clinicsSeen: '1' }]);
  t.same(await queuedJobs(db), [], 'the job is done');
});

t.test('a payload its schema refuses fails once, for good; errors are stored scrubbed', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const strict = defineSystemTask({ name: 'strict', payload: z.object({ visitId: z.uuid() }), run: async () => {} });
  const failing = defineTenantTask({
    name: 'failing',
    payload: z.object({ clinicId: z.uuid(), kind: z.enum(['sql', 'plain']) }),
    run: async (payload, job) => {
      if (payload.kind === 'plain') throw new Error('Jane Doe has diabetes');
      await job.withTenant((trx) => sql`select 1 / 0`.execute(trx));
    },
  });
  await addJob(db, null, `select app_private.add_system_job('strict', '{"visitId": "not-a-uuid"}')`, []);
  await addJob(db, null, `select app_private.add_job($1, 'failing', '{"kind": "sql"}')`, [clinics.a]);
  await addJob(db, null, `select app_private.add_job($1, 'failing', '{"kind": "plain"}')`, [clinics.a]);
  await runDueJobs(t, db, { tasks: [strict, failing] });
  const jobs = await queuedJobs(db);
  t.same(
    jobs.map((j) => [j.taskIdentifier, j.attempts, j.maxAttempts, j.lastError]),
    [
      ['strict', 1, 1, 'payload refused: visitId'],
      ['failing', 1, 25, 'error code 22012'],
      ['failing', 1, 25, 'Error'],
    ],
  );
  t.same(scrubbedError(new JobError('said by us')).message, 'said by us');
  t.same(
    scrubbedError(Object.assign(new Error('Key (email)=(x@y.z)'), { code: '23505', constraint: 'patients_email_key' })).message,
    'Error code 23505 constraint patients_email_key',
  );
  t.same(scrubbedError('a string').message, 'Error');
});

t.test('a suspended clinic’s jobs wait and run again on reactivation', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const ran: string[] = [];
  const probe = recordingProbe(ran);
  await db.admin.query(`update app_public.clinics set status = 'suspended' where id = $1`, [clinics.a]);
  await addJob(db, null, `select app_private.add_job($1, 'probe', '{}', job_key => 'probe:a')`, [clinics.a]);
  await addJob(db, null, `select app_private.add_job($1, 'probe', '{}')`, [clinics.b]);
  // The tasks' clock an hour ahead of the database's: the job put back 15 minutes after it is not due yet.
  const clock = new Date(Math.ceil(Date.now() / 1000) * 1000 + 3_600_000);
  await runDueJobs(t, db, { tasks: [probe], now: () => clock });
  t.same(ran, [clinics.b], 'only the active clinic’s job ran');
  const waiting = await queuedJobs(db, 'probe');
  t.same(
    waiting.map((j) => [j.payload, j.key, j.runAt.toISOString()]),
    [[{ clinicId: clinics.a }, 'probe:a', new Date(clock.getTime() + 15 * 60_000).toISOString()]],
    'the suspended clinic’s job waits 15 minutes, under its key',
  );
  // A job of the same clinic due in five days, never held back: reactivation leaves it at its time.
  await addJob(db, null, `select app_private.add_job($1, 'probe', '{"later": true}', run_at => now() + interval '5 days', job_key => 'probe:later')`, [
    clinics.a,
  ]);
  const [later] = await queuedJobs(db, 'probe').then((jobs) => jobs.filter((j) => j.key === 'probe:later'));
  await db.admin.query(`update app_public.clinics set status = 'active' where id = $1`, [clinics.a]);
  await runDueJobs(t, db, { tasks: [probe] });
  t.same(ran, [clinics.b, clinics.a], 'reactivation runs the held-back job now');
  t.same(
    (await queuedJobs(db, 'probe')).map((j) => [j.key, j.runAt.toISOString()]),
    [['probe:later', later!.runAt.toISOString()]],
    'and leaves the clinic’s other future job at its time',
  );
});

t.test('a running worker takes jobs as they come and stops gracefully', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const ran: string[] = [];
  const probe = recordingProbe(ran);
  const worker = await startTestWorker(t, db, [probe], 2);
  await addJob(db, null, `select app_private.add_job($1, 'probe', '{}')`, [clinics.a]);
  await eventually(
    async () => ran.length,
    (n) => n === 1,
  );
  t.match(worker.figures(), { state: 'running', completed: 1, failed: 0, running: 0 });
  await worker.stop();
  t.equal(worker.figures().state, 'stopped');
  const workerBackends = async () =>
    (await db.admin.query<{ n: number }>(`select count(*)::int as n from pg_stat_activity where usename = 'app_worker' and datname = current_database()`))
      .rows[0]!.n;
  t.equal(await eventually(workerBackends, (n) => n === 0), 0, 'its connections are closed (their backends exit a moment after)');
});

t.test('notify_patient picks the channel the patient chose, or none', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const patient = async (values: { email?: string; phone?: string; channel: string }) => {
    const { rows } = await db.admin.query<{ id: string }>(
      `insert into app_public.patients (clinic_id, patient_number, full_name, date_of_birth, sex, email, phone, contact_channel)
       values ($1, 'P-' || floor(random() * 1e9)::text, 'Someone', '1980-01-01', 'female', $2, $3, $4) returning id`,
      [clinics.a, values.email ?? null, values.phone ?? null, values.channel],
    );
    return rows[0]!.id;
  };
  const notify = async (patientId: string, key: string) => {
    const { rows } = await db.admin.query<{ id: string | null }>(
      `select app_private.notify_patient($1, $2, 'appointment_reminder', '{"appointmentId": "a"}', $3)::text as id`,
      [clinics.a, patientId, key],
    );
    return rows[0]!.id;
  };
  const emailOnly = await patient({ email: 'e@example.org', channel: 'email' });
  const smsPreferred = await patient({ email: 'e2@example.org', phone: '+44 20 7946 0000', channel: 'sms' });
  const smsWithoutPhone = await patient({ email: 'e3@example.org', channel: 'sms' });
  const emailWithoutEmail = await patient({ phone: '+44 20 7946 0001', channel: 'email' });
  const optedOut = await patient({ email: 'e4@example.org', channel: 'none' });
  const nowhere = await patient({ channel: 'email' });
  const deceased = await patient({ email: 'e5@example.org', channel: 'email' });
  await db.admin.query(`update app_public.patients set status = 'deceased' where id = $1`, [deceased]);
  for (const [id, key] of [
    [emailOnly, 'k1'],
    [smsPreferred, 'k2'],
    [smsWithoutPhone, 'k3'],
    [emailWithoutEmail, 'k4'],
    [optedOut, 'k5'],
    [nowhere, 'k6'],
    [deceased, 'k7'],
    [emailOnly, 'k1'],
  ] as const) {
    await notify(id, key);
  }
  const { rows } = await db.admin.query(
    `select dedup_key, channel, recipient, status, clinic_id = $1 as "inClinic" from app_private.notification_outbox where dedup_key is not null order by dedup_key`,
    [clinics.a],
  );
  t.same(rows, [
    { dedup_key: 'k1', channel: 'email', recipient: 'e@example.org', status: 'pending', inClinic: true },
    { dedup_key: 'k2', channel: 'sms', recipient: '+44 20 7946 0000', status: 'pending', inClinic: true },
    { dedup_key: 'k3', channel: 'email', recipient: 'e3@example.org', status: 'pending', inClinic: true },
    { dedup_key: 'k4', channel: 'sms', recipient: '+44 20 7946 0001', status: 'pending', inClinic: true },
  ]);
});

t.test('stopping fails a job that outlives the grace period, so it is retried, not locked for hours', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  let started = false;
  const stuck = defineTenantTask({
    name: 'stuck',
    payload: z.object({ clinicId: z.uuid() }),
    run: () => {
      started = true;
      return new Promise<void>(() => {});
    },
  });
  const worker = await startTestWorker(t, db, [stuck], 1);
  await addJob(db, null, `select app_private.add_job($1, 'stuck', '{}')`, [clinics.a]);
  await eventually(
    () => started,
    (s) => s,
  );
  const { rows: holders } = await db.admin.query('select locked_by as "lockedBy" from graphile_worker._private_jobs');
  t.same(holders, [{ lockedBy: worker.lockName() }], 'the job is locked in the name the worker tells (jobs:unlock --worker takes it)');
  await worker.stop(300);
  const [job] = await queuedJobs(db, 'stuck');
  t.same([job?.lockedAt, job?.attempts], [null, 1], 'the job is unlocked after one attempt');
  t.ok(job?.lastError, 'with the reason it failed');
  t.ok(job!.runAt.getTime() < Date.now() + 60_000, 'and due again within a minute');
});

t.test('a clinic’s task enqueues for its own clinic only', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const fanOut = defineTenantTask({
    name: 'fan_out',
    payload: z.object({ clinicId: z.uuid(), target: z.uuid() }),
    run: (payload, job) => job.addJob('probe', { clinicId: payload.target }),
  });
  await addJob(db, null, `select app_private.add_job($1, 'fan_out', $2)`, [clinics.a, { target: clinics.b }]);
  await runDueJobs(t, db, { tasks: [fanOut] });
  t.same(
    (await queuedJobs(db, 'probe')).map((j) => j.payload),
    [{ clinicId: clinics.a }],
    'the job it adds names its own clinic, not the one it asked for',
  );
});
