// README's "A front-desk day" and "A doctor's day, with the lab" are run as written: their bash
// blocks, in order, in one bash, against `node src/server.ts` (what `npm start` runs) on a database
// `npm run seed:demo` filled. Only the address changes. Then the database is asked, as superuser,
// whether what the text says happened did: the patient registered by the receptionist, the
// appointment at the slot, the check-in the text describes for today's slot or another day's, and the
// call; then the consultation opened, its vital signs, diagnosis, prescription (issued, its PDF), the
// lab's request and released report with its file, the signature that completed the visit, the
// follow-up, and the chart access log of every read.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { freePort } from '../src/db/embedded.ts';
import { cleanEnv, seedDemo, tempDir } from './helpers/cli.ts';
import { createTestDatabase } from './helpers/db.ts';
import { TEST_ROLE_PASSWORD } from './helpers/env.ts';
import { startServer, stopServer } from './helpers/server.ts';

const README = path.resolve(import.meta.dirname, '../README.md');
const DOCUMENTED_BASE = 'BASE=http://localhost:3000/api/v1';

/** The ```bash blocks of the README section `heading`, in order, as one script. */
async function walkthrough(heading: string): Promise<string> {
  const readme = await readFile(README, 'utf8');
  const start = readme.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`README has no "## ${heading}" section`);
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/^```bash\n([\s\S]*?)^```$/gm)].map((m) => m[1]!).join('\n');
}

/** `tmpdir`: where the script's `mktemp` files go (the PDFs it downloads and uploads), removed after the test. */
function bash(script: string, tmpdir: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile('bash', ['-e', '-o', 'pipefail', '-s'], { env: { ...cleanEnv(), TMPDIR: tmpdir } }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
    );
    child.stdin!.end(script);
  });
}

// Seeding, a server and the whole day: 85 s on a loaded machine, more on CI's Postgres 15 (tap's default is 120 s).
t.setTimeout(300_000);

