// `npm run bench:export`: what a clinic export and its import cost, on a throwaway cluster. One
// clinic of BENCH_PATIENTS generated patients (default 50,000), four audit rows each, and
// BENCH_FILES stored files of 100 KB (default 200); the export built as the worker builds it, then
// imported into a second, empty database as `npm run cli -- clinic:import` does. Not a test: a report.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { roleUrl } from '../src/config.ts';
import { startThrowawayCluster } from '../src/db/embedded.ts';
import { holdsWorkInProgress, readCurrentMigration, runCurrentMigration } from '../src/db/migrate.ts';
import { createPool } from '../src/db/pool.ts';
import { setupDatabase, withClient, withDatabase } from '../src/db/setup.ts';
import { withTenant } from '../src/db/tenant.ts';
import { archiveKey, buildClinicExport } from '../src/exports/build.ts';
import { importClinicArchive } from '../src/exports/restore.ts';
import { storageKey } from '../src/storage/blob-storage.ts';
import { LocalDiskStorage } from '../src/storage/local-disk.ts';

const PATIENTS = Number(process.env.BENCH_PATIENTS ?? 50_000);
const FILES = Number(process.env.BENCH_FILES ?? 200);
const PASSWORD = 'clinicbase-bench-only';

const log = (message: string) => console.error(`# ${message}`);
const seconds = (since: number) => ((performance.now() - since) / 1000).toFixed(1);

/** A database of the cluster, migrated from this checkout (current.sql too, while it holds work). */
async function database(adminUrl: string, name: string): Promise<string> {
  const url = withDatabase(adminUrl, name);
  await setupDatabase({ adminUrl: url, rolePassword: PASSWORD });
  if (holdsWorkInProgress(await readCurrentMigration())) await runCurrentMigration(roleUrl(url, 'app_owner', PASSWORD));
  return url;
}

/** One clinic with an admin, PATIENTS patients, four audit rows each, and FILES files; its id and the admin's account. */
async function seed(url: string, storage: LocalDiskStorage): Promise<{ clinicId: string; account: string }> {
  return withClient(url, async (admin) => {
    const { rows } = await admin.query<{ clinicId: string; account: string }>(`
      with clinic as (insert into app_public.clinics (slug, name) values ('bench-clinic', 'Bench Clinic') returning id),
        account as (insert into app_private.accounts (email, password_hash) values ('admin@bench.test', '$argon2id$v=19$bench') returning id),
        member as (insert into app_public.clinic_members (clinic_id, account_id, role, display_name)
                   select clinic.id, account.id, 'clinic_admin', 'Bench Admin' from clinic, account returning clinic_id, account_id)
      select clinic_id as "clinicId", account_id as account from member`);
    const { clinicId } = rows[0]!;
    await admin.query('begin');
    await admin.query('set local session_replication_role = replica');
    await admin.query(
      `insert into app_public.patients (clinic_id, patient_number, full_name, date_of_birth, sex, phone)
       select $1, 'PT-2031-' || lpad(g::text, 6, '0'), 'Generated Patient ' || g, date '1950-01-01' + (g % 20000), 'female',
              '+44 20 7946 ' || lpad((g % 10000)::text, 4, '0')
       from generate_series(1, $2::int) g`,
      [clinicId, PATIENTS],
    );
    await admin.query(
      `insert into app_audit.audit_log (clinic_id, action, table_name, row_key, after)
       select $1, 'INSERT', 'app_public.patients', jsonb_build_object('id', gen_random_uuid()), jsonb_build_object('full_name', 'Generated Patient ' || g)
       from generate_series(1, $2::int * 4) g`,
      [clinicId, PATIENTS],
    );
    const { rows: files } = await admin.query<{ id: string }>(
      `insert into app_public.files (clinic_id, patient_id, category, original_name, content_type, size_bytes, sha256, uploaded_by)
       select $1, p.id, 'report', 'scan.pdf', 'application/pdf', 102400, repeat('0', 64), m.id
       from (select id from app_public.patients where clinic_id = $1 limit $2) p, app_public.clinic_members m where m.clinic_id = $1
       returning id`,
      [clinicId, FILES],
    );
    await admin.query('commit');
    for (const file of files) await storage.put(storageKey(clinicId, file.id), [randomBytes(102_400)]);
    return rows[0]!;
  });
}

const work = await mkdtemp(path.join(os.tmpdir(), 'clinicbase-bench-export-'));
const cluster = await startThrowawayCluster();
try {
  const sourceUrl = await database(cluster.adminUrl, 'source');
  const targetUrl = await database(cluster.adminUrl, 'target');
  const sourceStorage = await LocalDiskStorage.open(path.join(work, 'source-files'));
  const targetStorage = await LocalDiskStorage.open(path.join(work, 'target-files'));
  log(`seeding one clinic: ${PATIENTS} patients, ${PATIENTS * 4} audit rows, ${FILES} files of 100 KB`);
  const { clinicId, account } = await seed(sourceUrl, sourceStorage);

  // The request, as the API makes it: an admin's insert (its job is queued, and not run here).
  const exportId = await withClient(sourceUrl, async (admin) => {
    await admin.query('begin');
    await admin.query(`select set_config('app.clinic_id', $1, true), set_config('app.user_id', $2, true), set_config('app.role', 'clinic_admin', true)`, [
      clinicId,
      account,
    ]);
    const { rows } = await admin.query<{ id: string }>('insert into app_public.clinic_exports default values returning id');
    await admin.query('commit');
    return rows[0]!.id;
  });
  const workerPool = createPool({ url: roleUrl(sourceUrl, 'app_worker', PASSWORD), size: 2 });
  const ctx = { clinicId, userId: null, role: null, requestId: 'bench-export', clientIp: null };
  let started = performance.now();
  await buildClinicExport(
    { withTenant: (fn, options) => withTenant(workerPool, ctx, fn, options), storage: sourceStorage, now: () => new Date() },
    { clinicId, exportId },
    true,
  );
  const exportSeconds = seconds(started);
  await workerPool.end();
  const archive = sourceStorage.pathOf(archiveKey(clinicId, exportId)).file;
  const size = (await stat(archive)).size;

  started = performance.now();
  await withClient(targetUrl, (admin) => importClinicArchive(admin, targetStorage, archive, () => {}));
  const importSeconds = seconds(started);
  const { rows } = await withClient(targetUrl, (admin) => admin.query<{ n: number }>('select count(*)::int as n from app_public.patients'));
  console.log(
    `export: ${exportSeconds} s, archive ${(size / 1e6).toFixed(1)} MB; import: ${importSeconds} s (${rows[0]!.n} patients in the target); ` +
      `${PATIENTS} patients, ${PATIENTS * 4} audit rows, ${FILES} files of 100 KB, ${os.cpus().length} CPUs`,
  );
} finally {
  await cluster.stop();
  await rm(work, { recursive: true, force: true });
}
