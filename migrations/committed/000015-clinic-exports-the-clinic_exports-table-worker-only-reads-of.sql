--! Previous: sha1:37f23f37dbfff00011e2cdbd8e09c6775d262598
--! Hash: sha1:e8fe9125241f47513bead9ef6dc692f97e020ec8
--! Message: Clinic exports: the clinic_exports table, worker-only reads of every tenant table in export order, owner read policies for the export, download audit, a patient's own record

-- Enter migration here
-- section export begin
--! split: 1400-clinic-exports
-- A clinic's whole export (issue 12, docs/export-format.md): a clinic admin requests one, the
-- worker's clinic_exports__build job writes the archive under STORAGE_DIR and moves the row along
-- (through app_hidden.set_clinic_export_state, the worker's login only), and the clinic's admins
-- download it until expires_at. Admins read and request; nobody updates or deletes through SQL.
create table app_public.clinic_exports (
  clinic_id uuid not null default app_public.current_clinic_id() references app_public.clinics (id),
  id uuid not null default gen_random_uuid(),
  status text not null default 'requested'
    constraint clinic_exports_status_valid check (status in ('requested', 'running', 'ready', 'failed', 'expired')),
  progress integer not null default 0 constraint clinic_exports_progress_range check (progress between 0 and 100),
  requested_by uuid not null default app_public.current_member_id(),
  sha256 text constraint clinic_exports_sha256_format check (sha256 ~ '^[0-9a-f]{64}$'),
  size_bytes bigint constraint clinic_exports_size_bytes_valid check (size_bytes >= 0),
  expires_at timestamptz,
  error text constraint clinic_exports_error_length check (char_length(error) <= 200),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  finished_at timestamptz,
  primary key (clinic_id, id),
  -- A ready export names its archive's checksum, size and end of life.
  constraint clinic_exports_status_check check (status <> 'ready' or (sha256 is not null and size_bytes is not null and expires_at is not null)),
  constraint clinic_exports_requested_by_fkey foreign key (clinic_id, requested_by)
    references app_public.clinic_members (clinic_id, id)
);
alter table app_public.clinic_exports enable row level security;
alter table app_public.clinic_exports force row level security;

create index clinic_exports_created_at_idx on app_public.clinic_exports (clinic_id, created_at desc);
create index clinic_exports_requested_by_idx on app_public.clinic_exports (clinic_id, requested_by);

create policy tenant_isolation on app_public.clinic_exports as restrictive to app_user
  using (clinic_id = (select app_public.current_clinic_id()))
  with check (clinic_id = (select app_public.current_clinic_id()));
create policy select_admins on app_public.clinic_exports for select to app_user
  using ((select app_public.current_role_is('clinic_admin')));
-- An admin requests an export as themselves; the worker fills in the rest.
create policy insert_admins on app_public.clinic_exports for insert to app_user
  with check ((select app_public.current_role_is('clinic_admin')) and requested_by = (select app_public.current_member_id()));
-- The worker's functions read and move the rows of the context's clinic only.
create policy read_by_definer_functions on app_public.clinic_exports for select to app_owner
  using (clinic_id = (select app_public.current_clinic_id()));
create policy update_by_definer_functions on app_public.clinic_exports for update to app_owner
  using (clinic_id = (select app_public.current_clinic_id()))
  with check (clinic_id = (select app_public.current_clinic_id()));

-- requested_by is the only column a request names (insert needs a column), and the policy pins it.
grant select on app_public.clinic_exports to app_user;
grant insert (requested_by) on app_public.clinic_exports to app_user;

-- The build job is queued with the row, in its transaction: no export without its job.
create function app_private.tg_enqueue_clinic_export_build() returns trigger
  language plpgsql security definer set search_path = pg_catalog, pg_temp
as $$
begin
  perform app_private.add_job(new.clinic_id, 'clinic_exports__build', pg_catalog.jsonb_build_object('exportId', new.id),
    job_key => 'clinic_exports__build:' || new.clinic_id || ':' || new.id);
  return null;
end;
$$;

create trigger _100_updated_at before update on app_public.clinic_exports
  for each row execute function app_private.tg_set_updated_at();
create trigger _500_enqueue_build after insert on app_public.clinic_exports
  for each row execute function app_private.tg_enqueue_clinic_export_build();
-- Audited when requested and when its status moves; the progress ticks of a build are not news.
create trigger _900_audit after insert or update of status or delete on app_public.clinic_exports
  for each row execute function app_private.tg_audit_row('id');

-- GraphQL: none; exports are REST only (the archive is a download, the build a job).
comment on table app_public.clinic_exports is E'@behavior -*\nA full export of the clinic (its tables as JSON Lines and its files), built by a background job.';
comment on column app_public.clinic_exports.status is 'requested, running, ready (downloadable until expires_at), failed or expired.';
comment on column app_public.clinic_exports.progress is 'Percentage of the build done, 0 to 100.';
comment on column app_public.clinic_exports.sha256 is 'Lower-case hex SHA-256 of the archive, once ready.';
comment on column app_public.clinic_exports.error is 'Why the build failed: an error class and SQLSTATE, never data.';

-- The export reads every tenant table as app_owner (SECURITY DEFINER): RLS is forced, so a table
-- without a read policy for app_owner gives it no rows. These tables had none; each policy shows
-- the owner the context's clinic only, never every clinic.
create policy read_for_export on app_public.consultation_addenda for select to app_owner
  using (clinic_id = (select app_public.current_clinic_id()));
create policy read_for_export on app_public.departments for select to app_owner
  using (clinic_id = (select app_public.current_clinic_id()));
create policy read_for_export on app_public.diagnoses for select to app_owner
  using (clinic_id = (select app_public.current_clinic_id()));
create policy read_for_export on app_public.patient_access_log for select to app_owner
  using (clinic_id = (select app_public.current_clinic_id()));
create policy read_for_export on app_public.prescription_allergy_acknowledgements for select to app_owner
  using (clinic_id = (select app_public.current_clinic_id()));
create policy read_for_export on app_public.prescription_items for select to app_owner
  using (clinic_id = (select app_public.current_clinic_id()));
create policy read_for_export on app_public.prescriptions for select to app_owner
  using (clinic_id = (select app_public.current_clinic_id()));
create policy read_for_export on app_public.vitals for select to app_owner
  using (clinic_id = (select app_public.current_clinic_id()));
create policy read_for_export on app_audit.audit_log for select to app_owner
  using (clinic_id = (select app_public.current_clinic_id()));

-- What an export carries, read from the catalog so that a table created later is carried the
-- moment it exists: the clinic's row; every table of an app_* schema with a clinic_id column
-- (scope 'tenant'), but for those below; the clinic's audit rows; and the login of every account
-- the clinic's rows reference (accounts, their second factor and recovery codes; the platform
-- operators its support grants name). Left out, with clinic_id: the exports themselves (archives
-- of one deployment), pending invitations, refresh tokens and the notification outbox (secrets
-- and deliveries of the deployment that issued them). Ordered as the archive lists them.
create function app_private.clinic_export_tables()
  returns table (relation regclass, scope text)
  language sql stable set search_path = pg_catalog, pg_temp