t.test('the README front-desk and clinical day run as written against a seeded server', async (t) => {
  const frontDesk = await walkthrough('A front-desk day');
  const clinical = await walkthrough("A doctor's day, with the lab");
  const script = `${frontDesk}\n${clinical}`;
  t.equal(script.split(DOCUMENTED_BASE).length, 2, 'the walk-through sets its base URL once, where the test swaps it');
  t.ok((script.match(/^```/gm) ?? []).length === 0 && frontDesk.includes('queue/next'), 'every block up to calling the next patient, fences stripped');
  t.ok(
    ['/consultations"', '/vitals"', '/diagnoses"', '/issue"', '/pdf"', '/test-requests"', '/release"', '/sign"', '/follow-ups"', '/history"'].every((step) =>
      clinical.includes(step),
    ),
    'the clinical day, step by step',
  );

  const db = await createTestDatabase(t);
  const dataDir = await tempDir(t);
  const seeded = await seedDemo(db, dataDir);
  t.equal(seeded.code, 0, seeded.stderr);
  const port = await freePort();
  const server = await startServer({
    ...cleanEnv(),
    DATABASE_URL: db.adminUrl,
    DATABASE_ROLE_PASSWORD: TEST_ROLE_PASSWORD,
    DATA_DIR: dataDir,
    PORT: String(port),
    NODE_ENV: 'development',
  });
  t.teardown(() => stopServer(server.child));

  const run = await bash(script.replace(DOCUMENTED_BASE, `BASE=http://127.0.0.1:${port}/api/v1`), await tempDir(t, 'clinicbase-walkthrough-'));
  t.equal(run.code, 0, `the walk-through ran to the end:\n${run.stdout}\n${run.stderr}`);
  t.match(run.stdout, /^registered [0-9a-f-]{36}$/m);
  t.match(run.stdout, /"fullName": "Maya Lindqvist"/, 'the typo search found her');
  t.match(
    run.stdout,
    /"patientNumber": "PT-\d{4}-00201",\s*"fullName": "Maya Lindqvist",\s*"bloodGroup": null,\s*"appointments": \{\s*"nodes": \[\s*\{\s*"startsAt": "[^"]+",\s*"status": "(booked|checked_in)",\s*"doctor": \{\s*"displayName": "Dr Priya Raman"/,
    'GraphQL read her chart with the doctor token: her appointment with Dr Raman',
  );
  const today = /^first free slot: \S+ \(today: (yes|no)\)$/m.exec(run.stdout)?.[1];
  t.ok(today, 'the first free slot was printed, today or not');

  const { rows } = await db.admin.query(
    `select p.patient_number ~ '^PT-\\d{4}-00201$' as numbered_after_the_seeds,
            (select actor_role from app_audit.audit_log l where l.table_name = 'app_public.patients' and l.action = 'INSERT'
              and l.row_key->>'id' = p.id::text) as registered_by,
            d.display_name as doctor, a.status as appointment,
            (a.starts_at at time zone 'Europe/London')::date = (now() at time zone 'Europe/London')::date as appointment_today,
            v.appointment_id = a.id as visit_of_appointment, v.priority, v.status as visit, v.doctor_id = a.doctor_id as same_doctor
     from app_public.patients p
     join app_public.clinics c on c.id = p.clinic_id and c.slug = 'demo-north'
     join app_public.appointments a on a.patient_id = p.id
     join app_public.clinic_members d on d.id = a.doctor_id
     join app_public.visits v on v.patient_id = p.id
     where p.full_name = 'Maya Lindqvist'`,
  );
  t.equal(rows.length, 1, 'one patient, one appointment, one visit');
  // Before the consultation, one read: the doctor's GraphQL read of her record; after it, the doctor's
  // reads of her record and her lab report, and the lab technician's of the worklist that names her.
  const chartReads = await db.admin.query(
    `select l.accessed_at < (select min(c.created_at) from app_public.consultations c where c.patient_id = p.id) as before_consultation,
            m.role, l.action, count(*)::int as n
     from app_public.patient_access_log l
     join app_public.patients p on p.id = l.patient_id and p.full_name = 'Maya Lindqvist'
     join app_public.clinic_members m on m.id = l.member_id
     group by 1, 2, 3 order by 1 desc, 2, 3`,
  );
  t.same(
    chartReads.rows.map(({ before_consultation, role, action, n }) => (before_consultation ? { role, action, n } : { role, action })),
    [
      { role: 'doctor', action: 'read_record', n: 1 },
      { role: 'doctor', action: 'read_lab' },
      { role: 'doctor', action: 'read_record' },
      { role: 'lab_technician', action: 'read_lab' },
    ],
    "the doctor's GraphQL read of her record is in the chart access log, once, before the consultation; then the clinical day's reads",
  );
  const row = rows[0]!;
  t.same(
    { numbered_after_the_seeds: row.numbered_after_the_seeds, registered_by: row.registered_by, doctor: row.doctor, same_doctor: row.same_doctor },
    { numbered_after_the_seeds: true, registered_by: 'receptionist', doctor: 'Dr Priya Raman', same_doctor: true },
    'registered by the receptionist after the 200 seeded patients, booked with Dr Raman and queued for her',
  );
  t.equal(row.appointment_today, today === 'yes', 'the text says whether the first free slot is today, and it is right');
  if (today === 'yes') {
    t.same(
      { appointment: row.appointment, visit_of_appointment: row.visit_of_appointment, priority: row.priority, visit: row.visit },
      { appointment: 'completed', visit_of_appointment: true, priority: 'normal', visit: 'completed' },
      "today's appointment checked in (on a database seeded today, the seed's waiting patients are called first); signing completed the visit and so the appointment",
    );
    t.match(run.stdout, /"tokenNumber": \d+,\s*"priority": "normal",\s*"status": "waiting"/, 'checked in, she waited in the queue');
    t.match(run.stdout, /^someone who waited longer is called$/m);
  } else {
    t.same(
      { appointment: row.appointment, visit_of_appointment: row.visit_of_appointment, priority: row.priority, visit: row.visit },
      { appointment: 'booked', visit_of_appointment: null, priority: 'urgent', visit: 'completed' },
      'booked for another day, checked in as an urgent walk-in and called first; signing completed the visit, the appointment stays booked',
    );
    t.match(run.stdout, /"tokenNumber": \d+,\s*"priority": "urgent",\s*"status": "called"/, 'called first');
    t.match(run.stdout, /^Maya is called$/m);
  }

  // The clinical day's output, block by block.
  t.match(run.stdout, /"tokenNumber": \d+,\s*"status": "in_consultation"/, 'opening the consultation moved her visit to in_consultation');
  t.match(run.stdout, /^\{"temperatureC":38\.1,"heartRateBpm":92,"spo2Percent":96\}$/m, 'the nurse recorded her vital signs');
  t.match(run.stdout, /^\{"status":422,"code":"CONSTRAINT_VIOLATION","errors":\[\{"path":"body\.temperatureC/m, '381 °C refused, naming the field');
  t.match(run.stdout, /^\{"code":"J20\.9","description":"Acute bronchitis, unspecified","source":"bundled"\}$/m, 'the ICD-10 look-up found the code');
  t.match(
    run.stdout,
    /^\{"icd10Code":"J20\.9","description":"Acute bronchitis, unspecified","isPrimary":true\}$/m,
    'the primary diagnosis, its text from the list',
  );
  t.match(run.stdout, /^\{"prescriptionNumber":"RX-\d{4}-00005","status":"issued"\}$/m, "issued, numbered after the seed's four");
  t.match(run.stdout, /^application\/pdf\n%PDF- saved as \S+\.pdf$/m, 'the PDF downloaded');
  t.match(
    run.stdout,
    /^\{"testName":"C-reactive protein","urgency":"stat","patient":"Maya Lindqvist"\}$/m,
    "the lab's worklist names her and her request alone",
  );
  t.match(run.stdout, /^collected\nin_progress\n\{"status":"released","withFile":true\}$/m, 'collected, started, released with its file');
  t.match(
    run.stdout,
    /^\{"analyte":"C-reactive protein","valueNumeric":48,"unit":"mg\/L","flag":"high"\}\n\{"analyte":"White cell count","valueNumeric":13\.2,"unit":"10\^9\/L","flag":"high"\}$/m,
    'the doctor sees the results, flagged by the database',
  );
  t.match(run.stdout, /^\{"status":"signed","diagnoses":\["J20\.9"\]\}\n\{"status":"completed"\}$/m, 'signed; the visit completed');
  t.match(run.stdout, /^\{"status":409,"code":"RECORD_LOCKED","rule":"consultation_signed_is_final"\}$/m, 'a change after signing is refused, naming the rule');
  t.match(run.stdout, /^\{"dueDate":"\d{4}-\d\d-\d\d","status":"pending"\}$/m, 'the follow-up');
  t.match(run.stdout, /^\{"dueDate":"\d{4}-\d\d-\d\d","reason":"Chest review after the antibiotics"\}$/m, "on the doctor's pending list");
  t.match(
    run.stdout,
    /^\{"visits":\[\{"status":"completed","diagnoses":\["J20\.9"\]\}\],"activePrescriptions":\["RX-\d{4}-00005"\],"tests":\[\{"testCode":"CRP","status":"completed","results":\{"count":2,"abnormal":2,"critical":0\}\}\],"followUps":\["Chest review after the antibiotics"\]\}$/m,
    'her history in one call',
  );

  // And in the database: who did what, and the locks and moves the text describes.
  const { rows: records } = await db.admin.query(
    `select c.status as consultation, d.display_name as doctor, v.id = c.visit_id as of_her_visit, v.status as visit,
            (select string_agg(m.role, ', ') from app_public.vitals x join app_public.clinic_members m on m.id = x.recorded_by where x.consultation_id = c.id) as vitals_by,
            (select string_agg(x.icd10_code, ', ') from app_public.diagnoses x where x.consultation_id = c.id and x.is_primary) as primary_diagnosis,
            (select string_agg(x.status || ' ' || (select count(*) from app_public.prescription_items i where i.prescription_id = x.id), ', ')
               from app_public.prescriptions x where x.consultation_id = c.id) as prescriptions,
            (select string_agg(r.status || ' ' || r.urgency || ' ' || rep.status || ' by ' || m.role || case when rep.file_id is null then '' else ' with file' end, ', ')
               from app_public.test_requests r join app_public.test_reports rep on rep.test_request_id = r.id
               join app_public.clinic_members m on m.id = rep.technician_id where r.consultation_id = c.id) as lab,
            (select string_agg(f.status || ' in ' || (f.due_date - c.signed_at::date), ', ') from app_public.follow_ups f where f.consultation_id = c.id) as follow_up,
            (select string_agg(o.recipient || case when (o.payload->>'critical')::boolean then ' critical' else '' end, ', ' order by o.id)
               from app_private.notification_outbox o join app_public.test_requests r on (o.payload->>'test_request_id')::uuid = r.id
               where o.kind = 'lab_report_released' and r.consultation_id = c.id) as notified
     from app_public.consultations c
     join app_public.patients p on p.id = c.patient_id and p.full_name = 'Maya Lindqvist'
     join app_public.clinic_members d on d.id = c.doctor_id
     join app_public.visits v on v.patient_id = p.id`,
  );
  t.same(
    records,
    [
      {
        consultation: 'signed',
        doctor: 'Dr Priya Raman',
        of_her_visit: true,
        visit: 'completed',
        vitals_by: 'nurse',
        primary_diagnosis: 'J20.9',
        prescriptions: 'issued 1',
        lab: 'completed stat released by lab_technician with file',
        follow_up: 'pending in 14',
        notified: 'doctor@demo-north.clinicbase.test, +44 7700 900999',
      },
    ],
    "one signed consultation of her visit by Dr Raman: the nurse's vital signs, the diagnosis, the issued prescription, the lab's released report, the follow-up, the doctor notified by e-mail, Maya by SMS (she gave no e-mail)",
  );
});
