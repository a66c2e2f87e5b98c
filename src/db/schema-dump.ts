// Renders migrations/schema.sql: the schema the committed migrations produce, as it is now, one
// object after another (schemas, functions, tables, views), each followed by its grants and
// comments, so a DBA finds a function's current body or a table's whole definition without
// replaying the migrations that built and replaced it.
//
// Rendered from the catalog with Postgres's own deparse functions (those pg_dump uses), not by
// pg_dump: a pg_dump must be at least as new as the server (the embedded Postgres ships none), and
// its output carries version headers, SET lines and ownership statements that differ between the
// versions we support. Names are sorted byte-wise, so the file is the same on every server's locale.
// It is documentation, ordered for reading: to build a database, run the migrations.
import type pg from 'pg';
import { loadPolicies, loadRelationGrants, renderPolicy, renderRelationGrants, rlsLines, type GrantRow, type PolicyRow } from './policies.ts';

/** Migrations run as app_owner, so it owns everything; the dump names any other owner. */
const EXPECTED_OWNER = 'app_owner';

const HEADER = `-- Generated from the database by \`npm run db:schema\` (and \`npm run db:commit\`); do not edit.
-- The schema that migrations/committed/ produces, as it is now: every schema, function, table and
-- view of the app_* schemas, each followed by its grants and comments. Every object is owned by
-- ${EXPECTED_OWNER} unless an \`owner to\` line says otherwise; a function without a grant line can be
-- called by its owner only (and by whoever \`public\` appears for). For reading and review: a
-- database is built by running the migrations, not this file.`;

interface Grantable {
  owner: string;
  /** Privileges held by roles other than the owner, `public` included. */
  grants: { grantee: string; privilege: string }[];
  comment: string | null;
}

interface SchemaRow extends Grantable {
  name: string;
}

interface ExtensionRow {
  name: string;
  schema: string;
}

interface FunctionRow extends Grantable {
  signature: string;
  kind: 'function' | 'procedure';
  definition: string;
  sqlStandardBody: boolean;
}

interface RelationRow {
  oid: number;
  qualified: string;
  kind: 'r' | 'v';
  owner: string;
  options: string[] | null;
  rls: boolean;
  forced: boolean;
  comment: string | null;
  /** Views only: pg_get_viewdef. */
  definition: string | null;
}

interface ColumnRow {
  relation: number;
  name: string;
  type: string;
  notNull: boolean;
  default: string | null;
  identity: string;
  generated: string;
  collation: string | null;
  comment: string | null;
}

interface PartRow {
  relation: number;
  name: string;
  definition: string;
  comment: string | null;
}

interface SchemaCatalog {
  major: number;
  extensions: ExtensionRow[];
  schemas: SchemaRow[];
  defaultPrivileges: string[];
  functions: FunctionRow[];
  relations: RelationRow[];
  columns: ColumnRow[];
  constraints: PartRow[];
  indexes: PartRow[];
  triggers: PartRow[];
  policies: PolicyRow[];
  relationGrants: GrantRow[];
}

/**
 * The dump of the database `client` is connected to (a superuser or the owner). Refuses, naming
 * them, objects the dump cannot show yet (enum or domain types, sequences of their own, rules, …),
 * so a schema change never leaves the file silently incomplete.
 */
export async function renderSchemaDump(client: pg.ClientBase): Promise<string> {
  await client.query('begin isolation level repeatable read read only');
  try {
    // Deparsed names are schema-qualified unless visible on the search_path: make only pg_catalog
    // visible, whoever calls, so every app_* name is qualified the same way on every run.
    await client.query(`select pg_catalog.set_config('search_path', 'pg_catalog', true)`);
    const unsupported = await findUnsupportedObjects(client);
    if (unsupported.length > 0) {
      throw new Error(`migrations/schema.sql cannot show these objects yet; extend src/db/schema-dump.ts:\n  ${unsupported.join('\n  ')}`);
    }
    return renderCatalog(await readCatalog(client));
  } finally {
    await client.query('rollback');
  }
}