begin atomic
  select c.oid::regclass,
    case
      when c.oid = 'app_public.clinics'::regclass then 'clinic'
      when c.oid = 'app_audit.audit_log'::regclass then 'audit'
      when c.oid = 'app_private.platform_operators'::regclass then 'operator'
      when c.oid in ('app_private.accounts'::regclass, 'app_private.two_factor'::regclass, 'app_private.recovery_codes'::regclass) then 'account'
      else 'tenant'
    end
  from pg_class c
  join pg_namespace n on n.oid = c.relnamespace
  where c.relkind in ('r', 'p') and n.nspname like 'app\_%'
    and (
      c.oid in ('app_public.clinics'::regclass, 'app_private.accounts'::regclass, 'app_private.two_factor'::regclass,
                'app_private.recovery_codes'::regclass, 'app_private.platform_operators'::regclass)
      or exists (select from pg_attribute a where a.attrelid = c.oid and a.attname = 'clinic_id' and not a.attisdropped)
    )
    and c.oid::regclass::text not in ('app_public.clinic_exports', 'app_private.invitations', 'app_private.refresh_tokens',
                                      'app_private.notification_outbox')
  order by case when c.oid = 'app_public.clinics'::regclass then 0 when n.nspname = 'app_audit' then 2
                when c.oid in ('app_private.accounts'::regclass, 'app_private.two_factor'::regclass,
                               'app_private.recovery_codes'::regclass, 'app_private.platform_operators'::regclass) then 3
                else 1 end,
    n.nspname, c.relname;
end;
comment on function app_private.clinic_export_tables() is 'The tables a clinic export carries, in archive order, and how each is scoped to the clinic (docs/export-format.md).';

-- The accounts the clinic's rows reference (single-column foreign keys of its tenant tables to
-- accounts or platform operators); `operator` when referenced as a platform operator.
create function app_private.clinic_export_accounts(clinic uuid)
  returns table (account_id uuid, operator boolean)
  language plpgsql stable set search_path = pg_catalog, pg_temp
as $$
declare
  query text;
