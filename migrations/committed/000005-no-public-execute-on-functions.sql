--! Previous: sha1:1084b9595853b6b42c21a0d0e26d364599202cfb
--! Hash: sha1:18f0a6071f74143755f489884a9acaee7eecea07
--! Message: no public execute on functions

--! split: 0500-no-public-execute
-- Functions are callable only by the roles a migration grants them to. 000001 meant to say so
-- with `alter default privileges in schema … revoke execute on functions from public`, but a
-- per-schema default can only add to the global default, never take from it: PUBLIC kept
-- EXECUTE on every function, so app_user could call functions meant for app_platform alone
-- (platform_clinic_overview, blocked_access, changed_roles, ended_sessions, …) by way of the
-- usage it holds on app_hidden. Revoke it from every function there is, and from every function
-- app_owner creates from now on (the global default of the role that runs migrations).
revoke execute on all functions in schema app_public, app_hidden, app_private, app_audit from public;
alter default privileges for role app_owner revoke execute on functions from public;

--! split: 0510-audit-public-execute
-- The policy audit reports any function in an app_* schema that PUBLIC may execute, beside the
-- SECURITY DEFINER rule it already had: the grant is what stands between a role and a function
-- that checks nothing, and a future migration cannot quietly bring the default back.
create or replace view app_audit.rls_report with (security_invoker = true) as
with
app_roles as (
  select oid, rolname from pg_catalog.pg_roles
  where rolname in ('app_user', 'app_platform', 'app_authenticator')
),
user_relations as (
  select c.oid, n.nspname, c.relname, c.relkind, c.relowner, c.relrowsecurity, c.relforcerowsecurity, c.reloptions,
         format('%I.%I', n.nspname, c.relname) as qualified_name
  from pg_catalog.pg_class c
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
  where c.relkind in ('r', 'p', 'v', 'm')
    and n.nspname not in ('pg_catalog', 'information_schema')
    and n.nspname !~ '^pg_'
),
privileges as (
  select rel.oid, r.oid as role_oid, r.rolname, p.privilege
  from user_relations rel
  cross join app_roles r
  cross join unnest(array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) as p(privilege)
  where pg_catalog.has_table_privilege(r.oid, rel.oid, p.privilege)
     or (p.privilege in ('SELECT', 'INSERT', 'UPDATE')
         and pg_catalog.has_any_column_privilege(r.oid, rel.oid, p.privilege))
),
-- Tables that hold clinic rows: every table with a clinic_id column (the tenant root, clinics,
-- has none: its own id is the clinic).
tenant_tables as (
  select rel.oid, a.attnum as clinic_attnum, a.attnotnull as clinic_not_null
  from user_relations rel
  join pg_catalog.pg_attribute a on a.attrelid = rel.oid and a.attname = 'clinic_id' and not a.attisdropped
  where rel.relkind in ('r', 'p')
),
exposed_tables as (
  select rel.* from user_relations rel
  where rel.relkind in ('r', 'p') and exists (select 1 from privileges p where p.oid = rel.oid)
),
table_problems as (
  select t.oid, problem
  from exposed_tables t
  cross join lateral (
    select 'RLS not enabled' where not t.relrowsecurity
    union all
    select 'RLS not forced' where not t.relforcerowsecurity
    union all
    select format('owned by application role %s', r.rolname)
    from app_roles r where r.oid = t.relowner
    union all
    select format('%s granted to %s without a permissive policy for it', p.privilege, p.rolname)
    from privileges p
    where p.oid = t.oid and p.privilege in ('SELECT', 'INSERT', 'UPDATE', 'DELETE')
      and not exists (
        select 1 from pg_catalog.pg_policy pol
        where pol.polrelid = t.oid and pol.polpermissive
          and pol.polcmd in ('*', case p.privilege when 'SELECT' then 'r' when 'INSERT' then 'a'
                                                   when 'UPDATE' then 'w' else 'd' end)
          and (pol.polroles = '{0}' or p.role_oid = any (pol.polroles))
      )
    union all
    select format('TRUNCATE granted to %s (TRUNCATE ignores RLS)', p.rolname)
    from privileges p where p.oid = t.oid and p.privilege = 'TRUNCATE'
    union all
    select format('%s holds privileges (the authenticator must hold none)', p.rolname)
    from privileges p where p.oid = t.oid and p.rolname = 'app_authenticator'
    union all
    select 'no clinic_id column'
    where t.qualified_name <> 'app_public.clinics' and not exists (select 1 from tenant_tables tt where tt.oid = t.oid)
    union all
    select 'clinic_id is nullable'
    from tenant_tables tt where tt.oid = t.oid and not tt.clinic_not_null
    union all
    select format('%s %s does not include clinic_id',
                  case when i.indisprimary then 'primary key' else 'unique index' end, i.indexrelid::regclass)
    from pg_catalog.pg_index i
    join tenant_tables tt on tt.oid = i.indrelid
    where i.indrelid = t.oid and i.indisunique and not (tt.clinic_attnum = any (i.indkey::int2[]))
    union all
    select format('index %s does not lead with clinic_id', i.indexrelid::regclass)
    from pg_catalog.pg_index i
    join tenant_tables tt on tt.oid = i.indrelid
    where i.indrelid = t.oid and (i.indkey::int2[])[0] <> tt.clinic_attnum
    union all
    select format('foreign key %s references tenant table %s without clinic_id', con.conname, con.confrelid::regclass)
    from pg_catalog.pg_constraint con
    join tenant_tables target on target.oid = con.confrelid
    where con.conrelid = t.oid and con.contype = 'f'
      and not exists (
        select 1 from unnest(con.conkey, con.confkey) as k(local_attnum, foreign_attnum)
        where k.foreign_attnum = target.clinic_attnum
          and k.local_attnum = (select a.attnum from pg_catalog.pg_attribute a
                                where a.attrelid = t.oid and a.attname = 'clinic_id')
      )
    union all
    select 'no audit trigger (app_private.tg_audit_row)'
    where not exists (
      select 1 from pg_catalog.pg_trigger tg
      where tg.tgrelid = t.oid and tg.tgfoid = 'app_private.tg_audit_row()'::regprocedure
    )
  ) as found(problem)
),
relation_rows as (
  select
    case rel.relkind when 'v' then 'view' when 'm' then 'materialized view' else 'table' end as object_type,
    rel.qualified_name as object_name,
    case when rel.relkind in ('r', 'p') then
      format('rls=%s forced=%s policies=%s grants=%s',
        case when rel.relrowsecurity then 'on' else 'off' end,
        case when rel.relforcerowsecurity then 'on' else 'off' end,
        (select count(*) from pg_catalog.pg_policy pol where pol.polrelid = rel.oid),
        coalesce((select string_agg(p.rolname || ':' || p.privilege, ',' order by p.rolname, p.privilege)
                  from privileges p where p.oid = rel.oid), '-'))
    end as detail,
    array(
      select tp.problem from table_problems tp where tp.oid = rel.oid
      union all
      select 'view without security_invoker'
      where rel.relkind = 'v'
        and (rel.nspname like 'app\_%' or exists (select 1 from privileges p where p.oid = rel.oid))
        and not coalesce(rel.reloptions @> array['security_invoker=true']
                         or rel.reloptions @> array['security_invoker=on']
                         or rel.reloptions @> array['security_invoker=1'], false)
      union all
      select format('materialized view readable by %s (materialized views cannot have RLS)', p.rolname)
      from privileges p where rel.relkind = 'm' and p.oid = rel.oid and p.privilege = 'SELECT'
    ) as problems
  from user_relations rel
  where rel.relkind in ('v', 'm')
     or exists (select 1 from privileges p where p.oid = rel.oid)
     or exists (select 1 from tenant_tables tt where tt.oid = rel.oid)
),
function_rows as (
  select 'function' as object_type, p.oid::regprocedure::text as object_name,
         case when p.prosecdef then 'security definer' else 'security invoker' end as detail,
         array(
           select 'SECURITY DEFINER without a pinned search_path'
           where p.prosecdef and not exists (select 1 from unnest(p.proconfig) c where c like 'search\_path=%')
           union all
           -- A NULL ACL is the default, which lets PUBLIC execute.
           select 'executable by PUBLIC (grant EXECUTE to the roles that need it)'
           where n.nspname like 'app\_%'
             and (p.proacl is null or exists (select 1 from aclexplode(p.proacl) a where a.grantee = 0 and a.privilege_type = 'EXECUTE'))
         ) as problems
  from pg_catalog.pg_proc p
  join pg_catalog.pg_namespace n on n.oid = p.pronamespace
  where (p.prosecdef or n.nspname like 'app\_%')
    and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_'
    and not exists (select 1 from pg_catalog.pg_depend d where d.objid = p.oid and d.deptype = 'e')
),
role_rows as (
  select 'role' as object_type, r.rolname::text as object_name,
         format('login=%s inherit=%s', r.rolcanlogin, r.rolinherit) as detail,
         array(
           select 'is SUPERUSER' where r.rolsuper
           union all select 'has BYPASSRLS' where r.rolbypassrls
           union all select 'has CREATEROLE' where r.rolcreaterole
           union all select 'must be NOINHERIT' where r.rolname = 'app_authenticator' and r.rolinherit
           union all
           select format('may become %s (only app_user and app_platform are allowed)', g.rolname)
           from pg_catalog.pg_auth_members m
           join pg_catalog.pg_roles g on g.oid = m.roleid
           where r.rolname = 'app_authenticator' and m.member = r.oid
             and g.rolname not in ('app_user', 'app_platform')
         ) as problems
  from pg_catalog.pg_roles r
  where r.rolname in ('app_owner', 'app_authenticator', 'app_user', 'app_platform', 'app_worker')
)
select object_type, object_name, detail, problems, cardinality(problems) = 0 as ok
from (
  select * from relation_rows
  union all select * from function_rows
  union all select * from role_rows
) report;

comment on view app_audit.rls_report is
  'Isolation audit: one row per table, view, function of the app_* schemas (and SECURITY DEFINER function elsewhere) and application role; problems lists every broken rule; ok is true when there are none.';