async function findUnsupportedObjects(client: pg.ClientBase): Promise<string[]> {
  const { rows } = await client.query<{ object: string }>(`
    with app_schema as (select oid from pg_namespace where nspname like 'app\\_%'),
    extension_member as (select classid, objid from pg_depend where deptype = 'e')
    select object from (
      -- types, operators, collations, …: anything in a schema but what is rendered below
      select pg_describe_object(d.classid, d.objid, d.objsubid) as object
      from pg_depend d
      where d.refclassid = 'pg_namespace'::regclass and d.refobjid in (select oid from app_schema)
        and d.classid not in ('pg_class'::regclass, 'pg_proc'::regclass, 'pg_default_acl'::regclass, 'pg_extension'::regclass)
        and (d.classid, d.objid) not in (select * from extension_member)
      union all
      -- relations other than plain tables, views, indexes and identity columns' sequences
      select format('%s (relkind %s)', pg_describe_object('pg_class'::regclass, c.oid, 0), c.relkind)
      from pg_class c
      where c.relnamespace in (select oid from app_schema)
        and ('pg_class'::regclass, c.oid) not in (select * from extension_member)
        and not (c.relkind in ('r', 'v', 'i') and c.relpersistence = 'p' and not c.relispartition)
        and not (c.relkind = 'S' and c.relacl is null and exists (
          select 1 from pg_depend d where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'i'))
      union all
      select format('%s (inheritance)', pg_describe_object('pg_class'::regclass, i.inhrelid, 0))
      from pg_inherits i join pg_class c on c.oid = i.inhrelid
      where c.relnamespace in (select oid from app_schema)
      union all
      select pg_describe_object('pg_rewrite'::regclass, r.oid, 0)
      from pg_rewrite r join pg_class c on c.oid = r.ev_class
      where c.relnamespace in (select oid from app_schema) and r.rulename <> '_RETURN'
      union all
      select format('%s (enabled mode %s)', pg_describe_object('pg_trigger'::regclass, t.oid, 0), t.tgenabled)
      from pg_trigger t join pg_class c on c.oid = t.tgrelid
      where c.relnamespace in (select oid from app_schema) and not t.tgisinternal and t.tgenabled <> 'O'
      union all
      select format('%s (prokind %s)', pg_describe_object('pg_proc'::regclass, p.oid, 0), p.prokind)
      from pg_proc p
      where p.pronamespace in (select oid from app_schema) and p.prokind not in ('f', 'p')
        and ('pg_proc'::regclass, p.oid) not in (select * from extension_member)
    ) found
    order by object collate "C"`);
  return rows.map((r) => r.object);
}

/** The grants of an object (`acl`, `null` meaning the default of its kind), the owner's own left out. */
const grantsOf = (acl: string, owner: string, kind: string) => `
  coalesce((
    select json_agg(json_build_object(
             'grantee', case when a.grantee = 0 then 'public' else a.grantee::regrole::text end,
             'privilege', lower(a.privilege_type) || case when a.is_grantable then ' with grant option' else '' end)
           order by case when a.grantee = 0 then 'public' else a.grantee::regrole::text end collate "C", a.privilege_type collate "C")
    from aclexplode(coalesce(${acl}, acldefault('${kind}', ${owner}))) a
    where a.grantee <> ${owner}
  ), '[]')`;

