// README's "A front-desk day" is run as written: its bash blocks, in order, in one bash, against
// `node src/server.ts` (what `npm start` runs) on a database `npm run seed:demo` filled. Only the
// address changes. Then the database is asked, as superuser, whether what the text says happened
// did: the patient registered by the receptionist, the appointment at the slot, the check-in the
// text describes for today's slot or another day's, and the call.
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

function bash(script: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile('bash', ['-e', '-o', 'pipefail', '-s'], { env: cleanEnv() }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
    );
    child.stdin!.end(script);
  });
}

t.test('the README front-desk day runs as written against a seeded server', async (t) => {
  const script = await walkthrough('A front-desk day');
  t.equal(script.split(DOCUMENTED_BASE).length, 2, 'the walk-through sets its base URL once, where the test swaps it');
  t.ok((script.match(/^```/gm) ?? []).length === 0 && script.includes('queue/next'), 'every block up to calling the next patient, fences stripped');

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

  const run = await bash(script.replace(DOCUMENTED_BASE, `BASE=http://127.0.0.1:${port}/api/v1`));
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
  const chartReads = await db.admin.query(
    `select m.role, l.action from app_public.patient_access_log l
     join app_public.patients p on p.id = l.patient_id and p.full_name = 'Maya Lindqvist'
     join app_public.clinic_members m on m.id = l.member_id`,
  );
  t.same(chartReads.rows, [{ role: 'doctor', action: 'read_record' }], "the doctor's GraphQL read of her record is in the chart access log, once");
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
      { appointment: 'checked_in', visit_of_appointment: true, priority: 'normal', visit: 'waiting' },
      "today's appointment checked in; on a database seeded today, the seed's waiting patients are called first",
    );
    t.match(run.stdout, /^someone who waited longer is called$/m);
  } else {
    t.same(
      { appointment: row.appointment, visit_of_appointment: row.visit_of_appointment, priority: row.priority, visit: row.visit },
      { appointment: 'booked', visit_of_appointment: null, priority: 'urgent', visit: 'called' },
      'booked for another day, checked in as an urgent walk-in and called first',
    );
    t.match(run.stdout, /^Maya is called$/m);
  }
});
