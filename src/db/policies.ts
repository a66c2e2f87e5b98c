// Renders policies/: per table, its RLS flags, every policy and every grant, as plain SQL a
// DBA reads without TypeScript. Generated from the catalog of a migrated database, so it is
// exactly what the database enforces; a test fails when the committed files differ.
import type pg from 'pg';

interface TableRow {
  schema: string;
  name: string;
  rls: boolean;
  forced: boolean;
  comment: string | null;
}

interface PolicyRow {
  schema: string;
  table: string;
  name: string;
  permissive: string;
  roles: string[];
  command: string;
  using: string | null;
  check: string | null;
}

interface GrantRow {
  schema: string;
  table: string;
  grantee: string;
  privilege: string;
  columns: string[] | null;
}

const HEADER = '-- Generated from the database by `npm run policies:generate` after migrating; do not edit.\n' +
  '-- The source of truth is migrations/; this file is what Postgres enforces for the table.\n';

export async function renderPolicyFiles(client: pg.Client | pg.Pool): Promise<Map<string, string>> {
  const tables = (await client.query<TableRow>(`
    select n.nspname as schema, c.relname as name, c.relrowsecurity as rls, c.relforcerowsecurity as forced,
           obj_description(c.oid, 'pg_class') as comment
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where c.relkind in ('r', 'p') and n.nspname like 'app\\_%'
    order by 1, 2`)).rows;
  const policies = (await client.query<PolicyRow>(`
    select schemaname as schema, tablename as table, policyname as name, permissive, roles::text[] as roles,
           cmd as command, qual as using, with_check as check
    from pg_policies where schemaname like 'app\\_%'
    order by 1, 2, 3`)).rows;
  const grants = (await client.query<GrantRow>(`
    with table_acl as (
      select n.nspname as schema, c.relname as table, acl.grantee, acl.privilege_type as privilege, null::text as column_name
      from pg_class c join pg_namespace n on n.oid = c.relnamespace, aclexplode(c.relacl) acl
      where c.relkind in ('r', 'p') and n.nspname like 'app\\_%' and acl.grantee <> c.relowner
      union all
      select n.nspname, c.relname, acl.grantee, acl.privilege_type, a.attname::text
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
      join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped, aclexplode(a.attacl) acl
      where c.relkind in ('r', 'p') and n.nspname like 'app\\_%' and acl.grantee <> c.relowner
    )
    select schema, "table", case when grantee = 0 then 'public' else grantee::regrole::text end as grantee, privilege,
           array_agg(column_name order by column_name) filter (where column_name is not null) as columns
    from table_acl
    group by 1, 2, 3, 4
    order by 1, 2, 3, (array_agg(column_name) filter (where column_name is not null)) is not null, 4`)).rows;

  const files = new Map<string, string>();
  for (const table of tables) {
    const qualified = `${table.schema}.${table.name}`;
    const lines = [HEADER];
    if (table.comment) lines.push(`-- ${qualified}: ${table.comment.replaceAll('\n', ' ')}\n`);
    lines.push(`alter table ${qualified} ${table.rls ? 'enable' : 'disable'} row level security;`);
    lines.push(`alter table ${qualified} ${table.forced ? 'force' : 'no force'} row level security;\n`);
    for (const policy of policies.filter((p) => p.schema === table.schema && p.table === table.name)) {
      lines.push(renderPolicy(qualified, policy));
    }
    const tableGrants = grants.filter((g) => g.schema === table.schema && g.table === table.name);
    if (tableGrants.length === 0) lines.push('-- no grants: no application role can read or write this table directly');
    for (const grantee of [...new Set(tableGrants.map((g) => g.grantee))]) {
      const mine = tableGrants.filter((g) => g.grantee === grantee);
      const whole = mine.filter((g) => !g.columns).map((g) => g.privilege.toLowerCase());
      if (whole.length > 0) lines.push(`grant ${whole.join(', ')} on ${qualified} to ${grantee};`);
      for (const g of mine.filter((g) => g.columns)) {
        lines.push(`grant ${g.privilege.toLowerCase()} (${g.columns!.join(', ')}) on ${qualified} to ${grantee};`);
      }
    }
    files.set(`${qualified}.sql`, `${lines.join('\n')}\n`);
  }
  return files;
}

function renderPolicy(qualified: string, policy: PolicyRow): string {
  const parts = [`create policy ${policy.name} on ${qualified}`];
  if (policy.permissive !== 'PERMISSIVE') parts.push(`  as ${policy.permissive.toLowerCase()}`);
  parts.push(`  for ${policy.command.toLowerCase()} to ${policy.roles.join(', ')}`);
  if (policy.using !== null) parts.push(`  using (${policy.using})`);
  if (policy.check !== null) parts.push(`  with check (${policy.check})`);
  return `${parts.join('\n')};\n`;
}
