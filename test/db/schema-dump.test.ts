// migrations/schema.sql must be the schema the committed migrations produce, object by object,
// each with its own grants and comments, on every Postgres the suite runs on.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { renderSchemaDump, sqlStandardBodyAsOnNewerServers, viewAsOnNewerServers } from '../../src/db/schema-dump.ts';
import { withClient } from '../../src/db/setup.ts';
import { createTestDatabase } from '../helpers/db.ts';

const SCHEMA_FILE = path.resolve(import.meta.dirname, '../../migrations/schema.sql');

/** The text from `start` up to the next blank line (one object and its grants and comments). */
function blockOf(dump: string, start: string): string {
  const from = dump.indexOf(start);
  if (from < 0) return `(no "${start}" in the dump)`;
  const end = dump.indexOf('\n\n', from);
  return dump.slice(from, end < 0 ? undefined : end);
}

t.test('migrations/schema.sql matches the migrated database', async (t) => {
  const db = await createTestDatabase(t, { committedOnly: true });
  const rendered = await withClient(db.adminUrl, renderSchemaDump);
  const onDisk = await readFile(SCHEMA_FILE, 'utf8').catch(() => '');
  t.equal(onDisk, rendered, 'migrations/schema.sql is current (run `npm run db:schema`)');
});

