// The policy audit passes on the migrated schema and names every rule a deliberately broken
// schema breaks; `npm run policies:audit` exits non-zero exactly then.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { readAudit } from '../../src/db/audit.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

const CLI = path.resolve(import.meta.dirname, '../../src/cli/policies-audit.ts');

async function runAuditCli(db: TestDatabase): Promise<{ code: number; stdout: string }> {
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [CLI], { env: { ...process.env, DATABASE_URL: db.adminUrl } });
    return { code: 0, stdout };
  } catch (error) {
    const failed = error as { code: number; stdout: string };
    return { code: failed.code, stdout: failed.stdout };
  }
}

t.test('the migrated schema passes the audit', async (t) => {
  const db = await createTestDatabase(t);
  const rows = await readAudit(db.admin);
  t.same(
    rows.filter((r) => !r.ok),
    [],
    'no object has problems',
  );
  for (const name of ['app_public.clinics', 'app_public.departments', 'app_audit.audit_log']) {
    t.ok(
      rows.some((r) => r.object_name === name),
      `${name} is reported`,
    );
  }
  for (const role of ['app_owner', 'app_authenticator', 'app_user', 'app_platform', 'app_worker']) {
    t.ok(
      rows.some((r) => r.object_type === 'role' && r.object_name === role),
      `role ${role} is reported`,
    );
  }
  const cli = await runAuditCli(db);
  t.equal(cli.code, 0, 'npm run policies:audit exits 0');
  t.match(cli.stdout, /no problems/);
});

t.test('a deliberately broken schema fails the audit, rule by rule', async (t) => {
  const db = await createTestDatabase(t);
  await db.admin.query(`
    -- readable by app_user, no RLS, single-column keys and a single-column reference to a tenant table
    create table app_public.broken (
      id uuid primary key default gen_random_uuid(),
      clinic_id uuid references app_public.clinics (id),
      department_id uuid,
      code text unique,
      foreign key (clinic_id, department_id) references app_public.departments (clinic_id, id)
    );
    create table app_public.broken_child (
      clinic_id uuid not null,
      id uuid not null default gen_random_uuid(),
      broken_id uuid references app_public.broken (id),
      primary key (clinic_id, id)
    );
    alter table app_public.broken_child owner to app_owner;
    create index broken_child_broken_idx on app_public.broken_child (broken_id);
    grant select, insert, update, delete, truncate on app_public.broken to app_user;
    grant select on app_public.broken_child to app_user, app_authenticator;
    alter table app_public.broken_child enable row level security;
    create view app_public.leaky as select * from app_public.departments;
    create materialized view app_public.cached as select * from app_public.departments;
    grant select on app_public.cached to app_user;
    create function app_public.unpinned() returns int language sql security definer as 'select 1';
    create function app_hidden.checks_nothing() returns int language sql as 'select 1';
    grant execute on function app_hidden.checks_nothing() to public;
    create table app_public.no_clinic (id uuid primary key);
    grant select on app_public.no_clinic to app_platform;
  `);
  const rows = await readAudit(db.admin);
  const problemsOf = (name: string) => rows.find((r) => r.object_name === name)?.problems ?? [];

  const broken = problemsOf('app_public.broken');
  for (const expected of [
    'RLS not enabled',
    'RLS not forced',
    'SELECT granted to app_user without a permissive policy for it',
    'INSERT granted to app_user without a permissive policy for it',
    'UPDATE granted to app_user without a permissive policy for it',
    'DELETE granted to app_user without a permissive policy for it',
    'TRUNCATE granted to app_user (TRUNCATE ignores RLS)',
    'clinic_id is nullable',
    'primary key app_public.broken_pkey does not include clinic_id',
    'unique index app_public.broken_code_key does not include clinic_id',
    'index app_public.broken_pkey does not lead with clinic_id',
    'no audit trigger (app_private.tg_audit_row)',
  ]) {
    t.ok(broken.includes(expected), `broken: ${expected}`, { found: broken });
  }
  t.notOk(
    broken.some((p) => p.includes('broken_clinic_id_department_id_fkey')),
    'a composite reference is accepted',
  );

  const child = problemsOf('app_public.broken_child');
  t.ok(child.includes('RLS not forced'), 'child: RLS enabled but not forced');
  t.ok(child.includes('app_authenticator holds privileges (the authenticator must hold none)'), 'child: authenticator grant');
  t.ok(
    child.includes('foreign key broken_child_broken_id_fkey references tenant table app_public.broken without clinic_id'),
    'child: single-column reference',
    { found: child },
  );
  t.ok(child.includes('index app_public.broken_child_broken_idx does not lead with clinic_id'), 'child: index order');

  t.same(
    problemsOf('app_public.no_clinic').filter((p) => p === 'no clinic_id column'),
    ['no clinic_id column'],
    'table without clinic_id',
  );
  t.ok(problemsOf('app_public.leaky').includes('view without security_invoker'), 'view without security_invoker');
  t.ok(
    problemsOf('app_public.cached').some((p) => p.startsWith('materialized view readable by app_user')),
    'readable materialized view',
  );
  t.ok(problemsOf('app_public.unpinned()').includes('SECURITY DEFINER without a pinned search_path'), 'unpinned definer function');
  t.same(problemsOf('app_hidden.checks_nothing()'), ['executable by PUBLIC (grant EXECUTE to the roles that need it)'], 'a function PUBLIC may execute');

  const cli = await runAuditCli(db);
  t.equal(cli.code, 1, 'npm run policies:audit exits 1');
  t.match(cli.stdout, /FAIL\s+table\s+app_public\.broken\s+RLS not enabled/);
});

t.test('functions are executable only by the roles they are granted to', async (t) => {
  const db = await createTestDatabase(t);
  const can = async (role: string, fn: string) =>
    (await db.admin.query<{ ok: boolean }>('select has_function_privilege($1, $2, $3) as ok', [role, fn, 'execute'])).rows[0]!.ok;
  // Granted to app_platform only: before 000005, PUBLIC's default EXECUTE let app_user call them too.
  for (const fn of ['app_hidden.platform_clinic_overview()', 'app_hidden.blocked_access()', 'app_hidden.changed_roles()', 'app_hidden.ended_sessions()']) {
    t.equal(await can('app_user', fn), false, `app_user cannot execute ${fn}`);
    t.equal(await can('app_platform', fn), true, `app_platform can execute ${fn}`);
  }
  t.equal(await can('app_platform', 'app_hidden.login_account(text)'), false, 'app_platform cannot execute a login function');
  // A function a future migration creates (as app_owner) starts with no EXECUTE for PUBLIC.
  const client = await db.admin.connect();
  try {
    await client.query('begin');
    await client.query('set local role app_owner');
    await client.query(`create function app_hidden.added_later() returns int language sql as 'select 1'`);
    await client.query('commit');
  } finally {
    client.release();
  }
  t.equal(await can('app_user', 'app_hidden.added_later()'), false, 'a new function is not executable by app_user until granted');
  const rows = await readAudit(db.admin);
  t.same(
    rows.filter((r) => !r.ok),
    [],
    'and the audit finds nothing to report',
  );
});