async function readCatalog(client: pg.ClientBase): Promise<SchemaCatalog> {
  const query = async <T extends object>(sql: string) => (await client.query<T>(sql)).rows;
  const [version] = await query<{ major: number }>(`select current_setting('server_version_num')::int / 10000 as major`);
  return {
    major: version!.major,
    extensions: await query<ExtensionRow>(`
      select e.extname as name, n.nspname as schema
      from pg_extension e join pg_namespace n on n.oid = e.extnamespace
      where e.extname <> 'plpgsql'
      order by e.extname`),
    schemas: await query<SchemaRow>(`
      select n.nspname as name, pg_get_userbyid(n.nspowner) as owner, obj_description(n.oid, 'pg_namespace') as comment,
             ${grantsOf('n.nspacl', 'n.nspowner', 'n')} as grants
      from pg_namespace n
      where n.nspname like 'app\\_%'
      order by n.nspname`),
    // An entry for a schema adds privileges to the built-in default; an entry without one replaces
    // it, so what it adds is granted and what it drops is revoked.
    defaultPrivileges: (
      await query<{ line: string }>(`
      with entry as (
        select d.defaclrole as role, d.defaclnamespace as namespace, d.defaclobjtype as objtype, d.defaclacl as acl,
               acldefault(case d.defaclobjtype when 'S' then 's' else d.defaclobjtype end, d.defaclrole) as builtin
        from pg_default_acl d
      ),
      change as (
        select e.*, 'grant' as action, 'to' as direction, a.grantee, a.privilege_type
        from entry e, aclexplode(e.acl) a
        where e.namespace <> 0 or (a.grantee, a.privilege_type) not in (select b.grantee, b.privilege_type from aclexplode(e.builtin) b)
        union all
        select e.*, 'revoke', 'from', b.grantee, b.privilege_type
        from entry e, aclexplode(e.builtin) b
        where e.namespace = 0 and (b.grantee, b.privilege_type) not in (select a.grantee, a.privilege_type from aclexplode(e.acl) a)
      )
      select line from (select format('alter default privileges for role %I%s %s %s on %s %s %s;',
               pg_get_userbyid(role),
               case when namespace = 0 then '' else format(' in schema %s', namespace::regnamespace) end,
               action, lower(privilege_type),
               case objtype when 'r' then 'tables' when 'S' then 'sequences' when 'f' then 'functions'
                            when 'T' then 'types' when 'n' then 'schemas' end,
               direction, case when grantee = 0 then 'public' else grantee::regrole::text end) as line
      from change
      where grantee <> role) lines
      order by line collate "C"`)
    ).map((r) => r.line),
    functions: await query<FunctionRow>(`
      select p.oid::regprocedure::text as signature,
             case p.prokind when 'p' then 'procedure' else 'function' end as kind,
             pg_get_functiondef(p.oid) as definition, p.prosqlbody is not null as "sqlStandardBody",
             pg_get_userbyid(p.proowner) as owner, obj_description(p.oid, 'pg_proc') as comment,
             ${grantsOf('p.proacl', 'p.proowner', 'f')} as grants
      from pg_proc p
      where p.pronamespace::regnamespace::text like 'app\\_%'
        and not exists (select 1 from pg_depend d where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')
      order by p.oid::regprocedure::text collate "C"`),
    relations: await query<RelationRow>(`
      select c.oid, c.oid::regclass::text as qualified, c.relkind as kind, pg_get_userbyid(c.relowner) as owner,
             c.reloptions as options, c.relrowsecurity as rls, c.relforcerowsecurity as forced,
             obj_description(c.oid, 'pg_class') as comment,
             case when c.relkind = 'v' then pg_get_viewdef(c.oid, true) end as definition
      from pg_class c
      where c.relnamespace::regnamespace::text like 'app\\_%' and c.relkind in ('r', 'v')
        and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e')
      order by c.oid::regclass::text collate "C"`),
    columns: await query<ColumnRow>(`
      select a.attrelid as relation, quote_ident(a.attname) as name, format_type(a.atttypid, a.atttypmod) as type,
             a.attnotnull as "notNull", pg_get_expr(d.adbin, d.adrelid) as default,
             a.attidentity as identity, a.attgenerated as generated,
             case when a.attcollation <> t.typcollation then a.attcollation::regcollation::text end as collation,
             col_description(a.attrelid, a.attnum) as comment
      from pg_attribute a
      join pg_class c on c.oid = a.attrelid
      join pg_type t on t.oid = a.atttypid
      left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
      where c.relnamespace::regnamespace::text like 'app\\_%' and c.relkind in ('r', 'v') and a.attnum > 0 and not a.attisdropped
      order by a.attrelid, a.attnum`),
    // Not-null constraints (pg_constraint rows since Postgres 18) show as "not null" on their column.
    constraints: await query<PartRow>(`
      select c.conrelid as relation, quote_ident(c.conname) as name, pg_get_constraintdef(c.oid, true) as definition,
             obj_description(c.oid, 'pg_constraint') as comment
      from pg_constraint c
      where c.connamespace::regnamespace::text like 'app\\_%' and c.conrelid <> 0 and c.contype in ('p', 'u', 'x', 'f', 'c')
      order by c.conrelid, array_position(array['p', 'u', 'x', 'f', 'c']::"char"[], c.contype), c.conname`),
    indexes: await query<PartRow>(`
      select i.indrelid as relation, quote_ident(c.relname) as name, pg_get_indexdef(i.indexrelid) as definition,
             obj_description(i.indexrelid, 'pg_class') as comment
      from pg_index i join pg_class c on c.oid = i.indexrelid
      where c.relnamespace::regnamespace::text like 'app\\_%'
        and not exists (select 1 from pg_constraint k where k.conindid = i.indexrelid and k.contype in ('p', 'u', 'x'))
      order by i.indrelid, c.relname`),
    triggers: await query<PartRow>(`
      select t.tgrelid as relation, quote_ident(t.tgname) as name, pg_get_triggerdef(t.oid, true) as definition,
             obj_description(t.oid, 'pg_trigger') as comment
      from pg_trigger t join pg_class c on c.oid = t.tgrelid
      where c.relnamespace::regnamespace::text like 'app\\_%' and not t.tgisinternal
      order by t.tgrelid, t.tgname`),
    policies: await loadPolicies(client),
    relationGrants: await loadRelationGrants(client),
  };
}

