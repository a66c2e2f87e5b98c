// `npm run db:setup` with a superuser URL on an empty database: roles, schema, migrations; the
// audit passes; running it again changes nothing.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import t from 'tap';
import { readAudit } from '../../src/db/audit.ts';
import { withDatabase } from '../../src/db/setup.ts';
import { serverUrl } from '../helpers/db.ts';
import { TEST_ROLE_PASSWORD } from '../helpers/env.ts';

const CLI = path.resolve(import.meta.dirname, '../../src/cli/db-setup.ts');

t.test('db:setup on an empty database', async (t) => {
  const name = `clinicbase_setup_${randomBytes(4).toString('hex')}`;
  const server = new pg.Client({ connectionString: serverUrl() });
  await server.connect();
  await server.query(`create database ${name}`);
  t.teardown(async () => {
    await server.query(`drop database if exists ${name} with (force)`);
    await server.end();
  });
  const url = withDatabase(serverUrl(), name);
  const run = () => promisify(execFile)(process.execPath, [CLI], { env: { ...process.env, DATABASE_URL: url, DATABASE_ROLE_PASSWORD: TEST_ROLE_PASSWORD } });
  t.match((await run()).stdout, /running migrations as app_owner[\s\S]*database ready/);
  t.match((await run()).stdout, /database ready/, 'a second run succeeds (idempotent)');

  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  t.teardown(() => admin.end());
  t.same(
    (await readAudit(admin)).filter((r) => !r.ok),
    [],
    'the audit passes on the set-up database',
  );
  const { rows } = await admin.query(
    `select nspname::text as name, pg_get_userbyid(nspowner)::text as owner from pg_namespace where nspname like 'app\\_%' order by 1`,
  );
  t.same(
    rows,
    ['app_audit', 'app_hidden', 'app_private', 'app_public'].map((n) => ({ name: n, owner: 'app_owner' })),
    'schemas belong to app_owner',
  );
});
