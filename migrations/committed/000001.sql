--! Previous: -
--! Hash: sha1:ee59c0f29dba47eb9879382c078818b120413383

--! split: 0010-schemas-and-defaults
-- Schemas by audience. app_public is what GraphQL will expose, app_hidden is used by the
-- application but never exposed, app_private holds secrets and is reachable only through
-- SECURITY DEFINER functions, app_audit holds the audit log and the policy report.
-- Roles are created by `npm run db:setup` (cluster-wide objects stay out of migrations).
create schema app_public;
create schema app_hidden;
create schema app_private;
create schema app_audit;

grant usage on schema app_public, app_hidden to app_user, app_platform;

-- Nothing we create is executable by PUBLIC unless we grant it explicitly.
alter default privileges in schema app_public, app_hidden, app_private, app_audit
  revoke execute on functions from public;

--! split: 0020-session-context
-- Identity comes from transaction-local settings written by withTenant() with
-- set_config(name, value, true). These helpers are the only readers: policies call them as
-- `(select app_public.current_clinic_id())` so the planner evaluates them once per statement.
-- nullif(...) matters: a setting set by an earlier transaction on the same pooled connection
-- reads back as '' (not NULL), and an unset context must mean "no clinic", never a cast error.
-- Plain SQL bodies, so the planner inlines them into the policy's InitPlan once per prepared
-- plan (withTenant prepares its statements); a SQL-standard body or a SET clause is executed as a
-- function call on every statement instead, measured slower (docs/performance.md). The names are
-- schema-qualified, and no role the application runs as may create objects in any schema (nor
-- temporary ones), so no search_path can slip another function, type or operator in.
create function app_public.current_clinic_id() returns uuid
  language sql stable parallel safe
as $$ select nullif(pg_catalog.current_setting('app.clinic_id', true), '')::pg_catalog.uuid $$;

create function app_public.current_user_id() returns uuid
  language sql stable parallel safe
as $$ select nullif(pg_catalog.current_setting('app.user_id', true), '')::pg_catalog.uuid $$;

create function app_public.current_app_role() returns text
  language sql stable parallel safe
as $$ select nullif(pg_catalog.current_setting('app.role', true), '') $$;

create function app_public.current_role_is(variadic roles text[]) returns boolean
  language sql stable parallel safe
as $$ select coalesce(nullif(pg_catalog.current_setting('app.role', true), '') = any (roles), false) $$;

grant execute on function
  app_public.current_clinic_id(),
  app_public.current_user_id(),
  app_public.current_app_role(),
  app_public.current_role_is(text[])
to app_user, app_platform;

comment on function app_public.current_clinic_id() is 'The clinic of the current request (app.clinic_id), or NULL when none is set.';
comment on function app_public.current_user_id() is 'The user of the current request (app.user_id), or NULL when none is set.';
comment on function app_public.current_app_role() is 'The clinic role of the current request (app.role), or NULL when none is set.';
comment on function app_public.current_role_is(text[]) is 'True when the current request''s clinic role is one of the given roles.';

--! split: 0030-shared-triggers
create function app_hidden.is_valid_timezone(tz text) returns boolean
  language plpgsql immutable parallel safe
  set search_path = pg_catalog, pg_temp
as $$
begin
  perform '2000-01-01 00:00:00+00'::timestamptz at time zone tz;
  return true;
exception when invalid_parameter_value then
  return false;
end;
$$;
grant execute on function app_hidden.is_valid_timezone(text) to app_user, app_platform;

create function app_private.tg_set_updated_at() returns trigger
  language plpgsql
  set search_path = pg_catalog, pg_temp
as $$
begin
  new.updated_at := now();
  return new;
end;
$$;

--! split: 0040-audit-log
-- Append-only record of every change to every tenant table, and of security events (logins,
-- failures, lockouts, token reuse). Rows are written only by SECURITY DEFINER functions running
-- as the owner (the generic row trigger below, app_hidden.record_auth_event); app roles hold no
-- grant on the table, and a trigger refuses UPDATE, DELETE and TRUNCATE even for the owner.
-- clinic_id is NULL only for events that belong to no clinic (a failed login, say).
create table app_audit.audit_log (
  id bigint generated always as identity primary key,
  clinic_id uuid,
  occurred_at timestamptz not null default now(),
  actor_user_id uuid,
  actor_role text,
  db_role text not null default current_user,
  request_id text,
  client_ip inet,
  -- INSERT/UPDATE/DELETE for row changes; dotted names such as auth.login.failed for events.
  action text not null
    constraint audit_log_action_valid check (action in ('INSERT', 'UPDATE', 'DELETE') or action ~ '^[a-z]+(\.[a-z_]+)+$'),
  table_name text,
  row_key jsonb,
  changed_columns text[],
  before jsonb,
  after jsonb,
  details jsonb,
  constraint audit_log_row_change_names_row
    check (action not in ('INSERT', 'UPDATE', 'DELETE') or (table_name is not null and row_key is not null))
);
alter table app_audit.audit_log enable row level security;
alter table app_audit.audit_log force row level security;