function renderCatalog(catalog: SchemaCatalog): string {
  const blocks: string[] = [HEADER];
  blocks.push(
    section(
      'Schemas',
      ...catalog.schemas.map((s) =>
        [
          `create schema ${s.name};`,
          ...ownerLines('schema', s.name, s.owner),
          ...grantLines(`schema ${s.name}`, s.grants),
          ...commentLines(`schema ${s.name}`, s.comment),
        ].join('\n'),
      ),
    ),
  );
  if (catalog.extensions.length > 0) {
    blocks.push(section('Extensions', catalog.extensions.map((e) => `create extension ${e.name} with schema ${e.schema};`).join('\n')));
  }
  if (catalog.defaultPrivileges.length > 0) blocks.push(section('Default privileges', catalog.defaultPrivileges.join('\n')));
  blocks.push(
    section(
      'Functions',
      ...catalog.functions.map((f) =>
        [
          `${f.sqlStandardBody ? sqlStandardBodyAsOnNewerServers(f.definition) : f.definition.trimEnd()};`,
          ...ownerLines(f.kind, f.signature, f.owner),
          ...grantLines(`${f.kind} ${f.signature}`, f.grants),
          ...commentLines(`${f.kind} ${f.signature}`, f.comment),
        ].join('\n'),
      ),
    ),
  );
  const tables = catalog.relations.filter((r) => r.kind === 'r');
  blocks.push(section('Tables', ...tables.map((table) => renderTable(table, catalog))));
  const views = catalog.relations.filter((r) => r.kind === 'v');
  if (views.length > 0) blocks.push(section('Views', ...views.map((view) => renderView(view, catalog))));
  return `${blocks.join('\n\n')}\n`;
}

/** Table → RLS → indexes → policies → grants → triggers → comments: the order of the migrations' template. */
function renderTable(table: RelationRow, catalog: SchemaCatalog): string {
  const of = <T extends { relation: number }>(rows: T[]) => rows.filter((r) => r.relation === table.oid);
  const columns = of(catalog.columns);
  const [schema, name] = table.qualified.split('.');
  const body = [...columns.map((c) => `  ${columnDefinition(c)}`), ...of(catalog.constraints).map((c) => `  constraint ${c.name} ${c.definition}`)];
  return [
    `create table ${table.qualified} (\n${body.join(',\n')}\n)${withOptions(table.options)};`,
    ...ownerLines('table', table.qualified, table.owner),
    ...rlsLines(table.qualified, table.rls, table.forced),
    ...of(catalog.indexes).map((i) => `${i.definition};`),
    ...catalog.policies.filter((p) => p.schema === schema && p.table === name).map((p) => renderPolicy(table.qualified, p)),
    ...renderRelationGrants(
      table.qualified,
      catalog.relationGrants.filter((g) => g.schema === schema && g.table === name),
    ),
    ...of(catalog.triggers).map((t) => `${t.definition};`),
    ...commentLines(`table ${table.qualified}`, table.comment),
    ...columns.flatMap((c) => commentLines(`column ${table.qualified}.${c.name}`, c.comment)),
    ...of(catalog.constraints).flatMap((c) => commentLines(`constraint ${c.name} on ${table.qualified}`, c.comment)),
    ...of(catalog.indexes).flatMap((i) => commentLines(`index ${schema}.${i.name}`, i.comment)),
    ...of(catalog.triggers).flatMap((t) => commentLines(`trigger ${t.name} on ${table.qualified}`, t.comment)),
  ].join('\n');
}

