-- Enter migration here
-- section fixexport begin
--! split: 1600-export-fixes
-- A clinic export carries no credential (docs/export-format.md): the accounts its rows reference
-- travel without their password hash (null in the archive; an import gives them the unset hash, so
-- people choose a password with the reset at the target), and without second factors, recovery
-- codes or platform operator rows. A support grant names an account that was a platform operator
-- when it was granted: the operator check moves from the foreign key (which made a grant's history
-- need the operator row at a target) to a trigger on insert, the key now to the account.
alter table app_public.support_access_grants drop constraint support_access_grants_operator_account_id_fkey;
alter table app_public.support_access_grants add constraint support_access_grants_operator_account_id_fkey
  foreign key (operator_account_id) references app_private.accounts (id);

create function app_private.tg_support_grant_operator_check() returns trigger
  language plpgsql security definer set search_path = pg_catalog, pg_temp
as $$
begin
  if not exists (select from app_private.platform_operators o where o.account_id = new.operator_account_id) then
    raise exception 'support access is granted to platform operators only'
      using errcode = '23503', constraint = 'support_access_grants_operator_account_id_fkey';
  end if;
  return new;
end;
$$;
create trigger _050_operator_check before insert or update of operator_account_id on app_public.support_access_grants
  for each row execute function app_private.tg_support_grant_operator_check();

create or replace function app_private.clinic_export_tables()
  returns table (relation regclass, scope text)
  language sql stable set search_path = pg_catalog, pg_temp
begin atomic
  select c.oid::regclass,
    case
      when c.oid = 'app_public.clinics'::regclass then 'clinic'
      when c.oid = 'app_audit.audit_log'::regclass then 'audit'
      when c.oid = 'app_private.accounts'::regclass then 'account'
      else 'tenant'
    end
  from pg_class c
  join pg_namespace n on n.oid = c.relnamespace
  where c.relkind in ('r', 'p') and n.nspname like 'app\_%'
    and (
      c.oid in ('app_public.clinics'::regclass, 'app_private.accounts'::regclass)
      or exists (select from pg_attribute a where a.attrelid = c.oid and a.attname = 'clinic_id' and not a.attisdropped)
    )
    and c.oid::regclass::text not in ('app_public.clinic_exports', 'app_private.invitations', 'app_private.refresh_tokens',
                                      'app_private.notification_outbox')
  order by case when c.oid = 'app_public.clinics'::regclass then 0 when n.nspname = 'app_audit' then 2
                when c.oid = 'app_private.accounts'::regclass then 3 else 1 end,
    n.nspname, c.relname;
end;
comment on function app_private.clinic_export_tables() is 'The tables a clinic export carries, in archive order, and how each is scoped to the clinic (docs/export-format.md); no credential table.';

-- The accounts' rows without their password hash; no operator or second-factor table to read.
create or replace function app_hidden.clinic_export_rows(relation text)
  returns setof text
  language plpgsql stable security definer
  set search_path = pg_catalog, pg_temp
  set timezone = 'UTC'
  set bytea_output = 'hex'
as $$
declare
  clinic uuid := app_public.current_clinic_id();
  target record;
  projection text;
  ordering text;
  filter text;
begin
  perform app_private.assert_worker();
  if clinic is null then
    raise exception 'an export needs a clinic in the context' using errcode = '42501';
  end if;
  select t.relation, t.scope into target from app_private.clinic_export_tables() t where t.relation::text = clinic_export_rows.relation;
  if not found then
    raise exception 'not a table of the export: %', clinic_export_rows.relation using errcode = '22023';
  end if;
  if exists (select from pg_class c where c.oid = target.relation and c.relrowsecurity and c.relforcerowsecurity)
     and not exists (select from pg_policy p where p.polrelid = target.relation and p.polcmd in ('r', '*') and p.polpermissive
                     and 'app_owner'::regrole = any (p.polroles)) then
    raise exception '% has no read policy for app_owner: the export cannot read it', target.relation using errcode = '55000';
  end if;
  -- An account's password hash is never exported: the column stays (the format's), null.
  select pg_catalog.string_agg(
      case when target.relation = 'app_private.accounts'::regclass and a.attname = 'password_hash'
           then 'null::text as password_hash' else pg_catalog.format('t.%I', a.attname) end,
      ', ' order by a.attnum) into projection
  from pg_attribute a
  where a.attrelid = target.relation and a.attnum > 0 and not a.attisdropped and a.attgenerated = '' and a.attidentity <> 'a';
  select pg_catalog.string_agg(pg_catalog.format('t.%I', a.attname) || case when a.attcollation <> 0 then ' collate "C"' else '' end,
      ', ' order by k.position) into ordering
  from pg_index i
  cross join unnest(i.indkey) with ordinality k(attnum, position)
  join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
  where i.indrelid = target.relation and i.indisprimary;
  if ordering is null then
    raise exception '% has no primary key: the export cannot order it', target.relation using errcode = '55000';
  end if;
  filter := case target.scope
    when 'clinic' then 't.id = $1'
    when 'tenant' then 't.clinic_id = $1'
    -- An export's own bookkeeping stays with the deployment that made it, like its row.
    when 'audit' then $f$t.clinic_id = $1 and t.table_name is distinct from 'app_public.clinic_exports' and t.action not like 'clinic.export\_%'$f$
    else 't.id in (select e.account_id from app_private.clinic_export_accounts($1) e)'
  end;
  return query execute pg_catalog.format(
    'select pg_catalog.row_to_json(r)::text from %s t cross join lateral (select %s) r where %s order by %s',
    target.relation, projection, filter, ordering) using clinic;
end;
$$;
comment on function app_hidden.clinic_export_rows(text) is 'One table''s rows of the context''s clinic as JSON objects in export order (docs/export-format.md), accounts without their password hash; the worker''s login only.';
-- section fixexport end
