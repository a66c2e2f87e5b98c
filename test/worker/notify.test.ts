// Notification delivery end to end on a real database and the real worker: an outbox row queues
// its job, graphile-worker runs the task, a transport delivers it (a real SMTP server, a local SMS
// webhook, files), the row records the outcome; retries then the final failed state with its reason,
// a resend, a second run that sends nothing, opt-outs, the second language, another clinic's
// appointment, and the worker-only functions refused to the request login.
import { createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import t, { type Test } from 'tap';
import { actorIn, createActors, insertAsAdmin } from '../helpers/actors.ts';
import { buildTestApp } from '../helpers/app.ts';
import { testClient } from '../helpers/client.ts';
import { createClinics, createTestDatabase, sqlstateOf, type TestDatabase } from '../helpers/db.ts';
import { decodeQuotedPrintable, header, startSmtpServer, startWebhook } from '../helpers/notify-servers.ts';
import { bookableClinics } from '../helpers/schedule.ts';
import { eventually } from '../helpers/wait.ts';
import { queuedJobs, runDueJobs, workerPool } from '../helpers/worker.ts';

const TOKEN = 'inv_Zr8Kq2Wm5Tx9Lp3Nv7Bc1Hd4Jf6Gs0Ya';
const SECRET = 'a-webhook-secret-of-32-characters-or-more';
const TASK = 'notification_outbox__deliver';

async function setup(t: Test) {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  await createActors(db, [clinics.a, clinics.b]);
  await db.admin.query(`update app_public.clinics set timezone = 'America/New_York' where id = $1`, [clinics.a]);
  // Clinic A has settings with a sender name; clinic B has no settings row at all (English, its name).
  await db.admin.query(`insert into app_public.clinic_settings (clinic_id, notification_sender_name) values ($1, 'Clinic A Front Desk')`, [clinics.a]);
  return { db, clinics };
}

/** An invitation as app_private.invite_to_clinic writes it (clinic named by slug, account mail). */
async function invitationRow(db: TestDatabase, email: string): Promise<number> {
  const { rows } = await db.admin.query<{ id: string }>(
    `insert into app_private.notification_outbox (kind, recipient, payload)
     values ('invitation', $1, jsonb_build_object('token', $2::text, 'clinic_slug', 'clinic-a', 'clinic_name', 'Clinic A', 'role', 'nurse',
       'sets_password', true, 'expires_at', '2027-03-15T14:30:00+00:00')) returning id`,
    [email, TOKEN],
  );
  return Number(rows[0]!.id);
}

async function outboxRow(db: TestDatabase, id: number) {
  const { rows } = await db.admin.query(
    `select status, attempts, last_error, sent_at is not null as sent, failed_at is not null as failed from app_private.notification_outbox where id = $1`,
    [id],
  );
  return rows[0];
}

/**
 * A patient with an appointment on Monday 8 March 2027 at `hour` UTC (15: 10:00 in New York). The
 * appointment is written with triggers off: what booking queues (reminders) is another task's, and
 * these tests send only the messages they write themselves.
 */
async function appointmentOf(db: TestDatabase, clinicId: string, contact: { channel: string; phone?: string; email?: string }, hour = 15) {
  const client = await db.admin.connect();
  try {
    await client.query('begin');
    const { rows } = await client.query<{ id: string }>(
      `insert into app_public.patients (clinic_id, full_name, date_of_birth, sex, phone, email, contact_channel)
       values ($1, 'Pat Reminder', '1980-01-01', 'female', $2, $3, $4) returning id`,
      [clinicId, contact.phone ?? null, contact.email ?? null, contact.channel],
    );
    await client.query('set local session_replication_role = replica');
    const doctor = actorIn(db, clinicId, 'doctor').member;
    const { rows: booked } = await client.query<{ id: string }>(
      `insert into app_public.appointments (clinic_id, patient_id, doctor_id, starts_at, ends_at, booked_by)
       values ($1, $2, $3, $4, $4::timestamptz + interval '15 minutes', $3) returning id`,
      [clinicId, rows[0]!.id, doctor, `2027-03-08T${hour}:00:00Z`],
    );
    await client.query('commit');
    return { patient: rows[0]!.id, appointment: booked[0]!.id };
  } finally {
    client.release();
  }
}

t.test('an invitation: one job keyed by the row, sent once over SMTP from the clinic sender name', async (t) => {
  const { db } = await setup(t);
  const smtp = await startSmtpServer(t);
  // A message whose transaction rolls back queues nothing: the job is written in that transaction.
  const rolledBack = await db.admin.connect();
  await rolledBack.query('begin');
  await rolledBack.query(`insert into app_private.notification_outbox (kind, recipient, payload) values ('password_reset', 'x@example.test', '{}')`);
  await rolledBack.query('rollback');
  rolledBack.release();
  t.same(await queuedJobs(db, TASK), [], 'no job for a rolled-back message');
  const id = await invitationRow(db, 'nina@example.test');
  const queued = await queuedJobs(db, TASK);
  t.match(queued, [{ taskIdentifier: TASK, payload: { outboxId: id }, key: `${TASK}:${id}`, maxAttempts: 10, attempts: 0 }]);

  const smtpConfig = { NOTIFY_TRANSPORT: 'smtp', SMTP_URL: smtp.url, SMTP_FROM: 'notifications@clinicbase.test' };
  await runDueJobs(t, db, { env: smtpConfig });
  t.equal(smtp.received.length, 1);
  const mail = smtp.received[0]!;
  t.same(mail.to, ['nina@example.test']);
  t.equal(header(mail.raw, 'From'), 'Clinic A Front Desk <notifications@clinicbase.test>');
  t.equal(header(mail.raw, 'To'), 'nina@example.test');
  t.equal(header(mail.raw, 'Subject'), 'Your invitation to Clinic A');
  const body = decodeQuotedPrintable(mail.raw);
  t.ok(body.includes(`To accept, choose a password with this invitation code: ${TOKEN}`), 'the code reaches the person');
  t.ok(body.includes('The invitation expires on Monday, March 15, 2027 at 10:30.'), "in the clinic's time zone");
  t.same(await outboxRow(db, id), { status: 'sent', attempts: 1, last_error: null, sent: true, failed: false });
  t.same(await queuedJobs(db, TASK), [], 'the job is done');

  // The same job again (a duplicate, a retry after a lost acknowledgement): nothing is sent twice.
  await db.admin.query(`select graphile_worker.add_job($1, json_build_object('outboxId', $2::bigint), job_key := $3)`, [TASK, id, `${TASK}:${id}`]);
  await runDueJobs(t, db, { env: smtpConfig });
  t.equal(smtp.received.length, 1, 'still one mail');
  t.same(await outboxRow(db, id), { status: 'sent', attempts: 1, last_error: null, sent: true, failed: false });
  const { rows: resend } = await db.admin.query('select app_private.resend_notification($1) as queued', [id]);
  t.same(resend, [{ queued: false }], 'a sent message is not resent');
});

/** One statement as app_user on the worker's login, committed. */
async function asWorker(pool: ReturnType<typeof workerPool>, statement: string, params: unknown[]) {
  const client = await pool.connect();
  try {
    await client.query('begin');
    await client.query('set local role app_user');
    const { rows } = await client.query(statement, params);
    await client.query('commit');
    return rows;
  } finally {
    client.release();
  }
}

t.test('a row claimed by one delivery: another sends nothing and looks again when the lease ends', async (t) => {
  const { db } = await setup(t);
  const smtp = await startSmtpServer(t);
  const env = { NOTIFY_TRANSPORT: 'smtp', SMTP_URL: smtp.url, SMTP_FROM: 'a@clinicbase.test' };
  const id = await invitationRow(db, 'race@example.test');
  const worker = workerPool(t, db);
  // The first delivery, by hand on the worker login: its claim is committed, its send under way.
  t.same(await asWorker(worker, 'select claimed, status from app_hidden.notification_claim($1, 60000)', [id]), [{ claimed: true, status: 'sending' }]);
  t.same(
    await asWorker(worker, 'select claimed, status from app_hidden.notification_claim($1, 60000)', [id]),
    [{ claimed: false, status: 'sending' }],
    'no second claim',
  );
  const { rows: lease } = await db.admin.query<{ until: Date }>('select sending_until as until from app_private.notification_outbox where id = $1', [id]);
  await runDueJobs(t, db, { env });
  t.equal(smtp.received.length, 0, 'the job sends nothing while the row is claimed');
  t.match(await outboxRow(db, id), { status: 'sending', attempts: 0 });
  t.match(await queuedJobs(db, TASK), [{ key: `${TASK}:${id}`, attempts: 0, runAt: lease[0]!.until }], 'it looks again when the lease ends');
  t.same(
    await db.admin.query('select app_private.resend_notification($1) as queued', [id]).then((r) => r.rows),
    [{ queued: false }],
    'no resend under a live lease',
  );
  await asWorker(worker, 'select app_hidden.notification_sent($1)', [id]);
  await db.admin.query('update graphile_worker._private_jobs set run_at = now()');
  await runDueJobs(t, db, { env });
  t.equal(smtp.received.length, 0, 'sent by the first only');
  t.same(await outboxRow(db, id), { status: 'sent', attempts: 1, last_error: null, sent: true, failed: false });
  t.same(await queuedJobs(db, TASK), []);

  // A lease that ended without a record (its worker died mid-send): the next attempt claims and sends.
  const orphan = await invitationRow(db, 'orphan@example.test');
  await db.admin.query(`update app_private.notification_outbox set status = 'sending', sending_until = now() - interval '1 second' where id = $1`, [orphan]);
  await runDueJobs(t, db, { env });
  t.equal(smtp.received.length, 1);
  t.same(await outboxRow(db, orphan), { status: 'sent', attempts: 1, last_error: null, sent: true, failed: false });
  const leaseless = db.admin.query(`update app_private.notification_outbox set status = 'sending', sending_until = null where id = $1`, [orphan]);
  t.equal(await sqlstateOf(leaseless), '23514', 'sending needs its lease');
});

t.test('cancelling an appointment withdraws its pending messages, never one a delivery has claimed', async (t) => {
  const { db, clinics } = await setup(t);
  const { patient, appointment } = await appointmentOf(db, clinics.a, { channel: 'sms', phone: '+1 555 0130' });
  const written = async (window: string) => {
    const { rows } = await db.admin.query<{ id: string }>(
      `select app_private.notify_patient($1, $2, 'appointment_reminder', jsonb_build_object('appointmentId', $3::uuid, 'window', $4::text),
         app_private.appointment_message_dedup_key($1, $3, $4, '2027-03-08T15:00:00Z')) as id`,
      [clinics.a, patient, appointment, window],
    );
    return Number(rows[0]!.id);
  };
  const claimed = await written('24h');
  const pending = await written('2h');
  await asWorker(workerPool(t, db), 'select claimed from app_hidden.notification_claim($1, 60000)', [claimed]);
  await db.admin.query(`update app_public.appointments set status = 'cancelled', cancellation_reason = 'Patient called' where id = $1`, [appointment]);
  const { rows } = await db.admin.query('select id::int, status from app_private.notification_outbox where id in ($1, $2) order by id', [claimed, pending]);
  t.same(rows, [{ id: claimed, status: 'sending' }], 'the pending one withdrawn, the claimed one left to its delivery');
});

/**
 * A raw SMTP server answering every command after `delayMs` (no STARTTLS, no pipelining), counting
 * the messages it accepted: a 250 written after the data's final dot.
 */
async function startSlowSmtp(t: Test, delayMs: number) {
  const state = { accepted: 0, connections: 0, closed: 0 };
  const server = net.createServer((socket) => {
    state.connections += 1;
    socket.on('error', () => {});
    socket.on('close', () => {
      state.closed += 1;
    });
    const later = (answer: () => void) => setTimeout(() => !socket.destroyed && answer(), delayMs);
    const reply = (line: string) => later(() => socket.write(`${line}\r\n`));
    let buffer = '';
    let inData = false;
    reply('220 slow.test ESMTP');
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('latin1');
      for (;;) {
        const end = buffer.indexOf(inData ? '\r\n.\r\n' : '\r\n');
        if (end < 0) return;
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + (inData ? 5 : 2));
        if (inData) {
          inData = false;
          later(() => {
            state.accepted += 1;
            socket.write('250 2.0.0 queued\r\n');
          });
        } else if (/^DATA/i.test(line)) {
          inData = true;
          reply('354 go ahead');
        } else {
          reply(/^QUIT/i.test(line) ? '221 bye' : '250 ok');
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `smtp://127.0.0.1:${(server.address() as net.AddressInfo).port}`, state };
}

/** Backends of the worker login idle inside a transaction, on this test's database. */
async function idleWorkerTransactions(db: TestDatabase): Promise<number> {
  const { rows } = await db.admin.query<{ n: number }>(
    `select count(*)::int as n from pg_stat_activity where datname = current_database() and usename = 'app_worker' and state like 'idle in transaction%'`,
  );
  return rows[0]!.n;
}

t.test('a slow SMTP server: no transaction open across the send, one overall deadline, never a second copy', async (t) => {
  const { db } = await setup(t);
  // Slow but within the deadline: six answers 150 ms apart.
  const slow = await startSlowSmtp(t, 150);
  const id = await invitationRow(db, 'slow@example.test');
  const env = { NOTIFY_TRANSPORT: 'smtp', SMTP_URL: slow.url, SMTP_FROM: 'a@clinicbase.test', NOTIFY_TIMEOUT_MS: '5000' };
  const delivery = runDueJobs(t, db, { env });
  await eventually(
    () => slow.state.connections,
    (n) => n === 1,
  );
  t.match(await outboxRow(db, id), { status: 'sending', attempts: 0 }, 'the claim is committed before the send');
  t.equal(await idleWorkerTransactions(db), 0, 'no transaction waits on the SMTP server');
  await delivery;
  t.equal(slow.state.accepted, 1, 'one mail accepted');
  t.same(await outboxRow(db, id), { status: 'sent', attempts: 1, last_error: null, sent: true, failed: false });

  // Each answer just under nodemailer's step timeout (900 of 1000 ms): the whole conversation would
  // take 5.4 s. At the 1 s deadline the attempt fails cleanly, its connection closed, nothing accepted.
  const slower = await startSlowSmtp(t, 900);
  const late = await invitationRow(db, 'late@example.test');
  await runDueJobs(t, db, { env: { ...env, SMTP_URL: slower.url, NOTIFY_TIMEOUT_MS: '1000' } });
  t.same(await outboxRow(db, late), { status: 'pending', attempts: 1, last_error: 'smtp timed out after 1000 ms', sent: false, failed: false });
  await eventually(
    () => slower.state.closed,
    (n) => n === 1,
  );
  await new Promise((resolve) => setTimeout(resolve, 6000));
  t.equal(slower.state.accepted, 0, 'no mail accepted after the deadline either');
  t.match(await queuedJobs(db, TASK), [{ key: `${TASK}:${late}`, attempts: 1 }], 'retried later by graphile-worker');
});

t.test('a reminder by SMS through the signed webhook, in the clinic time zone; opted-out patients get nothing', async (t) => {
  const { db, clinics } = await setup(t);
  const hook = await startWebhook(t, () => 202);
  const { patient, appointment } = await appointmentOf(db, clinics.a, { channel: 'sms', phone: '+1 555 0100' });
  const { rows } = await db.admin.query<{ id: string }>(
    `select app_private.notify_patient($1, $2, 'appointment_reminder', jsonb_build_object('appointmentId', $3::uuid, 'clinicId', $1::uuid, 'window', '24h'), $4) as id`,
    [clinics.a, patient, appointment, `appointment_reminder:${appointment}:24h`],
  );
  const id = Number(rows[0]!.id);
  await runDueJobs(t, db, { env: { SMS_WEBHOOK_URL: hook.url, SMS_WEBHOOK_SECRET: SECRET } });
  t.equal(hook.calls.length, 1);
  const call = hook.calls[0]!;
  t.equal(call.headers['idempotency-key'], String(id));
  const signed = `sha256=${createHmac('sha256', SECRET).update(`${call.headers['x-clinicbase-timestamp']}.${call.body}`).digest('hex')}`;
  t.equal(call.headers['x-clinicbase-signature'], signed, 'signature verified with node:crypto');
  t.same(JSON.parse(call.body), {
    id: String(id),
    channel: 'sms',
    to: '+1 555 0100',
    from: 'Clinic A Front Desk',
    text: 'Clinic A Front Desk: Reminder: appointment with Actor doctor on Monday, March 8, 2027 at 10:00.',
  });
  t.same(await outboxRow(db, id), { status: 'sent', attempts: 1, last_error: null, sent: true, failed: false });

  const optedOut = await appointmentOf(db, clinics.a, { channel: 'none', phone: '+1 555 0101', email: 'quiet@example.test' }, 16);
  const { rows: none } = await db.admin.query(
    `select app_private.notify_patient($1, $2, 'appointment_reminder', jsonb_build_object('appointmentId', $3::uuid, 'window', '24h'), $4) as id`,
    [clinics.a, optedOut.patient, optedOut.appointment, `appointment_reminder:${optedOut.appointment}:24h`],
  );
  t.same(none, [{ id: null }], 'no row for a patient who opted out');
  t.same(await queuedJobs(db, TASK), [], 'and no job');
});

t.test('a failing gateway: retries, then failed with the reason; a resend delivers it', async (t) => {
  const { db, clinics } = await setup(t);
  let status = 503;
  const hook = await startWebhook(t, () => status);
  const { patient, appointment } = await appointmentOf(db, clinics.a, { channel: 'sms', phone: '+1 555 0102' });
  const { rows } = await db.admin.query<{ id: string }>(
    `select app_private.notify_patient($1, $2, 'appointment_confirmation', jsonb_build_object('appointmentId', $3::uuid), $4) as id`,
    [clinics.a, patient, appointment, `appointment_confirmation:${appointment}`],
  );
  const id = Number(rows[0]!.id);
  const gateway = { SMS_WEBHOOK_URL: hook.url, SMS_WEBHOOK_SECRET: SECRET };
  // Three attempts instead of ten, each made due at once instead of after graphile-worker's backoff.
  await db.admin.query(`update graphile_worker._private_jobs set max_attempts = 3`);
  for (const attempt of [1, 2]) {
    await runDueJobs(t, db, { env: gateway });
    t.same(
      await outboxRow(db, id),
      { status: 'pending', attempts: attempt, last_error: 'webhook answered 503', sent: false, failed: false },
      `attempt ${attempt} recorded`,
    );
    const [job] = await queuedJobs(db, TASK);
    t.equal(job?.attempts, attempt);
    t.ok(job!.runAt.getTime() > Date.now(), 'retried later, with backoff');
    await db.admin.query(`update graphile_worker._private_jobs set run_at = now()`);
  }
  await runDueJobs(t, db, { env: gateway });
  t.same(
    await outboxRow(db, id),
    { status: 'failed', attempts: 3, last_error: 'webhook answered 503', sent: false, failed: true },
    'the last attempt fails the row',
  );
  t.equal(hook.calls.length, 3);
  t.match(await queuedJobs(db, TASK), [{ attempts: 3, maxAttempts: 3 }], 'the failed job stays for jobs:list');

  status = 200;
  const { rows: resend } = await db.admin.query('select app_private.resend_notification($1) as queued', [id]);
  t.same(resend, [{ queued: true }]);
  t.match(await queuedJobs(db, TASK), [{ attempts: 0, maxAttempts: 10, key: `${TASK}:${id}` }], 'the failed job gone, a new one with fresh attempts');
  await runDueJobs(t, db, { env: gateway });
  t.match(await outboxRow(db, id), { status: 'sent', attempts: 4, sent: true, failed: false });
  t.equal(hook.calls.length, 4);
});

t.test('Spanish: a clinic whose language is es gets its messages in Spanish (file transport)', async (t) => {
  const { db, clinics } = await setup(t);
  await db.admin.query(`update app_public.clinic_settings set language = 'es', notification_sender_name = null where clinic_id = $1`, [clinics.a]);
  const dir = path.join(t.testdir(), 'outbox');
  const id = await invitationRow(db, 'nuria@example.test');
  const { patient, appointment } = await appointmentOf(db, clinics.a, { channel: 'sms', phone: '+34 600 000 000' });
  const { rows } = await db.admin.query<{ id: string }>(
    `select app_private.notify_patient($1, $2, 'appointment_reminder', jsonb_build_object('appointmentId', $3::uuid, 'window', '2h'), $4) as id`,
    [clinics.a, patient, appointment, `appointment_reminder:${appointment}:2h`],
  );
  await runDueJobs(t, db, { env: { NOTIFY_TRANSPORT: 'file', NOTIFY_FILE_DIR: dir } });
  const eml = await readFile(path.join(dir, `${id}.eml`), 'utf8');
  t.equal(header(eml, 'Subject'), '=?UTF-8?Q?Su_invitaci=C3=B3n_a_Clinic_A?=');
  t.equal(header(eml, 'From'), 'Clinic A <notifications@clinicbase.invalid>', 'no sender name: the clinic name');
  t.ok(decodeQuotedPrintable(eml).includes(`Para aceptar, elija una contraseña con este código de invitación: ${TOKEN}`));
  t.same(JSON.parse(await readFile(path.join(dir, `${rows[0]!.id}.json`), 'utf8')), {
    to: '+34 600 000 000',
    from: 'Clinic A',
    text: 'Clinic A: Recordatorio: cita con Actor doctor el lunes, 8 de marzo de 2027, 10:00.',
  });
});

t.test("a message of clinic A naming clinic B's appointment finds nothing and fails without retries", async (t) => {
  const { db, clinics } = await setup(t);
  const hook = await startWebhook(t, () => 202);
  const own = await appointmentOf(db, clinics.a, { channel: 'sms', phone: '+1 555 0103' });
  const other = await appointmentOf(db, clinics.b, { channel: 'sms', phone: '+1 555 0104' });
  const { rows } = await db.admin.query<{ id: string }>(
    `select app_private.notify_patient($1, $2, 'appointment_reminder', jsonb_build_object('appointmentId', $3::uuid, 'window', '24h'), 'cross') as id`,
    [clinics.a, own.patient, other.appointment],
  );
  const id = Number(rows[0]!.id);
  await runDueJobs(t, db, { env: { SMS_WEBHOOK_URL: hook.url, SMS_WEBHOOK_SECRET: SECRET } });
  t.equal(hook.calls.length, 0, 'nothing sent');
  t.same(await outboxRow(db, id), { status: 'failed', attempts: 1, last_error: 'appointment not found', sent: false, failed: true });
  t.same(await queuedJobs(db, TASK), [], 'not retried');
});

t.test('the worker-only functions: app_user on the request login gets 42501, the worker reads', async (t) => {
  const { db } = await setup(t);
  const id = await invitationRow(db, 'vera@example.test');
  const calls = [
    `select * from app_hidden.notification_claim(${id}, 60000)`,
    `select * from app_hidden.notification_appointment(${id})`,
    `select app_hidden.notification_sent(${id})`,
    `select app_hidden.notification_attempt_failed(${id}, 'x', true)`,
  ];
  for (const call of calls) {
    const client = await db.pool.connect();
    try {
      await client.query('begin');
      await client.query(`set local role app_user`);
      t.equal(await sqlstateOf(client.query(call)), '42501', `${call} as app_authenticator → app_user`);
    } finally {
      await client.query('rollback');
      client.release();
    }
  }
  t.equal(await sqlstateOf(db.pool.query(`select app_private.resend_notification(${id})`)), '42501', 'resend: operators only');
  const worker = workerPool(t, db);
  const client = await worker.connect();
  try {
    await client.query('begin');
    await client.query(`set local role app_user`);
    const { rows } = await client.query(`select kind, recipient, clinic_name, sender_name, language, timezone from app_hidden.notification_claim($1, 60000)`, [
      id,
    ]);
    t.same(rows, [
      {
        kind: 'invitation',
        recipient: 'vera@example.test',
        clinic_name: 'Clinic A',
        sender_name: 'Clinic A Front Desk',
        language: 'en',
        timezone: 'America/New_York',
      },
    ]);
  } finally {
    await client.query('rollback');
    client.release();
  }
  t.same(await outboxRow(db, id), { status: 'pending', attempts: 0, last_error: null, sent: false, failed: false }, 'nothing changed by the refused calls');
});

/** A report released by the lab technician for a new patient of clinic A who chose `channel`. */
async function releasedReport(db: TestDatabase, clinicId: string, channel: string): Promise<string> {
  const { rows } = await db.admin.query<{ id: string }>(
    `insert into app_public.patients (clinic_id, full_name, date_of_birth, sex, phone, email, contact_channel)
     values ($1, 'Lee Lab', '1975-05-05', 'male', '+1 555 0110', 'lee@example.test', $2) returning id`,
    [clinicId, channel],
  );
  const patient = rows[0]!.id;
  const doctor = actorIn(db, clinicId, 'doctor').member;
  const visit = await insertAsAdmin(db, clinicId, 'app_public.visits', { patient_id: patient, doctor_id: doctor, purpose: 'lab' });
  const consultation = await insertAsAdmin(db, clinicId, 'app_public.consultations', {
    visit_id: visit,
    patient_id: patient,
    doctor_id: doctor,
    chief_complaint: 'Tired',
  });
  const client = await db.admin.connect();
  try {
    await client.query('begin');
    // The request in progress and its draft report with one result, as the lab's own tests make them;
    // the release itself with every trigger, as the lab technician.
    await client.query('set local session_replication_role = replica');
    const technician = actorIn(db, clinicId, 'lab_technician');
    const request = await client.query<{ id: string }>(
      `insert into app_public.test_requests (clinic_id, consultation_id, patient_id, requested_by, test_name, category, status, collected_at, started_at)
       values ($1, $2, $3, $4, 'FBC', 'haematology', 'in_progress', now(), now()) returning id`,
      [clinicId, consultation, patient, doctor],
    );
    const report = await client.query<{ id: string }>(
      `insert into app_public.test_reports (clinic_id, test_request_id, patient_id, technician_id) values ($1, $2, $3, $4) returning id`,
      [clinicId, request.rows[0]!.id, patient, technician.member],
    );
    await client.query(
      `insert into app_public.test_results (clinic_id, test_report_id, patient_id, position, analyte, value_numeric) values ($1, $2, $3, 1, 'Hb', 130)`,
      [clinicId, report.rows[0]!.id, patient],
    );
    await client.query('set local session_replication_role = origin');
    await client.query(`select set_config('app.clinic_id', $1, true), set_config('app.user_id', $2, true), set_config('app.role', 'lab_technician', true)`, [
      clinicId,
      technician.account,
    ]);
    await client.query(`update app_public.test_reports set status = 'released' where id = $1`, [report.rows[0]!.id]);
    await client.query('commit');
    return report.rows[0]!.id;
  } finally {
    client.release();
  }
}

t.test('a released lab report: the doctor by e-mail, the patient on their channel, or not at all when opted out', async (t) => {
  const { db, clinics } = await setup(t);
  const doctorEmail = `actor-doctor-${clinics.a}@example.test`;
  const bySms = await releasedReport(db, clinics.a, 'sms');
  const optedOut = await releasedReport(db, clinics.a, 'none');
  const { rows } = await db.admin.query(
    `select payload->>'test_report_id' as report, clinic_id, channel, recipient, payload->>'audience' as audience
     from app_private.notification_outbox where kind = 'lab_report_released' order by id`,
  );
  t.same(rows, [
    { report: bySms, clinic_id: clinics.a, channel: 'email', recipient: doctorEmail, audience: 'doctor' },
    { report: bySms, clinic_id: clinics.a, channel: 'sms', recipient: '+1 555 0110', audience: 'patient' },
    { report: optedOut, clinic_id: clinics.a, channel: 'email', recipient: doctorEmail, audience: 'doctor' },
  ]);

  const dir = path.join(t.testdir(), 'outbox');
  await runDueJobs(t, db, { env: { NOTIFY_TRANSPORT: 'file', NOTIFY_FILE_DIR: dir } });
  const { rows: sent } = await db.admin.query<{ id: string; status: string }>(
    `select id, status from app_private.notification_outbox where kind = 'lab_report_released' order by id`,
  );
  t.same(
    sent.map((r) => r.status),
    ['sent', 'sent', 'sent'],
  );
  t.equal(header(await readFile(path.join(dir, `${sent[0]!.id}.eml`), 'utf8'), 'Subject'), 'Lab report released');
  t.same(JSON.parse(await readFile(path.join(dir, `${sent[1]!.id}.json`), 'utf8')), {
    to: '+1 555 0110',
    from: 'Clinic A Front Desk',
    text: 'Clinic A Front Desk: Your lab report is ready. Sign in to the patient portal to read it.',
  });
});

t.test("a suspended clinic's messages wait, and go once it is active again", async (t) => {
  const { db, clinics } = await setup(t);
  const hook = await startWebhook(t, () => 202);
  const { patient, appointment } = await appointmentOf(db, clinics.a, { channel: 'sms', phone: '+1 555 0120' });
  await db.admin.query(`update app_public.clinics set status = 'suspended' where id = $1`, [clinics.a]);
  const { rows } = await db.admin.query<{ id: string }>(
    `select app_private.notify_patient($1, $2, 'appointment_confirmation', jsonb_build_object('appointmentId', $3::uuid), 'held') as id`,
    [clinics.a, patient, appointment],
  );
  const id = Number(rows[0]!.id);
  const env = { SMS_WEBHOOK_URL: hook.url, SMS_WEBHOOK_SECRET: SECRET };
  await runDueJobs(t, db, { env, now: () => new Date('2027-06-01T09:00:00Z') });
  t.equal(hook.calls.length, 0, 'nothing sent while suspended');
  t.same(await outboxRow(db, id), { status: 'pending', attempts: 0, last_error: null, sent: false, failed: false });
  t.match(await queuedJobs(db, TASK), [{ key: `${TASK}:${id}`, attempts: 0, runAt: new Date('2027-06-01T09:15:00Z') }], 'looked at again 15 minutes later');

  const { rows: flags } = await db.admin.query('select flags from graphile_worker._private_jobs');
  t.same(flags, [{ flags: { held_for_suspension: true } }], 'flagged for the reactivation');

  // Reactivation makes the held delivery due at once (its payload names the row, not the clinic).
  await db.admin.query(`update app_public.clinics set status = 'active' where id = $1`, [clinics.a]);
  t.match(await queuedJobs(db, TASK), [{ key: `${TASK}:${id}` }]);
  t.ok((await queuedJobs(db, TASK))[0]!.runAt <= new Date(), 'due now');
  await runDueJobs(t, db, { env });
  t.equal(hook.calls.length, 1, 'sent once active');
  t.match(await outboxRow(db, id), { status: 'sent', attempts: 1 });

  // A message whose delivery died mid-send (its lease over) in a clinic suspended since: held back too.
  const { rows: again } = await db.admin.query<{ id: string }>(
    `select app_private.notify_patient($1, $2, 'appointment_confirmation', jsonb_build_object('appointmentId', $3::uuid), 'orphaned') as id`,
    [clinics.a, patient, appointment],
  );
  const orphan = Number(again[0]!.id);
  await db.admin.query(`update app_private.notification_outbox set status = 'sending', sending_until = now() - interval '1 minute' where id = $1`, [orphan]);
  await db.admin.query(`update app_public.clinics set status = 'suspended' where id = $1`, [clinics.a]);
  await runDueJobs(t, db, { env, now: () => new Date('2027-06-01T09:00:00Z') });
  t.equal(hook.calls.length, 1, 'nothing more sent while suspended');
  t.match(await queuedJobs(db, TASK), [{ key: `${TASK}:${orphan}`, runAt: new Date('2027-06-01T09:15:00Z') }], 'looked at again 15 minutes later');
});

t.test('booking over HTTP to the patient mailbox: the confirmation, then the 24 h reminder, in the clinic language and time', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await bookableClinics(db);
  // Madrid, in Spanish: the clinic's Mondays 09:00–12:00 are 08:00–11:00 UTC in February (CET).
  await db.admin.query(`update app_public.clinics set timezone = 'Europe/Madrid' where id = $1`, [clinics.a]);
  await db.admin.query(`update app_public.clinic_settings set language = 'es', notification_sender_name = 'Recepción Clínica A' where clinic_id = $1`, [
    clinics.a,
  ]);
  const smtp = await startSmtpServer(t);
  const env = { NOTIFY_TRANSPORT: 'smtp', SMTP_URL: smtp.url, SMTP_FROM: 'citas@clinica-a.test' };
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const client = testClient(app);
  const receptionist = await client.clinicToken('receptionist', { id: clinics.a, slug: 'clinic-a' }, actorIn(db, clinics.a, 'receptionist').account);
  const patientId = await insertAsAdmin(db, clinics.a, 'app_public.patients', {
    full_name: 'Ana Citada',
    date_of_birth: '1980-01-01',
    sex: 'female',
    email: 'ana@example.test',
  });
  const booked = await client.call('POST', '/api/v1/clinics/clinic-a/appointments', receptionist, {
    patientId,
    doctorId: actorIn(db, clinics.a, 'doctor').member,
    startsAt: '2027-02-01T10:00:00.000Z',
  });
  t.equal(booked.statusCode, 201);

  await runDueJobs(t, db, { env });
  t.equal(smtp.received.length, 1, 'the confirmation, at once');
  const confirmation = smtp.received[0]!;
  t.same(confirmation.to, ['ana@example.test']);
  t.equal(header(confirmation.raw, 'From'), '=?UTF-8?Q?Recepci=C3=B3n_Cl=C3=ADnica_A?= <citas@clinica-a.test>');
  t.ok(
    decodeQuotedPrintable(confirmation.raw).includes('Su cita en Clinic A con Actor doctor está reservada para el lunes, 1 de febrero de 2027, 11:00.'),
    '11:00 in Madrid',
  );

  // The 24 h reminder's time has come (its run_at moved to now, the queue's controlled clock).
  await db.admin.query(`update graphile_worker._private_jobs set run_at = now() where key like 'appointments__remind:%:24h'`);
  await runDueJobs(t, db, { env });
  t.equal(smtp.received.length, 2, 'the reminder');
  const reminder = smtp.received[1]!;
  t.ok(decodeQuotedPrintable(reminder.raw).includes('Le recordamos su cita en Clinic A con Actor doctor el lunes, 1 de febrero de 2027, 11:00.'));
  const { rows } = await db.admin.query(`select kind, status, attempts from app_private.notification_outbox order by id`);
  t.same(rows, [
    { kind: 'appointment_confirmation', status: 'sent', attempts: 1 },
    { kind: 'appointment_reminder', status: 'sent', attempts: 1 },
  ]);
});