function renderView(view: RelationRow, catalog: SchemaCatalog): string {
  const [schema, name] = view.qualified.split('.');
  const definition = catalog.major < 16 ? viewAsOnNewerServers(view.definition!) : view.definition!;
  return [
    `create view ${view.qualified}${withOptions(view.options)} as\n${definition}`,
    ...ownerLines('view', view.qualified, view.owner),
    ...renderRelationGrants(
      view.qualified,
      catalog.relationGrants.filter((g) => g.schema === schema && g.table === name),
    ),
    ...catalog.triggers.filter((t) => t.relation === view.oid).map((t) => `${t.definition};`),
    ...commentLines(`view ${view.qualified}`, view.comment),
    ...catalog.columns.filter((c) => c.relation === view.oid).flatMap((c) => commentLines(`column ${view.qualified}.${c.name}`, c.comment)),
  ].join('\n');
}

function columnDefinition(column: ColumnRow): string {
  const parts = [column.name, column.type];
  if (column.collation) parts.push(`collate ${column.collation}`);
  if (column.identity) parts.push(`generated ${column.identity === 'a' ? 'always' : 'by default'} as identity`);
  else if (column.generated) parts.push(`generated always as (${column.default}) ${column.generated === 's' ? 'stored' : 'virtual'}`);
  else if (column.default !== null) parts.push(`default ${column.default}`);
  if (column.notNull) parts.push('not null');
  return parts.join(' ');
}

const section = (title: string, ...objects: string[]) => [`-- ${title}`, ...objects].join('\n\n');

const withOptions = (options: string[] | null) => (options ? ` with (${options.join(', ')})` : '');

const ownerLines = (kind: string, name: string, owner: string) => (owner === EXPECTED_OWNER ? [] : [`alter ${kind} ${name} owner to ${owner};`]);

/** One grant per set of privileges, naming every role that holds exactly that set. */
function grantLines(target: string, grants: Grantable['grants']): string[] {
  const byGrantee = new Map<string, string[]>();
  for (const g of grants) byGrantee.set(g.grantee, [...(byGrantee.get(g.grantee) ?? []), g.privilege]);
  const byPrivileges = new Map<string, string[]>();
  for (const [grantee, privileges] of byGrantee) {
    const key = privileges.join(', ');
    byPrivileges.set(key, [...(byPrivileges.get(key) ?? []), grantee]);
  }
  return [...byPrivileges].map(([privileges, grantees]) => {
    const grantOption = privileges.endsWith(' with grant option') ? ' with grant option' : '';
    return `grant ${privileges.replaceAll(' with grant option', '')} on ${target} to ${grantees.join(', ')}${grantOption};`;
  });
}

const commentLines = (target: string, comment: string | null) => (comment === null ? [] : [`comment on ${target} is '${comment.replaceAll("'", "''")}';`]);

// Deparse differences between the Postgres versions we support (15–18). The file is committed as
// the embedded Postgres 18 renders it; on older servers (CI runs the suite on 15 too) these
// rewrite the older form into the newer one, so the drift test compares the same text everywhere.
// A difference not handled here fails that test on the older server: add a rewrite here.

/** Before 18, a SQL-standard (BEGIN ATOMIC) body prints `UPDATE t AS a` / `DELETE FROM t AS a`; 18 drops the AS. */
export function sqlStandardBodyAsOnNewerServers(definition: string): string {
  return definition.trimEnd().replace(/\b(UPDATE|DELETE FROM) ([\w.]+) AS (\w+)\b/g, '$1 $2 $3');
}

/**
 * Before 16, a view's range table held OLD and NEW, so a view whose top-level query reads one FROM
 * item printed that item's alias before every column of its select list (`SELECT r.a, r.b FROM (…) r`);
 * 16 prints `SELECT a, b`. Removes the alias from the top-level select list when exactly one alias
 * qualifies it.
 */
export function viewAsOnNewerServers(definition: string): string {
  const lines = definition.split('\n');
  const start = lines.findLastIndex((line) => line.startsWith(' SELECT '));
  const end = lines.findIndex((line, i) => i > start && line.startsWith('   FROM '));
  if (start < 0 || end < 0) return definition;
  const selectList = lines.slice(start, end);
  const aliases = new Set(selectList.flatMap((line) => [...line.matchAll(/\b([a-z_][a-z0-9_]*)\.(?=[a-z_"])/g)].map((m) => m[1])));
  if (aliases.size !== 1) return definition;
  const [alias] = aliases;
  const unqualified = selectList.map((line) => line.replaceAll(new RegExp(`\\b${alias}\\.`, 'g'), ''));
  return [...lines.slice(0, start), ...unqualified, ...lines.slice(end)].join('\n');
}
