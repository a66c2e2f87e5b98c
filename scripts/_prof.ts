import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { roleUrl } from '../src/config.ts';
import { startThrowawayCluster } from '../src/db/embedded.ts';
import { createPool } from '../src/db/pool.ts';
import { setupDatabase, withDatabase } from '../src/db/setup.ts';
import { withTenant } from '../src/db/tenant.ts';
const cluster = await startThrowawayCluster();
const url = withDatabase(cluster.adminUrl, 'clinicbase');
await setupDatabase({ adminUrl: url, rolePassword: 'benchbench' });
const admin = new pg.Client({ connectionString: url }); await admin.connect();
const { rows } = await admin.query(`insert into app_public.clinics (slug,name) values ('c-1','c') returning id`);
const clinicId = rows[0].id;
const d = await admin.query(`insert into app_public.departments (clinic_id, code, name) values ($1,'X','x') returning id`, [clinicId]);
const id = d.rows[0].id;
const pool = createPool({ url: roleUrl(url, 'app_authenticator', 'benchbench'), size: 8 });
const mode = process.argv[2];
const run = mode === 'rls'
  ? () => withTenant(pool, { clinicId, userId: randomUUID(), role: 'doctor' }, (db) => db.selectFrom('app_public.departments').selectAll().where('id', '=', id).executeTakeFirst())
  : () => pool.query('select 1');
const end = performance.now() + 4000; let n = 0;
await Promise.all(Array.from({ length: 16 }, async () => { while (performance.now() < end) { await run(); n++; } }));
console.log(mode, n / 4);
await pool.end(); await admin.end(); await cluster.stop();