create index audit_log_clinic_time_idx on app_audit.audit_log (clinic_id, occurred_at);
create index audit_log_clinic_row_idx on app_audit.audit_log (clinic_id, table_name, row_key);

-- Only the trigger function (running as app_owner) appends; nobody reads through RLS yet.
create policy append_by_owner on app_audit.audit_log for insert to app_owner with check (true);

create function app_private.tg_audit_log_is_append_only() returns trigger
  language plpgsql
  set search_path = pg_catalog, pg_temp
as $$
begin
  raise exception 'audit_log is append-only (% refused)', tg_op using errcode = 'CBAUD';
end;
$$;

create trigger _000_append_only before update or delete on app_audit.audit_log
  for each row execute function app_private.tg_audit_log_is_append_only();
create trigger _000_append_only_truncate before truncate on app_audit.audit_log
  for each statement execute function app_private.tg_audit_log_is_append_only();

-- The generic row audit trigger. Arguments: the row-key columns (default: id).
-- The clinic is the row's clinic_id, or the row's own id for the clinics table itself.
create function app_private.tg_audit_row() returns trigger
  language plpgsql security definer
  set search_path = pg_catalog, pg_temp
as $$
declare
  old_row jsonb := case when tg_op <> 'INSERT' then to_jsonb(old) end;
  new_row jsonb := case when tg_op <> 'DELETE' then to_jsonb(new) end;
  current_row jsonb := coalesce(new_row, old_row);
  key_columns text[] := case when tg_nargs > 0 then tg_argv else array['id'] end;
  changed text[];
begin
  if tg_op = 'UPDATE' then
    select array_agg(n.key order by n.key) into changed
    from jsonb_each(new_row) n
    where n.value is distinct from old_row -> n.key;
    if changed is null then
      return null; -- nothing changed, nothing to record
    end if;
    select jsonb_object_agg(k, old_row -> k), jsonb_object_agg(k, new_row -> k)
      into old_row, new_row
    from unnest(changed) k;
  end if;

  insert into app_audit.audit_log
    (clinic_id, actor_user_id, actor_role, db_role, request_id, client_ip, table_name, row_key, action, changed_columns, before, after)
  values (
    coalesce(
      current_row ->> 'clinic_id',
      case when tg_table_schema = 'app_public' and tg_table_name = 'clinics' then current_row ->> 'id' end
    )::uuid,
    nullif(current_setting('app.user_id', true), '')::uuid,
    nullif(current_setting('app.role', true), ''),
    session_user || '/' || current_setting('role'),
    nullif(current_setting('app.request_id', true), ''),
    nullif(current_setting('app.client_ip', true), '')::inet,
    tg_table_schema || '.' || tg_table_name,
    (select jsonb_object_agg(k, current_row -> k) from unnest(key_columns) k),
    tg_op,
    changed,
    old_row,
    new_row
  );
  return null;
end;
$$;

comment on table app_audit.audit_log is 'Append-only audit trail: who changed which row of which table, when, from where, in which request, before/after values of the changed columns; and security events.';