begin
  select pg_catalog.string_agg(pg_catalog.format('select %I, %L::boolean from %s where clinic_id = $1 and %I is not null',
      a.attname, con.confrelid = 'app_private.platform_operators'::regclass, con.conrelid::regclass, a.attname), ' union ')
    into query
  from pg_constraint con
  join app_private.clinic_export_tables() t on t.relation = con.conrelid and t.scope = 'tenant'
  join pg_attribute a on a.attrelid = con.conrelid and a.attnum = con.conkey[1]
  where con.contype = 'f' and pg_catalog.cardinality(con.conkey) = 1
    and con.confrelid in ('app_private.accounts'::regclass, 'app_private.platform_operators'::regclass);
  if query is not null then
    return query execute query using clinic;
  end if;
end;
$$;

-- One table's rows of the context's clinic, one JSON object a row as text: columns in catalog
-- order (generated and identity columns left out: the target makes them), rows by primary key
-- (text compared byte-wise, so every server orders them alike), times in UTC. Worker only.
create function app_hidden.clinic_export_rows(relation text)
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
  select pg_catalog.string_agg(pg_catalog.format('t.%I', a.attname), ', ' order by a.attnum) into projection
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
    when 'operator' then 't.account_id in (select e.account_id from app_private.clinic_export_accounts($1) e where e.operator)'
    else pg_catalog.format('t.%I in (select e.account_id from app_private.clinic_export_accounts($1) e)',
      case when target.relation = 'app_private.accounts'::regclass then 'id' else 'account_id' end)
  end;
  return query execute pg_catalog.format(
    'select pg_catalog.row_to_json(r)::text from %s t cross join lateral (select %s) r where %s order by %s',
    target.relation, projection, filter, ordering) using clinic;
end;
$$;
grant execute on function app_hidden.clinic_export_rows(text) to app_user;
comment on function app_hidden.clinic_export_rows(text) is 'One table''s rows of the context''s clinic as JSON objects in export order (docs/export-format.md); the worker''s login only.';

create function app_hidden.clinic_export_tables()
  returns table (relation text, scope text)
  language plpgsql stable security definer set search_path = pg_catalog, pg_temp
as $$
begin
  perform app_private.assert_worker();
  return query select t.relation::text, t.scope from app_private.clinic_export_tables() t;
end;
$$;
grant execute on function app_hidden.clinic_export_tables() to app_user;
comment on function app_hidden.clinic_export_tables() is 'The tables a clinic export carries, in archive order; the worker''s login only.';

-- The last committed migration of this database: an archive names the schema its rows fit.
create function app_hidden.clinic_export_schema_migration()
  returns text
  language plpgsql stable security definer set search_path = pg_catalog, pg_temp
as $$
begin
  perform app_private.assert_worker();
  return (select m.filename from graphile_migrate.migrations m order by m.filename desc limit 1);
end;
$$;
grant execute on function app_hidden.clinic_export_schema_migration() to app_user;
comment on function app_hidden.clinic_export_schema_migration() is 'The last committed migration (graphile-migrate), recorded in an export''s manifest; the worker''s login only.';

-- The build job's moves of an export of the context's clinic: requested → running → ready or
-- failed, running → running (progress, and a build run again after a crash), ready → expired
-- (and expired again: an expiry run twice). Moving to ready queues the expiry at expires_at.
-- Returns the status the row had, or null when there is no such export. Worker only.
create function app_hidden.set_clinic_export_state(export_id uuid, status text, progress integer,
    sha256 text default null, size_bytes bigint default null, expires_at timestamptz default null, error text default null)
  returns text
  language plpgsql volatile security definer set search_path = pg_catalog, pg_temp
as $$
declare
  was text;
