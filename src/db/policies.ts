// Renders policies/: per table, its RLS flags, every policy and every grant, as plain SQL a
// DBA reads without TypeScript. Generated from the catalog of a migrated database, so it is
// exactly what the database enforces; a test fails when the committed files differ.
// The policy and grant pieces are shared with the schema dump (src/db/schema-dump.ts).
import type pg from 'pg';

type Queryable = Pick<pg.ClientBase, 'query'>;

interface TableRow {
  schema: string;
  name: string;
  rls: boolean;
  forced: boolean;
  comment: string | null;
}

export interface PolicyRow {
  schema: string;
  table: string;
  name: string;
  permissive: string;
  roles: string[];
  command: string;
  using: string | null;
  check: string | null;
}

export interface GrantRow {
  schema: string;
  table: string;
  grantee: string;
  privilege: string;
  columns: string[] | null;
}

const HEADER =
  '-- Generated from the database by `npm run policies:generate` after migrating; do not edit.\n' +
  '-- The source of truth is migrations/; this file is what Postgres enforces for the table.\n';

export async function renderPolicyFiles(client: Queryable): Promise<Map<string, string>> {
  const tables = (
    await client.query<TableRow>(`
    select n.nspname as schema, c.relname as name, c.relrowsecurity as rls, c.relforcerowsecurity as forced,
           obj_description(c.oid, 'pg_class') as comment
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where c.relkind in ('r', 'p') and n.nspname like 'app\\_%'
    order by 1, 2`)
  ).rows;
  const policies = await loadPolicies(client);
  const grants = await loadRelationGrants(client);

  const files = new Map<string, string>();
  for (const table of tables) {
    const qualified = `${table.schema}.${table.name}`;
    const lines = [HEADER];
    if (table.comment) lines.push(`-- ${qualified}: ${table.comment.replaceAll('\n', ' ')}\n`);
    lines.push(...rlsLines(qualified, table.rls, table.forced), '');
    for (const policy of policies.filter((p) => p.schema === table.schema && p.table === table.name)) {
      lines.push(`${renderPolicy(qualified, policy)}\n`);
    }
    const grantLines = renderRelationGrants(
      qualified,
      grants.filter((g) => g.schema === table.schema && g.table === table.name),
    );
    lines.push(...(grantLines.length > 0 ? grantLines : ['-- no grants: no application role can read or write this table directly']));
    files.set(`${qualified}.sql`, `${lines.join('\n')}\n`);
  }
  return files;
}

export function rlsLines(qualified: string, rls: boolean, forced: boolean): string[] {
  return [
    `alter table ${qualified} ${rls ? 'enable' : 'disable'} row level security;`,
    `alter table ${qualified} ${forced ? 'force' : 'no force'} row level security;`,
  ];
}

/**
 * Every policy of every table in an app_* schema. Per table, the tenant boundary comes first
 * (`tenant_isolation`, then any other restrictive policy: they bound whatever the permissive ones
 * allow), then the permissive policies, each group by name.
 */
export async function loadPolicies(client: Queryable): Promise<PolicyRow[]> {
  return (
    await client.query<PolicyRow>(`
    select schemaname as schema, tablename as table, policyname as name, permissive, roles::text[] as roles,
           cmd as command, qual as using, with_check as check
    from pg_policies where schemaname like 'app\\_%'
    order by schemaname, tablename, policyname <> 'tenant_isolation', permissive <> 'RESTRICTIVE', policyname`)
  ).rows;
}

export function renderPolicy(qualified: string, policy: PolicyRow): string {
  const parts = [`create policy ${policy.name} on ${qualified}`];
  if (policy.permissive !== 'PERMISSIVE') parts.push(`  as ${policy.permissive.toLowerCase()}`);
  parts.push(`  for ${policy.command.toLowerCase()} to ${policy.roles.join(', ')}`);
  if (policy.using !== null) parts.push(`  using (${policy.using})`);
  if (policy.check !== null) parts.push(`  with check (${policy.check})`);
  return `${parts.join('\n')};`;
}

/** Grants on tables and views in app_* schemas (whole-table and per column), except the owner's own. */
export async function loadRelationGrants(client: Queryable): Promise<GrantRow[]> {
  return (
    await client.query<GrantRow>(`
    with relation_acl as (
      select n.nspname as schema, c.relname as table, acl.grantee, acl.privilege_type as privilege, null::text as column_name
      from pg_class c join pg_namespace n on n.oid = c.relnamespace, aclexplode(c.relacl) acl
      where c.relkind in ('r', 'p', 'v') and n.nspname like 'app\\_%' and acl.grantee <> c.relowner
      union all
      select n.nspname, c.relname, acl.grantee, acl.privilege_type, a.attname::text
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
      join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped, aclexplode(a.attacl) acl
      where c.relkind in ('r', 'p', 'v') and n.nspname like 'app\\_%' and acl.grantee <> c.relowner
    )
    , named as (
      select schema, "table", case when grantee = 0 then 'public' else grantee::regrole::text end as grantee, privilege,
             column_name, column_name is null as whole_table
      from relation_acl
    )
    select schema, "table", grantee, privilege,
           array_agg(column_name order by column_name collate "C") filter (where column_name is not null) as columns
    from named
    group by schema, "table", grantee, privilege, whole_table
    order by schema, "table", grantee collate "C", not whole_table, privilege collate "C"`)
  ).rows;
}

/** One line per grantee for whole-table privileges, then one per column privilege. */
export function renderRelationGrants(qualified: string, grants: GrantRow[]): string[] {
  const lines: string[] = [];
  for (const grantee of [...new Set(grants.map((g) => g.grantee))]) {
    const mine = grants.filter((g) => g.grantee === grantee);
    const whole = mine.filter((g) => !g.columns).map((g) => g.privilege.toLowerCase());
    if (whole.length > 0) lines.push(`grant ${whole.join(', ')} on ${qualified} to ${grantee};`);
    for (const g of mine.filter((g) => g.columns)) {
      lines.push(`grant ${g.privilege.toLowerCase()} (${g.columns!.join(', ')}) on ${qualified} to ${grantee};`);
    }
  }
  return lines;
}