--! split: 0100-clinics
-- The tenant root. Not a tenant table itself: a clinic member sees only their own clinic row;
-- platform operators (app_platform) see and manage all clinic metadata, never patient data.
create table app_public.clinics (
  id uuid primary key default gen_random_uuid(),
  slug text not null unique
    constraint clinics_slug_format check (slug ~ '^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$'),
  name text not null constraint clinics_name_length check (char_length(name) between 1 and 200),
  timezone text not null default 'UTC'
    constraint clinics_timezone_valid check (app_hidden.is_valid_timezone(timezone)),
  status text not null default 'active' constraint clinics_status_valid check (status in ('active', 'suspended')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
alter table app_public.clinics enable row level security;
alter table app_public.clinics force row level security;

create policy select_own_clinic on app_public.clinics for select to app_user
  using (id = (select app_public.current_clinic_id()));
create policy select_all on app_public.clinics for select to app_platform using (true);
create policy insert_any on app_public.clinics for insert to app_platform with check (true);
create policy update_any on app_public.clinics for update to app_platform using (true) with check (true);

grant select on app_public.clinics to app_user;
grant select, insert (slug, name, timezone, status), update (name, timezone, status) on app_public.clinics to app_platform;

create trigger _100_updated_at before update on app_public.clinics
  for each row execute function app_private.tg_set_updated_at();
create trigger _900_audit after insert or update or delete on app_public.clinics
  for each row execute function app_private.tg_audit_row();

comment on table app_public.clinics is 'A clinic (tenant). Every tenant row belongs to exactly one clinic.';
comment on column app_public.clinics.slug is 'URL name of the clinic: /api/v1/clinics/{slug}/...';
comment on column app_public.clinics.timezone is 'IANA time zone used for the clinic''s schedules and reports.';
comment on column app_public.clinics.status is 'active, or suspended (a suspended clinic''s members are refused: enforced with identity and access).';

--! split: 0200-departments
-- The first tenant table, following the template in migrations/README.md.
-- Every member of a clinic may read its departments; only clinic admins change them.
create table app_public.departments (
  clinic_id uuid not null default app_public.current_clinic_id() references app_public.clinics (id),
  id uuid not null default gen_random_uuid(),
  code text not null constraint departments_code_format check (code ~ '^[A-Z0-9][A-Z0-9_-]{0,15}$'),
  name text not null constraint departments_name_length check (char_length(name) between 1 and 120),
  description text constraint departments_description_length check (char_length(description) <= 2000),
  is_active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (clinic_id, id),
  constraint departments_code_key unique (clinic_id, code)
);
alter table app_public.departments enable row level security;
alter table app_public.departments force row level security;

create unique index departments_name_key on app_public.departments (clinic_id, lower(name));

-- The tenant boundary, as a RESTRICTIVE policy: it holds whatever the permissive policies say.
create policy tenant_isolation on app_public.departments as restrictive to app_user
  using (clinic_id = (select app_public.current_clinic_id()))
  with check (clinic_id = (select app_public.current_clinic_id()));
create policy select_members on app_public.departments for select to app_user
  using (true);
create policy insert_admins on app_public.departments for insert to app_user
  with check ((select app_public.current_role_is('clinic_admin')));
create policy update_admins on app_public.departments for update to app_user
  using ((select app_public.current_role_is('clinic_admin')))
  with check ((select app_public.current_role_is('clinic_admin')));
create policy delete_admins on app_public.departments for delete to app_user
  using ((select app_public.current_role_is('clinic_admin')));

grant select, delete on app_public.departments to app_user;
grant insert (code, name, description, is_active), update (code, name, description, is_active)
  on app_public.departments to app_user;

create trigger _100_updated_at before update on app_public.departments
  for each row execute function app_private.tg_set_updated_at();
create trigger _900_audit after insert or update or delete on app_public.departments
  for each row execute function app_private.tg_audit_row('id');

comment on table app_public.departments is 'A department of a clinic (e.g. cardiology, laboratory).';
comment on column app_public.departments.code is 'Short code unique within the clinic, e.g. CARD.';

--! split: 0900-policy-audit
-- The policy report a DBA queries (select * from app_audit.rls_report where not ok) and
-- `npm run policies:audit` prints. One row per object that matters for isolation; `problems`
-- lists every rule the object breaks (rules: docs/security-model.md). security_invoker, so it
-- reads the catalog with the caller's rights and is itself no bypass.
create view app_audit.rls_report with (security_invoker = true) as
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
  select 'function' as object_type, p.oid::regprocedure::text as object_name, 'security definer' as detail,
         array(
           select 'SECURITY DEFINER without a pinned search_path'
           where not exists (select 1 from unnest(p.proconfig) c where c like 'search\_path=%')
         ) as problems
  from pg_catalog.pg_proc p
  join pg_catalog.pg_namespace n on n.oid = p.pronamespace
  where p.prosecdef and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_'
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
  'Isolation audit: one row per table, view, SECURITY DEFINER function and application role; problems lists every broken rule; ok is true when there are none.';