begin
  perform app_private.assert_worker();
  select e.status into was from app_public.clinic_exports e
  where e.clinic_id = app_public.current_clinic_id() and e.id = set_clinic_export_state.export_id
  for update;
  if not found then
    return null;
  end if;
  -- A build run again (at least once delivery) finds its export finished: nothing to do.
  if set_clinic_export_state.status = 'running' and was in ('ready', 'failed', 'expired') then
    return was;
  end if;
  if (was, set_clinic_export_state.status) not in (('requested', 'running'), ('running', 'running'), ('running', 'ready'),
      ('running', 'failed'), ('requested', 'failed'), ('ready', 'expired'), ('expired', 'expired')) then
    raise exception 'an export cannot move from % to %', was, set_clinic_export_state.status
      using errcode = 'CBSTA', constraint = 'clinic_export_status_flow';
  end if;
  update app_public.clinic_exports e set
    status = set_clinic_export_state.status,
    progress = set_clinic_export_state.progress,
    sha256 = coalesce(set_clinic_export_state.sha256, e.sha256),
    size_bytes = coalesce(set_clinic_export_state.size_bytes, e.size_bytes),
    expires_at = coalesce(set_clinic_export_state.expires_at, e.expires_at),
    error = set_clinic_export_state.error,
    finished_at = case when set_clinic_export_state.status in ('ready', 'failed') then now() else e.finished_at end
  where e.clinic_id = app_public.current_clinic_id() and e.id = set_clinic_export_state.export_id;
  -- A ready archive's removal is queued with the move that makes it downloadable.
  if set_clinic_export_state.status = 'ready' then
    perform app_private.add_job(app_public.current_clinic_id(), 'clinic_exports__expire',
      pg_catalog.jsonb_build_object('exportId', set_clinic_export_state.export_id), run_at => set_clinic_export_state.expires_at,
      job_key => 'clinic_exports__expire:' || app_public.current_clinic_id() || ':' || set_clinic_export_state.export_id);
  end if;
  return was;
end;
$$;
grant execute on function app_hidden.set_clinic_export_state(uuid, text, integer, text, bigint, timestamptz, text) to app_user;
comment on function app_hidden.set_clinic_export_state(uuid, text, integer, text, bigint, timestamptz, text) is 'Moves an export of the context''s clinic along its status flow (the build job); the worker''s login only.';

-- A download of a ready export, by a clinic admin of its clinic, recorded in the audit log before
-- the archive is sent. False (nothing recorded) when the export is not ready or has expired.
create function app_hidden.record_clinic_export_download(export_id uuid)
  returns boolean
  language plpgsql volatile security definer set search_path = pg_catalog, pg_temp
as $$
begin
  if not app_public.current_role_is('clinic_admin') or app_public.current_member_id() is null then
    raise exception 'only a clinic admin downloads an export' using errcode = '42501';
  end if;
  if not exists (select from app_public.clinic_exports e
                 where e.clinic_id = app_public.current_clinic_id() and e.id = record_clinic_export_download.export_id
                   and e.status = 'ready' and e.expires_at > now()) then
    return false;
  end if;
  perform app_private.write_audit_event('clinic.export_downloaded', app_public.current_user_id(), app_public.current_clinic_id(),
    pg_catalog.jsonb_build_object('exportId', record_clinic_export_download.export_id));
  return true;
end;
$$;
grant execute on function app_hidden.record_clinic_export_download(uuid) to app_user;
comment on function app_hidden.record_clinic_export_download(uuid) is 'Records a clinic admin''s download of a ready export in the audit log; false when it is not ready or has expired.';
-- A patient's own record, for their export (right of access, GET …/patients/me/export): their
-- registration row and every app_public table with a patient_id that app_user may read, as the
-- caller reads it. No SECURITY DEFINER: the caller's policies show a patient their own rows only,
-- clinical records once final, so this returns nothing they could not read one route at a time.
-- Left out: the clinic's id, the identification number's look-up hash (the API turns its ciphertext
-- into the number as the portal shows it), and the request and address of the access log's rows
-- (the clinic's). Null for anyone but a patient with a record.
create function app_hidden.patient_own_record()
  returns jsonb
  language plpgsql stable set search_path = pg_catalog, pg_temp
as $$
declare
  patient uuid := app_public.current_patient_id();
  omitted text[] := array['clinic_id', 'identification_number_hmac', 'request_id', 'client_ip'];
  record jsonb;
  rows jsonb;
  source record;
begin
  if patient is null then
    return null;
  end if;
  select pg_catalog.jsonb_build_object('patient', pg_catalog.to_jsonb(p) - omitted) into record
  from app_public.patients p where p.id = patient;
  for source in
    select c.oid::regclass as relation, c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'app_public' and c.relkind in ('r', 'p') and c.relname <> 'patients'
      and exists (select from pg_attribute a where a.attrelid = c.oid and a.attname = 'patient_id' and not a.attisdropped)
      and pg_catalog.has_table_privilege('app_user', c.oid, 'select')
    order by c.relname
  loop
    execute pg_catalog.format(
      'select coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(t) - $2 order by t.id), ''[]'') from %s t where t.patient_id = $1',
      source.relation) into rows using patient, omitted;
    record := record || pg_catalog.jsonb_build_object(source.name, rows);
  end loop;
  return record;
end;
$$;
grant execute on function app_hidden.patient_own_record() to app_user;
comment on function app_hidden.patient_own_record() is 'The calling patient''s own record as JSON, every table they may read (their export, right of access); null for anyone else.';
-- section export end
