// `npm run seed:demo` as a child process against the file's own database: what it creates (counted
// as superuser, written out literally), that it went through the members' own contexts (the audit
// log names them), that every login it prints works against the real app, that a second run
// changes nothing, and that it refuses a database with someone else's clinics, a half-seeded one,
// a database with platform operators of its own and production, writing nothing.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { createFieldCipher } from '../../src/crypto/field-encryption.ts';
import { parseDataKeys } from '../../src/crypto/data-keys.ts';
import { buildTestApp } from '../helpers/app.ts';
import { seedDemo, tempDir } from '../helpers/cli.ts';
import { testClient } from '../helpers/client.ts';
import { createClinics, createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { createOperator } from '../helpers/people.ts';

/** What the refusals must leave alone: the number of rows in every table they could touch. */
async function footprint(db: TestDatabase): Promise<Record<string, number>> {
  const { rows } = await db.admin.query<Record<string, number>>(
    `select (select count(*)::int from app_public.clinics) as clinics,
            (select count(*)::int from app_private.accounts) as accounts,
            (select count(*)::int from app_private.platform_operators) as operators,
            (select count(*)::int from app_public.clinic_members) as members,
            (select count(*)::int from app_public.patients) as patients,
            (select count(*)::int from app_public.files) as files,
            (select count(*)::int from app_public.visits) as visits,
            (select count(*)::int from app_public.consultations) as consultations,
            (select count(*)::int from app_public.prescriptions) as prescriptions,
            (select count(*)::int from app_public.test_reports) as reports,
            (select count(*)::int from app_public.follow_ups) as follow_ups,
            (select count(*)::int from app_private.notification_outbox) as outbox,
            (select count(*)::int from app_audit.audit_log) as audit`,
  );
  return rows[0]!;
}

const LOGIN_LINE = /^(\(platform\)|demo-\w+)\s+(\w+)\s+(\S+@\S+)\s+(\S+)$/;

// Two seeds, seventeen logins (argon2) and four more seed processes: 125 s on a loaded machine
// (tap's default per file is 120 s), more on CI's Postgres 15.
t.setTimeout(300_000);

t.test('seed:demo fills an empty database through the app, and its logins work', async (t) => {
  const db = await createTestDatabase(t);
  const dataDir = await tempDir(t);
  const run = await seedDemo(db, dataDir);
  t.equal(run.code, 0, run.stderr);

  const { rows: clinics } = await db.admin.query('select slug, plan, timezone from app_public.clinics order by slug');
  t.same(clinics, [
    { slug: 'demo-north', plan: 'basic', timezone: 'Europe/London' },
    { slug: 'demo-south', plan: 'basic', timezone: 'Europe/London' },
  ]);
  const { rows: members } = await db.admin.query(
    `select c.slug, m.role, count(*)::int as n from app_public.clinic_members m join app_public.clinics c on c.id = m.clinic_id
     where m.status = 'active' group by 1, 2 order by 1, 2`,
  );
  const roles = { clinic_admin: 1, doctor: 2, lab_technician: 1, nurse: 1, patient: 1, receptionist: 1 };
  t.same(
    members,
    ['demo-north', 'demo-south'].flatMap((slug) => Object.entries(roles).map(([role, n]) => ({ slug, role, n }))),
    'one active member of every role, two doctors',
  );
  const { rows: doctors } = await db.admin.query(`select count(*)::int as n from app_public.clinic_members where role = 'doctor' and office_hours <> '{}'`);
  t.same(doctors, [{ n: 4 }], 'every doctor has office hours');
  const { rows: hours } = await db.admin.query(
    `select count(*)::int as n from app_public.clinic_settings where operating_hours ? 'mon' and appointment_slot_minutes = 15`,
  );
  t.same(hours, [{ n: 2 }], 'both clinics have opening hours');

  const year = new Date().getFullYear();
  const { rows: patients } = await db.admin.query(
    `select c.slug, count(*)::int as n, min(p.patient_number) as first, max(p.patient_number) as last,
            count(distinct p.phone_normalised)::int as phones, count(p.phone)::int as with_phone,
            count(*) filter (where p.member_id is not null)::int as portal,
            count(p.identification_number_ciphertext)::int as identified
     from app_public.patients p join app_public.clinics c on c.id = p.clinic_id group by 1 order by 1`,
  );
  for (const row of patients) {
    t.equal(row.n, 200, `${row.slug}: 200 patients`);
    t.equal(row.first, `PT-${year}-00001`, `${row.slug}: numbered by the database from 1`);
    t.equal(row.last, `PT-${year}-00200`, `${row.slug}: … to 200, without gaps`);
    t.equal(row.phones, row.with_phone, `${row.slug}: no two patients share a phone number`);
    t.equal(row.portal, 1, `${row.slug}: one record linked to the portal login`);
    t.ok(row.identified > 100, `${row.slug}: most have an identification number`);
  }

  // Encrypted with the development key the seed generated under DATA_DIR: ciphertext in the table,
  // the made-up number once decrypted.
  const { rows: identified } = await db.admin.query<{ clinic_id: string; ciphertext: string; type: string }>(
    `select clinic_id, identification_number_ciphertext as ciphertext, identification_type as type from app_public.patients
     where identification_number_ciphertext is not null order by patient_number limit 5`,
  );
  const cipher = createFieldCipher(parseDataKeys((await readFile(path.join(dataDir, 'data-encryption-key'), 'utf8')).trim()).keys);
  for (const row of identified) {
    const number = cipher.decrypt(row.ciphertext, { clinicId: row.clinic_id, field: 'patients.identification_number' });
    // As the registry stores them: letters and digits only (typed "QQ 12 34 56 A").
    t.match(number, row.type === 'national_id' ? /^QQ\d{6}[A-D]$/ : /^\d{9}$/);
    // Not /QQ/ on the ciphertext: random base64 holds "QQ" now and then.
    t.notOk(row.ciphertext.includes(number), 'no number in clear');
  }

  // A week of appointments in free slots, the portal patient's among them; today's queue worked.
  const { rows: week } = await db.admin.query(
    `select c.slug, count(*)::int as n,
            count(*) filter (where a.starts_at < now() or a.starts_at > now() + interval '7 days')::int as outside_the_week,
            count(*) filter (where a.status = 'cancelled' and a.cancellation_reason is null)::int as cancelled_without_reason,
            count(*) filter (where p.member_id is not null)::int as portal
     from app_public.appointments a join app_public.clinics c on c.id = a.clinic_id join app_public.patients p on p.id = a.patient_id
     group by 1 order by 1`,
  );
  for (const row of week) {
    t.ok(row.n >= 40, `${row.slug}: ${row.n} appointments in the coming week`);
    t.same([row.outside_the_week, row.cancelled_without_reason, row.portal > 0], [0, 0, true], `${row.slug}: all in the coming week, the portal patient's too`);
  }
  const { rows: queue } = await db.admin.query(
    `select c.slug, min(v.token_number) as first, max(v.token_number) as last, count(*)::int as n,
            count(*) filter (where v.status = 'completed')::int as completed, count(*) filter (where v.status = 'in_consultation')::int as in_consultation,
            count(*) filter (where v.status = 'called')::int as called, count(*) filter (where v.priority = 'urgent')::int as urgent
     from app_public.visits v join app_public.clinics c on c.id = v.clinic_id group by 1 order by 1`,
  );
  for (const row of queue) {
    t.same(
      { first: row.first, last: row.last, completed: row.completed, in_consultation: row.in_consultation, called: row.called, urgent: row.urgent },
      { first: 1, last: row.n, completed: 4, in_consultation: 1, called: 1, urgent: 2 },
      `${row.slug}: ${row.n} checked in today, tokens 1 to ${row.n}; the second doctor's four morning visits completed, one in consultation, one called`,
    );
    t.ok(row.n >= 12, `${row.slug}: the morning's four and eight walk-ins at least`);
  }
  // Wait estimates: the first doctor (the README's) has no completed consultation, so her estimate is
  // the clinic's slot; the second doctor's four took the seed's milliseconds.
  const { rows: completedBy } = await db.admin.query(
    `select c.slug, m.display_name as doctor, count(*)::int as completed from app_public.visits v
     join app_public.clinics c on c.id = v.clinic_id join app_public.clinic_members m on m.id = v.doctor_id
     where v.status = 'completed' group by 1, 2 order by 1, 2`,
  );
  t.same(
    completedBy,
    [
      { slug: 'demo-north', doctor: 'Dr Tomasz Nowak', completed: 4 },
      { slug: 'demo-south', doctor: 'Dr Luca Rossi', completed: 4 },
    ],
    "only the second doctor's visits are completed",
  );

  // The second doctor's morning, clinic by clinic: four signed consultations (vitals by the nurse,
  // diagnoses looked up), four issued prescriptions numbered from 1 (six medicines, one acknowledged
  // allergy), two lab requests completed by released reports with their files (one critical value),
  // three pending follow-ups; the first doctor's consultation of the urgent walk-in is a draft.
  const { rows: clinical } = await db.admin.query(
    `select c.slug,
       (select string_agg(x.status || ' ' || m.display_name, ', ' order by x.status, m.display_name) from app_public.consultations x
          join app_public.clinic_members m on m.id = x.doctor_id where x.clinic_id = c.id and x.status = 'draft') as draft,
       (select count(*)::int from app_public.consultations x where x.clinic_id = c.id and x.status = 'signed' and x.signed_at is not null) as signed,
       (select string_agg(m.role, ', ') from app_public.vitals x join app_public.clinic_members m on m.id = x.recorded_by where x.clinic_id = c.id) as vitals_by,
       (select string_agg(x.icd10_code || case when x.is_primary then '*' else '' end, ' ' order by x.icd10_code) from app_public.diagnoses x where x.clinic_id = c.id) as diagnoses,
       (select string_agg(x.prescription_number || ' ' || x.status, ', ' order by x.prescription_number) from app_public.prescriptions x where x.clinic_id = c.id) as prescriptions,
       (select count(*)::int from app_public.prescription_items x where x.clinic_id = c.id) as items,
       (select string_agg(h.name || ' (' || h.severity || ') for ' || i.medicine_name, ', ') from app_public.prescription_allergy_acknowledgements a
          join app_public.patient_history h on h.id = a.allergy_id
          join app_public.prescription_items i on i.prescription_id = a.prescription_id and i.medicine_name = h.name
          where a.clinic_id = c.id) as acknowledged,
       (select string_agg(x.test_code || ' ' || x.status, ', ' order by x.test_code) from app_public.test_requests x where x.clinic_id = c.id) as requests,
       (select string_agg(x.status || case when x.file_id is null then '' else ' with file' end, ', ') from app_public.test_reports x where x.clinic_id = c.id) as reports,
       (select string_agg(x.flag, ' ' order by x.flag) from app_public.test_results x where x.clinic_id = c.id) as flags,
       (select string_agg(x.status || ' in ' || (x.due_date - x.created_at::date), ', ' order by x.due_date - x.created_at::date) from app_public.follow_ups x where x.clinic_id = c.id) as follow_ups
     from app_public.clinics c order by c.slug`,
  );
  for (const row of clinical) {
    t.same(
      row,
      {
        slug: row.slug,
        draft: `draft ${row.slug === 'demo-north' ? 'Dr Priya Raman' : 'Dr Amara Mensah'}`,
        signed: 4,
        vitals_by: 'nurse, nurse, nurse, nurse',
        diagnoses: 'D50.9 I10* J02.9* J45.909* R53.83*',
        prescriptions: `RX-${year}-00001 issued, RX-${year}-00002 issued, RX-${year}-00003 issued, RX-${year}-00004 issued`,
        items: 6,
        acknowledged: 'Aspirin (mild) for Aspirin',
        requests: 'FBC completed, LIPID completed',
        reports: 'released with file, released with file',
        flags: 'critical_low high high low normal normal',
        follow_ups: 'pending in 2, pending in 28, pending in 42',
      },
      `${row.slug}: the morning's clinical records`,
    );
  }
  // Releasing wrote the notifications: the requesting doctor twice (the blood count's flagged
  // critical), and the patients on their channel (the portal patient; in demo-north the second
  // patient by e-mail too; in demo-south that one has no e-mail address: by SMS to their phone).
  const { rows: notifications } = await db.admin.query(
    `select c.slug, o.payload->>'audience' as audience, o.payload->>'critical' as critical, o.recipient
     from app_private.notification_outbox o join app_public.clinics c on c.id = (o.payload->>'clinic_id')::uuid
     where o.kind = 'lab_report_released' order by 1, 2, 3, 4`,
  );
  t.same(notifications, [
    { slug: 'demo-north', audience: 'doctor', critical: 'false', recipient: 'doctor2@demo-north.clinicbase.test' },
    { slug: 'demo-north', audience: 'doctor', critical: 'true', recipient: 'doctor2@demo-north.clinicbase.test' },
    { slug: 'demo-north', audience: 'patient', critical: null, recipient: 'emeka.taylor.2@example.com' },
    { slug: 'demo-north', audience: 'patient', critical: null, recipient: 'patient@demo-north.clinicbase.test' },
    { slug: 'demo-south', audience: 'doctor', critical: 'false', recipient: 'doctor2@demo-south.clinicbase.test' },
    { slug: 'demo-south', audience: 'doctor', critical: 'true', recipient: 'doctor2@demo-south.clinicbase.test' },
    { slug: 'demo-south', audience: 'patient', critical: null, recipient: '+44 7700 900502' },
    { slug: 'demo-south', audience: 'patient', critical: null, recipient: 'patient@demo-south.clinicbase.test' },
  ]);
  const { rows: clinicalWriters } = await db.admin.query(
    `select table_name, actor_role, count(*)::int as n from app_audit.audit_log
     where action = 'INSERT' and table_name in ('app_public.consultations', 'app_public.vitals', 'app_public.diagnoses', 'app_public.prescriptions',
       'app_public.test_requests', 'app_public.test_reports', 'app_public.follow_ups', 'app_public.patient_history')
     group by 1, 2 order by 1, 2`,
  );
  t.same(
    clinicalWriters,
    [
      { table_name: 'app_public.consultations', actor_role: 'doctor', n: 10 },
      { table_name: 'app_public.diagnoses', actor_role: 'doctor', n: 10 },
      { table_name: 'app_public.follow_ups', actor_role: 'doctor', n: 6 },
      { table_name: 'app_public.patient_history', actor_role: 'nurse', n: 2 },
      { table_name: 'app_public.prescriptions', actor_role: 'doctor', n: 8 },
      { table_name: 'app_public.test_reports', actor_role: 'lab_technician', n: 4 },
      { table_name: 'app_public.test_requests', actor_role: 'doctor', n: 4 },
      { table_name: 'app_public.vitals', actor_role: 'nurse', n: 8 },
    ],
    'each clinical record written by its member: doctors, the nurse, the lab technician',
  );

  // Written by the members themselves, not behind the app's back: the audit log names them.
  const { rows: writers } = await db.admin.query(
    `select a.table_name, a.actor_role, a.db_role, count(*)::int as n from app_audit.audit_log a
     where a.action = 'INSERT' and a.table_name in ('app_public.patients', 'app_public.departments', 'app_public.clinics', 'app_public.visits')
     group by 1, 2, 3 order by 1, 2, 3`,
  );
  const { rows: visitWriters } = await db.admin.query(
    `select distinct actor_role from app_audit.audit_log where table_name = 'app_public.visits' and action = 'UPDATE' order by 1`,
  );
  t.same(visitWriters, [{ actor_role: 'doctor' }], 'the doctors worked their own queues');
  t.same(
    writers.filter((w) => w.table_name === 'app_public.visits'),
    [{ table_name: 'app_public.visits', actor_role: 'receptionist', db_role: 'app_authenticator/app_user', n: queue.reduce((sum, q) => sum + q.n, 0) }],
  );
  t.same(
    writers.filter((w) => w.table_name !== 'app_public.visits'),
    [
      { table_name: 'app_public.clinics', actor_role: null, db_role: 'app_authenticator/app_platform', n: 2 },
      { table_name: 'app_public.departments', actor_role: 'clinic_admin', db_role: 'app_authenticator/app_user', n: 6 },
      { table_name: 'app_public.patients', actor_role: 'receptionist', db_role: 'app_authenticator/app_user', n: 400 },
    ],
  );

  const logins = run.stdout
    .split('\n')
    .map((line) => LOGIN_LINE.exec(line.trim()))
    .filter((m) => m !== null)
    .map(([, clinic, role, email, password]) => ({ clinic: clinic!, role: role!, email: email!, password: password! }));
  t.equal(logins.length, 15, 'the operator and seven members per clinic');
  // The seed's storage (DATA_DIR/files): the files it uploaded are downloaded below; its data key:
  // the portal patient's record (an identification number) is read below.
  const { app } = await buildTestApp(t, db.authenticatorUrl, undefined, undefined, undefined, {
    storageDir: path.join(dataDir, 'files'),
    fieldCipher: cipher,
  });
  const client = testClient(app);
  for (const login of logins) {
    if (login.clinic === '(platform)') {
      t.equal((await client.platformLogin(login.email, login.password)).statusCode, 200, `${login.email} logs in to the platform`);
      continue;
    }
    const response = await client.login(login.email, login.password, login.clinic);
    t.equal(response.statusCode, 200, `${login.email} logs in`);
    t.same(
      { slug: response.json().membership.clinicSlug, role: response.json().membership.role },
      { slug: login.clinic, role: login.role },
      `${login.email} is the ${login.role} of ${login.clinic}`,
    );
  }

  // The portal patient reads their morning through the API (footnote 7): the signed consultation, the
  // issued prescription and its PDF, the released report with its critical-free results, the follow-up.
  for (const slug of ['demo-north', 'demo-south']) {
    const patient = logins.find((l) => l.clinic === slug && l.role === 'patient')!;
    const token = (await client.login(patient.email, patient.password, slug)).json().accessToken;
    const get = (url: string) => client.call('GET', `/api/v1/clinics/${slug}/${url}`, token);
    const json = async (url: string) => {
      const response = await get(url);
      t.equal(response.statusCode, 200, `${slug}: the patient reads ${url.replace(/[0-9a-f-]{36}/, '{id}')}: ${response.body.slice(0, 300)}`);
      return response.json();
    };
    const me = await json('patients/me');
    const consultations = (await json(`consultations?patientId=${me.id}`)).items ?? [];
    t.same(
      consultations.map((c: { status: string; chiefComplaint: string }) => [c.status, c.chiefComplaint]),
      [['signed', 'Raised blood pressure at the pharmacy']],
      `${slug}: the patient reads their signed consultation`,
    );
    const prescriptions = (await json(`prescriptions?patientId=${me.id}`)).items ?? [];
    t.same(
      prescriptions.map((p: { status: string; prescriptionNumber: string }) => [p.status, p.prescriptionNumber]),
      [['issued', `RX-${year}-00001`]],
      `${slug}: and their issued prescription`,
    );
    const pdf = await get(`prescriptions/${prescriptions[0]?.id}/pdf`);
    t.same(
      [pdf.statusCode, pdf.headers['content-type'], pdf.rawPayload.subarray(0, 5).toString('latin1')],
      [200, 'application/pdf', '%PDF-'],
      `${slug}: as a PDF`,
    );
    const reports = (await json(`test-reports?patientId=${me.id}`)).items ?? [];
    t.same(
      reports.map((r: { status: string; results: { analyte: string; flag: string }[] }) => [r.status, r.results.map((x) => `${x.analyte}: ${x.flag}`)]),
      [['released', ['Total cholesterol: high', 'HDL cholesterol: normal', 'Triglycerides: normal']]],
      `${slug}: and their released lab report`,
    );
    const followUps = (await json(`follow-ups?patientId=${me.id}`)).items ?? [];
    t.same(
      followUps.map((f: { status: string; reason: string }) => [f.status, f.reason]),
      [['pending', 'Blood pressure review with home readings and the lipid results']],
      `${slug}: and their follow-up`,
    );
  }

  // A few files through the upload route, by the receptionist and the nurse; their bytes download whole.
  const { rows: files } = await db.admin.query<{ slug: string; id: string; category: string; content_type: string; sha256: string; uploader: string }>(
    `select c.slug, f.id, f.category, f.content_type, f.sha256, m.role as uploader
     from app_public.files f join app_public.clinics c on c.id = f.clinic_id join app_public.clinic_members m on m.id = f.uploaded_by
     order by c.slug, f.created_at`,
  );
  for (const slug of ['demo-north', 'demo-south']) {
    const mine = files.filter((f) => f.slug === slug);
    t.same(
      mine.map((f) => `${f.uploader} ${f.category} ${f.content_type}`),
      [
        'receptionist registration image/png',
        'receptionist report application/pdf',
        'nurse other text/plain',
        'receptionist registration image/png',
        'nurse report application/pdf',
        'lab_technician report application/pdf',
        'lab_technician report application/pdf',
      ],
      `${slug}: five files, then the two lab reports' files`,
    );
    const receptionist = logins.find((l) => l.clinic === slug && l.role === 'receptionist')!;
    const token = (await client.login(receptionist.email, receptionist.password, slug)).json().accessToken;
    for (const file of mine.filter((f) => f.uploader !== 'lab_technician')) {
      const download = await client.call('GET', `/api/v1/clinics/${slug}/files/${file.id}/content`, token);
      t.equal(download.statusCode, 200, `${slug}: ${file.content_type} downloads`);
      t.equal(createHash('sha256').update(download.rawPayload).digest('hex'), file.sha256, `${slug}: the ${file.content_type} bytes, whole`);
      const magic = { 'image/png': '\x89PNG', 'application/pdf': '%PDF-', 'text/plain': 'Triage note for ' }[file.content_type]!;
      t.equal(download.rawPayload.subarray(0, magic.length).toString('latin1'), magic, `${slug}: a real ${file.content_type}`);
    }
  }

  const before = await footprint(db);
  const again = await seedDemo(db, dataDir);
  t.equal(again.code, 0, again.stderr);
  t.match(again.stderr, /the demo clinics are there already: nothing changed/);
  t.equal(again.stdout.split('\n').filter((line) => LOGIN_LINE.test(line.trim())).length, 15, 'the logins, printed again');
  t.same(await footprint(db), before, 'a second run writes nothing');
});

t.test('seed:demo refuses a database with other clinics, writing nothing', async (t) => {
  const db = await createTestDatabase(t);
  await createClinics(db);
  const before = await footprint(db);
  const run = await seedDemo(db, await tempDir(t));
  t.equal(run.code, 1);
  t.match(run.stderr, "seed:demo refused: this database holds 2 clinic(s) besides the demo's (clinic-a, clinic-b)");
  t.same(await footprint(db), before);
});

t.test('seed:demo refuses a database with a platform operator of its own, writing nothing', async (t) => {
  const db = await createTestDatabase(t);
  await createOperator(db, 'ops@example.org', 'a real operator passphrase');
  const before = await footprint(db);
  const run = await seedDemo(db, await tempDir(t));
  t.equal(run.code, 1);
  t.match(run.stderr, "seed:demo refused: this database has 1 platform operator(s) besides the demo's (ops@example.org)");
  t.same(await footprint(db), before);
});

t.test('seed:demo refuses a database it seeded halfway, writing nothing', async (t) => {
  const db = await createTestDatabase(t);
  await db.admin.query(`insert into app_public.clinics (slug, name) values ('demo-north', 'Left over')`);
  const before = await footprint(db);
  const run = await seedDemo(db, await tempDir(t));
  t.equal(run.code, 1);
  t.match(run.stderr, 'seed:demo refused: an earlier seed:demo stopped midway (demo-north: 0 patients, 0 visits)');
  t.same(await footprint(db), before);
});

t.test('seed:demo never runs in production', async (t) => {
  const run = await seedDemo(undefined, await tempDir(t), { NODE_ENV: 'production', DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' });
  t.equal(run.code, 1);
  t.match(run.stderr, 'seed:demo refuses to run with NODE_ENV=production');
});