t.test('each object in migrations/schema.sql is followed by its own grants and comments', async (t) => {
  const dump = await readFile(SCHEMA_FILE, 'utf8');
  const departments = blockOf(dump, 'create table app_public.departments (');
  t.match(departments, /^create table app_public\.departments \(\n {2}clinic_id uuid default app_public\.current_clinic_id\(\) not null,\n/);
  t.match(departments, /\nalter table app_public\.departments force row level security;\n/);
  t.match(departments, /\ncreate policy tenant_isolation on app_public\.departments\n {2}as restrictive\n/);
  t.match(departments, /\ngrant delete, select on app_public\.departments to app_user;\n/);
  t.match(departments, /\ngrant update \(code, description, is_active, name\) on app_public\.departments to app_user;\n/);
  t.match(departments, /\nCREATE TRIGGER _900_audit AFTER INSERT OR DELETE OR UPDATE ON app_public\.departments /);
  // A comment's smart tags (its GraphQL exposure, migrations/README.md) come before its description.
  t.match(departments, /\ncomment on table app_public\.departments is '@unique id\n[^']*\nA department of a clinic \(e\.g\. cardiology, laboratory\)\.';/);
  const statements = departments.split('\n').filter((line) => /^(alter table|CREATE (UNIQUE )?INDEX|create policy|grant|CREATE TRIGGER|comment on)/.test(line));
  t.equal(
    statements.length,
    20,
    "two RLS lines, an index, six policies (the export's owner read among them), three grants, two triggers, the table's comment, three columns' and two constraints'",
  );
  for (const line of statements) t.match(line, / app_public\.departments\b/, 'every statement of the block is about departments');

  const currentClinic = blockOf(dump, 'CREATE OR REPLACE FUNCTION app_public.current_clinic_id()');
  t.match(
    currentClinic,
    /\$function\$;\ngrant execute on function app_public\.current_clinic_id\(\) to [^;\n]*\bapp_user\b[^;\n]*;\n/,
    'the grant right after the body',
  );
  t.match(currentClinic, /\ncomment on function app_public\.current_clinic_id\(\) is '@behavior -\*\nThe clinic of the current request/);

  const report = blockOf(dump, 'create view app_audit.rls_report');
  t.match(report, /^create view app_audit\.rls_report with \(security_invoker=true\) as\n WITH app_roles AS \(/);
  t.match(report, /\ncomment on view app_audit\.rls_report is 'Isolation audit:/);
});

t.test("a function's current body, grants and owner are what the dump shows", async (t) => {
  const db = await createTestDatabase(t, { committedOnly: true });
  await db.admin.query(`
    create or replace function app_public.current_app_role() returns text
      language sql stable parallel safe
    as $$ select 'changed' $$;
    revoke execute on function app_public.current_app_role() from app_platform;
    alter function app_public.current_app_role() owner to app_platform;`);
  const dump = await withClient(db.adminUrl, renderSchemaDump);
  t.equal(
    blockOf(dump, 'CREATE OR REPLACE FUNCTION app_public.current_app_role()'),
    [
      'CREATE OR REPLACE FUNCTION app_public.current_app_role()',
      ' RETURNS text',
      ' LANGUAGE sql',
      ' STABLE PARALLEL SAFE',
      "AS $function$ select 'changed' $function$;",
      'alter function app_public.current_app_role() owner to app_platform;',
      'grant execute on function app_public.current_app_role() to app_user;',
      "comment on function app_public.current_app_role() is '@behavior -*",
      "The clinic role of the current request (app.role), or NULL when none is set.';",
    ].join('\n'),
  );
  t.not(dump, await readFile(SCHEMA_FILE, 'utf8'), 'the committed file no longer matches');
});

t.test('default privileges are shown: those added for a schema, and those taken away everywhere', async (t) => {
  const db = await createTestDatabase(t);
  await db.admin.query(`
    alter default privileges for role app_owner in schema app_public grant select on tables to app_platform;
    alter default privileges for role app_owner revoke execute on functions from public;`);
  const dump = await withClient(db.adminUrl, renderSchemaDump);
  t.equal(
    blockOf(dump, 'alter default privileges'),
    [
      'alter default privileges for role app_owner in schema app_public grant select on tables to app_platform;',
      'alter default privileges for role app_owner revoke execute on functions from public;',
    ].join('\n'),
  );
});

t.test("an extension is one line; its own functions and types are not listed as the schema's", async (t) => {
  const db = await createTestDatabase(t, { committedOnly: true });
  await db.admin.query('create extension citext with schema app_public');
  const dump = await withClient(db.adminUrl, renderSchemaDump);
  // Beside the migrations' own (pg_trgm, btree_gist, btree_gin), by name.
  t.match(
    dump,
    /\n\n-- Extensions\n\ncreate extension btree_gin with schema public;\ncreate extension btree_gist with schema public;\ncreate extension citext with schema app_public;\ncreate extension pg_trgm with schema public;\n\n-- Default privileges\n/,
  );
  t.notMatch(dump, /FUNCTION (app_public\.citext|public\.similarity|public\.gbt_)/i);
});

t.test('an object the dump cannot show yet is refused by name, not left out', async (t) => {
  const db = await createTestDatabase(t);
  await db.admin.query(`
    create type app_public.mood as enum ('calm');
    create sequence app_private.ticket_numbers;`);
  await t.rejects(withClient(db.adminUrl, renderSchemaDump), {
    message: /cannot show these objects yet[\s\S]*sequence app_private\.ticket_numbers[\s\S]*type app_public\.mood/,
  });
});

t.test("Postgres 15's deparse is rewritten to the newer servers' form", async (t) => {
  t.equal(
    sqlStandardBodyAsOnNewerServers(' UPDATE app_private.accounts AS a SET x = 1\n DELETE FROM app_private.two_factor AS t\n'),
    ' UPDATE app_private.accounts a SET x = 1\n DELETE FROM app_private.two_factor t',
  );
  const pg15 = [
    ' WITH rows AS (',
    '         SELECT t.a, t.b',
    '           FROM t',
    '        )',
    ' SELECT report.a,',
    '    (cardinality(report.b) = 0) AS ok',
    '   FROM ( SELECT rows.a,',
    '            rows.b',
    '           FROM rows) report;',
  ].join('\n');
  t.equal(
    viewAsOnNewerServers(pg15),
    [
      ' WITH rows AS (',
      '         SELECT t.a, t.b',
      '           FROM t',
      '        )',
      ' SELECT a,',
      '    (cardinality(b) = 0) AS ok',
      '   FROM ( SELECT rows.a,',
      '            rows.b',
      '           FROM rows) report;',
    ].join('\n'),
  );
  const join = ' SELECT a.x,\n    b.y\n   FROM (t a\n     JOIN u b ON ((a.id = b.id)));';
  t.equal(viewAsOnNewerServers(join), join, 'two aliases: qualified on every version, left alone');
});
