-- Generated from the database by `npm run db:schema` (and `npm run db:commit`); do not edit.
-- The schema that migrations/committed/ produces, as it is now: every schema, function, table and
-- view of the app_* schemas, each followed by its grants and comments. Every object is owned by
-- app_owner unless an `owner to` line says otherwise; a function without a grant line can be
-- called by its owner only (and by whoever `public` appears for). For reading and review: a
-- database is built by running the migrations, not this file.

-- Schemas

create schema app_audit;

create schema app_hidden;
grant usage on schema app_hidden to app_platform, app_user;

create schema app_private;

create schema app_public;
grant usage on schema app_public to app_platform, app_user;

-- Extensions

create extension btree_gin with schema public;
create extension btree_gist with schema public;
create extension pg_trgm with schema public;

-- Default privileges

alter default privileges for role app_owner revoke execute on functions from public;

-- Functions

CREATE OR REPLACE FUNCTION app_hidden.accept_invitation(token_hash bytea, new_password_hash text)
 RETURNS TABLE(clinic_slug text)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  invitation app_private.invitations;
begin
  select * into invitation from app_private.invitations i
  where i.token_hash = accept_invitation.token_hash and i.accepted_at is null and i.expires_at > now()
  for update;
  if not found then
    return;
  end if;
  if accept_invitation.new_password_hash is not null then
    if not invitation.sets_first_password then
      return;
    end if;
    perform from app_private.accounts a
    where a.id = invitation.account_id and a.password_hash = app_private.unset_password_hash()
    for update;
    if not found then
      return;
    end if;
    perform app_private.set_password(invitation.account_id, accept_invitation.new_password_hash);
  end if;
  update app_private.invitations i set accepted_at = now() where i.token_hash = invitation.token_hash;
  update app_public.clinic_members m set status = 'active'
  where m.clinic_id = invitation.clinic_id and m.account_id = invitation.account_id and m.status = 'invited';
  return query select c.slug from app_public.clinics c where c.id = invitation.clinic_id;
end;
$function$;
grant execute on function app_hidden.accept_invitation(bytea,text) to app_user;

CREATE OR REPLACE FUNCTION app_hidden.account_clinics(account_id uuid)
 RETURNS TABLE(clinic_id uuid, clinic_slug text, clinic_name text, member_id uuid, role text, display_name text)
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 SELECT c.id,
     c.slug,
     c.name,
     m.id,
     m.role,
     m.display_name
    FROM (app_public.clinic_members m
      JOIN app_public.clinics c ON ((c.id = m.clinic_id)))
   WHERE ((m.account_id = account_clinics.account_id) AND (m.status = 'active'::text) AND (c.status = 'active'::text))
   ORDER BY c.name, c.slug;
END;
grant execute on function app_hidden.account_clinics(uuid) to app_user;

CREATE OR REPLACE FUNCTION app_hidden.blocked_access()
 RETURNS TABLE(clinic_id uuid, account_id uuid)
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 SELECT c.id,
     NULL::uuid AS uuid
    FROM app_public.clinics c
   WHERE (c.status = 'suspended'::text)
 UNION ALL
  SELECT m.clinic_id,
     m.account_id
    FROM app_public.clinic_members m
   WHERE (m.status = 'deactivated'::text);
END;
grant execute on function app_hidden.blocked_access() to app_platform;

CREATE OR REPLACE FUNCTION app_hidden.bootstrap_platform_operator(email text, password_hash text)
 RETURNS boolean
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  lock table app_private.platform_operators in exclusive mode;
  if exists (select 1 from app_private.platform_operators) then
    return false;
  end if;
  perform app_private.create_platform_operator(bootstrap_platform_operator.email, bootstrap_platform_operator.password_hash);
  return true;
end;
$function$;
grant execute on function app_hidden.bootstrap_platform_operator(text,text) to app_platform;

CREATE OR REPLACE FUNCTION app_hidden.change_password(password_hash text)
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if app_public.current_user_id() is null then
    raise exception 'no user in the context' using errcode = '42501';
  end if;
  perform app_private.set_password(app_public.current_user_id(), change_password.password_hash);
end;
$function$;
grant execute on function app_hidden.change_password(text) to app_user;

CREATE OR REPLACE FUNCTION app_hidden.changed_roles()
 RETURNS TABLE(clinic_id uuid, account_id uuid, role text)
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 SELECT m.clinic_id,
     m.account_id,
     m.role
    FROM app_public.clinic_members m
   WHERE (m.role_changed_at > (now() - '01:00:00'::interval));
END;
grant execute on function app_hidden.changed_roles() to app_platform;

CREATE OR REPLACE FUNCTION app_hidden.clinic_export_rows(relation text)
 RETURNS SETOF text
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET "TimeZone" TO 'UTC'
 SET bytea_output TO 'hex'
AS $function$
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
$function$;
grant execute on function app_hidden.clinic_export_rows(text) to app_user;
comment on function app_hidden.clinic_export_rows(text) is 'One table''s rows of the context''s clinic as JSON objects in export order (docs/export-format.md), accounts without their password hash; the worker''s login only.';

CREATE OR REPLACE FUNCTION app_hidden.clinic_export_schema_migration()
 RETURNS text
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  perform app_private.assert_worker();
  return (select m.filename from graphile_migrate.migrations m order by m.filename desc limit 1);
end;
$function$;
grant execute on function app_hidden.clinic_export_schema_migration() to app_user;
comment on function app_hidden.clinic_export_schema_migration() is 'The last committed migration (graphile-migrate), recorded in an export''s manifest; the worker''s login only.';

CREATE OR REPLACE FUNCTION app_hidden.clinic_export_tables()
 RETURNS TABLE(relation text, scope text)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  perform app_private.assert_worker();
  return query select t.relation::text, t.scope from app_private.clinic_export_tables() t;
end;
$function$;
grant execute on function app_hidden.clinic_export_tables() to app_user;
comment on function app_hidden.clinic_export_tables() is 'The tables a clinic export carries, in archive order; the worker''s login only.';

CREATE OR REPLACE FUNCTION app_hidden.clinic_requires_two_factor(clinic_id uuid)
 RETURNS boolean
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 SELECT COALESCE(( SELECT s.require_two_factor
            FROM app_public.clinic_settings s
           WHERE (s.clinic_id = clinic_requires_two_factor.clinic_id)), false) AS "coalesce";
END;
grant execute on function app_hidden.clinic_requires_two_factor(uuid) to app_user;

CREATE OR REPLACE FUNCTION app_hidden.close_stale_visits(at timestamp with time zone)
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  clinic uuid := app_public.current_clinic_id();
  today date;
  closed integer;
begin
  perform app_private.assert_worker();
  select (least(close_stale_visits."at", now()) at time zone c.timezone)::date into today from app_public.clinics c where c.id = clinic;
  with closed_visits as (
    update app_public.visits v set status = 'no_show'
    where (v.clinic_id, v.id) in (
      select s.clinic_id, s.id from app_public.visits s
      where s.clinic_id = clinic and s.status in ('waiting', 'called') and s.visit_date < today
      for update skip locked
    )
    returning v.clinic_id, v.appointment_id
  ),
  closed_appointments as (
    update app_public.appointments a set status = 'no_show'
    from closed_visits cv
    where a.clinic_id = cv.clinic_id and a.id = cv.appointment_id and a.status = 'checked_in'
  )
  select count(*) into closed from closed_visits;
  return closed;
end;
$function$;
grant execute on function app_hidden.close_stale_visits(timestamp with time zone) to app_user;

CREATE OR REPLACE FUNCTION app_hidden.current_account_email()
 RETURNS text
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 SELECT a.email
    FROM app_private.accounts a
   WHERE (a.id = app_public.current_user_id());
END;
grant execute on function app_hidden.current_account_email() to app_user;

CREATE OR REPLACE FUNCTION app_hidden.disable_two_factor()
 RETURNS void
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 DELETE FROM app_private.recovery_codes r
   WHERE (r.account_id = app_public.current_user_id());
 DELETE FROM app_private.two_factor t
   WHERE (t.account_id = app_public.current_user_id());
 SELECT app_private.end_sessions(app_public.current_user_id()) AS end_sessions;
END;
grant execute on function app_hidden.disable_two_factor() to app_user;

CREATE OR REPLACE FUNCTION app_hidden.enable_two_factor(step bigint, recovery_code_hashes bytea[])
 RETURNS boolean
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  update app_private.two_factor t set enabled_at = now(), last_used_step = enable_two_factor.step
  where t.account_id = app_public.current_user_id() and t.enabled_at is null;
  if not found then
    return false;
  end if;
  perform app_hidden.replace_recovery_codes(enable_two_factor.recovery_code_hashes);
  perform app_private.end_sessions(app_public.current_user_id());
  return true;
end;
$function$;
grant execute on function app_hidden.enable_two_factor(bigint,bytea[]) to app_user;

CREATE OR REPLACE FUNCTION app_hidden.ended_sessions()
 RETURNS TABLE(account_id uuid, ended_at timestamp with time zone)
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 SELECT a.id,
     a.sessions_ended_at
    FROM app_private.accounts a
   WHERE (a.sessions_ended_at > (now() - '01:00:00'::interval));
END;
grant execute on function app_hidden.ended_sessions() to app_platform;

CREATE OR REPLACE FUNCTION app_hidden.expire_account_secrets(at timestamp with time zone)
 RETURNS jsonb
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  horizon timestamptz := least(expire_account_secrets."at", now()) - interval '1 day';
  invitations integer;
  password_resets integer;
  refresh_tokens integer;
  login_failures integer;
  ended_sessions integer;
begin
  perform app_private.assert_worker();
  delete from app_private.invitations i where i.token_hash in (
    select o.token_hash from app_private.invitations o where o.expires_at < horizon for update skip locked);
  get diagnostics invitations = row_count;
  delete from app_private.password_resets r where r.token_hash in (
    select o.token_hash from app_private.password_resets o where o.expires_at < horizon for update skip locked);
  get diagnostics password_resets = row_count;
  delete from app_private.refresh_tokens t where t.token_hash in (
    select o.token_hash from app_private.refresh_tokens o
    where least(o.idle_expires_at, o.absolute_expires_at) < horizon
      and not exists (
        select from app_private.refresh_tokens live
        where live.family_id = o.family_id and least(live.idle_expires_at, live.absolute_expires_at) >= horizon
      )
    for update skip locked);
  get diagnostics refresh_tokens = row_count;
  delete from app_private.login_failures f where (f.scope, f.key) in (
    select o.scope, o.key from app_private.login_failures o
    where o.window_started_at < horizon - interval '1 hour' and (o.locked_until is null or o.locked_until < horizon)
    for update skip locked);
  get diagnostics login_failures = row_count;
  update app_private.accounts a set sessions_ended_at = null where a.id in (
    select o.id from app_private.accounts o where o.sessions_ended_at < horizon for update skip locked);
  get diagnostics ended_sessions = row_count;
  return jsonb_build_object('invitations', invitations, 'passwordResets', password_resets, 'refreshTokens', refresh_tokens,
    'loginFailures', login_failures, 'endedSessions', ended_sessions);
end;
$function$;
grant execute on function app_hidden.expire_account_secrets(timestamp with time zone) to app_user;

CREATE OR REPLACE FUNCTION app_hidden.fan_out_clinic_upkeep(at timestamp with time zone)
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  clinic uuid;
  queued integer := 0;
begin
  perform app_private.assert_worker();
  for clinic in select c.id from app_public.clinics c where c.status = 'active' order by c.id loop
    perform app_private.add_job(clinic, 'clinics__upkeep', '{}'::jsonb, null,
      'clinics__upkeep:' || clinic::text || ':' || to_char(fan_out_clinic_upkeep."at" at time zone 'UTC', 'YYYY-MM-DD"T"HH24'));
    queued := queued + 1;
  end loop;
  return queued;
end;
$function$;
grant execute on function app_hidden.fan_out_clinic_upkeep(timestamp with time zone) to app_user;

CREATE OR REPLACE FUNCTION app_hidden.invitation_account(token_hash bytea)
 RETURNS TABLE(account_id uuid, email text, sets_password boolean)
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 SELECT a.id,
     a.email,
     (i.sets_first_password AND (a.password_hash = app_private.unset_password_hash()))
    FROM (app_private.invitations i
      JOIN app_private.accounts a ON ((a.id = i.account_id)))
   WHERE ((i.token_hash = invitation_account.token_hash) AND (i.accepted_at IS NULL) AND (i.expires_at > now()));
END;
grant execute on function app_hidden.invitation_account(bytea) to app_user;

CREATE OR REPLACE FUNCTION app_hidden.invite_member(email text, role text, display_name text, invitation_hash bytea, invitation_token text, invitation_ttl interval)
 RETURNS uuid
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if app_public.current_clinic_id() is null or not app_public.current_role_is('clinic_admin') then
    raise exception 'only clinic admins invite members' using errcode = '42501';
  end if;
  return app_private.invite_to_clinic(app_public.current_clinic_id(), invite_member.email, invite_member.role,
    invite_member.display_name, invite_member.invitation_hash, invite_member.invitation_token, invite_member.invitation_ttl);
end;
$function$;
grant execute on function app_hidden.invite_member(text,text,text,bytea,text,interval) to app_user;

CREATE OR REPLACE FUNCTION app_hidden.is_platform_operator(account_id uuid)
 RETURNS boolean
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 SELECT (EXISTS ( SELECT 1
            FROM app_private.platform_operators o
           WHERE (o.account_id = is_platform_operator.account_id))) AS "exists";
END;
grant execute on function app_hidden.is_platform_operator(uuid) to app_user;

CREATE OR REPLACE FUNCTION app_hidden.is_valid_timezone(tz text)
 RETURNS boolean
 LANGUAGE plpgsql
 IMMUTABLE PARALLEL SAFE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  perform '2000-01-01 00:00:00+00'::timestamptz at time zone tz;
  return true;
exception when invalid_parameter_value then
  return false;
end;
$function$;
grant execute on function app_hidden.is_valid_timezone(text) to app_platform, app_user;

CREATE OR REPLACE FUNCTION app_hidden.job_clinic_status()
 RETURNS text
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  found_status text;
begin
  perform app_private.assert_worker();
  select c.status into found_status from app_public.clinics c where c.id = app_public.current_clinic_id();
  return found_status;
end;
$function$;
grant execute on function app_hidden.job_clinic_status() to app_user;
comment on function app_hidden.job_clinic_status() is '@behavior -*
The status of the job''s clinic (active, suspended), or null for an unknown clinic: the worker''s check before a task runs.';

CREATE OR REPLACE FUNCTION app_hidden.job_queue_figures()
 RETURNS TABLE(task text, waiting bigint, due bigint, locked bigint, failed bigint, oldest_due_at timestamp with time zone)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  return query
  select j.task_identifier,
         count(*) filter (where j.locked_at is null and j.attempts < j.max_attempts and j.run_at > now()),
         count(*) filter (where j.locked_at is null and j.attempts < j.max_attempts and j.run_at <= now()),
         count(*) filter (where j.locked_at is not null),
         count(*) filter (where j.locked_at is null and j.attempts >= j.max_attempts),
         min(j.run_at) filter (where j.locked_at is null and j.attempts < j.max_attempts and j.run_at <= now())
  from graphile_worker.jobs j
  group by j.task_identifier
  order by j.task_identifier;
end;
$function$;
grant execute on function app_hidden.job_queue_figures() to app_user;
comment on function app_hidden.job_queue_figures() is '@behavior -*
The job queue per task: jobs waiting (future run_at), due, locked by a worker, failed for good, and the oldest due job''s run_at. Counts only: no payload, key or error.';

CREATE OR REPLACE FUNCTION app_hidden.lab_patient_identities(patient_ids uuid[])
 RETURNS TABLE(id uuid, patient_number text, full_name text, date_of_birth date, sex text)
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 SELECT p.id,
     p.patient_number,
     p.full_name,
     p.date_of_birth,
     p.sex
    FROM app_public.patients p
   WHERE ((p.clinic_id = app_public.current_clinic_id()) AND app_public.current_role_is(VARIADIC ARRAY['lab_technician'::text]) AND (app_public.current_member_id() IS NOT NULL) AND (p.id = ANY (lab_patient_identities.patient_ids)) AND (EXISTS ( SELECT
            FROM app_public.test_requests q
           WHERE ((q.clinic_id = p.clinic_id) AND (q.patient_id = p.id) AND (q.status = ANY (ARRAY['requested'::text, 'collected'::text, 'in_progress'::text]))))));
END;
grant execute on function app_hidden.lab_patient_identities(uuid[]) to app_user;
comment on function app_hidden.lab_patient_identities(uuid[]) is 'Footnote 3: for a lab technician, the identity (number, name, date of birth, sex) of those patients with an open test request in the context clinic; nothing for anyone else.';

CREATE OR REPLACE FUNCTION app_hidden.login_account(email text)
 RETURNS TABLE(account_id uuid, password_hash text)
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 SELECT a.id,
     a.password_hash
    FROM app_private.accounts a
   WHERE (lower(a.email) = lower(login_account.email));
END;
grant execute on function app_hidden.login_account(text) to app_user;

CREATE OR REPLACE FUNCTION app_hidden.login_failed(email text)
 RETURNS timestamp with time zone
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  perform app_private.count_login_failure('email_network', app_private.login_pair_key(login_failed.email), 5, '15 minutes', '15 minutes');
  perform app_private.count_login_failure('email', pg_catalog.lower(login_failed.email), 50, '1 hour', '15 minutes');
  if app_private.client_network() is not null then
    perform app_private.count_login_failure('network', pg_catalog.abbrev(app_private.client_network()), 30, '15 minutes', '15 minutes');
  end if;
  return app_hidden.login_locked_until(login_failed.email);
end;
$function$;
grant execute on function app_hidden.login_failed(text) to app_user;

CREATE OR REPLACE FUNCTION app_hidden.login_locked_until(email text)
 RETURNS timestamp with time zone
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 SELECT max(f.locked_until) AS max
    FROM app_private.login_failures f
   WHERE ((f.locked_until > now()) AND (((f.scope = 'email_network'::text) AND (f.key = app_private.login_pair_key(login_locked_until.email))) OR ((f.scope = 'network'::text) AND (f.key = abbrev(app_private.client_network()))) OR ((f.scope = 'email'::text) AND (f.key = lower(login_locked_until.email)) AND (NOT app_private.signed_in_from_here(login_locked_until.email)))));
END;
grant execute on function app_hidden.login_locked_until(text) to app_user;

CREATE OR REPLACE FUNCTION app_hidden.login_succeeded(email text)
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  signed_in uuid;
  here inet := app_private.client_network();
begin
  delete from app_private.login_failures f where f.scope = 'email_network' and f.key = app_private.login_pair_key(login_succeeded.email);
  select a.id into signed_in from app_private.accounts a where lower(a.email) = lower(login_succeeded.email);
  if signed_in is null or here is null then
    return;
  end if;
  insert into app_private.login_networks as n (account_id, network) values (signed_in, here)
  on conflict (account_id, network) do update set last_signed_in_at = now();
  delete from app_private.login_networks n
  where n.account_id = signed_in and n.network not in (
    select k.network from app_private.login_networks k where k.account_id = signed_in order by k.last_signed_in_at desc limit 10
  );
end;
$function$;
grant execute on function app_hidden.login_succeeded(text) to app_user;

CREATE OR REPLACE FUNCTION app_hidden.mark_missed_follow_ups(at timestamp with time zone)
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  clinic uuid := app_public.current_clinic_id();
  today date;
  marked integer;
begin
  perform app_private.assert_worker();
  select (least(mark_missed_follow_ups."at", now()) at time zone c.timezone)::date into today from app_public.clinics c where c.id = clinic;
  update app_public.follow_ups f set status = 'missed'
  where (f.clinic_id, f.id) in (
    select u.clinic_id, u.id from app_public.follow_ups u
    where u.clinic_id = clinic and u.status = 'pending' and u.due_date < today
      and not exists (
        select from app_public.appointments a
        where a.clinic_id = u.clinic_id and a.id = u.appointment_id and a.status in ('booked', 'checked_in', 'completed')
      )
    for update skip locked
  );
  get diagnostics marked = row_count;
  return marked;
end;
$function$;
grant execute on function app_hidden.mark_missed_follow_ups(timestamp with time zone) to app_user;

CREATE OR REPLACE FUNCTION app_hidden.mark_no_shows(at timestamp with time zone)
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  clinic uuid := app_public.current_clinic_id();
  grace interval;
  marked integer;
begin
  perform app_private.assert_worker();
  select make_interval(mins => s.no_show_grace_minutes) into grace
  from app_public.clinic_settings s where s.clinic_id = clinic;
  update app_public.appointments a set status = 'no_show'
  where (a.clinic_id, a.id) in (
    select d.clinic_id, d.id from app_public.appointments d
    where d.clinic_id = clinic and d.status = 'booked'
      and d.starts_at < least(mark_no_shows."at", now()) - coalesce(grace, interval '30 minutes')
    for update skip locked
  );
  get diagnostics marked = row_count;
  return marked;
end;
$function$;
grant execute on function app_hidden.mark_no_shows(timestamp with time zone) to app_user;

CREATE OR REPLACE FUNCTION app_hidden.merge_patients(merged_id uuid, survivor_id uuid)
 RETURNS jsonb
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  clinic uuid := app_public.current_clinic_id();
  merged app_public.patients;
  survivor app_public.patients;
  reference record;
  moved jsonb := '{}';
  moved_rows bigint;
begin
  if clinic is null or not app_public.current_role_is('clinic_admin') or app_public.current_member_id() is null then
    raise exception 'only clinic admins merge patients' using errcode = '42501';
  end if;
  perform from app_public.patients p where p.clinic_id = clinic and p.id in (merged_id, survivor_id) order by p.id for update;
  select * into merged from app_public.patients p where p.clinic_id = clinic and p.id = merged_id;
  if not found then
    return null;
  end if;
  if merged_id = survivor_id then
    raise exception 'a patient cannot be merged into itself' using errcode = 'CBMRG';
  end if;
  select * into survivor from app_public.patients p where p.clinic_id = clinic and p.id = survivor_id;
  if not found then
    raise exception 'no such survivor' using errcode = '23503', table = 'patients', column = 'survivor_id';
  end if;
  if merged.merged_into_id is not null or survivor.merged_into_id is not null then
    raise exception 'an already merged record cannot be merged again or merged into' using errcode = 'CBMRG';
  end if;
  if merged.member_id is not null and survivor.member_id is not null then
    raise exception 'both records have a portal login' using errcode = 'CBMRG';
  end if;

  for reference in
    select c.conrelid::regclass as relation, c.conname,
      (select pg_catalog.array_agg(a.attname::text order by k.n) from pg_catalog.unnest(c.conkey) with ordinality k(attnum, n)
         join pg_catalog.pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.attnum) as own_columns,
      (select pg_catalog.array_agg(a.attname::text order by k.n) from pg_catalog.unnest(c.confkey) with ordinality k(attnum, n)
         join pg_catalog.pg_attribute a on a.attrelid = c.confrelid and a.attnum = k.attnum) as referenced_columns
    from pg_catalog.pg_constraint c
    where c.contype = 'f' and c.confrelid = 'app_public.patients'::regclass
      and c.conrelid <> 'app_public.patient_access_log'::regclass
    order by c.conrelid::regclass::text, c.conname
  loop
    -- Tenant references are (clinic_id, x) → (clinic_id, id); anything else is not understood.
    if reference.referenced_columns <> array['clinic_id', 'id'] or reference.own_columns[1] <> 'clinic_id' then
      raise exception 'cannot merge patients: % (%) is not a (clinic_id, x) reference', reference.conname, reference.relation
        using errcode = '55000';
    end if;
    if not (app_private.owner_policy_allows(reference.relation, 'r') and app_private.owner_policy_allows(reference.relation, 'w')) then
      raise exception 'cannot merge patients: % has no read and update policies for app_owner', reference.relation using errcode = '55000';
    end if;
    execute pg_catalog.format('update %s set %I = $1 where clinic_id = $2 and %I = $3',
        reference.relation, reference.own_columns[2], reference.own_columns[2])
      using survivor_id, clinic, merged_id;
    get diagnostics moved_rows = row_count;
    if moved_rows > 0 then
      moved := moved || pg_catalog.jsonb_build_object(reference.relation::text || '.' || reference.own_columns[2], moved_rows);
    end if;
  end loop;

  update app_public.patients p set status = 'archived', merged_into_id = survivor_id, member_id = null
  where p.clinic_id = clinic and p.id = merged_id;
  update app_public.patients p set member_id = coalesce(p.member_id, merged.member_id)
  where p.clinic_id = clinic and p.id = survivor_id;
  perform app_private.write_audit_event('patients.merged', app_public.current_user_id(), clinic,
    pg_catalog.jsonb_build_object('merged', merged_id, 'survivor', survivor_id, 'moved', moved));
  return moved;
end;
$function$;
grant execute on function app_hidden.merge_patients(uuid,uuid) to app_user;
comment on function app_hidden.merge_patients(uuid,uuid) is 'Merges a duplicate patient record into its survivor: every reference moves, the merged record is archived and points at the survivor.';

CREATE OR REPLACE FUNCTION app_hidden.my_support_grants()
 RETURNS TABLE(grant_id uuid, clinic_id uuid, clinic_slug text, clinic_name text, reason text, expires_at timestamp with time zone, requires_two_factor boolean)
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 SELECT g.id,
     g.clinic_id,
     c.slug,
     c.name,
     g.reason,
     g.expires_at,
     app_hidden.clinic_requires_two_factor(g.clinic_id) AS clinic_requires_two_factor
    FROM (app_public.support_access_grants g
      JOIN app_public.clinics c ON ((c.id = g.clinic_id)))
   WHERE ((g.operator_account_id = app_public.current_user_id()) AND (g.revoked_at IS NULL) AND (g.expires_at > now()) AND (c.status = 'active'::text))
   ORDER BY g.expires_at;
END;
grant execute on function app_hidden.my_support_grants() to app_platform;

CREATE OR REPLACE FUNCTION app_hidden.my_two_factor()
 RETURNS TABLE(secret text, enabled boolean)
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 SELECT t.secret,
     (t.enabled_at IS NOT NULL)
    FROM app_private.two_factor t
   WHERE (t.account_id = app_public.current_user_id());
END;
grant execute on function app_hidden.my_two_factor() to app_user;

CREATE OR REPLACE FUNCTION app_hidden.notification_appointment(outbox_id bigint)
 RETURNS TABLE(starts_at timestamp with time zone, doctor_name text, status text)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  perform app_private.assert_worker();
  return query
  select a.starts_at, m.display_name, a.status
  from app_private.notification_outbox o
  join app_public.appointments a on a.clinic_id = o.clinic_id
    and a.id = case when o.payload->>'appointmentId' ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                    then (o.payload->>'appointmentId')::uuid end
  join app_public.clinic_members m on m.clinic_id = a.clinic_id and m.id = a.doctor_id
  where o.id = notification_appointment.outbox_id;
end;
$function$;
grant execute on function app_hidden.notification_appointment(bigint) to app_user;
comment on function app_hidden.notification_appointment(bigint) is '@behavior -*
The worker only: the appointment a message tells, looked up in the message''s clinic.';

CREATE OR REPLACE FUNCTION app_hidden.notification_attempt_failed(outbox_id bigint, reason text, final boolean)
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  perform app_private.assert_worker();
  update app_private.notification_outbox o
  set attempts = o.attempts + 1, last_error = left(notification_attempt_failed.reason, 500),
      status = case when notification_attempt_failed.final then 'failed' when o.status = 'sending' then 'pending' else o.status end,
      sending_until = null,
      failed_at = case when notification_attempt_failed.final then now() else o.failed_at end
  where o.id = notification_attempt_failed.outbox_id and o.status <> 'sent';
end;
$function$;
grant execute on function app_hidden.notification_attempt_failed(bigint,text,boolean) to app_user;
comment on function app_hidden.notification_attempt_failed(bigint,text,boolean) is '@behavior -*
The worker only: one failed attempt and its reason; final: the message is failed.';

CREATE OR REPLACE FUNCTION app_hidden.notification_claim(outbox_id bigint, lease_ms integer)
 RETURNS TABLE(id bigint, kind text, channel text, recipient text, payload jsonb, clinic_id uuid, status text, clinic_name text, sender_name text, language text, timezone text, clinic_suspended boolean, claimed boolean, sending_until timestamp with time zone)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  claimed_now boolean;
begin
  perform app_private.assert_worker();
  if lease_ms is null or lease_ms not between 1000 and 7200000 then
    raise exception 'a delivery lease is between 1 s and 2 h' using errcode = '22023';
  end if;
  -- A concurrent claim of the row waits for this one's commit, then finds the row 'sending'.
  update app_private.notification_outbox o
  set status = 'sending', sending_until = now() + make_interval(secs => lease_ms / 1000.0)
  where o.id = notification_claim.outbox_id
    and (o.status = 'pending' or o.status = 'sending' and o.sending_until < now())
    and not exists (select from app_public.clinics c where c.id = o.clinic_id and c.status = 'suspended');
  claimed_now := found;
  return query
  select o.id, o.kind, o.channel, o.recipient, o.payload, o.clinic_id, o.status,
         c.name, s.notification_sender_name, coalesce(s.language, 'en'), coalesce(c.timezone, 'UTC'),
         o.clinic_id is not null and c.status = 'suspended', claimed_now, o.sending_until
  from app_private.notification_outbox o
  left join app_public.clinics c on c.id = coalesce(o.clinic_id,
    (select i.id from app_public.clinics i where o.kind = 'invitation' and i.slug = o.payload->>'clinic_slug'))
  left join app_public.clinic_settings s on s.clinic_id = c.id
  where o.id = notification_claim.outbox_id;
end;
$function$;
grant execute on function app_hidden.notification_claim(bigint,integer) to app_user;
comment on function app_hidden.notification_claim(bigint,integer) is '@behavior -*
The worker only: claims one message for a delivery (sending, under a lease) and returns it with its clinic''s name, sender name, language and time zone; claimed false when it is not the caller''s to send.';

CREATE OR REPLACE FUNCTION app_hidden.notification_sent(outbox_id bigint)
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  perform app_private.assert_worker();
  update app_private.notification_outbox o
  set status = 'sent', sending_until = null, sent_at = now(), attempts = o.attempts + 1, failed_at = null
  where o.id = notification_sent.outbox_id and o.status <> 'sent';
end;
$function$;
grant execute on function app_hidden.notification_sent(bigint) to app_user;
comment on function app_hidden.notification_sent(bigint) is '@behavior -*
The worker only: the message was handed over.';

CREATE OR REPLACE FUNCTION app_hidden.onboard_clinic(slug text, name text, timezone text, plan text, admin_email text, admin_display_name text, invitation_hash bytea, invitation_token text, invitation_ttl interval)
 RETURNS uuid
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  new_clinic uuid;
begin
  if not exists (select 1 from app_private.platform_operators o where o.account_id = app_public.current_user_id()) then
    raise exception 'only platform operators onboard clinics' using errcode = '42501';
  end if;
  insert into app_public.clinics (slug, name, timezone, plan)
  values (onboard_clinic.slug, onboard_clinic.name, onboard_clinic.timezone, onboard_clinic.plan)
  returning id into new_clinic;
  insert into app_public.clinic_settings (clinic_id) values (new_clinic);
  perform app_private.invite_to_clinic(new_clinic, onboard_clinic.admin_email, 'clinic_admin', onboard_clinic.admin_display_name,
    onboard_clinic.invitation_hash, onboard_clinic.invitation_token, onboard_clinic.invitation_ttl);
  return new_clinic;
end;
$function$;
grant execute on function app_hidden.onboard_clinic(text,text,text,text,text,text,bytea,text,interval) to app_platform;

CREATE OR REPLACE FUNCTION app_hidden.patient_own_record()
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$;
grant execute on function app_hidden.patient_own_record() to app_user;
comment on function app_hidden.patient_own_record() is 'The calling patient''s own record as JSON, every table they may read (their export, right of access); null for anyone else.';

CREATE OR REPLACE FUNCTION app_hidden.platform_clinic_overview()
 RETURNS TABLE(id uuid, slug text, name text, timezone text, status text, plan text, plan_status text, created_at timestamp with time zone, members bigint)
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 SELECT c.id,
     c.slug,
     c.name,
     c.timezone,
     c.status,
     c.plan,
     c.plan_status,
     c.created_at,
     ( SELECT count(*) AS count
            FROM app_public.clinic_members m
           WHERE ((m.clinic_id = c.id) AND (m.status <> 'deactivated'::text))) AS count
    FROM app_public.clinics c
   WHERE (EXISTS ( SELECT 1
            FROM app_private.platform_operators o
           WHERE (o.account_id = app_public.current_user_id())))
   ORDER BY c.created_at, c.slug;
END;
grant execute on function app_hidden.platform_clinic_overview() to app_platform;

CREATE OR REPLACE FUNCTION app_hidden.platform_operator_id(email text)
 RETURNS uuid
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 SELECT o.account_id
    FROM (app_private.platform_operators o
      JOIN app_private.accounts a ON ((a.id = o.account_id)))
   WHERE ((lower(a.email) = lower(platform_operator_id.email)) AND (app_public.current_clinic_id() IS NOT NULL) AND app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text]));
END;
grant execute on function app_hidden.platform_operator_id(text) to app_user;

CREATE OR REPLACE FUNCTION app_hidden.purge_expired_logs(at timestamp with time zone)
 RETURNS TABLE(audit_log integer, access_log integer, more boolean)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  clinic uuid := app_public.current_clinic_id();
  cutoff timestamptz;
  batch constant integer := 5000;
  audit_rows integer;
  access_rows integer;
begin
  perform app_private.assert_worker();
  select least(purge_expired_logs."at", now()) - make_interval(hours => 24 * s.retention_days) into cutoff
  from app_public.clinic_settings s where s.clinic_id = clinic;
  -- One purge of a clinic at a time: a second worker's finds the lock taken and leaves at once
  -- (a plain delete would wait on the first one's rows, then find them gone).
  if cutoff is null or not pg_try_advisory_xact_lock(hashtextextended('app.retention_purge:' || clinic::text, 0)) then
    return query select 0, 0, false;
    return;
  end if;
  perform set_config('app.retention_purge', clinic::text || ':' || (extract(epoch from cutoff) * 1000000)::bigint::text, true);
  delete from app_audit.audit_log l
  where l.id in (
    select o.id from app_audit.audit_log o
    where o.clinic_id = clinic and o.occurred_at < cutoff
    order by o.occurred_at
    limit batch
  );
  get diagnostics audit_rows = row_count;
  delete from app_public.patient_access_log l
  where (l.clinic_id, l.id) in (
    select o.clinic_id, o.id from app_public.patient_access_log o
    where o.clinic_id = clinic and o.accessed_at < cutoff
    order by o.accessed_at
    limit batch
  );
  get diagnostics access_rows = row_count;
  perform set_config('app.retention_purge', '', true);
  if audit_rows + access_rows > 0 then
    perform app_private.write_audit_event('retention.purged', null, clinic,
      jsonb_build_object('before', cutoff, 'auditLog', audit_rows, 'accessLog', access_rows));
  end if;
  return query select audit_rows, access_rows, audit_rows = batch or access_rows = batch;
end;
$function$;
grant execute on function app_hidden.purge_expired_logs(timestamp with time zone) to app_user;

CREATE OR REPLACE FUNCTION app_hidden.record_auth_event(action text, account_id uuid, clinic_id uuid, details jsonb DEFAULT NULL::jsonb)
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if record_auth_event.action not in (
    'auth.login.succeeded', 'auth.login.failed', 'auth.login.locked', 'auth.refresh.reused', 'auth.logout', 'auth.switch',
    'auth.password.changed', 'auth.password.reset',
    'auth.two_factor.enabled', 'auth.two_factor.disabled', 'auth.two_factor.recovery_codes_replaced',
    'auth.two_factor.recovery_code_used'
  ) then
    raise exception 'unknown auth event %', record_auth_event.action using errcode = '22023';
  end if;
  perform app_private.write_audit_event(record_auth_event.action, record_auth_event.account_id, record_auth_event.clinic_id,
    record_auth_event.details);
end;
$function$;
grant execute on function app_hidden.record_auth_event(text,uuid,uuid,jsonb) to app_user;

CREATE OR REPLACE FUNCTION app_hidden.record_clinic_export_download(export_id uuid)
 RETURNS boolean
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$;
grant execute on function app_hidden.record_clinic_export_download(uuid) to app_user;
comment on function app_hidden.record_clinic_export_download(uuid) is 'Records a clinic admin''s download of a ready export in the audit log; false when it is not ready or has expired.';

CREATE OR REPLACE FUNCTION app_hidden.record_support_chart_access(grant_id uuid, clinic_id uuid, action text, patient_id uuid, file_id uuid)
 RETURNS boolean
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  clinic uuid := record_support_chart_access.clinic_id;
begin
  if not exists (
    select from app_public.support_access_grants g
    where g.clinic_id = clinic and g.id = record_support_chart_access.grant_id
      and g.operator_account_id = app_public.current_user_id() and g.revoked_at is null and g.expires_at > now()
  ) then
    return false;
  end if;
  if record_support_chart_access.file_id is null then
    insert into app_public.patient_access_log (clinic_id, patient_id, action, member_id, support_grant_id)
    select clinic, p.id, record_support_chart_access.action, null, record_support_chart_access.grant_id
    from app_public.patients p where p.clinic_id = clinic and p.id = record_support_chart_access.patient_id;
  else
    insert into app_public.patient_access_log (clinic_id, patient_id, file_id, action, member_id, support_grant_id)
    select clinic, f.patient_id, case when record_support_chart_access.action = 'download_file' then f.id end,
      record_support_chart_access.action, null, record_support_chart_access.grant_id
    from app_public.files f where f.clinic_id = clinic and f.id = record_support_chart_access.file_id;
  end if;
  return true;
end;
$function$;
grant execute on function app_hidden.record_support_chart_access(uuid,uuid,text,uuid,uuid) to app_platform;
comment on function app_hidden.record_support_chart_access(uuid,uuid,text,uuid,uuid) is 'Records in the chart access log a read made under a support access grant (the API calls it after the read-only read).';

CREATE OR REPLACE FUNCTION app_hidden.replace_recovery_codes(recovery_code_hashes bytea[])
 RETURNS void
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 DELETE FROM app_private.recovery_codes r
   WHERE (r.account_id = app_public.current_user_id());
 INSERT INTO app_private.recovery_codes (account_id, code_hash)  SELECT app_public.current_user_id() AS current_user_id,
             h.h
            FROM unnest(replace_recovery_codes.recovery_code_hashes) h(h)
           WHERE (app_public.current_user_id() IS NOT NULL);
END;
grant execute on function app_hidden.replace_recovery_codes(bytea[]) to app_user;

CREATE OR REPLACE FUNCTION app_hidden.request_password_reset(email text, token_hash bytea, token text, ttl interval)
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  account app_private.accounts;
begin
  select * into account from app_private.accounts a where lower(a.email) = lower(request_password_reset.email);
  if account.id is null then
    return;
  end if;
  insert into app_private.password_resets (token_hash, account_id, expires_at)
  values (request_password_reset.token_hash, account.id, now() + request_password_reset.ttl);
  insert into app_private.notification_outbox (kind, recipient, payload)
  values ('password_reset', account.email, jsonb_build_object('token', request_password_reset.token, 'expires_in', request_password_reset.ttl::text));
end;
$function$;
grant execute on function app_hidden.request_password_reset(text,bytea,text,interval) to app_user;

CREATE OR REPLACE FUNCTION app_hidden.reset_password(token_hash bytea, password_hash text)
 RETURNS uuid
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  reset_account uuid;
begin
  update app_private.password_resets r set used_at = now()
  where r.token_hash = reset_password.token_hash and r.used_at is null and r.expires_at > now()
  returning r.account_id into reset_account;
  if reset_account is not null then
    perform app_private.set_password(reset_account, reset_password.password_hash);
  end if;
  return reset_account;
end;
$function$;
grant execute on function app_hidden.reset_password(bytea,text) to app_user;

CREATE OR REPLACE FUNCTION app_hidden.revoke_refresh_family(token_hash bytea)
 RETURNS void
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 UPDATE app_private.refresh_tokens t SET revoked_at = now()
   WHERE ((t.revoked_at IS NULL) AND (t.family_id = ( SELECT r.family_id
            FROM app_private.refresh_tokens r
           WHERE (r.token_hash = revoke_refresh_family.token_hash))));
END;
grant execute on function app_hidden.revoke_refresh_family(bytea) to app_user;

CREATE OR REPLACE FUNCTION app_hidden.search_bundled_icd10(prefix text, words text, max_rows integer)
 RETURNS TABLE(code text, description text)
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 SELECT b.code,
     b.description
    FROM app_private.bundled_icd10_codes b
   WHERE ((b.code ~~ search_bundled_icd10.prefix) OR ((search_bundled_icd10.words IS NOT NULL) AND (to_tsvector('simple'::regconfig, b.description) @@ to_tsquery('simple'::regconfig, search_bundled_icd10.words))))
   ORDER BY b.code
  LIMIT LEAST(GREATEST(search_bundled_icd10.max_rows, 1), 50);
END;
grant execute on function app_hidden.search_bundled_icd10(text,text,integer) to app_user;
comment on function app_hidden.search_bundled_icd10(text,text,integer) is 'Common ICD-10 codes (the bundled list) by code prefix or word prefixes of their text.';

CREATE OR REPLACE FUNCTION app_hidden.search_patients_by_name(search_text text, date_of_birth date, after_rank real, after_id uuid, max_rows integer)
 RETURNS TABLE(id uuid, rank real)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER ROWS 21
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET "pg_trgm.word_similarity_threshold" TO '0.5'
AS $function$
declare
  clinic uuid := app_public.current_clinic_id();
  own_record uuid;
begin
  if clinic is null or not app_public.current_role_is('clinic_admin', 'doctor', 'nurse', 'receptionist', 'patient') then
    raise exception 'searching patients is not allowed' using errcode = '42501';
  end if;
  if app_public.current_role_is('patient') then
    own_record := app_public.current_patient_id();
    if own_record is null then
      return;
    end if;
  end if;
  return query
    select p.id, public.word_similarity(search_text, p.full_name) as rank
    from app_public.patients p
    where p.clinic_id = clinic
      and search_text operator(public.<%) p.full_name
      and (search_patients_by_name.date_of_birth is null or p.date_of_birth = search_patients_by_name.date_of_birth)
      and (own_record is null or p.id = own_record)
      and (after_rank is null
        or public.word_similarity(search_text, p.full_name) < after_rank
        or (public.word_similarity(search_text, p.full_name) = after_rank and p.id > after_id))
    order by 2 desc, 1
    limit least(greatest(max_rows, 1), 101);
end;
$function$;
grant execute on function app_hidden.search_patients_by_name(text,date,real,uuid,integer) to app_user;
comment on function app_hidden.search_patients_by_name(text,date,real,uuid,integer) is 'Patients of the context clinic whose name is like the query (word similarity), best first, as the caller may read them: ids and ranks.';

CREATE OR REPLACE FUNCTION app_hidden.set_clinic_export_state(export_id uuid, status text, progress integer, sha256 text DEFAULT NULL::text, size_bytes bigint DEFAULT NULL::bigint, expires_at timestamp with time zone DEFAULT NULL::timestamp with time zone, error text DEFAULT NULL::text)
 RETURNS text
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$;
grant execute on function app_hidden.set_clinic_export_state(uuid,text,integer,text,bigint,timestamp with time zone,text) to app_user;
comment on function app_hidden.set_clinic_export_state(uuid,text,integer,text,bigint,timestamp with time zone,text) is 'Moves an export of the context''s clinic along its status flow (the build job); the worker''s login only.';

CREATE OR REPLACE FUNCTION app_hidden.start_two_factor_setup(secret text)
 RETURNS boolean
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 WITH saved AS (
          INSERT INTO app_private.two_factor AS t (account_id, secret)  SELECT app_public.current_user_id() AS current_user_id,
                     start_two_factor_setup.secret AS secret
                   WHERE (app_public.current_user_id() IS NOT NULL) ON CONFLICT(account_id) DO UPDATE SET secret = excluded.secret, created_at = now(), last_used_step = NULL::bigint
           WHERE (t.enabled_at IS NULL)
           RETURNING 1 AS "?column?"
         )
  SELECT (EXISTS ( SELECT
            FROM saved)) AS "exists";
END;
grant execute on function app_hidden.start_two_factor_setup(text) to app_user;

CREATE OR REPLACE FUNCTION app_hidden.store_refresh_token(token_hash bytea, account_id uuid, clinic_id uuid, lifetime interval, two_factor boolean, family_id uuid DEFAULT NULL::uuid)
 RETURNS void
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 INSERT INTO app_private.refresh_tokens (token_hash, family_id, account_id, clinic_id, idle_expires_at, absolute_expires_at, two_factor)
   VALUES (store_refresh_token.token_hash, COALESCE(store_refresh_token.family_id, gen_random_uuid()), store_refresh_token.account_id, store_refresh_token.clinic_id, (now() + make_interval(mins => COALESCE(( SELECT s.session_idle_minutes
            FROM app_public.clinic_settings s
           WHERE (s.clinic_id = store_refresh_token.clinic_id)), 15))), (now() + store_refresh_token.lifetime), store_refresh_token.two_factor);
END;
grant execute on function app_hidden.store_refresh_token(bytea,uuid,uuid,interval,boolean,uuid) to app_user;

CREATE OR REPLACE FUNCTION app_hidden.use_recovery_code(code_hash bytea)
 RETURNS boolean
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 WITH used AS (
          UPDATE app_private.recovery_codes r SET used_at = now()
           WHERE ((r.account_id = app_public.current_user_id()) AND (r.code_hash = use_recovery_code.code_hash) AND (r.used_at IS NULL))
           RETURNING 1 AS "?column?"
         )
  SELECT (EXISTS ( SELECT
            FROM used)) AS "exists";
END;
grant execute on function app_hidden.use_recovery_code(bytea) to app_user;

CREATE OR REPLACE FUNCTION app_hidden.use_refresh_token(token_hash bytea)
 RETURNS TABLE(family_id uuid, account_id uuid, clinic_id uuid, clinic_slug text, role text, absolute_expires_at timestamp with time zone, reused boolean, two_factor boolean)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  presented app_private.refresh_tokens;
begin
  select * into presented from app_private.refresh_tokens t where t.token_hash = use_refresh_token.token_hash for update;
  if presented.token_hash is null then
    return;
  end if;
  if presented.rotated_at is not null and presented.revoked_at is null then
    update app_private.refresh_tokens t set revoked_at = now()
    where t.family_id = presented.family_id and t.revoked_at is null;
    return query select presented.family_id, presented.account_id, presented.clinic_id, null::text, null::text, null::timestamptz,
      true, presented.two_factor;
    return;
  end if;
  if presented.revoked_at is not null or presented.idle_expires_at <= now() or presented.absolute_expires_at <= now()
    or (not presented.two_factor and app_hidden.clinic_requires_two_factor(presented.clinic_id)) then
    return;
  end if;
  update app_private.refresh_tokens t set rotated_at = now() where t.token_hash = presented.token_hash;
  return query
    select presented.family_id, presented.account_id, presented.clinic_id, c.slug, m.role, presented.absolute_expires_at,
      false, presented.two_factor
    from app_public.clinic_members m
    join app_public.clinics c on c.id = m.clinic_id
    where m.clinic_id = presented.clinic_id and m.account_id = presented.account_id
      and m.status = 'active' and c.status = 'active';
end;
$function$;
grant execute on function app_hidden.use_refresh_token(bytea) to app_user;

CREATE OR REPLACE FUNCTION app_hidden.use_support_access(grant_id uuid, clinic_id uuid, two_factor boolean, what text, details jsonb)
 RETURNS boolean
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if use_support_access.what not in ('token_issued', 'used') then
    raise exception 'unknown support access event %', use_support_access.what using errcode = '22023';
  end if;
  if not exists (
    select from app_public.support_access_grants g join app_public.clinics c on c.id = g.clinic_id
    where g.id = use_support_access.grant_id and g.clinic_id = use_support_access.clinic_id
      and g.operator_account_id = app_public.current_user_id() and g.revoked_at is null and g.expires_at > now()
      and c.status = 'active' and (use_support_access.two_factor or not app_hidden.clinic_requires_two_factor(g.clinic_id))
  ) then
    return false;
  end if;
  perform app_private.write_audit_event('support.access.' || use_support_access.what, app_public.current_user_id(),
    use_support_access.clinic_id, jsonb_build_object('grant', use_support_access.grant_id) || coalesce(use_support_access.details, '{}'));
  return true;
end;
$function$;
grant execute on function app_hidden.use_support_access(uuid,uuid,boolean,text,jsonb) to app_platform;

CREATE OR REPLACE FUNCTION app_hidden.use_two_factor_step(step bigint)
 RETURNS boolean
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 WITH used AS (
          UPDATE app_private.two_factor t SET last_used_step = use_two_factor_step.step
           WHERE ((t.account_id = app_public.current_user_id()) AND (t.enabled_at IS NOT NULL) AND ((t.last_used_step IS NULL) OR (t.last_used_step < use_two_factor_step.step)))
           RETURNING 1 AS "?column?"
         )
  SELECT (EXISTS ( SELECT
            FROM used)) AS "exists";
END;
grant execute on function app_hidden.use_two_factor_step(bigint) to app_user;

CREATE OR REPLACE FUNCTION app_hidden.write_appointment_reminder(appointment_id uuid, reminder_window text, starts_at timestamp with time zone)
 RETURNS bigint
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  clinic uuid := app_public.current_clinic_id();
  patient uuid;
begin
  perform app_private.assert_worker();
  if reminder_window is null or reminder_window not in ('confirmation', '24h', '2h') then
    raise exception 'unknown reminder window %', reminder_window using errcode = '22023';
  end if;
  -- FOR SHARE waits for a transaction changing the row (a cancel or move not yet committed) and
  -- re-checks the row it committed: no message for a slot being given up.
  select a.patient_id into patient from app_public.appointments a
  where a.clinic_id = clinic and a.id = write_appointment_reminder.appointment_id
    and a.status = 'booked' and a.starts_at = write_appointment_reminder.starts_at and a.starts_at > now()
  for share;
  if patient is null then
    return null;
  end if;
  return app_private.notify_patient(
    clinic,
    patient,
    case reminder_window when 'confirmation' then 'appointment_confirmation' else 'appointment_reminder' end,
    jsonb_build_object('appointmentId', write_appointment_reminder.appointment_id, 'clinicId', clinic, 'window', reminder_window),
    app_private.appointment_message_dedup_key(clinic, write_appointment_reminder.appointment_id, reminder_window,
      write_appointment_reminder.starts_at)
  );
end;
$function$;
grant execute on function app_hidden.write_appointment_reminder(uuid,text,timestamp with time zone) to app_user;
comment on function app_hidden.write_appointment_reminder(uuid,text,timestamp with time zone) is 'The worker''s appointment confirmation or reminder: one outbox row while the appointment still holds that start, else nothing.';

CREATE OR REPLACE FUNCTION app_private.add_job(clinic_id uuid, task text, payload jsonb, run_at timestamp with time zone DEFAULT NULL::timestamp with time zone, job_key text DEFAULT NULL::text, max_attempts integer DEFAULT NULL::integer)
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  context_clinic uuid := app_public.current_clinic_id();
begin
  if add_job.clinic_id is null then
    raise exception 'a clinic''s job needs its clinic' using errcode = '22004';
  end if;
  if context_clinic is not null and context_clinic <> add_job.clinic_id then
    raise exception 'a transaction enqueues jobs for its own clinic only' using errcode = '42501';
  end if;
  perform graphile_worker.add_job(
    identifier => add_job.task,
    payload => (coalesce(add_job.payload, '{}'::jsonb) || jsonb_build_object('clinicId', add_job.clinic_id))::json,
    run_at => add_job.run_at,
    max_attempts => add_job.max_attempts,
    job_key => add_job.job_key,
    job_key_mode => 'replace');
end;
$function$;
comment on function app_private.add_job(uuid,text,jsonb,timestamp with time zone,text,integer) is 'Enqueues a job of a clinic (triggers and SECURITY DEFINER functions only): clinicId stamped into the payload; refused for another clinic than the transaction''s; a job_key replaces the waiting job of that key.';

CREATE OR REPLACE FUNCTION app_private.add_system_job(task text, payload jsonb, run_at timestamp with time zone DEFAULT NULL::timestamp with time zone, job_key text DEFAULT NULL::text, max_attempts integer DEFAULT NULL::integer)
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  perform graphile_worker.add_job(
    identifier => add_system_job.task,
    payload => (coalesce(add_system_job.payload, '{}'::jsonb) - 'clinicId')::json,
    run_at => add_system_job.run_at,
    max_attempts => add_system_job.max_attempts,
    job_key => add_system_job.job_key,
    job_key_mode => 'replace');
end;
$function$;
comment on function app_private.add_system_job(text,jsonb,timestamp with time zone,text,integer) is 'Enqueues a job of no clinic (triggers and SECURITY DEFINER functions only); any clinicId in the payload is dropped.';

CREATE OR REPLACE FUNCTION app_private.appointment_message_dedup_key(clinic_id uuid, appointment_id uuid, reminder_window text, starts_at timestamp with time zone)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 SELECT ((app_private.appointment_reminder_key(clinic_id, appointment_id, reminder_window) || ':'::text) || (floor(EXTRACT(epoch FROM starts_at)))::bigint);
END;

CREATE OR REPLACE FUNCTION app_private.appointment_message_windows()
 RETURNS SETOF text
 LANGUAGE sql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 SELECT 'confirmation'::text
 UNION ALL
  SELECT w.reminder_window
    FROM app_private.appointment_reminder_windows() w(reminder_window, lead);
END;

CREATE OR REPLACE FUNCTION app_private.appointment_reminder_key(clinic_id uuid, appointment_id uuid, reminder_window text)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 SELECT ((((('appointments__remind:'::text || clinic_id) || ':'::text) || appointment_id) || ':'::text) || reminder_window);
END;

CREATE OR REPLACE FUNCTION app_private.appointment_reminder_windows()
 RETURNS TABLE(reminder_window text, lead interval)
 LANGUAGE sql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 SELECT w.reminder_window,
     w.lead
    FROM ( VALUES ('24h'::text,'24:00:00'::interval), ('2h'::text,'02:00:00'::interval)) w(reminder_window, lead);
END;

CREATE OR REPLACE FUNCTION app_private.assert_worker()
 RETURNS void
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if session_user <> 'app_worker' then
    raise exception 'only the job worker may call this' using errcode = '42501';
  end if;
end;
$function$;
comment on function app_private.assert_worker() is 'Raises 42501 unless the session logged in as app_worker (graphile-worker''s login): the first statement of every worker-only function.';

CREATE OR REPLACE FUNCTION app_private.client_network()
 RETURNS inet
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 SELECT
         CASE
             WHEN (family(c.address) = 6) THEN (network(set_masklen(c.address, 64)))::inet
             ELSE c.address
         END AS address
    FROM ( SELECT (NULLIF(current_setting('app.client_ip'::text, true), ''::text))::inet AS address) c;
END;

CREATE OR REPLACE FUNCTION app_private.clinic_export_accounts(clinic uuid)
 RETURNS TABLE(account_id uuid, operator boolean)
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION app_private.clinic_export_tables()
 RETURNS TABLE(relation regclass, scope text)
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 SELECT (c.oid)::regclass AS oid,
         CASE
             WHEN (c.oid = ('app_public.clinics'::regclass)::oid) THEN 'clinic'::text
             WHEN (c.oid = ('app_audit.audit_log'::regclass)::oid) THEN 'audit'::text
             WHEN (c.oid = ('app_private.accounts'::regclass)::oid) THEN 'account'::text
             ELSE 'tenant'::text
         END AS "case"
    FROM (pg_class c
      JOIN pg_namespace n ON ((n.oid = c.relnamespace)))
   WHERE ((c.relkind = ANY (ARRAY['r'::"char", 'p'::"char"])) AND (n.nspname ~~ 'app\_%'::text) AND ((c.oid = ANY (ARRAY[('app_public.clinics'::regclass)::oid, ('app_private.accounts'::regclass)::oid])) OR (EXISTS ( SELECT
            FROM pg_attribute a
           WHERE ((a.attrelid = c.oid) AND (a.attname = 'clinic_id'::name) AND (NOT a.attisdropped))))) AND (((c.oid)::regclass)::text <> ALL (ARRAY['app_public.clinic_exports'::text, 'app_private.invitations'::text, 'app_private.refresh_tokens'::text, 'app_private.notification_outbox'::text])))
   ORDER BY
         CASE
             WHEN (c.oid = ('app_public.clinics'::regclass)::oid) THEN 0
             WHEN (n.nspname = 'app_audit'::name) THEN 2
             WHEN (c.oid = ('app_private.accounts'::regclass)::oid) THEN 3
             ELSE 1
         END, n.nspname, c.relname;
END;
comment on function app_private.clinic_export_tables() is 'The tables a clinic export carries, in archive order, and how each is scoped to the clinic (docs/export-format.md); no credential table.';

CREATE OR REPLACE FUNCTION app_private.clinic_local_now(clinic_id uuid)
 RETURNS timestamp without time zone
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 SELECT (now() AT TIME ZONE c.timezone) AS timezone
    FROM app_public.clinics c
   WHERE (c.id = clinic_local_now.clinic_id);
END;

CREATE OR REPLACE FUNCTION app_private.clinic_retention_horizon(clinic_id uuid)
 RETURNS timestamp with time zone
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 SELECT (now() - make_interval(hours => (24 * s.retention_days)))
    FROM app_public.clinic_settings s
   WHERE (s.clinic_id = clinic_retention_horizon.clinic_id);
END;

CREATE OR REPLACE FUNCTION app_private.count_login_failure(scope text, key text, max_failures integer, period interval, lock_for interval)
 RETURNS void
 LANGUAGE sql
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 INSERT INTO app_private.login_failures AS f (scope, key, failures)
   VALUES (count_login_failure.scope, count_login_failure.key, 1) ON CONFLICT(scope, key) DO UPDATE SET failures =
         CASE
             WHEN (f.window_started_at < (now() - count_login_failure.period)) THEN 1
             ELSE (f.failures + 1)
         END, window_started_at =
         CASE
             WHEN (f.window_started_at < (now() - count_login_failure.period)) THEN now()
             ELSE f.window_started_at
         END, locked_until =
         CASE
             WHEN ((f.window_started_at >= (now() - count_login_failure.period)) AND ((f.failures + 1) >= count_login_failure.max_failures)) THEN (now() + count_login_failure.lock_for)
             ELSE f.locked_until
         END;
END;

CREATE OR REPLACE FUNCTION app_private.create_platform_operator(email text, password_hash text)
 RETURNS uuid
 LANGUAGE sql
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 WITH account AS (
          INSERT INTO app_private.accounts (email, password_hash)
           VALUES (create_platform_operator.email, create_platform_operator.password_hash)
           RETURNING accounts.id
         )
  INSERT INTO app_private.platform_operators (account_id)  SELECT account.id
            FROM account
   RETURNING platform_operators.account_id;
END;

CREATE OR REPLACE FUNCTION app_private.doctor_schedule(clinic_id uuid, doctor_id uuid, from_date date, to_date date)
 RETURNS TABLE(starts_at timestamp with time zone, ends_at timestamp with time zone)
 LANGUAGE sql
 STABLE SECURITY DEFINER ROWS 40
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET jit TO 'off'
BEGIN ATOMIC
 WITH clinic AS (
          SELECT c.timezone,
             make_interval(mins => COALESCE(s.appointment_slot_minutes, 15)) AS slot,
             COALESCE(s.operating_hours, '{}'::jsonb) AS operating
            FROM (app_public.clinics c
              LEFT JOIN app_public.clinic_settings s ON ((s.clinic_id = c.id)))
           WHERE (c.id = doctor_schedule.clinic_id)
         ), doctor AS (
          SELECT m.office_hours
            FROM app_public.clinic_members m
           WHERE ((m.clinic_id = doctor_schedule.clinic_id) AND (m.id = doctor_schedule.doctor_id) AND (m.role = 'doctor'::text) AND (m.status = 'active'::text))
         ), days AS (
          SELECT (d.d)::date AS day,
             (ARRAY['sun'::text, 'mon'::text, 'tue'::text, 'wed'::text, 'thu'::text, 'fri'::text, 'sat'::text])[((EXTRACT(dow FROM d.d))::integer + 1)] AS weekday
            FROM generate_series((doctor_schedule.from_date)::timestamp without time zone, (doctor_schedule.to_date)::timestamp without time zone, '1 day'::interval) d(d)
         ), ranges AS (
          SELECT days.day,
             GREATEST(o.opens, p.opens) AS opens,
             LEAST(o.closes, p.closes) AS closes
            FROM ((((days
              CROSS JOIN doctor)
              CROSS JOIN clinic)
              CROSS JOIN LATERAL app_private.weekday_ranges(doctor.office_hours, days.weekday) o(opens, closes))
              CROSS JOIN LATERAL ( SELECT w.opens,
                     w.closes
                    FROM app_private.weekday_ranges(clinic.operating, days.weekday) w(opens, closes)
                 UNION ALL
                  SELECT '00:00:00'::time without time zone AS "time",
                     '23:59:59.999999'::time without time zone AS "time"
                   WHERE (clinic.operating = '{}'::jsonb)) p)
         ), local_slots AS (
          SELECT DISTINCT s.local_start
            FROM ((ranges r
              CROSS JOIN clinic)
              CROSS JOIN LATERAL generate_series((r.day + r.opens), ((r.day + r.closes) - clinic.slot), clinic.slot) s(local_start))
           WHERE (r.opens < r.closes)
         ), slots AS (
          SELECT (s.local_start AT TIME ZONE clinic.timezone) AS starts_at,
             ((s.local_start AT TIME ZONE clinic.timezone) + clinic.slot) AS ends_at
            FROM (local_slots s
              CROSS JOIN clinic)
           WHERE (((s.local_start AT TIME ZONE clinic.timezone) AT TIME ZONE clinic.timezone) = s.local_start)
         )
  SELECT slots.starts_at,
     slots.ends_at
    FROM slots
   WHERE (NOT (EXISTS ( SELECT
            FROM app_public.doctor_time_off t
           WHERE ((t.clinic_id = doctor_schedule.clinic_id) AND (t.doctor_id = doctor_schedule.doctor_id) AND (tstzrange(t.starts_at, t.ends_at) && tstzrange(slots.starts_at, slots.ends_at))))))
   ORDER BY slots.starts_at;
END;

CREATE OR REPLACE FUNCTION app_private.end_sessions(account_id uuid)
 RETURNS void
 LANGUAGE sql
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 UPDATE app_private.refresh_tokens t SET revoked_at = now()
   WHERE ((t.account_id = end_sessions.account_id) AND (t.revoked_at IS NULL));
 UPDATE app_private.accounts a SET sessions_ended_at = now()
   WHERE (a.id = end_sessions.account_id);
END;

CREATE OR REPLACE FUNCTION app_private.invite_to_clinic(clinic_id uuid, email text, role text, display_name text, invitation_hash bytea, invitation_token text, invitation_ttl interval)
 RETURNS uuid
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
#variable_conflict use_column
declare
  invited app_private.accounts;
  new_account boolean;
  member uuid;
  expires timestamptz := now() + invite_to_clinic.invitation_ttl;
begin
  insert into app_private.accounts (email, password_hash)
  values (invite_to_clinic.email, app_private.unset_password_hash())
  on conflict ((lower(email))) do nothing
  returning * into invited;
  new_account := invited.id is not null;
  if not new_account then
    select * into invited from app_private.accounts a where lower(a.email) = lower(invite_to_clinic.email);
  end if;
  insert into app_public.clinic_members (clinic_id, account_id, role, display_name, status)
  values (invite_to_clinic.clinic_id, invited.id, invite_to_clinic.role, invite_to_clinic.display_name, 'invited')
  returning id into member;
  insert into app_private.invitations (token_hash, clinic_id, account_id, expires_at, sets_first_password)
  values (invite_to_clinic.invitation_hash, invite_to_clinic.clinic_id, invited.id, expires, new_account);
  insert into app_private.notification_outbox (kind, recipient, payload)
  select 'invitation', invited.email, jsonb_build_object(
    'token', invite_to_clinic.invitation_token, 'clinic_slug', c.slug, 'clinic_name', c.name, 'role', invite_to_clinic.role,
    'sets_password', new_account, 'expires_at', expires)
  from app_public.clinics c where c.id = invite_to_clinic.clinic_id;
  return member;
end;
$function$;

CREATE OR REPLACE FUNCTION app_private.login_pair_key(email text)
 RETURNS text
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 SELECT ((lower(email) || ' '::text) || COALESCE(abbrev(app_private.client_network()), 'unknown'::text));
END;

CREATE OR REPLACE FUNCTION app_private.next_clinic_number(clinic_id uuid, counter text, period text)
 RETURNS integer
 LANGUAGE sql
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 INSERT INTO app_private.clinic_counters AS c (clinic_id, counter, period, last_value)
   VALUES (next_clinic_number.clinic_id, next_clinic_number.counter, next_clinic_number.period, 1) ON CONFLICT(clinic_id, counter, period) DO UPDATE SET last_value = (c.last_value + 1)
   RETURNING c.last_value;
END;

CREATE OR REPLACE FUNCTION app_private.notify_patient(clinic_id uuid, patient_id uuid, kind text, payload jsonb, dedup_key text)
 RETURNS bigint
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  preferred text;
  email text;
  phone text;
  chosen_channel text;
  recipient text;
  written bigint;
begin
  select p.contact_channel, coalesce(a.email, p.email), p.phone into preferred, email, phone
  from app_public.patients p
  left join app_public.clinic_members m on m.clinic_id = p.clinic_id and m.id = p.member_id and m.status = 'active'
  left join app_private.accounts a on a.id = m.account_id
  where p.clinic_id = notify_patient.clinic_id and p.id = notify_patient.patient_id
    -- Nobody is told about a record that is closed for good or now lives on as another one.
    and p.status not in ('deceased', 'archived') and p.merged_into_id is null;
  if preferred is null or preferred = 'none' then
    return null;
  end if;
  if preferred = 'sms' and phone is not null or email is null then
    chosen_channel := 'sms';
    recipient := phone;
  else
    chosen_channel := 'email';
    recipient := email;
  end if;
  if recipient is null then
    return null;
  end if;
  insert into app_private.notification_outbox (clinic_id, kind, channel, recipient, payload, dedup_key)
  values (notify_patient.clinic_id, notify_patient.kind, chosen_channel, recipient, notify_patient.payload, notify_patient.dedup_key)
  on conflict on constraint notification_outbox_dedup_key_key do nothing
  returning id into written;
  return written;
end;
$function$;
comment on function app_private.notify_patient(uuid,uuid,text,jsonb,text) is 'Writes one outbox message to a patient on their contact channel (or the other when it has no address); none when opted out, without address, deceased, archived or merged, or already written under dedup_key. Returns the row id or null.';

CREATE OR REPLACE FUNCTION app_private.owner_policy_allows(relation regclass, command "char")
 RETURNS boolean
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 SELECT (EXISTS ( SELECT
            FROM pg_policy p
           WHERE ((p.polrelid = (owner_policy_allows.relation)::oid) AND (p.polcmd = ANY (ARRAY[owner_policy_allows.command, '*'::"char"])) AND p.polpermissive AND ((to_regrole('app_owner'::text))::oid = ANY (p.polroles)) AND (pg_get_expr(p.polqual, p.polrelid) = 'true'::text) AND (COALESCE(pg_get_expr(p.polwithcheck, p.polrelid), 'true'::text) = 'true'::text)))) AS "exists";
END;

CREATE OR REPLACE FUNCTION app_private.patient_reads(patient_id uuid)
 RETURNS boolean
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 SELECT (app_public.current_role_is(VARIADIC ARRAY['patient'::text]) AND (patient_id = app_public.current_patient_id()));
END;
grant execute on function app_private.patient_reads(uuid) to app_user;
comment on function app_private.patient_reads(uuid) is 'True when the caller is the patient whose record this is: the row rule of a patient''s own clinical records.';

CREATE OR REPLACE FUNCTION app_private.queue_appointment_reminder(appointment app_public.appointments, reminder_window text, run_at timestamp with time zone)
 RETURNS void
 LANGUAGE sql
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 SELECT app_private.add_job((appointment).clinic_id, 'appointments__remind'::text, jsonb_build_object('appointmentId', (appointment).id, 'window', reminder_window, 'startsAt', to_char(((appointment).starts_at AT TIME ZONE 'UTC'::text), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'::text)), run_at, app_private.appointment_reminder_key((appointment).clinic_id, (appointment).id, reminder_window)) AS add_job;
END;

CREATE OR REPLACE FUNCTION app_private.refiles_patient_only(old_row jsonb, new_row jsonb)
 RETURNS boolean
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 SELECT ((CURRENT_USER = 'app_owner'::name) AND ((old_row -> 'patient_id'::text) IS DISTINCT FROM (new_row -> 'patient_id'::text)) AND ((old_row - ARRAY['patient_id'::text, 'updated_at'::text, 'version'::text]) = (new_row - ARRAY['patient_id'::text, 'updated_at'::text, 'version'::text])));
END;
comment on function app_private.refiles_patient_only(jsonb,jsonb) is 'True when a row''s update (old and new as jsonb) is a patient merge re-filing it: as app_owner, patient_id changed and nothing else (updated_at and version aside).';

CREATE OR REPLACE FUNCTION app_private.remove_job(job_key text)
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  perform graphile_worker.remove_job(remove_job.job_key);
end;
$function$;
comment on function app_private.remove_job(text) is 'Removes the waiting job of a key (a running one finishes).';

CREATE OR REPLACE FUNCTION app_private.resend_notification(outbox_id bigint)
 RETURNS boolean
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  update app_private.notification_outbox o set status = 'pending', failed_at = null, sending_until = null
  where o.id = resend_notification.outbox_id
    and (o.status in ('pending', 'failed') or o.status = 'sending' and o.sending_until < now());
  if not found then
    return false;
  end if;
  perform graphile_worker.complete_jobs(array(
    select j.id from graphile_worker._private_jobs j join graphile_worker._private_tasks k on k.id = j.task_id
    where k.identifier = 'notification_outbox__deliver' and j.payload->>'outboxId' = resend_notification.outbox_id::text
      and j.attempts >= j.max_attempts and j.locked_at is null));
  perform app_private.add_system_job('notification_outbox__deliver', jsonb_build_object('outboxId', resend_notification.outbox_id), null,
    'notification_outbox__deliver:' || resend_notification.outbox_id, 10);
  return true;
end;
$function$;
comment on function app_private.resend_notification(bigint) is 'Operators (psql as app_owner): a failed or stuck message (pending without a job, sending past its lease) back to pending and queued again; false for a sent one or one being sent.';

CREATE OR REPLACE FUNCTION app_private.retention_purge_covers(clinic_id uuid, logged_at timestamp with time zone)
 RETURNS boolean
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 SELECT
         CASE
             WHEN ((CURRENT_USER = 'app_owner'::name) AND (current_setting('app.retention_purge'::text, true) ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:[0-9]{1,18}$'::text)) THEN COALESCE((((split_part(current_setting('app.retention_purge'::text, true), ':'::text, 1))::uuid = clinic_id) AND (((EXTRACT(epoch FROM logged_at) * (1000000)::numeric))::bigint < (split_part(current_setting('app.retention_purge'::text, true), ':'::text, 2))::bigint) AND (logged_at < app_private.clinic_retention_horizon(clinic_id))), false)
             ELSE false
         END AS "case";
END;

CREATE OR REPLACE FUNCTION app_private.set_password(account_id uuid, password_hash text)
 RETURNS void
 LANGUAGE sql
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 UPDATE app_private.accounts a SET password_hash = set_password.password_hash
   WHERE (a.id = set_password.account_id);
 UPDATE app_private.password_resets r SET used_at = now()
   WHERE ((r.account_id = set_password.account_id) AND (r.used_at IS NULL));
 SELECT app_private.end_sessions(account_id) AS end_sessions;
END;

CREATE OR REPLACE FUNCTION app_private.signed_in_from_here(email text)
 RETURNS boolean
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 SELECT (EXISTS ( SELECT
            FROM (app_private.login_networks n
              JOIN app_private.accounts a ON ((a.id = n.account_id)))
           WHERE ((lower(a.email) = lower(signed_in_from_here.email)) AND (n.network = app_private.client_network()) AND (n.last_signed_in_at > (now() - '90 days'::interval))))) AS "exists";
END;

CREATE OR REPLACE FUNCTION app_private.tg_acknowledged_allergy_of_patient()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  -- A patient merge: the allergy moves to the survivor in the same merge (0950-patient-merge).
  if tg_op = 'UPDATE' and current_user = 'app_owner' then
    if app_private.refiles_patient_only(to_jsonb(old), to_jsonb(new)) then
      return new;
    end if;
  end if;
  if not exists (select from app_public.patient_history h where h.clinic_id = new.clinic_id and h.id = new.allergy_id
      and h.patient_id = new.patient_id and h.kind = 'allergy') then
    raise exception 'not an allergy of the patient' using errcode = '23514', table = 'prescription_allergy_acknowledgements',
      constraint = 'prescription_allergy_acknowledgements_allergy_id_valid';
  end if;
  return new;
end;
$function$;

CREATE OR REPLACE FUNCTION app_private.tg_appointment_in_schedule()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  local_date date;
begin
  -- An end before the start is appointments_ends_at_valid's to report (422 naming endsAt).
  if new.status <> 'booked' or new.ends_at <= new.starts_at then
    return new;
  end if;
  if tg_op = 'UPDATE' and (new.doctor_id, new.starts_at, new.ends_at) is not distinct from (old.doctor_id, old.starts_at, old.ends_at) then
    return new;
  end if;
  select (new.starts_at at time zone c.timezone)::date into local_date from app_public.clinics c where c.id = new.clinic_id;
  if new.starts_at <= now() or not exists (
    select from app_private.doctor_schedule(new.clinic_id, new.doctor_id, local_date, local_date) s
    where s.starts_at = new.starts_at and s.ends_at = new.ends_at
  ) then
    raise exception 'not a slot of the doctor''s schedule' using errcode = 'CBSLT', table = tg_table_name, column = 'starts_at';
  end if;
  return new;
end;
$function$;

CREATE OR REPLACE FUNCTION app_private.tg_appointment_reminders()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  w record;
begin
  if tg_op = 'UPDATE' then
    -- A row the delivery holds is being sent: skipped, not waited for (the change stays quick).
    delete from app_private.notification_outbox o
    where o.id in (
      select p.id from app_private.notification_outbox p
      where p.clinic_id = old.clinic_id and p.status = 'pending'
        and p.kind in ('appointment_confirmation', 'appointment_reminder')
        and p.dedup_key in (
          select app_private.appointment_message_dedup_key(old.clinic_id, old.id, k, old.starts_at)
          from app_private.appointment_message_windows() k
        )
      for update skip locked
    );
  end if;
  if new.status = 'booked' and new.starts_at > now() then
    perform app_private.queue_appointment_reminder(new, 'confirmation', null);
    for w in select * from app_private.appointment_reminder_windows() loop
      if new.starts_at - w.lead > now() then
        perform app_private.queue_appointment_reminder(new, w.reminder_window, new.starts_at - w.lead);
      elsif tg_op = 'UPDATE' then
        perform app_private.remove_job(app_private.appointment_reminder_key(new.clinic_id, new.id, w.reminder_window));
      end if;
    end loop;
  elsif tg_op = 'UPDATE' and old.status = 'booked' then
    perform app_private.remove_job(app_private.appointment_reminder_key(new.clinic_id, new.id, k))
    from app_private.appointment_message_windows() k;
  end if;
  return null;
end;
$function$;

CREATE OR REPLACE FUNCTION app_private.tg_appointment_transition()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if new.status is distinct from old.status and not (
    (old.status = 'booked' and new.status in ('checked_in', 'completed', 'cancelled', 'no_show'))
    or (old.status = 'checked_in' and new.status in ('completed', 'no_show'))
  ) then
    raise exception 'appointment status % cannot become %', old.status, new.status using errcode = 'CBSTA';
  end if;
  if (new.doctor_id, new.starts_at, new.ends_at) is distinct from (old.doctor_id, old.starts_at, old.ends_at)
    and not (old.status = 'booked' and new.status = 'booked') then
    raise exception 'only a booked appointment can be moved' using errcode = 'CBSTA';
  end if;
  if app_public.current_role_is('patient') and (
    (new.patient_id, new.doctor_id, new.reason) is distinct from (old.patient_id, old.doctor_id, old.reason)
    or old.starts_at <= now()
  ) then
    raise exception 'a patient changes only the time or the cancellation of their own future appointments' using errcode = '42501';
  end if;
  return new;
end;
$function$;

CREATE OR REPLACE FUNCTION app_private.tg_audit_log_is_append_only()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if tg_op = 'DELETE' then
    if app_private.retention_purge_covers(old.clinic_id, old.occurred_at) then
      return old;
    end if;
  end if;
  raise exception 'audit_log is append-only (% refused)', tg_op using errcode = 'CBAUD';
end;
$function$;

CREATE OR REPLACE FUNCTION app_private.tg_audit_row()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION app_private.tg_bump_prescription_version()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  new.version := old.version + 1;
  return new;
end;
$function$;

CREATE OR REPLACE FUNCTION app_private.tg_bump_test_report_version()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  new.version := old.version + 1;
  return new;
end;
$function$;

CREATE OR REPLACE FUNCTION app_private.tg_bump_version()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  new.version := old.version + 1;
  return new;
end;
$function$;

CREATE OR REPLACE FUNCTION app_private.tg_clinic_reactivated_resume_jobs()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  perform graphile_worker.reschedule_jobs(
    -- graphile-worker's jobs view leaves payloads and flags out; its table has them.
    array(select j.id from graphile_worker._private_jobs j join graphile_worker._private_tasks k on k.id = j.task_id
          where j.flags ? 'held_for_suspension' and j.locked_at is null and j.run_at > now()
            and (j.payload->>'clinicId' = new.id::text
                 or k.identifier = 'notification_outbox__deliver' and exists (
                   select from app_private.notification_outbox o
                   where o.clinic_id = new.id
                     and o.id = case when j.payload->>'outboxId' ~ '^[0-9]{1,18}$' then (j.payload->>'outboxId')::bigint end))),
    run_at => now());
  return null;
end;
$function$;

CREATE OR REPLACE FUNCTION app_private.tg_consultation_child()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  parent app_public.consultations;
  rule text := tg_argv[0];
begin
  select c.* into parent from app_public.consultations c
  where c.clinic_id = (case tg_op when 'DELETE' then old.clinic_id else new.clinic_id end)
    and c.id = (case tg_op when 'DELETE' then old.consultation_id else new.consultation_id end)
  for share;
  -- A patient merge re-filing the consultation: the row follows it, nothing else changes
  -- (0950-patient-merge; a definer, so the parent's patient is the check, not current_user).
  if tg_op = 'UPDATE' and found and new.patient_id = parent.patient_id
     and app_private.refiles_patient_only(to_jsonb(old), to_jsonb(new)) then
    return new;
  end if;
  if rule = 'addendum_is_final' then
    if tg_op <> 'INSERT' then
      raise exception 'an addendum does not change' using errcode = 'CBLCK', constraint = rule;
    end if;
    if found and parent.status <> 'signed' then
      raise exception 'addenda are written on signed consultations' using errcode = 'CBSTA',
        constraint = 'addendum_needs_signed_consultation';
    end if;
  elsif found and parent.status = 'signed' then
    raise exception 'the consultation is signed' using errcode = 'CBLCK', constraint = rule;
  end if;
  if tg_op = 'DELETE' then
    return old;
  end if;
  -- Not found: the foreign key refuses it (another clinic's consultation is not found either).
  if found then
    new.patient_id := parent.patient_id;
  end if;
  return new;
end;
$function$;

CREATE OR REPLACE FUNCTION app_private.tg_consultation_complete_visit()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  update app_public.visits set status = 'completed'
  where clinic_id = new.clinic_id and id = new.visit_id and status = 'in_consultation';
  return null;
end;
$function$;

CREATE OR REPLACE FUNCTION app_private.tg_consultation_lock()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if tg_op = 'UPDATE' and new.patient_id is distinct from old.patient_id then
    if current_user = 'app_owner' then
      if app_private.refiles_patient_only(to_jsonb(old), to_jsonb(new)) then
        return new;
      end if;
    end if;
    raise exception 'a consultation''s patient changes only by a patient merge' using errcode = 'CBLCK',
      constraint = 'consultation_patient_changes_by_merge';
  end if;
  if old.status = 'signed' then
    if tg_op = 'UPDATE' and new.status is distinct from old.status then
      raise exception 'a consultation cannot go from % to %', old.status, new.status using errcode = 'CBSTA',
        constraint = 'consultation_status_transition';
    end if;
    raise exception 'a signed consultation does not change' using errcode = 'CBLCK', constraint = 'consultation_signed_is_final';
  end if;
  return case tg_op when 'DELETE' then old else new end;
end;
$function$;

CREATE OR REPLACE FUNCTION app_private.tg_consultation_open_visit()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  opened app_public.visits;
begin
  select v.* into opened from app_public.visits v where v.clinic_id = new.clinic_id and v.id = new.visit_id for update;
  if not found then
    raise exception 'no such visit' using errcode = '23503', table = tg_table_name, column = 'visit_id',
      constraint = 'consultations_visit_id_fkey';
  end if;
  if opened.doctor_id is distinct from new.doctor_id then
    raise exception 'the visit is not in this doctor''s queue' using errcode = '23514', table = tg_table_name,
      column = 'visit_id', constraint = 'consultations_visit_id_valid';
  end if;
  if opened.status not in ('waiting', 'called', 'in_consultation') then
    raise exception 'a visit in status % cannot be opened', opened.status using errcode = 'CBSTA',
      constraint = 'consultation_needs_open_visit';
  end if;
  new.patient_id := opened.patient_id;
  if opened.status = 'waiting' then
    update app_public.visits set status = 'called' where clinic_id = opened.clinic_id and id = opened.id;
  end if;
  if opened.status <> 'in_consultation' then
    update app_public.visits set status = 'in_consultation' where clinic_id = opened.clinic_id and id = opened.id;
  end if;
  return new;
end;
$function$;

CREATE OR REPLACE FUNCTION app_private.tg_consultation_transition()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if new.status is distinct from old.status then
    if not (old.status = 'draft' and new.status = 'signed') then
      raise exception 'a consultation cannot go from % to %', old.status, new.status using errcode = 'CBSTA',
        constraint = 'consultation_status_transition';
    end if;
    new.signed_at := now();
    new.completed_at := new.signed_at;
  else
    new.signed_at := old.signed_at;
    new.completed_at := old.completed_at;
  end if;
  return new;
end;
$function$;

CREATE OR REPLACE FUNCTION app_private.tg_diagnosis_default_description()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if new.description is null then
    new.description := coalesce(
      (select k.description from app_public.clinic_icd10_codes k where k.clinic_id = new.clinic_id and k.code = new.icd10_code),
      (select b.description from app_private.bundled_icd10_codes b where b.code = new.icd10_code));
  end if;
  return new;
end;
$function$;

CREATE OR REPLACE FUNCTION app_private.tg_enforce_plan_limits()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  seat_limit integer;
begin
  if new.status = 'deactivated' or new.role not in ('doctor', 'receptionist') then
    return new;
  end if;
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended(new.clinic_id::text, 0));
  select case new.role when 'doctor' then p.max_doctors else p.max_receptionists end into seat_limit
  from app_public.clinics c join app_private.plans p on p.code = c.plan
  where c.id = new.clinic_id;
  if seat_limit is not null and seat_limit <= (
    select count(*) from app_public.clinic_members m
    where m.clinic_id = new.clinic_id and m.role = new.role and m.status <> 'deactivated' and m.id <> new.id
  ) then
    raise exception 'the clinic''s plan allows % %s', seat_limit, new.role using errcode = 'CBLIM';
  end if;
  return new;
end;
$function$;

CREATE OR REPLACE FUNCTION app_private.tg_enforce_plan_quota()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  plan_column text := tg_argv[0];
  size_column text := tg_argv[1];
  quota bigint;
  used bigint;
  adding bigint := 1;
begin
  if plan_column is null or plan_column not in ('max_patients', 'max_storage_mb') then
    raise exception 'unknown plan limit %', plan_column using errcode = '22023';
  end if;
  -- Without the owner's read policy `using (true)`, forced RLS would hide rows and the quota
  -- would not bite.
  if not exists (
    select from pg_catalog.pg_policy p
    where p.polrelid = tg_relid and p.polcmd in ('r', '*') and p.polpermissive
      and 'app_owner'::regrole::oid = any (p.polroles) and pg_catalog.pg_get_expr(p.polqual, p.polrelid) = 'true'
  ) then
    raise exception '%.% has no read policy for app_owner: the plan quota cannot count its rows', tg_table_schema, tg_table_name
      using errcode = '55000';
  end if;
  execute format('select p.%I from app_public.clinics c join app_private.plans p on p.code = c.plan where c.id = $1', plan_column)
    into quota using new.clinic_id;
  if quota is null then
    return new;
  end if;
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended(new.clinic_id::text || '/' || tg_relid::text, 0));
  if size_column is null then
    execute format('select count(*) from %I.%I where clinic_id = $1', tg_table_schema, tg_table_name)
      into used using new.clinic_id;
  else
    quota := quota * 1024 * 1024;
    execute format('select coalesce(sum(%I), 0) from %I.%I where clinic_id = $1 and id <> $2', size_column, tg_table_schema, tg_table_name)
      into used using new.clinic_id, new.id;
    adding := coalesce((pg_catalog.to_jsonb(new) ->> size_column)::bigint, 0);
  end if;
  if used + adding > quota then
    raise exception 'the clinic''s plan allows % (%)', quota, plan_column using errcode = 'CBQTA';
  end if;
  return new;
end;
$function$;

CREATE OR REPLACE FUNCTION app_private.tg_enqueue_clinic_export_build()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  perform app_private.add_job(new.clinic_id, 'clinic_exports__build', pg_catalog.jsonb_build_object('exportId', new.id),
    job_key => 'clinic_exports__build:' || new.clinic_id || ':' || new.id);
  return null;
end;
$function$;

CREATE OR REPLACE FUNCTION app_private.tg_follow_up_due_date()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if new.due_date < app_public.current_clinic_date() then
    raise exception 'a follow-up is due today or later'
      using errcode = '23514', table = tg_table_name, column = 'due_date', constraint = 'follow_ups_due_date_valid';
  end if;
  return new;
end;
$function$;

CREATE OR REPLACE FUNCTION app_private.tg_follow_up_transition()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  -- A patient merge re-filing the consultation: the follow-up follows it (0950-patient-merge).
  if current_user = 'app_owner' then
    if app_private.refiles_patient_only(to_jsonb(old), to_jsonb(new)) then
      return new;
    end if;
  end if;
  if old.status <> 'pending' then
    raise exception 'a % follow-up is final', old.status
      using errcode = 'CBSTA', constraint = 'follow_up_closed_is_final';
  end if;
  if new.status is distinct from old.status and new.status = 'pending' then
    raise exception 'a follow-up cannot go from pending to pending'
      using errcode = 'CBSTA', constraint = 'follow_up_closed_is_final';
  end if;
  return new;
end;
$function$;

CREATE OR REPLACE FUNCTION app_private.tg_keep_an_active_admin()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if old.role = 'clinic_admin' and old.status = 'active'
     and not exists (
       select 1 from app_public.clinic_members m
       where m.clinic_id = old.clinic_id and m.role = 'clinic_admin' and m.status = 'active'
     ) then
    raise exception 'a clinic keeps at least one active admin' using errcode = 'CBADM';
  end if;
  return null;
end;
$function$;

CREATE OR REPLACE FUNCTION app_private.tg_notification_outbox_deliver()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  perform app_private.add_system_job('notification_outbox__deliver', jsonb_build_object('outboxId', new.id), null,
    'notification_outbox__deliver:' || new.id, 10);
  return null;
end;
$function$;

CREATE OR REPLACE FUNCTION app_private.tg_prescription_child_lock()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  row_ record := case when tg_op = 'DELETE' then old else new end;
  parent_status text;
begin
  -- A patient merge re-filing the prescription: the row follows it (0950-patient-merge).
  if tg_op = 'UPDATE' and current_user = 'app_owner' then
    if app_private.refiles_patient_only(to_jsonb(old), to_jsonb(new)) then
      return new;
    end if;
  end if;
  if tg_op <> 'INSERT' then
    select p.status into parent_status from app_public.prescriptions p
      where p.clinic_id = old.clinic_id and p.id = old.prescription_id for share;
    if parent_status is distinct from 'draft' and parent_status is not null then
      raise exception 'prescription % is %', old.prescription_id, parent_status using errcode = 'CBLCK', constraint = 'prescription_issued_is_locked';
    end if;
  end if;
  if tg_op <> 'DELETE' then
    select p.status into parent_status from app_public.prescriptions p
      where p.clinic_id = new.clinic_id and p.id = new.prescription_id for share;
    if parent_status is distinct from 'draft' and parent_status is not null then
      raise exception 'prescription % is %', new.prescription_id, parent_status using errcode = 'CBLCK', constraint = 'prescription_issued_is_locked';
    end if;
  end if;
  return row_;
end;
$function$;

CREATE OR REPLACE FUNCTION app_private.tg_prescription_number()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  year text;
  serial integer;
begin
  if new.status = 'issued' and old.status = 'draft' then
    year := pg_catalog.to_char(app_private.clinic_local_now(new.clinic_id), 'YYYY');
    serial := app_private.next_clinic_number(new.clinic_id, 'prescription_number', year);
    new.prescription_number := 'RX-' || year || '-' || pg_catalog.lpad(serial::text, greatest(5, pg_catalog.length(serial::text)), '0');
  end if;
  return new;
end;
$function$;

CREATE OR REPLACE FUNCTION app_private.tg_prescription_transition()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if tg_op = 'DELETE' then
    if old.status <> 'draft' then
      raise exception 'prescription % is %', old.id, old.status using errcode = 'CBLCK', constraint = 'prescription_issued_is_locked';
    end if;
    return old;
  end if;
  -- A patient merge re-filing it under the survivor (0950-patient-merge).
  if current_user = 'app_owner' then
    if app_private.refiles_patient_only(to_jsonb(old), to_jsonb(new)) then
      return new;
    end if;
  end if;
  if new.status = old.status then
    if old.status = 'draft' then
      -- (A reason on a draft: prescriptions_cancellation_reason_valid refuses it.)
      return new;
    end if;
    -- Moving to the state it is in (issuing an issued prescription): a refused move, not an edit.
    if (to_jsonb(new) - array['updated_at', 'version']) = (to_jsonb(old) - array['updated_at', 'version']) then
      raise exception 'prescription % is %', old.id, old.status
        using errcode = 'CBSTA', constraint = case when old.status = 'issued' then 'prescription_issued_is_final' else 'prescription_closed_is_final' end;
    end if;
    raise exception 'prescription % is %', old.id, old.status using errcode = 'CBLCK', constraint = 'prescription_issued_is_locked';
  end if;
  if old.status in ('completed', 'cancelled') then
    raise exception 'prescription % is %', old.id, old.status using errcode = 'CBSTA', constraint = 'prescription_closed_is_final';
  end if;
  if not ((old.status = 'draft' and new.status in ('issued', 'cancelled')) or (old.status = 'issued' and new.status in ('completed', 'cancelled'))) then
    raise exception 'prescription % cannot move from % to %', old.id, old.status, new.status
      using errcode = 'CBSTA', constraint = case when new.status = 'completed' then 'prescription_complete_needs_issue' else 'prescription_issued_is_final' end;
  end if;
  -- A move changes the status (and a cancellation's reason), nothing else of a locked prescription.
  if old.status <> 'draft' and (to_jsonb(new) - array['status', 'cancellation_reason', 'updated_at', 'version']) <> (to_jsonb(old) - array['status', 'cancellation_reason', 'updated_at', 'version']) then
    raise exception 'prescription % is %', old.id, old.status using errcode = 'CBLCK', constraint = 'prescription_issued_is_locked';
  end if;
  -- Only a cancellation gives a reason: issuing or completing with one is refused.
  if new.status <> 'cancelled' and new.cancellation_reason is not null then
    raise exception 'prescription % is not being cancelled', old.id using errcode = 'CBSTA', constraint = 'prescription_reason_needs_cancel';
  end if;
  if new.status = 'cancelled' then
    if new.cancellation_reason is null then
      raise exception 'cancelling prescription % needs a reason', old.id using errcode = 'CBSTA', constraint = 'prescription_cancel_needs_reason';
    end if;
    new.cancelled_at := now();
  elsif new.status = 'completed' then
    new.completed_at := now();
  elsif new.status = 'issued' then
    -- Lock the items' parent row first (the update holds it): concurrent item writes wait or see 'issued'.
    if not exists (select from app_public.prescription_items i where i.clinic_id = new.clinic_id and i.prescription_id = new.id) then
      raise exception 'prescription % has no items', old.id using errcode = 'CBSTA', constraint = 'prescription_issue_needs_items';
    end if;
    if exists (select from app_public.prescription_allergy_matches(new.id) m where not m.acknowledged) then
      raise exception 'prescription % matches an unacknowledged allergy', old.id
        using errcode = 'CBALG', constraint = 'prescription_allergy_needs_acknowledgement';
    end if;
    new.issued_at := now();
  end if;
  return new;
end;
$function$;
comment on function app_private.tg_prescription_transition() is 'The prescriptions'' state machine and lock: draft → issued → completed | cancelled, draft → cancelled; locked once issued; a reason only with a cancellation.';

CREATE OR REPLACE FUNCTION app_private.tg_require_member_role()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  column_name text := tg_argv[0];
  required_role text := tg_argv[1];
  member uuid := (pg_catalog.to_jsonb(new) ->> column_name)::uuid;
begin
  if member is not null and not exists (
    select from app_public.clinic_members m where m.clinic_id = new.clinic_id and m.id = member and m.role = required_role
  ) then
    raise exception '% must be a % membership', column_name, required_role
      using errcode = '23514', table = tg_table_name, column = column_name,
            constraint = tg_table_name || '_' || column_name || '_valid';
  end if;
  return new;
end;
$function$;

CREATE OR REPLACE FUNCTION app_private.tg_set_patient_number()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  year text := pg_catalog.to_char(app_private.clinic_local_now(new.clinic_id), 'YYYY');
  serial integer := app_private.next_clinic_number(new.clinic_id, 'patient_number', year);
begin
  new.patient_number := 'PT-' || year || '-' || pg_catalog.lpad(serial::text, greatest(5, pg_catalog.length(serial::text)), '0');
  return new;
end;
$function$;

CREATE OR REPLACE FUNCTION app_private.tg_set_updated_at()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  new.updated_at := now();
  return new;
end;
$function$;

CREATE OR REPLACE FUNCTION app_private.tg_set_visit_token()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  new.visit_date := app_private.clinic_local_now(new.clinic_id)::date;
  new.token_number := app_private.next_clinic_number(new.clinic_id, 'visit_token', pg_catalog.to_char(new.visit_date, 'YYYY-MM-DD'));
  return new;
end;
$function$;

CREATE OR REPLACE FUNCTION app_private.tg_stamp_revocation()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if new.revoked_at is not null then
    new.revoked_at := now();
    new.revoked_by := app_public.current_user_id();
  end if;
  return new;
end;
$function$;

CREATE OR REPLACE FUNCTION app_private.tg_stamp_role_change()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  new.role_changed_at := now();
  return new;
end;
$function$;

CREATE OR REPLACE FUNCTION app_private.tg_support_grant_operator_check()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if not exists (select from app_private.platform_operators o where o.account_id = new.operator_account_id) then
    raise exception 'support access is granted to platform operators only'
      using errcode = '23503', constraint = 'support_access_grants_operator_account_id_fkey';
  end if;
  return new;
end;
$function$;

CREATE OR REPLACE FUNCTION app_private.tg_test_report_released()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  critical boolean;
begin
  update app_public.test_requests q set status = 'completed' where q.clinic_id = new.clinic_id and q.id = new.test_request_id;
  select exists (select from app_public.test_results r where r.clinic_id = new.clinic_id and r.test_report_id = new.id
                 and r.flag in ('critical_low', 'critical_high')) into critical;
  insert into app_private.notification_outbox (clinic_id, channel, kind, recipient, payload, dedup_key)
  select new.clinic_id, 'email', 'lab_report_released', a.email, jsonb_build_object('audience', 'doctor', 'clinic_id', new.clinic_id,
    'test_report_id', new.id, 'test_request_id', new.test_request_id, 'critical', critical), 'lab_report_released:' || new.id || ':doctor'
  from app_public.test_requests q
  join app_public.clinic_members m on m.clinic_id = q.clinic_id and m.id = q.requested_by
  join app_private.accounts a on a.id = m.account_id
  where q.clinic_id = new.clinic_id and q.id = new.test_request_id
  on conflict (dedup_key) do nothing;
  perform app_private.notify_patient(new.clinic_id, new.patient_id, 'lab_report_released',
    jsonb_build_object('audience', 'patient', 'clinic_id', new.clinic_id, 'test_report_id', new.id, 'test_request_id', new.test_request_id),
    'lab_report_released:' || new.id || ':patient');
  return null;
end;
$function$;

CREATE OR REPLACE FUNCTION app_private.tg_test_report_state()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if tg_op = 'INSERT' then
    if new.status <> 'draft' or new.released_at is not null or new.version <> 1 then
      raise exception 'A test report starts as a draft.' using errcode = 'CBSTA', constraint = 'test_report_starts_draft';
    end if;
    if not exists (select from app_public.test_requests q where q.clinic_id = new.clinic_id and q.id = new.test_request_id
                   and q.status in ('requested', 'collected', 'in_progress')) then
      raise exception 'A report is written for an open test request.' using errcode = 'CBSTA', constraint = 'test_report_needs_open_request';
    end if;
  elsif tg_op = 'UPDATE' and app_private.refiles_patient_only(to_jsonb(old), to_jsonb(new)) and new.patient_id = (
      select q.patient_id from app_public.test_requests q where q.clinic_id = new.clinic_id and q.id = new.test_request_id) then
    -- A patient merge: the report follows its request (0950-patient-merge; a definer, so the
    -- request's patient is the check, not current_user).
    return new;
  elsif old.status = 'released' then
    raise exception 'A released test report does not change.' using errcode = 'CBLCK', constraint = 'test_report_released_is_final';
  elsif tg_op = 'DELETE' then
    return old;
  elsif new.status = 'released' then
    if not exists (select from app_public.test_results r where r.clinic_id = new.clinic_id and r.test_report_id = new.id) then
      raise exception 'A report is released with at least one result.' using errcode = 'CBSTA', constraint = 'test_report_release_needs_results';
    end if;
    if not exists (select from app_public.test_requests q where q.clinic_id = new.clinic_id and q.id = new.test_request_id
                   and q.status = 'in_progress') then
      raise exception 'A report is released once its test is in progress.' using errcode = 'CBSTA', constraint = 'test_report_release_needs_started_request';
    end if;
    new.released_at := now();
  else
    new.released_at := old.released_at;
  end if;
  if new.file_id is not null and (tg_op = 'INSERT' or new.file_id is distinct from old.file_id) and not exists (
    select from app_public.files f where f.clinic_id = new.clinic_id and f.id = new.file_id and f.patient_id = new.patient_id and f.category = 'report'
  ) then
    raise exception 'A report''s file is a report file of the same patient.' using errcode = '23514', constraint = 'test_reports_file_is_patients_report';
  end if;
  return new;
end;
$function$;

CREATE OR REPLACE FUNCTION app_private.tg_test_request_state()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if tg_op = 'INSERT' then
    if new.status <> 'requested' or num_nonnulls(new.collected_at, new.started_at, new.completed_at, new.cancelled_at) > 0 then
      raise exception 'A test request starts as requested.' using errcode = 'CBSTA', constraint = 'test_request_starts_requested';
    end if;
    return new;
  end if;
  -- A patient merge re-filing the consultation: the request follows it (0950-patient-merge).
  if tg_op = 'UPDATE' and current_user = 'app_owner' then
    if app_private.refiles_patient_only(to_jsonb(old), to_jsonb(new)) then
      return new;
    end if;
  end if;
  if old.status in ('completed', 'cancelled') then
    raise exception 'A completed or cancelled test request does not change.' using errcode = 'CBLCK', constraint = 'test_request_closed_is_final';
  end if;
  if tg_op = 'DELETE' then
    return old;
  end if;
  if new.status is distinct from old.status then
    if (old.status, new.status) in (('requested', 'collected'), ('collected', 'in_progress')) then
      if not app_public.current_role_is('lab_technician') then
        raise exception 'Only the lab collects and starts a test.' using errcode = 'CBSTA', constraint = 'test_request_lab_moves_by_technician';
      end if;
      if new.status = 'collected' then new.collected_at := now(); else new.started_at := now(); end if;
    elsif old.status in ('requested', 'collected') and new.status = 'cancelled' then
      if not app_public.current_role_is('doctor') then
        raise exception 'Only a doctor cancels a test request.' using errcode = 'CBSTA', constraint = 'test_request_cancel_by_doctor';
      end if;
      new.cancelled_at := now();
    elsif old.status = 'in_progress' and new.status = 'completed' then
      if not exists (select from app_public.test_reports r
                     where r.clinic_id = new.clinic_id and r.test_request_id = new.id and r.status = 'released') then
        raise exception 'A test request is completed by releasing its report.' using errcode = 'CBSTA', constraint = 'test_request_completed_by_release';
      end if;
      new.completed_at := now();
    else
      raise exception 'A test request cannot move from % to %.', old.status, new.status
        using errcode = 'CBSTA', constraint = 'test_request_status_flow';
    end if;
  end if;
  -- The stamps are the trigger's alone.
  if new.status = old.status then
    new.collected_at := old.collected_at; new.started_at := old.started_at;
    new.completed_at := old.completed_at; new.cancelled_at := old.cancelled_at;
  end if;
  return new;
end;
$function$;

CREATE OR REPLACE FUNCTION app_private.tg_test_result_lock()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  report_id uuid := case when tg_op = 'DELETE' then old.test_report_id else new.test_report_id end;
  clinic uuid := case when tg_op = 'DELETE' then old.clinic_id else new.clinic_id end;
  report_status text;
  old_report_status text;
begin
  select r.status into report_status from app_public.test_reports r
  where r.clinic_id = clinic and r.id = report_id
  for share;
  if tg_op = 'UPDATE' and (old.clinic_id, old.test_report_id) is distinct from (new.clinic_id, new.test_report_id) then
    select r.status into old_report_status from app_public.test_reports r
    where r.clinic_id = old.clinic_id and r.id = old.test_report_id
    for share;
  end if;
  -- A patient merge: the result follows its report (0950-patient-merge; a definer, so the report's
  -- patient is the check, not current_user). The flag is generated (null in NEW before the update).
  if tg_op = 'UPDATE' and app_private.refiles_patient_only(to_jsonb(old) - 'flag', to_jsonb(new) - 'flag') and new.patient_id = (
      select r.patient_id from app_public.test_reports r where r.clinic_id = new.clinic_id and r.id = new.test_report_id) then
    return new;
  end if;
  if report_status = 'released' or old_report_status = 'released' then
    raise exception 'A released test report does not change.' using errcode = 'CBLCK', constraint = 'test_report_released_is_final';
  end if;
  return case when tg_op = 'DELETE' then old else new end;
end;
$function$;

CREATE OR REPLACE FUNCTION app_private.tg_visit_check_in_appointment()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  booked app_public.appointments;
begin
  select a.* into booked from app_public.appointments a
  where a.clinic_id = new.clinic_id and a.id = new.appointment_id
  for update;
  if not found then
    raise exception 'no such appointment' using errcode = '23503', table = tg_table_name, column = 'appointment_id',
      constraint = 'visits_appointment_id_fkey';
  end if;
  new.patient_id := coalesce(new.patient_id, booked.patient_id);
  new.doctor_id := coalesce(new.doctor_id, booked.doctor_id);
  if new.patient_id <> booked.patient_id or new.doctor_id is distinct from booked.doctor_id
     or (booked.starts_at at time zone (select c.timezone from app_public.clinics c where c.id = new.clinic_id))::date
        <> app_private.clinic_local_now(new.clinic_id)::date then
    raise exception 'the appointment is not today''s with this patient and doctor'
      using errcode = '23514', table = tg_table_name, column = 'appointment_id', constraint = 'visits_appointment_id_valid';
  end if;
  if booked.status <> 'booked' then
    raise exception 'an appointment in status % cannot be checked in', booked.status using errcode = 'CBSTA';
  end if;
  update app_public.appointments set status = 'checked_in' where clinic_id = booked.clinic_id and id = booked.id;
  return new;
end;
$function$;

CREATE OR REPLACE FUNCTION app_private.tg_visit_complete_appointment()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  update app_public.appointments set status = 'completed'
  where clinic_id = new.clinic_id and id = new.appointment_id and status = 'checked_in';
  return null;
end;
$function$;

CREATE OR REPLACE FUNCTION app_private.tg_visit_notify_queue()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if new.doctor_id is not null then
    perform pg_notify('clinicbase_queue', json_build_object('clinicId', new.clinic_id, 'doctorId', new.doctor_id, 'visitId', new.id)::text);
  end if;
  if tg_op = 'UPDATE' and old.doctor_id is not null and old.doctor_id is distinct from new.doctor_id then
    perform pg_notify('clinicbase_queue', json_build_object('clinicId', old.clinic_id, 'doctorId', old.doctor_id, 'visitId', old.id)::text);
  end if;
  return null;
end;
$function$;

CREATE OR REPLACE FUNCTION app_private.tg_visit_transition()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if not (old.status, new.status) in (
    ('waiting', 'called'), ('waiting', 'cancelled'), ('waiting', 'no_show'),
    ('called', 'in_consultation'), ('called', 'waiting'), ('called', 'no_show'),
    ('in_consultation', 'completed')
  ) then
    raise exception 'a visit cannot go from % to %', old.status, new.status using errcode = 'CBSTA';
  end if;
  case new.status
    when 'called' then new.called_at := now();
    when 'in_consultation' then new.consultation_started_at := now();
    when 'completed' then new.completed_at := now();
    when 'waiting' then new.skipped_at := now();
    else null;
  end case;
  return new;
end;
$function$;

CREATE OR REPLACE FUNCTION app_private.turn_off_two_factor(email text, reason text)
 RETURNS uuid
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  account uuid;
begin
  select a.id into account from app_private.accounts a where lower(a.email) = lower(turn_off_two_factor.email);
  if account is null then
    return null;
  end if;
  delete from app_private.recovery_codes r where r.account_id = account;
  delete from app_private.two_factor t where t.account_id = account;
  perform app_private.end_sessions(account);
  perform app_private.write_audit_event('auth.two_factor.turned_off_by_operator', account, null,
    jsonb_build_object('reason', turn_off_two_factor.reason));
  return account;
end;
$function$;

CREATE OR REPLACE FUNCTION app_private.unset_password_hash()
 RETURNS text
 LANGUAGE sql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 SELECT '$argon2id$unset'::text;
END;

CREATE OR REPLACE FUNCTION app_private.weekday_ranges(hours jsonb, weekday text)
 RETURNS TABLE(opens time without time zone, closes time without time zone)
 LANGUAGE sql
 IMMUTABLE ROWS 3
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 SELECT ((r.value ->> 0))::time without time zone AS "time",
     ((r.value ->> 1))::time without time zone AS "time"
    FROM jsonb_array_elements(
         CASE
             WHEN (jsonb_typeof((weekday_ranges.hours -> weekday_ranges.weekday)) = 'array'::text) THEN (weekday_ranges.hours -> weekday_ranges.weekday)
             ELSE '[]'::jsonb
         END) r(value)
   WHERE ((jsonb_typeof(r.value) = 'array'::text) AND ((r.value ->> 0) ~ '^([01][0-9]|2[0-3]):[0-5][0-9]$'::text) AND ((r.value ->> 1) ~ '^([01][0-9]|2[0-3]):[0-5][0-9]$'::text) AND ((r.value ->> 0) < (r.value ->> 1)));
END;

CREATE OR REPLACE FUNCTION app_private.words_match(haystack text, needle text)
 RETURNS boolean
 LANGUAGE sql
 IMMUTABLE STRICT
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 SELECT (haystack ~* (('(^|[^[:alnum:]_])'::text || regexp_replace(btrim(needle), '([^[:alnum:][:space:]])'::text, '\\\1'::text, 'g'::text)) || '($|[^[:alnum:]_])'::text));
END;
grant execute on function app_private.words_match(text,text) to app_user;
comment on function app_private.words_match(text,text) is 'True when needle (trimmed) occurs in haystack as whole words, case-insensitively; needle''s punctuation matches literally.';

CREATE OR REPLACE FUNCTION app_private.write_audit_event(action text, account_id uuid, clinic_id uuid, details jsonb)
 RETURNS void
 LANGUAGE sql
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 INSERT INTO app_audit.audit_log (clinic_id, actor_user_id, actor_role, db_role, request_id, client_ip, action, details)
   VALUES (write_audit_event.clinic_id, write_audit_event.account_id, NULLIF(current_setting('app.role'::text, true), ''::text), (((SESSION_USER)::text || '/'::text) || current_setting('role'::text)), NULLIF(current_setting('app.request_id'::text, true), ''::text), (NULLIF(current_setting('app.client_ip'::text, true), ''::text))::inet, write_audit_event.action, write_audit_event.details);
END;

CREATE OR REPLACE FUNCTION app_public.call_next_visit(doctor_id uuid)
 RETURNS SETOF app_public.visits
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if app_public.current_role_is('doctor') and call_next_visit.doctor_id is distinct from app_public.current_member_id() then
    raise exception 'a doctor calls their own queue only' using errcode = '42501';
  end if;
  return query
  update app_public.visits v set status = 'called'
  where (v.clinic_id, v.id) = (
    select q.clinic_id, q.id from app_public.visits q
    where q.clinic_id = app_public.current_clinic_id() and q.doctor_id = call_next_visit.doctor_id
      and q.visit_date = app_public.current_clinic_date() and q.status = 'waiting'
    order by case q.priority when 'emergency' then 0 when 'urgent' then 1 else 2 end, q.skipped_at is not null, q.token_number
    limit 1
    for update skip locked
  )
  returning v.*;
end;
$function$;
grant execute on function app_public.call_next_visit(uuid) to app_user;
comment on function app_public.call_next_visit(uuid) is 'Calls the next waiting visit of a doctor''s queue of today and returns it (none when the queue is empty).';

CREATE OR REPLACE FUNCTION app_public.current_app_role()
 RETURNS text
 LANGUAGE sql
 STABLE PARALLEL SAFE
AS $function$ select nullif(pg_catalog.current_setting('app.role', true), '') $function$;
grant execute on function app_public.current_app_role() to app_platform, app_user;
comment on function app_public.current_app_role() is '@behavior -*
The clinic role of the current request (app.role), or NULL when none is set.';

CREATE OR REPLACE FUNCTION app_public.current_clinic_date()
 RETURNS date
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 SELECT ((now() AT TIME ZONE c.timezone))::date AS timezone
    FROM app_public.clinics c
   WHERE (c.id = app_public.current_clinic_id());
END;
grant execute on function app_public.current_clinic_date() to app_user;
comment on function app_public.current_clinic_date() is '@behavior -*
Today in the context clinic''s time zone.';

CREATE OR REPLACE FUNCTION app_public.current_clinic_id()
 RETURNS uuid
 LANGUAGE sql
 STABLE PARALLEL SAFE
AS $function$ select nullif(pg_catalog.current_setting('app.clinic_id', true), '')::pg_catalog.uuid $function$;
grant execute on function app_public.current_clinic_id() to app_platform, app_user;
comment on function app_public.current_clinic_id() is '@behavior -*
The clinic of the current request (app.clinic_id), or NULL when none is set.';

CREATE OR REPLACE FUNCTION app_public.current_member_id()
 RETURNS uuid
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 SELECT m.id
    FROM app_public.clinic_members m
   WHERE ((m.clinic_id = app_public.current_clinic_id()) AND (m.account_id = app_public.current_user_id()) AND (m.status = 'active'::text) AND (m.role = app_public.current_app_role()));
END;
grant execute on function app_public.current_member_id() to app_user;
comment on function app_public.current_member_id() is '@behavior -*
The caller''s active membership in the context clinic, in the context role; NULL when there is none.';

CREATE OR REPLACE FUNCTION app_public.current_patient_id()
 RETURNS uuid
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 SELECT p.id
    FROM app_public.patients p
   WHERE ((p.clinic_id = app_public.current_clinic_id()) AND (p.member_id = app_public.current_member_id()) AND app_public.current_role_is(VARIADIC ARRAY['patient'::text]));
END;
grant execute on function app_public.current_patient_id() to app_user;
comment on function app_public.current_patient_id() is '@behavior -*
The patient record linked to the caller''s patient membership in the context clinic; NULL otherwise.';

CREATE OR REPLACE FUNCTION app_public.current_role_is(VARIADIC roles text[])
 RETURNS boolean
 LANGUAGE sql
 STABLE PARALLEL SAFE
AS $function$ select coalesce(nullif(pg_catalog.current_setting('app.role', true), '') = any (roles), false) $function$;
grant execute on function app_public.current_role_is(text[]) to app_platform, app_user;
comment on function app_public.current_role_is(text[]) is '@behavior -*
True when the current request''s clinic role is one of the given roles.';

CREATE OR REPLACE FUNCTION app_public.current_user_id()
 RETURNS uuid
 LANGUAGE sql
 STABLE PARALLEL SAFE
AS $function$ select nullif(pg_catalog.current_setting('app.user_id', true), '')::pg_catalog.uuid $function$;
grant execute on function app_public.current_user_id() to app_platform, app_user;
comment on function app_public.current_user_id() is '@behavior -*
The user of the current request (app.user_id), or NULL when none is set.';

CREATE OR REPLACE FUNCTION app_public.doctor_free_slots(doctor_id uuid, from_date date, to_date date)
 RETURNS TABLE(starts_at timestamp with time zone, ends_at timestamp with time zone)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  clinic uuid := app_public.current_clinic_id();
begin
  if clinic is null then
    raise exception 'doctor_free_slots needs a clinic in the context' using errcode = '42501';
  end if;
  if from_date is null or to_date is null or to_date < from_date or to_date - from_date > 30 then
    raise exception 'the range must be 1 to 31 days, from_date first' using errcode = '22023', column = 'to_date';
  end if;
  return query
    select s.starts_at, s.ends_at
    from app_private.doctor_schedule(clinic, doctor_free_slots.doctor_id, from_date, to_date) s
    where s.starts_at > now()
      and not exists (
        select from app_public.appointments a
        where a.clinic_id = clinic and a.doctor_id = doctor_free_slots.doctor_id and a.status in ('booked', 'checked_in')
          and tstzrange(a.starts_at, a.ends_at) && tstzrange(s.starts_at, s.ends_at)
      )
    order by s.starts_at;
end;
$function$;
grant execute on function app_public.doctor_free_slots(uuid,date,date) to app_user;
comment on function app_public.doctor_free_slots(uuid,date,date) is 'The future free slots of a doctor of the context clinic between two clinic-local dates (at most 31 days).';

CREATE OR REPLACE FUNCTION app_public.doctor_queue(doctor_id uuid)
 RETURNS TABLE(visit_id uuid, token_number integer, status text, priority text, skipped boolean, queue_position integer, estimated_wait_minutes integer)
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if not app_public.current_role_is('clinic_admin', 'doctor', 'nurse', 'receptionist') then
    raise exception 'the queue is for staff' using errcode = '42501';
  end if;
  return query
  with estimate as (select e.minutes_per_patient from app_public.doctor_wait_estimate(doctor_queue.doctor_id) e),
  today as (
    select v.*,
           case v.status when 'in_consultation' then 0 when 'called' then 1 else 2 end as stage,
           case v.priority when 'emergency' then 0 when 'urgent' then 1 else 2 end as urgency
    from app_public.visits v
    where v.clinic_id = app_public.current_clinic_id() and v.doctor_id = doctor_queue.doctor_id
      and v.visit_date = app_public.current_clinic_date() and v.status in ('waiting', 'called', 'in_consultation')
  ),
  ordered as (
    select t.*,
           row_number() over (order by t.stage, t.urgency, t.skipped_at is not null, t.token_number) as n,
           count(*) filter (where t.stage < 2) over () as serving
    from today t
  )
  select o.id, o.token_number, o.status, o.priority, o.skipped_at is not null,
         case when o.stage = 2 then (o.n - o.serving)::integer end,
         case when o.stage = 2 then round((o.n - 1) * e.minutes_per_patient)::integer end
  from ordered o cross join estimate e
  order by o.n;
end;
$function$;
grant execute on function app_public.doctor_queue(uuid) to app_user;
comment on function app_public.doctor_queue(uuid) is 'A doctor''s queue of today in order, with the waiting visits'' positions and estimated waits (staff only).';

CREATE OR REPLACE FUNCTION app_public.doctor_wait_estimate(doctor_id uuid)
 RETURNS TABLE(minutes_per_patient numeric, based_on integer)
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 WITH recent AS (
          SELECT (v.completed_at - v.consultation_started_at) AS took
            FROM app_public.visits v
           WHERE ((v.clinic_id = app_public.current_clinic_id()) AND (v.doctor_id = doctor_wait_estimate.doctor_id) AND (v.status = 'completed'::text) AND (v.consultation_started_at IS NOT NULL))
           ORDER BY v.completed_at DESC
          LIMIT 20
         )
  SELECT COALESCE(round((avg(EXTRACT(epoch FROM r.took)) / (60)::numeric), 1), (( SELECT s.appointment_slot_minutes
            FROM app_public.clinic_settings s
           WHERE (s.clinic_id = app_public.current_clinic_id())))::numeric, (15)::numeric) AS "coalesce",
     (count(*))::integer AS count
    FROM recent r;
END;
grant execute on function app_public.doctor_wait_estimate(uuid) to app_user;
comment on function app_public.doctor_wait_estimate(uuid) is 'Minutes per patient of a doctor: the average of their last 20 completed consultations, or the clinic''s appointment slot without history; based_on says how many.';

CREATE OR REPLACE FUNCTION app_public.link_follow_up_appointment(follow_up_id uuid, appointment_id uuid)
 RETURNS boolean
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  booked_patient uuid;
begin
  if not app_public.current_role_is('clinic_admin', 'receptionist', 'doctor', 'patient') then
    return false;
  end if;
  -- The appointment of the context clinic (a patient: their own only).
  select a.patient_id into booked_patient from app_public.appointments a
  where a.clinic_id = app_public.current_clinic_id() and a.id = link_follow_up_appointment.appointment_id;
  if booked_patient is null
    or (app_public.current_role_is('patient') and booked_patient is distinct from app_public.current_patient_id()) then
    return false;
  end if;
  update app_public.follow_ups f set appointment_id = link_follow_up_appointment.appointment_id
  where f.clinic_id = app_public.current_clinic_id() and f.id = link_follow_up_appointment.follow_up_id
    and f.patient_id = booked_patient and f.status = 'pending'
    and (f.appointment_id is null or exists (
      select from app_public.appointments a
      where a.clinic_id = f.clinic_id and a.id = f.appointment_id and a.status in ('cancelled', 'no_show')));
  return found;
end;
$function$;
grant execute on function app_public.link_follow_up_appointment(uuid,uuid) to app_user;
comment on function app_public.link_follow_up_appointment(uuid,uuid) is '@behavior -*
Links a pending follow-up to the booked appointment of the same patient (again when its appointment was cancelled or a no-show); false when there is no such follow-up the caller may link.';

CREATE OR REPLACE FUNCTION app_public.prescription_allergy_matches(prescription_id uuid)
 RETURNS TABLE(allergy_id uuid, allergy_name text, item_position integer, medicine_name text, acknowledged boolean)
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 SELECT h.id,
     h.name,
     i."position",
     i.medicine_name,
     (EXISTS ( SELECT
            FROM app_public.prescription_allergy_acknowledgements a
           WHERE ((a.clinic_id = p.clinic_id) AND (a.prescription_id = p.id) AND (a.allergy_id = h.id)))) AS "exists"
    FROM ((app_public.prescriptions p
      JOIN app_public.prescription_items i ON (((i.clinic_id = p.clinic_id) AND (i.prescription_id = p.id))))
      JOIN app_public.patient_history h ON (((h.clinic_id = p.clinic_id) AND (h.patient_id = p.patient_id) AND (h.kind = 'allergy'::text) AND h.is_active)))
   WHERE ((p.id = prescription_allergy_matches.prescription_id) AND (app_private.words_match(i.medicine_name, h.name) OR app_private.words_match(i.generic_name, h.name) OR app_private.words_match(h.name, i.medicine_name) OR app_private.words_match(h.name, i.generic_name)))
   ORDER BY i."position", h.name, h.id;
END;
grant execute on function app_public.prescription_allergy_matches(uuid) to app_user;
comment on function app_public.prescription_allergy_matches(uuid) is '@behavior -*
The active allergies of the patient that an item of the prescription matches (see the rule above), and whether each is acknowledged.';

CREATE OR REPLACE FUNCTION app_public.visit_queue_position(visit_id uuid)
 RETURNS TABLE(queue_position integer, estimated_wait_minutes integer)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  visit app_public.visits;
begin
  select v.* into visit from app_public.visits v
  where v.clinic_id = app_public.current_clinic_id() and v.id = visit_queue_position.visit_id
    and v.status = 'waiting' and v.doctor_id is not null and v.visit_date = app_public.current_clinic_date()
    and (app_public.current_role_is('clinic_admin', 'doctor', 'nurse', 'receptionist')
         or (app_public.current_role_is('patient') and v.patient_id = app_public.current_patient_id()));
  if not found then
    return;
  end if;
  return query
  with ahead as (
    select count(*) filter (where o.status in ('called', 'in_consultation')) as serving,
           count(*) filter (where o.status = 'waiting') as waiting
    from app_public.visits o
    where o.clinic_id = visit.clinic_id and o.doctor_id = visit.doctor_id and o.visit_date = visit.visit_date and o.id <> visit.id
      and (o.status in ('called', 'in_consultation')
           or (o.status = 'waiting'
               and (case o.priority when 'emergency' then 0 when 'urgent' then 1 else 2 end, o.skipped_at is not null, o.token_number)
                 < (case visit.priority when 'emergency' then 0 when 'urgent' then 1 else 2 end, visit.skipped_at is not null, visit.token_number)))
  )
  select (a.waiting + 1)::integer, round((a.serving + a.waiting) * e.minutes_per_patient)::integer
  from ahead a cross join app_public.doctor_wait_estimate(visit.doctor_id) e;
end;
$function$;
grant execute on function app_public.visit_queue_position(uuid) to app_user;
comment on function app_public.visit_queue_position(uuid) is 'The queue position and estimated wait of a waiting visit of today: a patient''s own, or any for staff.';

-- Tables

create table app_audit.audit_log (
  id bigint generated always as identity not null,
  clinic_id uuid,
  occurred_at timestamp with time zone default now() not null,
  actor_user_id uuid,
  actor_role text,
  db_role text default CURRENT_USER not null,
  request_id text,
  client_ip inet,
  action text not null,
  table_name text,
  row_key jsonb,
  changed_columns text[],
  before jsonb,
  after jsonb,
  details jsonb,
  constraint audit_log_pkey PRIMARY KEY (id),
  constraint audit_log_action_valid CHECK ((action = ANY (ARRAY['INSERT'::text, 'UPDATE'::text, 'DELETE'::text])) OR action ~ '^[a-z]+(\.[a-z_]+)+$'::text),
  constraint audit_log_row_change_names_row CHECK ((action <> ALL (ARRAY['INSERT'::text, 'UPDATE'::text, 'DELETE'::text])) OR table_name IS NOT NULL AND row_key IS NOT NULL)
);
alter table app_audit.audit_log enable row level security;
alter table app_audit.audit_log force row level security;
CREATE INDEX audit_log_clinic_row_idx ON app_audit.audit_log USING btree (clinic_id, table_name, row_key);
CREATE INDEX audit_log_clinic_time_idx ON app_audit.audit_log USING btree (clinic_id, occurred_at);
create policy append_by_owner on app_audit.audit_log
  for insert to app_owner
  with check (true);
create policy delete_for_retention_purge on app_audit.audit_log
  for delete to app_owner
  using (app_private.retention_purge_covers(clinic_id, occurred_at));
create policy read_for_export on app_audit.audit_log
  for select to app_owner
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));
create policy read_for_retention_purge on app_audit.audit_log
  for select to app_owner
  using (app_private.retention_purge_covers(clinic_id, occurred_at));
CREATE TRIGGER _000_append_only BEFORE DELETE OR UPDATE ON app_audit.audit_log FOR EACH ROW EXECUTE FUNCTION app_private.tg_audit_log_is_append_only();
CREATE TRIGGER _000_append_only_truncate BEFORE TRUNCATE ON app_audit.audit_log FOR EACH STATEMENT EXECUTE FUNCTION app_private.tg_audit_log_is_append_only();
comment on table app_audit.audit_log is 'Append-only audit trail: who changed which row of which table, when, from where, in which request, before/after values of the changed columns; and security events.';

create table app_private.accounts (
  id uuid default gen_random_uuid() not null,
  email text not null,
  password_hash text not null,
  created_at timestamp with time zone default now() not null,
  updated_at timestamp with time zone default now() not null,
  sessions_ended_at timestamp with time zone,
  constraint accounts_pkey PRIMARY KEY (id),
  constraint accounts_email_format CHECK (char_length(email) <= 254 AND email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'::text),
  constraint accounts_password_hash_format CHECK (password_hash ~~ '$argon2id$%'::text)
);
alter table app_private.accounts disable row level security;
alter table app_private.accounts no force row level security;
CREATE UNIQUE INDEX accounts_email_key ON app_private.accounts USING btree (lower(email));
CREATE INDEX accounts_sessions_ended_at_idx ON app_private.accounts USING btree (sessions_ended_at) WHERE (sessions_ended_at IS NOT NULL);
CREATE TRIGGER _100_updated_at BEFORE UPDATE ON app_private.accounts FOR EACH ROW EXECUTE FUNCTION app_private.tg_set_updated_at();
comment on table app_private.accounts is 'A person''s login: e-mail and argon2id password hash. One per person, platform-wide.';

create table app_private.bundled_icd10_codes (
  code text not null,
  description text not null,
  constraint bundled_icd10_codes_pkey PRIMARY KEY (code),
  constraint bundled_icd10_codes_code_format CHECK (code ~ '^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$'::text),
  constraint bundled_icd10_codes_description_length CHECK (char_length(description) >= 1 AND char_length(description) <= 500)
);
alter table app_private.bundled_icd10_codes disable row level security;
alter table app_private.bundled_icd10_codes no force row level security;
CREATE INDEX bundled_icd10_codes_code_prefix_idx ON app_private.bundled_icd10_codes USING btree (code text_pattern_ops);
CREATE INDEX bundled_icd10_codes_description_words_idx ON app_private.bundled_icd10_codes USING gin (to_tsvector('simple'::regconfig, description));
comment on table app_private.bundled_icd10_codes is 'Common ICD-10 codes with their text (a curated subset of ICD-10-CM), the same for every clinic.';

create table app_private.clinic_counters (
  clinic_id uuid not null,
  counter text not null,
  period text not null,
  last_value integer not null,
  constraint clinic_counters_pkey PRIMARY KEY (clinic_id, counter, period),
  constraint clinic_counters_clinic_id_fkey FOREIGN KEY (clinic_id) REFERENCES app_public.clinics(id),
  constraint clinic_counters_counter_format CHECK (counter ~ '^[a-z][a-z_]{0,31}$'::text),
  constraint clinic_counters_last_value_valid CHECK (last_value > 0),
  constraint clinic_counters_period_length CHECK (char_length(period) >= 1 AND char_length(period) <= 32)
);
alter table app_private.clinic_counters disable row level security;
alter table app_private.clinic_counters no force row level security;
comment on table app_private.clinic_counters is 'The last number handed out per clinic, counter and period (gap-free numbering).';

create table app_private.invitations (
  token_hash bytea not null,
  clinic_id uuid not null,
  account_id uuid not null,
  created_at timestamp with time zone default now() not null,
  expires_at timestamp with time zone not null,
  accepted_at timestamp with time zone,
  sets_first_password boolean default false not null,
  constraint invitations_pkey PRIMARY KEY (token_hash),
  constraint invitations_account_id_fkey FOREIGN KEY (account_id) REFERENCES app_private.accounts(id),
  constraint invitations_clinic_id_fkey FOREIGN KEY (clinic_id) REFERENCES app_public.clinics(id),
  constraint invitations_token_hash_length CHECK (octet_length(token_hash) = 32)
);
alter table app_private.invitations disable row level security;
alter table app_private.invitations no force row level security;
CREATE INDEX invitations_account_idx ON app_private.invitations USING btree (account_id);
comment on column app_private.invitations.sets_first_password is 'The invitation created the account: only it may set the first password.';

create table app_private.login_failures (
  scope text not null,
  key text not null,
  failures integer not null,
  window_started_at timestamp with time zone default now() not null,
  locked_until timestamp with time zone,
  constraint login_failures_pkey PRIMARY KEY (scope, key),
  constraint login_failures_key_length CHECK (char_length(key) <= 320),
  constraint login_failures_scope_valid CHECK (scope = ANY (ARRAY['email_network'::text, 'email'::text, 'network'::text]))
);
alter table app_private.login_failures disable row level security;
alter table app_private.login_failures no force row level security;
comment on table app_private.login_failures is 'Failed logins per e-mail and network, per e-mail, and per network; counts and locks.';

create table app_private.login_networks (
  account_id uuid not null,
  network inet not null,
  last_signed_in_at timestamp with time zone default now() not null,
  constraint login_networks_pkey PRIMARY KEY (account_id, network),
  constraint login_networks_account_id_fkey FOREIGN KEY (account_id) REFERENCES app_private.accounts(id)
);
alter table app_private.login_networks disable row level security;
alter table app_private.login_networks no force row level security;
comment on table app_private.login_networks is 'Where each account last signed in successfully: such networks are not locked by strangers'' failures.';

create table app_private.notification_outbox (
  id bigint generated always as identity not null,
  kind text not null,
  recipient text not null,
  payload jsonb not null,
  created_at timestamp with time zone default now() not null,
  sent_at timestamp with time zone,
  clinic_id uuid,
  channel text default 'email'::text not null,
  status text default 'pending'::text not null,
  attempts integer default 0 not null,
  last_error text,
  failed_at timestamp with time zone,
  dedup_key text,
  sending_until timestamp with time zone,
  constraint notification_outbox_pkey PRIMARY KEY (id),
  constraint notification_outbox_dedup_key_key UNIQUE (dedup_key),
  constraint notification_outbox_clinic_id_fkey FOREIGN KEY (clinic_id) REFERENCES app_public.clinics(id),
  constraint notification_outbox_attempts_valid CHECK (attempts >= 0),
  constraint notification_outbox_channel_valid CHECK (channel = ANY (ARRAY['email'::text, 'sms'::text])),
  constraint notification_outbox_dedup_key_length CHECK (char_length(dedup_key) >= 1 AND char_length(dedup_key) <= 200),
  constraint notification_outbox_kind_format CHECK (kind ~ '^[a-z_]+$'::text),
  constraint notification_outbox_last_error_length CHECK (char_length(last_error) <= 500),
  constraint notification_outbox_sending_lease CHECK ((status = 'sending'::text) = (sending_until IS NOT NULL)),
  constraint notification_outbox_status_valid CHECK (status = ANY (ARRAY['pending'::text, 'sending'::text, 'sent'::text, 'failed'::text]))
);
alter table app_private.notification_outbox disable row level security;
alter table app_private.notification_outbox no force row level security;
CREATE INDEX notification_outbox_clinic_idx ON app_private.notification_outbox USING btree (clinic_id, created_at) WHERE (clinic_id IS NOT NULL);
CREATE INDEX notification_outbox_unsent_idx ON app_private.notification_outbox USING btree (created_at) WHERE (sent_at IS NULL);
CREATE TRIGGER _500_deliver AFTER INSERT ON app_private.notification_outbox FOR EACH ROW WHEN (new.status = 'pending'::text) EXECUTE FUNCTION app_private.tg_notification_outbox_deliver();
comment on column app_private.notification_outbox.dedup_key is 'Set by idempotent producers (a job run twice writes one message): insert … on conflict (dedup_key) do nothing.';
comment on column app_private.notification_outbox.sending_until is 'While status is sending: the end of the delivery''s lease (after it, another attempt may claim the row).';

create table app_private.password_resets (
  token_hash bytea not null,
  account_id uuid not null,
  created_at timestamp with time zone default now() not null,
  expires_at timestamp with time zone not null,
  used_at timestamp with time zone,
  constraint password_resets_pkey PRIMARY KEY (token_hash),
  constraint password_resets_account_id_fkey FOREIGN KEY (account_id) REFERENCES app_private.accounts(id),
  constraint password_resets_token_hash_length CHECK (octet_length(token_hash) = 32)
);
alter table app_private.password_resets disable row level security;
alter table app_private.password_resets no force row level security;
CREATE INDEX password_resets_account_idx ON app_private.password_resets USING btree (account_id);

create table app_private.plans (
  code text not null,
  name text not null,
  max_doctors integer,
  max_receptionists integer,
  max_patients integer,
  max_storage_mb integer,
  constraint plans_pkey PRIMARY KEY (code),
  constraint plans_code_format CHECK (code ~ '^[a-z][a-z0-9_]{1,31}$'::text),
  constraint plans_max_doctors_valid CHECK (max_doctors >= 0),
  constraint plans_max_patients_valid CHECK (max_patients >= 0),
  constraint plans_max_receptionists_valid CHECK (max_receptionists >= 0),
  constraint plans_max_storage_mb_valid CHECK (max_storage_mb >= 0)
);
alter table app_private.plans disable row level security;
alter table app_private.plans no force row level security;

create table app_private.platform_operators (
  account_id uuid not null,
  created_at timestamp with time zone default now() not null,
  constraint platform_operators_pkey PRIMARY KEY (account_id),
  constraint platform_operators_account_id_fkey FOREIGN KEY (account_id) REFERENCES app_private.accounts(id)
);
alter table app_private.platform_operators disable row level security;
alter table app_private.platform_operators no force row level security;

create table app_private.recovery_codes (
  account_id uuid not null,
  code_hash bytea not null,
  used_at timestamp with time zone,
  constraint recovery_codes_pkey PRIMARY KEY (account_id, code_hash),
  constraint recovery_codes_account_id_fkey FOREIGN KEY (account_id) REFERENCES app_private.accounts(id),
  constraint recovery_codes_code_hash_length CHECK (octet_length(code_hash) = 32)
);
alter table app_private.recovery_codes disable row level security;
alter table app_private.recovery_codes no force row level security;
comment on table app_private.recovery_codes is 'SHA-256 of single-use recovery codes, shown to their owner once.';

create table app_private.refresh_tokens (
  token_hash bytea not null,
  family_id uuid not null,
  account_id uuid not null,
  clinic_id uuid not null,
  created_at timestamp with time zone default now() not null,
  idle_expires_at timestamp with time zone not null,
  absolute_expires_at timestamp with time zone not null,
  rotated_at timestamp with time zone,
  revoked_at timestamp with time zone,
  two_factor boolean default false not null,
  constraint refresh_tokens_pkey PRIMARY KEY (token_hash),
  constraint refresh_tokens_account_id_fkey FOREIGN KEY (account_id) REFERENCES app_private.accounts(id),
  constraint refresh_tokens_clinic_id_fkey FOREIGN KEY (clinic_id) REFERENCES app_public.clinics(id),
  constraint refresh_tokens_token_hash_length CHECK (octet_length(token_hash) = 32)
);
alter table app_private.refresh_tokens disable row level security;
alter table app_private.refresh_tokens no force row level security;
CREATE INDEX refresh_tokens_account_idx ON app_private.refresh_tokens USING btree (account_id);
CREATE INDEX refresh_tokens_family_idx ON app_private.refresh_tokens USING btree (family_id);
comment on table app_private.refresh_tokens is 'Hashed refresh tokens, one family per login; rotated on use, the family revoked on reuse.';

create table app_private.two_factor (
  account_id uuid not null,
  secret text not null,
  enabled_at timestamp with time zone,
  last_used_step bigint,
  created_at timestamp with time zone default now() not null,
  constraint two_factor_pkey PRIMARY KEY (account_id),
  constraint two_factor_account_id_fkey FOREIGN KEY (account_id) REFERENCES app_private.accounts(id),
  constraint two_factor_secret_format CHECK (secret ~ '^[A-Z2-7]{32}$'::text)
);
alter table app_private.two_factor disable row level security;
alter table app_private.two_factor no force row level security;
comment on table app_private.two_factor is 'TOTP secrets (base32, 160 bits); enabled_at is NULL while set-up is unconfirmed.';

create table app_public.appointments (
  clinic_id uuid default app_public.current_clinic_id() not null,
  id uuid default gen_random_uuid() not null,
  patient_id uuid not null,
  doctor_id uuid not null,
  starts_at timestamp with time zone not null,
  ends_at timestamp with time zone not null,
  status text default 'booked'::text not null,
  reason text,
  cancellation_reason text,
  booked_by uuid default app_public.current_member_id() not null,
  created_at timestamp with time zone default now() not null,
  updated_at timestamp with time zone default now() not null,
  constraint appointments_pkey PRIMARY KEY (clinic_id, id),
  constraint appointments_starts_at_excl EXCLUDE USING gist (clinic_id WITH =, doctor_id WITH =, tstzrange(starts_at, ends_at) WITH &&) WHERE (status = ANY (ARRAY['booked'::text, 'checked_in'::text])),
  constraint appointments_booked_by_fkey FOREIGN KEY (clinic_id, booked_by) REFERENCES app_public.clinic_members(clinic_id, id),
  constraint appointments_clinic_id_fkey FOREIGN KEY (clinic_id) REFERENCES app_public.clinics(id),
  constraint appointments_doctor_id_fkey FOREIGN KEY (clinic_id, doctor_id) REFERENCES app_public.clinic_members(clinic_id, id),
  constraint appointments_patient_id_fkey FOREIGN KEY (clinic_id, patient_id) REFERENCES app_public.patients(clinic_id, id),
  constraint appointments_cancellation_reason_length CHECK (char_length(cancellation_reason) >= 1 AND char_length(cancellation_reason) <= 500),
  constraint appointments_cancellation_reason_valid CHECK ((status = 'cancelled'::text) = (cancellation_reason IS NOT NULL)),
  constraint appointments_ends_at_valid CHECK (ends_at > starts_at),
  constraint appointments_reason_check CHECK (reason !~ '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]'::text),
  constraint appointments_reason_length CHECK (char_length(reason) >= 1 AND char_length(reason) <= 500),
  constraint appointments_status_valid CHECK (status = ANY (ARRAY['booked'::text, 'checked_in'::text, 'completed'::text, 'cancelled'::text, 'no_show'::text]))
);
alter table app_public.appointments enable row level security;
alter table app_public.appointments force row level security;
CREATE INDEX appointments_booked_starts_at_idx ON app_public.appointments USING btree (clinic_id, starts_at) WHERE (status = 'booked'::text);
CREATE INDEX appointments_doctor_id_idx ON app_public.appointments USING btree (clinic_id, doctor_id, starts_at);
CREATE INDEX appointments_patient_id_idx ON app_public.appointments USING btree (clinic_id, patient_id, starts_at);
CREATE INDEX appointments_starts_at_idx ON app_public.appointments USING btree (clinic_id, starts_at);
create policy tenant_isolation on app_public.appointments
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));
create policy insert_front_desk_and_own on app_public.appointments
  for insert to app_user
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'receptionist'::text]) AS current_role_is) OR (( SELECT app_public.current_role_is(VARIADIC ARRAY['patient'::text]) AS current_role_is) AND (patient_id = ( SELECT app_public.current_patient_id() AS current_patient_id)))));
create policy read_by_definer_functions on app_public.appointments
  for select to app_owner
  using (true);
create policy select_staff_and_own on app_public.appointments
  for select to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'doctor'::text, 'nurse'::text, 'receptionist'::text]) AS current_role_is) OR (( SELECT app_public.current_role_is(VARIADIC ARRAY['patient'::text]) AS current_role_is) AND (patient_id = ( SELECT app_public.current_patient_id() AS current_patient_id)))));
create policy update_by_definer_functions on app_public.appointments
  for update to app_owner
  using (true)
  with check (true);
create policy update_front_desk_and_own on app_public.appointments
  for update to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'receptionist'::text]) AS current_role_is) OR (( SELECT app_public.current_role_is(VARIADIC ARRAY['patient'::text]) AS current_role_is) AND (patient_id = ( SELECT app_public.current_patient_id() AS current_patient_id)) AND (status = 'booked'::text))))
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'receptionist'::text]) AS current_role_is) OR (( SELECT app_public.current_role_is(VARIADIC ARRAY['patient'::text]) AS current_role_is) AND (patient_id = ( SELECT app_public.current_patient_id() AS current_patient_id)) AND (status = ANY (ARRAY['booked'::text, 'cancelled'::text])))));
grant select on app_public.appointments to app_user;
grant insert (doctor_id, ends_at, patient_id, reason, starts_at) on app_public.appointments to app_user;
grant update (cancellation_reason, doctor_id, ends_at, reason, starts_at, status) on app_public.appointments to app_user;
CREATE TRIGGER _100_updated_at BEFORE UPDATE ON app_public.appointments FOR EACH ROW EXECUTE FUNCTION app_private.tg_set_updated_at();
CREATE TRIGGER _200_doctor_is_doctor BEFORE INSERT OR UPDATE OF doctor_id ON app_public.appointments FOR EACH ROW EXECUTE FUNCTION app_private.tg_require_member_role('doctor_id', 'doctor');
CREATE TRIGGER _300_transition BEFORE UPDATE ON app_public.appointments FOR EACH ROW EXECUTE FUNCTION app_private.tg_appointment_transition();
CREATE TRIGGER _310_in_schedule BEFORE INSERT OR UPDATE ON app_public.appointments FOR EACH ROW EXECUTE FUNCTION app_private.tg_appointment_in_schedule();
CREATE TRIGGER _900_audit AFTER INSERT OR DELETE OR UPDATE ON app_public.appointments FOR EACH ROW EXECUTE FUNCTION app_private.tg_audit_row('id');
CREATE TRIGGER _950_reminders AFTER INSERT ON app_public.appointments FOR EACH ROW WHEN (new.status = 'booked'::text) EXECUTE FUNCTION app_private.tg_appointment_reminders();
CREATE TRIGGER _951_reminders_moved AFTER UPDATE OF starts_at, status ON app_public.appointments FOR EACH ROW WHEN (old.status = 'booked'::text AND (new.status <> 'booked'::text OR new.starts_at <> old.starts_at)) EXECUTE FUNCTION app_private.tg_appointment_reminders();
comment on table app_public.appointments is '@unique id
@behavior -delete -nodeId:resource:update -nodeId:resource:delete
An appointment of a patient with a doctor.';
comment on column app_public.appointments.clinic_id is '@behavior -*';
comment on column app_public.appointments.patient_id is '@behavior +filterBy';
comment on column app_public.appointments.doctor_id is '@behavior +filterBy';
comment on column app_public.appointments.starts_at is '@behavior +filterBy +orderBy';
comment on column app_public.appointments.status is '@behavior -update +filterBy
booked, checked_in, completed, cancelled or no_show.';
comment on column app_public.appointments.reason is '@behavior -update';
comment on column app_public.appointments.cancellation_reason is '@behavior -update';
comment on column app_public.appointments.booked_by is 'The membership that booked it (the patient''s own when booked in the portal).';
comment on constraint appointments_pkey on app_public.appointments is '@behavior -single -update -delete';

create table app_public.clinic_exports (
  clinic_id uuid default app_public.current_clinic_id() not null,
  id uuid default gen_random_uuid() not null,
  status text default 'requested'::text not null,
  progress integer default 0 not null,
  requested_by uuid default app_public.current_member_id() not null,
  sha256 text,
  size_bytes bigint,
  expires_at timestamp with time zone,
  error text,
  created_at timestamp with time zone default now() not null,
  updated_at timestamp with time zone default now() not null,
  finished_at timestamp with time zone,
  constraint clinic_exports_pkey PRIMARY KEY (clinic_id, id),
  constraint clinic_exports_clinic_id_fkey FOREIGN KEY (clinic_id) REFERENCES app_public.clinics(id),
  constraint clinic_exports_requested_by_fkey FOREIGN KEY (clinic_id, requested_by) REFERENCES app_public.clinic_members(clinic_id, id),
  constraint clinic_exports_error_length CHECK (char_length(error) <= 200),
  constraint clinic_exports_progress_range CHECK (progress >= 0 AND progress <= 100),
  constraint clinic_exports_sha256_format CHECK (sha256 ~ '^[0-9a-f]{64}$'::text),
  constraint clinic_exports_size_bytes_valid CHECK (size_bytes >= 0),
  constraint clinic_exports_status_check CHECK (status <> 'ready'::text OR sha256 IS NOT NULL AND size_bytes IS NOT NULL AND expires_at IS NOT NULL),
  constraint clinic_exports_status_valid CHECK (status = ANY (ARRAY['requested'::text, 'running'::text, 'ready'::text, 'failed'::text, 'expired'::text]))
);
alter table app_public.clinic_exports enable row level security;
alter table app_public.clinic_exports force row level security;
CREATE INDEX clinic_exports_created_at_idx ON app_public.clinic_exports USING btree (clinic_id, created_at DESC);
CREATE INDEX clinic_exports_requested_by_idx ON app_public.clinic_exports USING btree (clinic_id, requested_by);
create policy tenant_isolation on app_public.clinic_exports
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));
create policy insert_admins on app_public.clinic_exports
  for insert to app_user
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text]) AS current_role_is) AND (requested_by = ( SELECT app_public.current_member_id() AS current_member_id))));
create policy read_by_definer_functions on app_public.clinic_exports
  for select to app_owner
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));
create policy select_admins on app_public.clinic_exports
  for select to app_user
  using (( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text]) AS current_role_is));
create policy update_by_definer_functions on app_public.clinic_exports
  for update to app_owner
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));
grant select on app_public.clinic_exports to app_user;
grant insert (requested_by) on app_public.clinic_exports to app_user;
CREATE TRIGGER _100_updated_at BEFORE UPDATE ON app_public.clinic_exports FOR EACH ROW EXECUTE FUNCTION app_private.tg_set_updated_at();
CREATE TRIGGER _500_enqueue_build AFTER INSERT ON app_public.clinic_exports FOR EACH ROW EXECUTE FUNCTION app_private.tg_enqueue_clinic_export_build();
CREATE TRIGGER _900_audit AFTER INSERT OR DELETE OR UPDATE OF status ON app_public.clinic_exports FOR EACH ROW EXECUTE FUNCTION app_private.tg_audit_row('id');
comment on table app_public.clinic_exports is '@behavior -*
A full export of the clinic (its tables as JSON Lines and its files), built by a background job.';
comment on column app_public.clinic_exports.status is 'requested, running, ready (downloadable until expires_at), failed or expired.';
comment on column app_public.clinic_exports.progress is 'Percentage of the build done, 0 to 100.';
comment on column app_public.clinic_exports.sha256 is 'Lower-case hex SHA-256 of the archive, once ready.';
comment on column app_public.clinic_exports.error is 'Why the build failed: an error class and SQLSTATE, never data.';

create table app_public.clinic_icd10_codes (
  clinic_id uuid default app_public.current_clinic_id() not null,
  id uuid default gen_random_uuid() not null,
  code text not null,
  description text not null,
  created_by uuid default app_public.current_member_id() not null,
  created_at timestamp with time zone default now() not null,
  updated_at timestamp with time zone default now() not null,
  constraint clinic_icd10_codes_pkey PRIMARY KEY (clinic_id, id),
  constraint clinic_icd10_codes_code_key UNIQUE (clinic_id, code),
  constraint clinic_icd10_codes_clinic_id_fkey FOREIGN KEY (clinic_id) REFERENCES app_public.clinics(id),
  constraint clinic_icd10_codes_created_by_fkey FOREIGN KEY (clinic_id, created_by) REFERENCES app_public.clinic_members(clinic_id, id),
  constraint clinic_icd10_codes_code_format CHECK (code ~ '^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$'::text),
  constraint clinic_icd10_codes_description_check CHECK (description !~ '[\x01-\x1f\x7f]'::text),
  constraint clinic_icd10_codes_description_length CHECK (char_length(description) >= 1 AND char_length(description) <= 500)
);
alter table app_public.clinic_icd10_codes enable row level security;
alter table app_public.clinic_icd10_codes force row level security;
CREATE INDEX clinic_icd10_codes_code_prefix_idx ON app_public.clinic_icd10_codes USING btree (clinic_id, code text_pattern_ops);
CREATE INDEX clinic_icd10_codes_created_by_idx ON app_public.clinic_icd10_codes USING btree (clinic_id, created_by);
CREATE INDEX clinic_icd10_codes_description_words_idx ON app_public.clinic_icd10_codes USING gin (clinic_id, to_tsvector('simple'::regconfig, description));
create policy tenant_isolation on app_public.clinic_icd10_codes
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));
create policy insert_admins_and_doctors on app_public.clinic_icd10_codes
  for insert to app_user
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'doctor'::text]) AS current_role_is) AND (created_by = ( SELECT app_public.current_member_id() AS current_member_id))));
create policy read_by_definer_functions on app_public.clinic_icd10_codes
  for select to app_owner
  using (true);
create policy select_clinicians on app_public.clinic_icd10_codes
  for select to app_user
  using (( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'doctor'::text, 'nurse'::text]) AS current_role_is));
grant select on app_public.clinic_icd10_codes to app_user;
grant insert (code, description) on app_public.clinic_icd10_codes to app_user;
CREATE TRIGGER _100_updated_at BEFORE UPDATE ON app_public.clinic_icd10_codes FOR EACH ROW EXECUTE FUNCTION app_private.tg_set_updated_at();
CREATE TRIGGER _900_audit AFTER INSERT OR DELETE OR UPDATE ON app_public.clinic_icd10_codes FOR EACH ROW EXECUTE FUNCTION app_private.tg_audit_row('id');
comment on table app_public.clinic_icd10_codes is '@unique id
@behavior -update -delete
An ICD-10 code a clinic added to the bundled list (a local or newer code).';
comment on column app_public.clinic_icd10_codes.clinic_id is '@behavior -*';
comment on column app_public.clinic_icd10_codes.code is '@behavior +filterBy +orderBy
The ICD-10 code, e.g. J45.909.';
comment on column app_public.clinic_icd10_codes.created_by is '@behavior -insert
The member who added it.';
comment on constraint clinic_icd10_codes_pkey on app_public.clinic_icd10_codes is '@behavior -single -update -delete';
comment on constraint clinic_icd10_codes_code_key on app_public.clinic_icd10_codes is '@behavior -single -update -delete';

create table app_public.clinic_members (
  clinic_id uuid default app_public.current_clinic_id() not null,
  id uuid default gen_random_uuid() not null,
  account_id uuid not null,
  role text not null,
  display_name text not null,
  status text default 'active'::text not null,
  specialisation text,
  licence_number text,
  qualification text,
  consultation_fee numeric(12,2),
  created_at timestamp with time zone default now() not null,
  updated_at timestamp with time zone default now() not null,
  office_hours jsonb default '{}'::jsonb not null,
  role_changed_at timestamp with time zone,
  constraint clinic_members_pkey PRIMARY KEY (clinic_id, id),
  constraint clinic_members_account_id_key UNIQUE (clinic_id, account_id),
  constraint clinic_members_licence_number_key UNIQUE (clinic_id, licence_number),
  constraint clinic_members_account_id_fkey FOREIGN KEY (account_id) REFERENCES app_private.accounts(id),
  constraint clinic_members_clinic_id_fkey FOREIGN KEY (clinic_id) REFERENCES app_public.clinics(id),
  constraint clinic_members_consultation_fee_valid CHECK (consultation_fee >= 0::numeric),
  constraint clinic_members_display_name_check CHECK (display_name !~ '[\x01-\x1f\x7f]'::text),
  constraint clinic_members_display_name_length CHECK (char_length(display_name) >= 1 AND char_length(display_name) <= 120),
  constraint clinic_members_licence_number_check CHECK (licence_number !~ '[\x01-\x1f\x7f]'::text),
  constraint clinic_members_licence_number_length CHECK (char_length(licence_number) >= 1 AND char_length(licence_number) <= 64),
  constraint clinic_members_office_hours_valid CHECK (jsonb_typeof(office_hours) = 'object'::text),
  constraint clinic_members_qualification_check CHECK (qualification !~ '[\x01-\x1f\x7f]'::text),
  constraint clinic_members_qualification_length CHECK (char_length(qualification) <= 200),
  constraint clinic_members_role_valid CHECK (role = ANY (ARRAY['clinic_admin'::text, 'doctor'::text, 'nurse'::text, 'receptionist'::text, 'lab_technician'::text, 'patient'::text])),
  constraint clinic_members_specialisation_check CHECK (specialisation !~ '[\x01-\x1f\x7f]'::text),
  constraint clinic_members_specialisation_length CHECK (char_length(specialisation) <= 120),
  constraint clinic_members_status_valid CHECK (status = ANY (ARRAY['invited'::text, 'active'::text, 'deactivated'::text]))
);
alter table app_public.clinic_members enable row level security;
alter table app_public.clinic_members force row level security;
create policy tenant_isolation on app_public.clinic_members
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));
create policy delete_admins on app_public.clinic_members
  for delete to app_user
  using (( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text]) AS current_role_is));
create policy insert_admins on app_public.clinic_members
  for insert to app_user
  with check (( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text]) AS current_role_is));
create policy insert_by_definer_functions on app_public.clinic_members
  for insert to app_owner
  with check (true);
create policy read_by_definer_functions on app_public.clinic_members
  for select to app_owner
  using (true);
create policy select_staff_all_patients_staff_and_self on app_public.clinic_members
  for select to app_user
  using (((NOT ( SELECT app_public.current_role_is(VARIADIC ARRAY['patient'::text]) AS current_role_is)) OR (role <> 'patient'::text) OR (account_id = ( SELECT app_public.current_user_id() AS current_user_id))));
create policy update_admins on app_public.clinic_members
  for update to app_user
  using (( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text]) AS current_role_is))
  with check (( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text]) AS current_role_is));
create policy update_by_definer_functions on app_public.clinic_members
  for update to app_owner
  using (true)
  with check (true);
grant delete, select on app_public.clinic_members to app_user;
grant insert (account_id, consultation_fee, display_name, licence_number, office_hours, qualification, role, specialisation, status) on app_public.clinic_members to app_user;
grant update (consultation_fee, display_name, licence_number, office_hours, qualification, role, specialisation, status) on app_public.clinic_members to app_user;
CREATE TRIGGER _100_updated_at BEFORE UPDATE ON app_public.clinic_members FOR EACH ROW EXECUTE FUNCTION app_private.tg_set_updated_at();
CREATE TRIGGER _120_stamp_role_change BEFORE UPDATE OF role ON app_public.clinic_members FOR EACH ROW WHEN (old.role IS DISTINCT FROM new.role) EXECUTE FUNCTION app_private.tg_stamp_role_change();
CREATE TRIGGER _150_enforce_plan_limits BEFORE INSERT OR UPDATE OF role, status ON app_public.clinic_members FOR EACH ROW EXECUTE FUNCTION app_private.tg_enforce_plan_limits();
CREATE TRIGGER _200_keep_an_active_admin AFTER DELETE OR UPDATE ON app_public.clinic_members FOR EACH ROW EXECUTE FUNCTION app_private.tg_keep_an_active_admin();
CREATE TRIGGER _900_audit AFTER INSERT OR DELETE OR UPDATE ON app_public.clinic_members FOR EACH ROW EXECUTE FUNCTION app_private.tg_audit_row('id');
comment on table app_public.clinic_members is '@unique id
@behavior -insert -delete -nodeId:resource:update -nodeId:resource:delete
A person''s membership of a clinic: role, status and staff profile.';
comment on column app_public.clinic_members.clinic_id is '@behavior -*';
comment on column app_public.clinic_members.account_id is '@behavior -*';
comment on column app_public.clinic_members.role is '@behavior -update +filterBy
clinic_admin, doctor, nurse, receptionist, lab_technician or patient.';
comment on column app_public.clinic_members.display_name is '@behavior +orderBy';
comment on column app_public.clinic_members.status is '@behavior -update +filterBy
invited (until the invitation is accepted), active, or deactivated (cannot log in or refresh).';
comment on column app_public.clinic_members.licence_number is '@behavior +filterBy
Professional licence number, unique within the clinic.';
comment on column app_public.clinic_members.office_hours is '@behavior -update
Office hours per weekday, e.g. {"mon": [["09:00", "13:00"]]}.';
comment on column app_public.clinic_members.role_changed_at is '@behavior -*
When the role last changed; NULL when it never did.';
comment on constraint clinic_members_pkey on app_public.clinic_members is '@behavior -single -update -delete';
comment on constraint clinic_members_account_id_key on app_public.clinic_members is '@behavior -single -update -delete';
comment on constraint clinic_members_licence_number_key on app_public.clinic_members is '@behavior -single -update -delete';

create table app_public.clinic_settings (
  clinic_id uuid default app_public.current_clinic_id() not null,
  id uuid default gen_random_uuid() not null,
  currency text default 'USD'::text not null,
  tax_rate numeric(5,2) default 0 not null,
  appointment_slot_minutes integer default 15 not null,
  session_idle_minutes integer default 15 not null,
  require_two_factor boolean default false not null,
  operating_hours jsonb default '{}'::jsonb not null,
  retention_days integer default 3650 not null,
  brand_primary_colour text,
  brand_secondary_colour text,
  created_at timestamp with time zone default now() not null,
  updated_at timestamp with time zone default now() not null,
  brand_logo_url text,
  no_show_grace_minutes integer default 30 not null,
  notification_sender_name text,
  language text default 'en'::text not null,
  constraint clinic_settings_pkey PRIMARY KEY (clinic_id, id),
  constraint clinic_settings_clinic_id_key UNIQUE (clinic_id),
  constraint clinic_settings_clinic_id_fkey FOREIGN KEY (clinic_id) REFERENCES app_public.clinics(id),
  constraint clinic_settings_appointment_slot_minutes_valid CHECK (appointment_slot_minutes >= 5 AND appointment_slot_minutes <= 240),
  constraint clinic_settings_brand_logo_url_check CHECK (brand_logo_url !~ '[\x01-\x1f\x7f]'::text),
  constraint clinic_settings_brand_logo_url_format CHECK (char_length(brand_logo_url) <= 2048 AND brand_logo_url ~ '^https://'::text),
  constraint clinic_settings_brand_primary_colour_format CHECK (brand_primary_colour ~ '^#[0-9a-f]{6}$'::text),
  constraint clinic_settings_brand_secondary_colour_format CHECK (brand_secondary_colour ~ '^#[0-9a-f]{6}$'::text),
  constraint clinic_settings_currency_format CHECK (currency ~ '^[A-Z]{3}$'::text),
  constraint clinic_settings_language_valid CHECK (language = ANY (ARRAY['en'::text, 'es'::text])),
  constraint clinic_settings_no_show_grace_minutes_range CHECK (no_show_grace_minutes >= 5 AND no_show_grace_minutes <= 1440),
  constraint clinic_settings_notification_sender_name_check CHECK (notification_sender_name !~ '[\x01-\x1f\x7f]'::text),
  constraint clinic_settings_notification_sender_name_length CHECK (char_length(notification_sender_name) >= 1 AND char_length(notification_sender_name) <= 64),
  constraint clinic_settings_operating_hours_valid CHECK (jsonb_typeof(operating_hours) = 'object'::text),
  constraint clinic_settings_retention_days_valid CHECK (retention_days >= 365 AND retention_days <= 36500),
  constraint clinic_settings_session_idle_minutes_valid CHECK (session_idle_minutes >= 5 AND session_idle_minutes <= 720),
  constraint clinic_settings_tax_rate_valid CHECK (tax_rate >= 0::numeric AND tax_rate <= 100::numeric)
);
alter table app_public.clinic_settings enable row level security;
alter table app_public.clinic_settings force row level security;
create policy tenant_isolation on app_public.clinic_settings
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));
create policy insert_by_definer_functions on app_public.clinic_settings
  for insert to app_owner
  with check (true);
create policy read_by_definer_functions on app_public.clinic_settings
  for select to app_owner
  using (true);
create policy select_members on app_public.clinic_settings
  for select to app_user
  using (true);
create policy update_admins on app_public.clinic_settings
  for update to app_user
  using (( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text]) AS current_role_is))
  with check (( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text]) AS current_role_is));
grant select on app_public.clinic_settings to app_user;
grant update (appointment_slot_minutes, brand_logo_url, brand_primary_colour, brand_secondary_colour, currency, language, no_show_grace_minutes, notification_sender_name, operating_hours, require_two_factor, retention_days, session_idle_minutes, tax_rate) on app_public.clinic_settings to app_user;
CREATE TRIGGER _100_updated_at BEFORE UPDATE ON app_public.clinic_settings FOR EACH ROW EXECUTE FUNCTION app_private.tg_set_updated_at();
CREATE TRIGGER _900_audit AFTER INSERT OR DELETE OR UPDATE ON app_public.clinic_settings FOR EACH ROW EXECUTE FUNCTION app_private.tg_audit_row('clinic_id');
comment on table app_public.clinic_settings is '@unique id
@behavior -insert -delete -nodeId:resource:update -nodeId:resource:delete
A clinic''s settings: currency, tax, scheduling, session timeout, 2FA, retention, branding.';
comment on column app_public.clinic_settings.clinic_id is '@behavior -*';
comment on column app_public.clinic_settings.session_idle_minutes is 'Minutes of inactivity after which a session''s refresh token expires.';
comment on column app_public.clinic_settings.operating_hours is '@behavior -update
Opening hours per weekday, e.g. {"mon": [["09:00", "17:00"]]}.';
comment on column app_public.clinic_settings.no_show_grace_minutes is 'Minutes after its start before a booked appointment nobody checked in is marked no_show (5 to 1440).';
comment on column app_public.clinic_settings.notification_sender_name is 'The name messages to patients and staff come from (the From display name, the prefix of an SMS); unset: the clinic''s name.';
comment on column app_public.clinic_settings.language is 'The language of the clinic''s messages: en or es.';
comment on constraint clinic_settings_pkey on app_public.clinic_settings is '@behavior -single -update -delete';
comment on constraint clinic_settings_clinic_id_key on app_public.clinic_settings is '@behavior -single -update -delete';

create table app_public.clinics (
  id uuid default gen_random_uuid() not null,
  slug text not null,
  name text not null,
  timezone text default 'UTC'::text not null,
  status text default 'active'::text not null,
  created_at timestamp with time zone default now() not null,
  updated_at timestamp with time zone default now() not null,
  plan text default 'trial'::text not null,
  plan_status text default 'trial'::text not null,
  address text,
  contact_email text,
  contact_phone text,
  registration_number text,
  tax_id text,
  constraint clinics_pkey PRIMARY KEY (id),
  constraint clinics_slug_key UNIQUE (slug),
  constraint clinics_plan_fkey FOREIGN KEY (plan) REFERENCES app_private.plans(code),
  constraint clinics_address_length CHECK (char_length(address) >= 1 AND char_length(address) <= 500),
  constraint clinics_contact_email_format CHECK (char_length(contact_email) <= 254 AND contact_email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'::text),
  constraint clinics_contact_phone_format CHECK (contact_phone ~ '^\+?[0-9][0-9 ()-]{4,31}$'::text),
  constraint clinics_name_length CHECK (char_length(name) >= 1 AND char_length(name) <= 200),
  constraint clinics_plan_status_valid CHECK (plan_status = ANY (ARRAY['trial'::text, 'active'::text, 'expired'::text, 'suspended'::text])),
  constraint clinics_registration_number_length CHECK (char_length(registration_number) >= 1 AND char_length(registration_number) <= 64),
  constraint clinics_slug_format CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$'::text),
  constraint clinics_status_valid CHECK (status = ANY (ARRAY['active'::text, 'suspended'::text])),
  constraint clinics_tax_id_length CHECK (char_length(tax_id) >= 1 AND char_length(tax_id) <= 64),
  constraint clinics_timezone_valid CHECK (app_hidden.is_valid_timezone(timezone))
);
alter table app_public.clinics enable row level security;
alter table app_public.clinics force row level security;
create policy insert_any on app_public.clinics
  for insert to app_platform
  with check (true);
create policy insert_by_definer_functions on app_public.clinics
  for insert to app_owner
  with check (true);
create policy read_by_definer_functions on app_public.clinics
  for select to app_owner
  using (true);
create policy select_all on app_public.clinics
  for select to app_platform
  using (true);
create policy select_own_clinic on app_public.clinics
  for select to app_user
  using ((id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));
create policy update_any on app_public.clinics
  for update to app_platform
  using (true)
  with check (true);
grant select on app_public.clinics to app_platform;
grant insert (name, slug, status, timezone) on app_public.clinics to app_platform;
grant update (address, contact_email, contact_phone, name, plan, plan_status, registration_number, status, tax_id, timezone) on app_public.clinics to app_platform;
grant select on app_public.clinics to app_user;
CREATE TRIGGER _100_updated_at BEFORE UPDATE ON app_public.clinics FOR EACH ROW EXECUTE FUNCTION app_private.tg_set_updated_at();
CREATE TRIGGER _800_resume_jobs AFTER UPDATE OF status ON app_public.clinics FOR EACH ROW WHEN (old.status = 'suspended'::text AND new.status = 'active'::text) EXECUTE FUNCTION app_private.tg_clinic_reactivated_resume_jobs();
CREATE TRIGGER _900_audit AFTER INSERT OR DELETE OR UPDATE ON app_public.clinics FOR EACH ROW EXECUTE FUNCTION app_private.tg_audit_row();
comment on table app_public.clinics is '@behavior -insert -update -delete
A clinic (tenant). Every tenant row belongs to exactly one clinic.';
comment on column app_public.clinics.slug is 'URL name of the clinic: /api/v1/clinics/{slug}/...';
comment on column app_public.clinics.timezone is 'IANA time zone used for the clinic''s schedules and reports.';
comment on column app_public.clinics.status is 'active, or suspended (a suspended clinic''s members are refused: enforced with identity and access).';
comment on column app_public.clinics.plan is 'Subscription plan: trial, basic, professional or enterprise (limits per plan).';
comment on column app_public.clinics.plan_status is 'trial, active, expired or suspended.';

create table app_public.consultation_addenda (
  clinic_id uuid default app_public.current_clinic_id() not null,
  id uuid default gen_random_uuid() not null,
  consultation_id uuid not null,
  patient_id uuid not null,
  author_id uuid default app_public.current_member_id() not null,
  body text not null,
  signed_at timestamp with time zone default now() not null,
  created_at timestamp with time zone default now() not null,
  constraint consultation_addenda_pkey PRIMARY KEY (clinic_id, id),
  constraint consultation_addenda_author_id_fkey FOREIGN KEY (clinic_id, author_id) REFERENCES app_public.clinic_members(clinic_id, id),
  constraint consultation_addenda_clinic_id_fkey FOREIGN KEY (clinic_id) REFERENCES app_public.clinics(id),
  constraint consultation_addenda_consultation_id_fkey FOREIGN KEY (clinic_id, consultation_id, patient_id) REFERENCES app_public.consultations(clinic_id, id, patient_id) ON UPDATE CASCADE,
  constraint consultation_addenda_body_check CHECK (body !~ '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]'::text),
  constraint consultation_addenda_body_length CHECK (char_length(body) >= 1 AND char_length(body) <= 8000)
);
alter table app_public.consultation_addenda enable row level security;
alter table app_public.consultation_addenda force row level security;
CREATE INDEX consultation_addenda_consultation_id_idx ON app_public.consultation_addenda USING btree (clinic_id, consultation_id, patient_id, signed_at);
create policy tenant_isolation on app_public.consultation_addenda
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));
create policy insert_doctors on app_public.consultation_addenda
  for insert to app_user
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (author_id = ( SELECT app_public.current_member_id() AS current_member_id))));
create policy read_for_export on app_public.consultation_addenda
  for select to app_owner
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));
create policy select_clinicians_and_own on app_public.consultation_addenda
  for select to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'doctor'::text, 'nurse'::text]) AS current_role_is) OR app_private.patient_reads(patient_id)));
grant select on app_public.consultation_addenda to app_user;
grant insert (body, consultation_id) on app_public.consultation_addenda to app_user;
CREATE TRIGGER _010_lock BEFORE INSERT OR DELETE OR UPDATE ON app_public.consultation_addenda FOR EACH ROW EXECUTE FUNCTION app_private.tg_consultation_child('addendum_is_final');
CREATE TRIGGER _900_audit AFTER INSERT OR DELETE OR UPDATE ON app_public.consultation_addenda FOR EACH ROW EXECUTE FUNCTION app_private.tg_audit_row('id');
comment on table app_public.consultation_addenda is '@unique id
@behavior -insert -update -delete
A signed correction of a signed consultation, never changed.';
comment on column app_public.consultation_addenda.clinic_id is '@behavior -*';
comment on constraint consultation_addenda_pkey on app_public.consultation_addenda is '@behavior -single -update -delete';
comment on constraint consultation_addenda_consultation_id_fkey on app_public.consultation_addenda is '@fieldName consultation
@foreignFieldName addenda';

create table app_public.consultations (
  clinic_id uuid default app_public.current_clinic_id() not null,
  id uuid default gen_random_uuid() not null,
  visit_id uuid not null,
  patient_id uuid not null,
  doctor_id uuid default app_public.current_member_id() not null,
  status text default 'draft'::text not null,
  chief_complaint text,
  symptoms text,
  findings text,
  clinical_notes text,
  urgency text default 'routine'::text not null,
  treatment_plan text,
  version integer default 1 not null,
  signed_at timestamp with time zone,
  completed_at timestamp with time zone,
  created_at timestamp with time zone default now() not null,
  updated_at timestamp with time zone default now() not null,
  constraint consultations_pkey PRIMARY KEY (clinic_id, id),
  constraint consultations_patient_key UNIQUE (clinic_id, id, patient_id),
  constraint consultations_visit_id_key UNIQUE (clinic_id, visit_id),
  constraint consultations_clinic_id_fkey FOREIGN KEY (clinic_id) REFERENCES app_public.clinics(id),
  constraint consultations_doctor_id_fkey FOREIGN KEY (clinic_id, doctor_id) REFERENCES app_public.clinic_members(clinic_id, id),
  constraint consultations_patient_id_fkey FOREIGN KEY (clinic_id, patient_id) REFERENCES app_public.patients(clinic_id, id),
  constraint consultations_visit_id_fkey FOREIGN KEY (clinic_id, visit_id) REFERENCES app_public.visits(clinic_id, id),
  constraint consultations_chief_complaint_check CHECK (chief_complaint !~ '[\x01-\x1f\x7f]'::text),
  constraint consultations_chief_complaint_length CHECK (char_length(chief_complaint) >= 1 AND char_length(chief_complaint) <= 500),
  constraint consultations_clinical_notes_check CHECK (clinical_notes !~ '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]'::text),
  constraint consultations_clinical_notes_length CHECK (char_length(clinical_notes) >= 1 AND char_length(clinical_notes) <= 8000),
  constraint consultations_findings_check CHECK (findings !~ '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]'::text),
  constraint consultations_findings_length CHECK (char_length(findings) >= 1 AND char_length(findings) <= 4000),
  constraint consultations_signed_at_valid CHECK ((status = 'signed'::text) = (signed_at IS NOT NULL)),
  constraint consultations_status_valid CHECK (status = ANY (ARRAY['draft'::text, 'signed'::text])),
  constraint consultations_symptoms_check CHECK (symptoms !~ '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]'::text),
  constraint consultations_symptoms_length CHECK (char_length(symptoms) >= 1 AND char_length(symptoms) <= 4000),
  constraint consultations_treatment_plan_check CHECK (treatment_plan !~ '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]'::text),
  constraint consultations_treatment_plan_length CHECK (char_length(treatment_plan) >= 1 AND char_length(treatment_plan) <= 4000),
  constraint consultations_urgency_valid CHECK (urgency = ANY (ARRAY['routine'::text, 'urgent'::text, 'emergency'::text])),
  constraint consultations_version_valid CHECK (version > 0)
);
alter table app_public.consultations enable row level security;
alter table app_public.consultations force row level security;
CREATE INDEX consultations_doctor_id_idx ON app_public.consultations USING btree (clinic_id, doctor_id, created_at DESC);
CREATE INDEX consultations_patient_id_idx ON app_public.consultations USING btree (clinic_id, patient_id, created_at DESC);
create policy tenant_isolation on app_public.consultations
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));
create policy insert_visit_doctor on app_public.consultations
  for insert to app_user
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (doctor_id = ( SELECT app_public.current_member_id() AS current_member_id))));
create policy read_by_definer_functions on app_public.consultations
  for select to app_owner
  using (true);
create policy select_clinicians_and_own_signed on app_public.consultations
  for select to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'doctor'::text, 'nurse'::text]) AS current_role_is) OR ((status = 'signed'::text) AND app_private.patient_reads(patient_id))));
create policy update_author_draft on app_public.consultations
  for update to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (doctor_id = ( SELECT app_public.current_member_id() AS current_member_id)) AND (status = 'draft'::text)))
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (doctor_id = ( SELECT app_public.current_member_id() AS current_member_id))));
create policy update_by_definer_functions on app_public.consultations
  for update to app_owner
  using (true)
  with check (true);
grant select on app_public.consultations to app_user;
grant insert (chief_complaint, clinical_notes, doctor_id, findings, symptoms, treatment_plan, urgency, visit_id) on app_public.consultations to app_user;
grant update (chief_complaint, clinical_notes, findings, status, symptoms, treatment_plan, urgency) on app_public.consultations to app_user;
CREATE TRIGGER _010_lock BEFORE DELETE OR UPDATE ON app_public.consultations FOR EACH ROW EXECUTE FUNCTION app_private.tg_consultation_lock();
CREATE TRIGGER _020_transition BEFORE UPDATE ON app_public.consultations FOR EACH ROW EXECUTE FUNCTION app_private.tg_consultation_transition();
CREATE TRIGGER _050_open_visit BEFORE INSERT ON app_public.consultations FOR EACH ROW EXECUTE FUNCTION app_private.tg_consultation_open_visit();
CREATE TRIGGER _100_updated_at BEFORE UPDATE ON app_public.consultations FOR EACH ROW EXECUTE FUNCTION app_private.tg_set_updated_at();
CREATE TRIGGER _110_bump_version BEFORE UPDATE ON app_public.consultations FOR EACH ROW EXECUTE FUNCTION app_private.tg_bump_version();
CREATE TRIGGER _800_complete_visit AFTER UPDATE OF status ON app_public.consultations FOR EACH ROW WHEN (new.status = 'signed'::text) EXECUTE FUNCTION app_private.tg_consultation_complete_visit();
CREATE TRIGGER _900_audit AFTER INSERT OR DELETE OR UPDATE ON app_public.consultations FOR EACH ROW EXECUTE FUNCTION app_private.tg_audit_row('id');
comment on table app_public.consultations is '@unique id
@behavior -insert -update -delete
A doctor''s consultation during a visit: draft while written, then signed and locked.';
comment on column app_public.consultations.clinic_id is '@behavior -*';
comment on column app_public.consultations.status is 'draft or signed.';
comment on column app_public.consultations.version is 'Counts updates: the ETag REST answers and If-Match compares.';
comment on constraint consultations_pkey on app_public.consultations is '@behavior -single -update -delete';
comment on constraint consultations_patient_key on app_public.consultations is '@behavior -single -update -delete';
comment on constraint consultations_visit_id_key on app_public.consultations is '@behavior -single -update -delete';

create table app_public.departments (
  clinic_id uuid default app_public.current_clinic_id() not null,
  id uuid default gen_random_uuid() not null,
  code text not null,
  name text not null,
  description text,
  is_active boolean default true not null,
  created_at timestamp with time zone default now() not null,
  updated_at timestamp with time zone default now() not null,
  constraint departments_pkey PRIMARY KEY (clinic_id, id),
  constraint departments_code_key UNIQUE (clinic_id, code),
  constraint departments_clinic_id_fkey FOREIGN KEY (clinic_id) REFERENCES app_public.clinics(id),
  constraint departments_code_format CHECK (code ~ '^[A-Z0-9][A-Z0-9_-]{0,15}$'::text),
  constraint departments_description_check CHECK (description !~ '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]'::text),
  constraint departments_description_length CHECK (char_length(description) <= 2000),
  constraint departments_name_check CHECK (name !~ '[\x01-\x1f\x7f]'::text),
  constraint departments_name_length CHECK (char_length(name) >= 1 AND char_length(name) <= 120)
);
alter table app_public.departments enable row level security;
alter table app_public.departments force row level security;
CREATE UNIQUE INDEX departments_name_key ON app_public.departments USING btree (clinic_id, lower(name));
create policy tenant_isolation on app_public.departments
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));
create policy delete_admins on app_public.departments
  for delete to app_user
  using (( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text]) AS current_role_is));
create policy insert_admins on app_public.departments
  for insert to app_user
  with check (( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text]) AS current_role_is));
create policy read_for_export on app_public.departments
  for select to app_owner
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));
create policy select_members on app_public.departments
  for select to app_user
  using (true);
create policy update_admins on app_public.departments
  for update to app_user
  using (( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text]) AS current_role_is))
  with check (( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text]) AS current_role_is));
grant delete, select on app_public.departments to app_user;
grant insert (code, description, is_active, name) on app_public.departments to app_user;
grant update (code, description, is_active, name) on app_public.departments to app_user;
CREATE TRIGGER _100_updated_at BEFORE UPDATE ON app_public.departments FOR EACH ROW EXECUTE FUNCTION app_private.tg_set_updated_at();
CREATE TRIGGER _900_audit AFTER INSERT OR DELETE OR UPDATE ON app_public.departments FOR EACH ROW EXECUTE FUNCTION app_private.tg_audit_row('id');
comment on table app_public.departments is '@unique id
@unique code|@behavior -update -delete
@behavior -nodeId:resource:update -nodeId:resource:delete
A department of a clinic (e.g. cardiology, laboratory).';
comment on column app_public.departments.clinic_id is '@behavior -*';
comment on column app_public.departments.code is '@behavior +filterBy +orderBy
Short code unique within the clinic, e.g. CARD.';
comment on column app_public.departments.is_active is '@behavior +filterBy';
comment on constraint departments_pkey on app_public.departments is '@behavior -single -update -delete';
comment on constraint departments_code_key on app_public.departments is '@behavior -single -update -delete';

create table app_public.diagnoses (
  clinic_id uuid default app_public.current_clinic_id() not null,
  id uuid default gen_random_uuid() not null,
  consultation_id uuid not null,
  patient_id uuid not null,
  icd10_code text not null,
  description text not null,
  is_primary boolean default false not null,
  created_at timestamp with time zone default now() not null,
  updated_at timestamp with time zone default now() not null,
  constraint diagnoses_pkey PRIMARY KEY (clinic_id, id),
  constraint diagnoses_clinic_id_fkey FOREIGN KEY (clinic_id) REFERENCES app_public.clinics(id),
  constraint diagnoses_consultation_id_fkey FOREIGN KEY (clinic_id, consultation_id, patient_id) REFERENCES app_public.consultations(clinic_id, id, patient_id) ON UPDATE CASCADE,
  constraint diagnoses_description_check CHECK (description !~ '[\x01-\x1f\x7f]'::text),
  constraint diagnoses_description_length CHECK (char_length(description) >= 1 AND char_length(description) <= 500),
  constraint diagnoses_icd10_code_format CHECK (icd10_code ~ '^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$'::text)
);
alter table app_public.diagnoses enable row level security;
alter table app_public.diagnoses force row level security;
CREATE INDEX diagnoses_consultation_id_idx ON app_public.diagnoses USING btree (clinic_id, consultation_id, patient_id);
CREATE INDEX diagnoses_icd10_code_idx ON app_public.diagnoses USING btree (clinic_id, icd10_code);
CREATE UNIQUE INDEX diagnoses_is_primary_key ON app_public.diagnoses USING btree (clinic_id, consultation_id) WHERE is_primary;
CREATE INDEX diagnoses_patient_id_idx ON app_public.diagnoses USING btree (clinic_id, patient_id);
create policy tenant_isolation on app_public.diagnoses
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));
create policy insert_author on app_public.diagnoses
  for insert to app_user
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (EXISTS ( SELECT
   FROM app_public.consultations c
  WHERE ((c.clinic_id = diagnoses.clinic_id) AND (c.id = diagnoses.consultation_id) AND (c.doctor_id = ( SELECT app_public.current_member_id() AS current_member_id)))))));
create policy read_for_export on app_public.diagnoses
  for select to app_owner
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));
create policy select_clinicians_and_own_signed on app_public.diagnoses
  for select to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'doctor'::text, 'nurse'::text]) AS current_role_is) OR (app_private.patient_reads(patient_id) AND (EXISTS ( SELECT
   FROM app_public.consultations c
  WHERE ((c.clinic_id = diagnoses.clinic_id) AND (c.id = diagnoses.consultation_id) AND (c.status = 'signed'::text)))))));
create policy update_author on app_public.diagnoses
  for update to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (EXISTS ( SELECT
   FROM app_public.consultations c
  WHERE ((c.clinic_id = diagnoses.clinic_id) AND (c.id = diagnoses.consultation_id) AND (c.doctor_id = ( SELECT app_public.current_member_id() AS current_member_id)))))))
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (EXISTS ( SELECT
   FROM app_public.consultations c
  WHERE ((c.clinic_id = diagnoses.clinic_id) AND (c.id = diagnoses.consultation_id) AND (c.doctor_id = ( SELECT app_public.current_member_id() AS current_member_id)))))));
grant select on app_public.diagnoses to app_user;
grant insert (consultation_id, description, icd10_code, is_primary) on app_public.diagnoses to app_user;
grant update (description, icd10_code, is_primary) on app_public.diagnoses to app_user;
CREATE TRIGGER _010_lock BEFORE INSERT OR DELETE OR UPDATE ON app_public.diagnoses FOR EACH ROW EXECUTE FUNCTION app_private.tg_consultation_child('consultation_diagnoses_are_final');
CREATE TRIGGER _060_default_description BEFORE INSERT OR UPDATE ON app_public.diagnoses FOR EACH ROW EXECUTE FUNCTION app_private.tg_diagnosis_default_description();
CREATE TRIGGER _100_updated_at BEFORE UPDATE ON app_public.diagnoses FOR EACH ROW EXECUTE FUNCTION app_private.tg_set_updated_at();
CREATE TRIGGER _900_audit AFTER INSERT OR DELETE OR UPDATE ON app_public.diagnoses FOR EACH ROW EXECUTE FUNCTION app_private.tg_audit_row('id');
comment on table app_public.diagnoses is '@unique id
@behavior -insert -update -delete
An ICD-10 diagnosis of a consultation, primary or secondary.';
comment on column app_public.diagnoses.clinic_id is '@behavior -*';
comment on constraint diagnoses_pkey on app_public.diagnoses is '@behavior -single -update -delete';
comment on constraint diagnoses_consultation_id_fkey on app_public.diagnoses is '@fieldName consultation
@foreignFieldName diagnoses';

create table app_public.doctor_time_off (
  clinic_id uuid default app_public.current_clinic_id() not null,
  id uuid default gen_random_uuid() not null,
  doctor_id uuid not null,
  starts_at timestamp with time zone not null,
  ends_at timestamp with time zone not null,
  reason text,
  created_at timestamp with time zone default now() not null,
  updated_at timestamp with time zone default now() not null,
  constraint doctor_time_off_pkey PRIMARY KEY (clinic_id, id),
  constraint doctor_time_off_clinic_id_fkey FOREIGN KEY (clinic_id) REFERENCES app_public.clinics(id),
  constraint doctor_time_off_doctor_id_fkey FOREIGN KEY (clinic_id, doctor_id) REFERENCES app_public.clinic_members(clinic_id, id),
  constraint doctor_time_off_ends_at_valid CHECK (ends_at > starts_at),
  constraint doctor_time_off_reason_check CHECK (reason !~ '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]'::text),
  constraint doctor_time_off_reason_length CHECK (char_length(reason) >= 1 AND char_length(reason) <= 500)
);
alter table app_public.doctor_time_off enable row level security;
alter table app_public.doctor_time_off force row level security;
CREATE INDEX doctor_time_off_doctor_id_idx ON app_public.doctor_time_off USING btree (clinic_id, doctor_id, starts_at);
create policy tenant_isolation on app_public.doctor_time_off
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));
create policy delete_front_desk_and_own on app_public.doctor_time_off
  for delete to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'receptionist'::text]) AS current_role_is) OR (( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (doctor_id = ( SELECT app_public.current_member_id() AS current_member_id)))));
create policy insert_front_desk_and_own on app_public.doctor_time_off
  for insert to app_user
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'receptionist'::text]) AS current_role_is) OR (( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (doctor_id = ( SELECT app_public.current_member_id() AS current_member_id)))));
create policy read_by_definer_functions on app_public.doctor_time_off
  for select to app_owner
  using (true);
create policy select_staff on app_public.doctor_time_off
  for select to app_user
  using (( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'doctor'::text, 'nurse'::text, 'receptionist'::text, 'lab_technician'::text]) AS current_role_is));
create policy update_front_desk_and_own on app_public.doctor_time_off
  for update to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'receptionist'::text]) AS current_role_is) OR (( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (doctor_id = ( SELECT app_public.current_member_id() AS current_member_id)))))
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'receptionist'::text]) AS current_role_is) OR (( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (doctor_id = ( SELECT app_public.current_member_id() AS current_member_id)))));
grant delete, select on app_public.doctor_time_off to app_user;
grant insert (doctor_id, ends_at, reason, starts_at) on app_public.doctor_time_off to app_user;
grant update (doctor_id, ends_at, reason, starts_at) on app_public.doctor_time_off to app_user;
CREATE TRIGGER _100_updated_at BEFORE UPDATE ON app_public.doctor_time_off FOR EACH ROW EXECUTE FUNCTION app_private.tg_set_updated_at();
CREATE TRIGGER _200_doctor_is_doctor BEFORE INSERT OR UPDATE OF doctor_id ON app_public.doctor_time_off FOR EACH ROW EXECUTE FUNCTION app_private.tg_require_member_role('doctor_id', 'doctor');
CREATE TRIGGER _900_audit AFTER INSERT OR DELETE OR UPDATE ON app_public.doctor_time_off FOR EACH ROW EXECUTE FUNCTION app_private.tg_audit_row('id');
comment on table app_public.doctor_time_off is '@unique id
@behavior -update -nodeId:resource:delete
A doctor''s leave or blocked time: no appointments then.';
comment on column app_public.doctor_time_off.clinic_id is '@behavior -*';
comment on column app_public.doctor_time_off.doctor_id is '@behavior +filterBy
The doctor''s membership.';
comment on column app_public.doctor_time_off.starts_at is '@behavior +filterBy +orderBy';
comment on constraint doctor_time_off_pkey on app_public.doctor_time_off is '@behavior -single -update -delete';

create table app_public.files (
  clinic_id uuid default app_public.current_clinic_id() not null,
  id uuid default gen_random_uuid() not null,
  patient_id uuid not null,
  category text not null,
  original_name text not null,
  content_type text not null,
  size_bytes bigint not null,
  sha256 text not null,
  uploaded_by uuid default app_public.current_member_id() not null,
  created_at timestamp with time zone default now() not null,
  constraint files_pkey PRIMARY KEY (clinic_id, id),
  constraint files_clinic_id_fkey FOREIGN KEY (clinic_id) REFERENCES app_public.clinics(id),
  constraint files_patient_id_fkey FOREIGN KEY (clinic_id, patient_id) REFERENCES app_public.patients(clinic_id, id),
  constraint files_uploaded_by_fkey FOREIGN KEY (clinic_id, uploaded_by) REFERENCES app_public.clinic_members(clinic_id, id),
  constraint files_category_valid CHECK (category = ANY (ARRAY['registration'::text, 'report'::text, 'other'::text])),
  constraint files_content_type_valid CHECK (content_type = ANY (ARRAY['application/pdf'::text, 'image/png'::text, 'image/jpeg'::text, 'text/plain'::text])),
  constraint files_original_name_length CHECK (char_length(original_name) >= 1 AND char_length(original_name) <= 255),
  constraint files_sha256_format CHECK (sha256 ~ '^[0-9a-f]{64}$'::text),
  constraint files_size_bytes_valid CHECK (size_bytes > 0)
);
alter table app_public.files enable row level security;
alter table app_public.files force row level security;
CREATE INDEX files_patient_id_idx ON app_public.files USING btree (clinic_id, patient_id, created_at);
create policy tenant_isolation on app_public.files
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));
create policy insert_uploaders on app_public.files
  for insert to app_user
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text, 'nurse'::text, 'receptionist'::text]) AS current_role_is) OR (( SELECT app_public.current_role_is(VARIADIC ARRAY['lab_technician'::text]) AS current_role_is) AND (category = 'report'::text) AND (EXISTS ( SELECT
   FROM app_public.test_requests q
  WHERE ((q.clinic_id = files.clinic_id) AND (q.patient_id = files.patient_id) AND (q.status = ANY (ARRAY['requested'::text, 'collected'::text, 'in_progress'::text]))))))));
create policy read_by_definer_functions on app_public.files
  for select to app_owner
  using (true);
create policy select_lab_own_uploads on app_public.files
  for select to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['lab_technician'::text]) AS current_role_is) AND (uploaded_by = ( SELECT app_public.current_member_id() AS current_member_id))));
create policy select_staff_and_own on app_public.files
  for select to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'doctor'::text, 'nurse'::text, 'receptionist'::text]) AS current_role_is) OR (( SELECT app_public.current_role_is(VARIADIC ARRAY['patient'::text]) AS current_role_is) AND (patient_id = ( SELECT app_public.current_patient_id() AS current_patient_id)))));
create policy update_by_definer_functions on app_public.files
  for update to app_owner
  using (true)
  with check (true);
grant select on app_public.files to app_user;
grant insert (category, content_type, original_name, patient_id, sha256, size_bytes) on app_public.files to app_user;
CREATE TRIGGER _150_enforce_plan_quota BEFORE INSERT ON app_public.files FOR EACH ROW EXECUTE FUNCTION app_private.tg_enforce_plan_quota('max_storage_mb', 'size_bytes');
CREATE TRIGGER _900_audit AFTER INSERT OR DELETE OR UPDATE ON app_public.files FOR EACH ROW EXECUTE FUNCTION app_private.tg_audit_row('id');
comment on table app_public.files is '@unique id
@behavior -insert -update -delete -totalCount
A file attached to a patient: its metadata (the bytes are in storage under <clinic_id>/<id>).';
comment on column app_public.files.clinic_id is '@behavior -*';
comment on column app_public.files.patient_id is '@behavior +filterBy';
comment on column app_public.files.original_name is 'The uploaded file''s name, as metadata only.';
comment on column app_public.files.content_type is 'The type sniffed from the bytes: application/pdf, image/png, image/jpeg or text/plain.';
comment on column app_public.files.sha256 is 'Hex SHA-256 of the bytes.';
comment on column app_public.files.created_at is '@behavior +orderBy';
comment on constraint files_pkey on app_public.files is '@behavior -single -update -delete';

create table app_public.follow_ups (
  clinic_id uuid default app_public.current_clinic_id() not null,
  id uuid default gen_random_uuid() not null,
  consultation_id uuid not null,
  patient_id uuid not null,
  doctor_id uuid default app_public.current_member_id() not null,
  due_date date not null,
  reason text not null,
  status text default 'pending'::text not null,
  appointment_id uuid,
  created_at timestamp with time zone default now() not null,
  updated_at timestamp with time zone default now() not null,
  constraint follow_ups_pkey PRIMARY KEY (clinic_id, id),
  constraint follow_ups_appointment_id_key UNIQUE (clinic_id, appointment_id),
  constraint follow_ups_appointment_id_fkey FOREIGN KEY (clinic_id, appointment_id) REFERENCES app_public.appointments(clinic_id, id),
  constraint follow_ups_clinic_id_fkey FOREIGN KEY (clinic_id) REFERENCES app_public.clinics(id),
  constraint follow_ups_consultation_id_fkey FOREIGN KEY (clinic_id, consultation_id, patient_id) REFERENCES app_public.consultations(clinic_id, id, patient_id) ON UPDATE CASCADE,
  constraint follow_ups_doctor_id_fkey FOREIGN KEY (clinic_id, doctor_id) REFERENCES app_public.clinic_members(clinic_id, id),
  constraint follow_ups_reason_check CHECK (reason !~ '[\x01-\x1f\x7f]'::text),
  constraint follow_ups_reason_length CHECK (char_length(reason) >= 1 AND char_length(reason) <= 500),
  constraint follow_ups_status_valid CHECK (status = ANY (ARRAY['pending'::text, 'completed'::text, 'cancelled'::text, 'missed'::text]))
);
alter table app_public.follow_ups enable row level security;
alter table app_public.follow_ups force row level security;
CREATE INDEX follow_ups_consultation_id_idx ON app_public.follow_ups USING btree (clinic_id, consultation_id);
CREATE INDEX follow_ups_patient_id_idx ON app_public.follow_ups USING btree (clinic_id, patient_id, due_date DESC);
CREATE INDEX follow_ups_pending_idx ON app_public.follow_ups USING btree (clinic_id, doctor_id, due_date) WHERE (status = 'pending'::text);
create policy tenant_isolation on app_public.follow_ups
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));
create policy insert_doctors_from_own_consultation on app_public.follow_ups
  for insert to app_user
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (doctor_id = ( SELECT app_public.current_member_id() AS current_member_id)) AND (EXISTS ( SELECT
   FROM app_public.consultations c
  WHERE ((c.clinic_id = follow_ups.clinic_id) AND (c.id = follow_ups.consultation_id) AND (c.doctor_id = ( SELECT app_public.current_member_id() AS current_member_id)))))));
create policy read_by_definer_functions on app_public.follow_ups
  for select to app_owner
  using (true);
create policy select_clinicians_and_own on app_public.follow_ups
  for select to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'doctor'::text, 'nurse'::text]) AS current_role_is) OR app_private.patient_reads(patient_id)));
create policy update_by_definer_functions on app_public.follow_ups
  for update to app_owner
  using (true)
  with check (true);
create policy update_doctors on app_public.follow_ups
  for update to app_user
  using (( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is))
  with check (( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is));
grant select on app_public.follow_ups to app_user;
grant insert (consultation_id, due_date, patient_id, reason) on app_public.follow_ups to app_user;
grant update (status) on app_public.follow_ups to app_user;
CREATE TRIGGER _100_updated_at BEFORE UPDATE ON app_public.follow_ups FOR EACH ROW EXECUTE FUNCTION app_private.tg_set_updated_at();
CREATE TRIGGER _150_due_date BEFORE INSERT ON app_public.follow_ups FOR EACH ROW EXECUTE FUNCTION app_private.tg_follow_up_due_date();
CREATE TRIGGER _200_transition BEFORE UPDATE ON app_public.follow_ups FOR EACH ROW EXECUTE FUNCTION app_private.tg_follow_up_transition();
CREATE TRIGGER _900_audit AFTER INSERT OR DELETE OR UPDATE ON app_public.follow_ups FOR EACH ROW EXECUTE FUNCTION app_private.tg_audit_row('id');
comment on table app_public.follow_ups is '@unique id
@behavior -insert -update -delete -totalCount
A follow-up a doctor asked for in a consultation: due on a date, pending until completed, cancelled or missed.';
comment on column app_public.follow_ups.clinic_id is '@behavior -*';
comment on column app_public.follow_ups.patient_id is '@behavior +filterBy';
comment on column app_public.follow_ups.doctor_id is '@behavior +filterBy
The doctor who asked for it.';
comment on column app_public.follow_ups.status is 'pending, completed, cancelled or missed; a closed follow-up is final.';
comment on column app_public.follow_ups.appointment_id is 'The appointment booked for it (POST …/appointments with followUpId).';
comment on constraint follow_ups_pkey on app_public.follow_ups is '@behavior -single -update -delete';
comment on constraint follow_ups_appointment_id_key on app_public.follow_ups is '@behavior -single -update -delete';

create table app_public.patient_access_log (
  clinic_id uuid default app_public.current_clinic_id() not null,
  id uuid default gen_random_uuid() not null,
  patient_id uuid not null,
  file_id uuid,
  action text not null,
  member_id uuid default app_public.current_member_id(),
  request_id text default NULLIF(current_setting('app.request_id'::text, true), ''::text),
  client_ip inet default (NULLIF(current_setting('app.client_ip'::text, true), ''::text))::inet,
  accessed_at timestamp with time zone default now() not null,
  support_grant_id uuid,
  constraint patient_access_log_pkey PRIMARY KEY (clinic_id, id),
  constraint patient_access_log_clinic_id_fkey FOREIGN KEY (clinic_id) REFERENCES app_public.clinics(id),
  constraint patient_access_log_file_id_fkey FOREIGN KEY (clinic_id, file_id) REFERENCES app_public.files(clinic_id, id),
  constraint patient_access_log_member_id_fkey FOREIGN KEY (clinic_id, member_id) REFERENCES app_public.clinic_members(clinic_id, id),
  constraint patient_access_log_patient_id_fkey FOREIGN KEY (clinic_id, patient_id) REFERENCES app_public.patients(clinic_id, id),
  constraint patient_access_log_support_grant_id_fkey FOREIGN KEY (clinic_id, support_grant_id) REFERENCES app_public.support_access_grants(clinic_id, id),
  constraint patient_access_log_action_valid CHECK (action = ANY (ARRAY['read_record'::text, 'read_files'::text, 'download_file'::text, 'read_lab'::text])),
  constraint patient_access_log_file_id_valid CHECK ((action = 'download_file'::text) = (file_id IS NOT NULL)),
  constraint patient_access_log_member_id_valid CHECK ((member_id IS NULL) <> (support_grant_id IS NULL)),
  constraint patient_access_log_request_id_length CHECK (char_length(request_id) <= 200)
);
alter table app_public.patient_access_log enable row level security;
alter table app_public.patient_access_log force row level security;
CREATE INDEX patient_access_log_accessed_at_idx ON app_public.patient_access_log USING btree (clinic_id, accessed_at);
CREATE INDEX patient_access_log_patient_id_idx ON app_public.patient_access_log USING btree (clinic_id, patient_id, accessed_at DESC);
create policy tenant_isolation on app_public.patient_access_log
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));
create policy delete_for_retention_purge on app_public.patient_access_log
  for delete to app_owner
  using (app_private.retention_purge_covers(clinic_id, accessed_at));
create policy insert_readers_as_themselves on app_public.patient_access_log
  for insert to app_user
  with check (((member_id = ( SELECT app_public.current_member_id() AS current_member_id)) AND (( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'doctor'::text, 'nurse'::text, 'receptionist'::text]) AS current_role_is) OR (( SELECT app_public.current_role_is(VARIADIC ARRAY['patient'::text]) AS current_role_is) AND (patient_id = ( SELECT app_public.current_patient_id() AS current_patient_id))) OR (( SELECT app_public.current_role_is(VARIADIC ARRAY['lab_technician'::text]) AS current_role_is) AND (action = 'read_lab'::text) AND (EXISTS ( SELECT
   FROM app_public.test_requests q
  WHERE ((q.clinic_id = patient_access_log.clinic_id) AND (q.patient_id = patient_access_log.patient_id))))))));
create policy insert_support_reads_by_definer_functions on app_public.patient_access_log
  for insert to app_owner
  with check (((member_id IS NULL) AND (support_grant_id IS NOT NULL)));
create policy read_for_export on app_public.patient_access_log
  for select to app_owner
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));
create policy read_for_retention_purge on app_public.patient_access_log
  for select to app_owner
  using (app_private.retention_purge_covers(clinic_id, accessed_at));
create policy select_admins_and_own on app_public.patient_access_log
  for select to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text]) AS current_role_is) OR (( SELECT app_public.current_role_is(VARIADIC ARRAY['patient'::text]) AS current_role_is) AND (patient_id = ( SELECT app_public.current_patient_id() AS current_patient_id)))));
grant select on app_public.patient_access_log to app_user;
grant insert (action, file_id, patient_id) on app_public.patient_access_log to app_user;
CREATE TRIGGER _900_audit AFTER DELETE OR UPDATE ON app_public.patient_access_log FOR EACH ROW WHEN (NOT app_private.retention_purge_covers(old.clinic_id, old.accessed_at)) EXECUTE FUNCTION app_private.tg_audit_row('id');
comment on table app_public.patient_access_log is '@unique id
@behavior -insert -update -delete
Who read which patient''s record or files, when, from which address, in which request (append-only).';
comment on column app_public.patient_access_log.clinic_id is '@behavior -*';
comment on column app_public.patient_access_log.patient_id is '@behavior +filterBy';
comment on column app_public.patient_access_log.action is 'read_record, read_files or download_file.';
comment on column app_public.patient_access_log.member_id is 'The membership that read; NULL for a read under support access.';
comment on column app_public.patient_access_log.request_id is '@behavior -*';
comment on column app_public.patient_access_log.client_ip is '@behavior -*';
comment on column app_public.patient_access_log.accessed_at is '@behavior +filterBy +orderBy';
comment on column app_public.patient_access_log.support_grant_id is '@behavior -*
The support access grant a platform operator read under; NULL for a member''s read.';
comment on constraint patient_access_log_pkey on app_public.patient_access_log is '@behavior -single -update -delete';
comment on constraint patient_access_log_support_grant_id_fkey on app_public.patient_access_log is '@behavior -*';

create table app_public.patient_history (
  clinic_id uuid default app_public.current_clinic_id() not null,
  id uuid default gen_random_uuid() not null,
  patient_id uuid not null,
  kind text not null,
  name text not null,
  detail text,
  severity text,
  is_active boolean default true not null,
  recorded_by uuid default app_public.current_member_id() not null,
  created_at timestamp with time zone default now() not null,
  updated_at timestamp with time zone default now() not null,
  constraint patient_history_pkey PRIMARY KEY (clinic_id, id),
  constraint patient_history_clinic_id_fkey FOREIGN KEY (clinic_id) REFERENCES app_public.clinics(id),
  constraint patient_history_patient_id_fkey FOREIGN KEY (clinic_id, patient_id) REFERENCES app_public.patients(clinic_id, id),
  constraint patient_history_recorded_by_fkey FOREIGN KEY (clinic_id, recorded_by) REFERENCES app_public.clinic_members(clinic_id, id),
  constraint patient_history_detail_check CHECK (detail !~ '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]'::text),
  constraint patient_history_detail_length CHECK (char_length(detail) <= 2000),
  constraint patient_history_kind_valid CHECK (kind = ANY (ARRAY['allergy'::text, 'medication'::text])),
  constraint patient_history_name_check CHECK (name !~ '[\x01-\x1f\x7f]'::text),
  constraint patient_history_name_length CHECK (char_length(name) >= 1 AND char_length(name) <= 200),
  constraint patient_history_severity_valid CHECK (severity IS NULL OR kind = 'allergy'::text AND (severity = ANY (ARRAY['mild'::text, 'moderate'::text, 'severe'::text])))
);
alter table app_public.patient_history enable row level security;
alter table app_public.patient_history force row level security;
CREATE INDEX patient_history_patient_id_idx ON app_public.patient_history USING btree (clinic_id, patient_id);
create policy tenant_isolation on app_public.patient_history
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));
create policy insert_clinicians on app_public.patient_history
  for insert to app_user
  with check (( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text, 'nurse'::text]) AS current_role_is));
create policy read_by_definer_functions on app_public.patient_history
  for select to app_owner
  using (true);
create policy select_clinical_and_own on app_public.patient_history
  for select to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'doctor'::text, 'nurse'::text]) AS current_role_is) OR (( SELECT app_public.current_role_is(VARIADIC ARRAY['patient'::text]) AS current_role_is) AND (patient_id = ( SELECT app_public.current_patient_id() AS current_patient_id)))));
create policy update_by_definer_functions on app_public.patient_history
  for update to app_owner
  using (true)
  with check (true);
create policy update_clinicians on app_public.patient_history
  for update to app_user
  using (( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text, 'nurse'::text]) AS current_role_is))
  with check (( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text, 'nurse'::text]) AS current_role_is));
grant select on app_public.patient_history to app_user;
grant insert (detail, is_active, kind, name, patient_id, severity) on app_public.patient_history to app_user;
grant update (detail, is_active, name, severity) on app_public.patient_history to app_user;
CREATE TRIGGER _100_updated_at BEFORE UPDATE ON app_public.patient_history FOR EACH ROW EXECUTE FUNCTION app_private.tg_set_updated_at();
CREATE TRIGGER _900_audit AFTER INSERT OR DELETE OR UPDATE ON app_public.patient_history FOR EACH ROW EXECUTE FUNCTION app_private.tg_audit_row('id');
comment on table app_public.patient_history is '@unique id
@behavior -delete -nodeId:resource:update -nodeId:resource:delete -totalCount
A patient''s allergies and current medication.';
comment on column app_public.patient_history.clinic_id is '@behavior -*';
comment on column app_public.patient_history.patient_id is '@behavior +filterBy';
comment on column app_public.patient_history.kind is '@behavior +filterBy
allergy or medication.';
comment on column app_public.patient_history.severity is 'mild, moderate or severe (allergies only).';
comment on column app_public.patient_history.recorded_by is 'The membership that recorded the entry.';
comment on constraint patient_history_pkey on app_public.patient_history is '@behavior -single -update -delete';

create table app_public.patients (
  clinic_id uuid default app_public.current_clinic_id() not null,
  id uuid default gen_random_uuid() not null,
  patient_number text not null,
  full_name text not null,
  date_of_birth date not null,
  sex text not null,
  phone text,
  phone_normalised text generated always as ((
CASE
    WHEN (phone ~~ '+%'::text) THEN '+'::text
    ELSE ''::text
END || regexp_replace(phone, '[^0-9]'::text, ''::text, 'g'::text))) stored,
  email text,
  address text,
  emergency_contact_name text,
  emergency_contact_phone text,
  blood_group text,
  identification_type text,
  identification_number_ciphertext text,
  identification_number_hmac text,
  status text default 'registered'::text not null,
  merged_into_id uuid,
  member_id uuid,
  created_at timestamp with time zone default now() not null,
  updated_at timestamp with time zone default now() not null,
  contact_channel text default 'email'::text not null,
  constraint patients_pkey PRIMARY KEY (clinic_id, id),
  constraint patients_member_id_key UNIQUE (clinic_id, member_id),
  constraint patients_patient_number_key UNIQUE (clinic_id, patient_number),
  constraint patients_clinic_id_fkey FOREIGN KEY (clinic_id) REFERENCES app_public.clinics(id),
  constraint patients_member_id_fkey FOREIGN KEY (clinic_id, member_id) REFERENCES app_public.clinic_members(clinic_id, id) ON DELETE SET NULL (member_id),
  constraint patients_merged_into_id_fkey FOREIGN KEY (clinic_id, merged_into_id) REFERENCES app_public.patients(clinic_id, id),
  constraint patients_address_check CHECK (address !~ '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]'::text),
  constraint patients_address_length CHECK (char_length(address) >= 1 AND char_length(address) <= 500),
  constraint patients_blood_group_valid CHECK (blood_group = ANY (ARRAY['A+'::text, 'A-'::text, 'B+'::text, 'B-'::text, 'AB+'::text, 'AB-'::text, 'O+'::text, 'O-'::text])),
  constraint patients_contact_channel_valid CHECK (contact_channel = ANY (ARRAY['email'::text, 'sms'::text, 'none'::text])),
  constraint patients_date_of_birth_valid CHECK (date_of_birth >= '1900-01-01'::date AND date_of_birth <= (now() AT TIME ZONE 'Etc/GMT-14'::text)::date),
  constraint patients_email_check CHECK (email !~ '[\x01-\x1f\x7f]'::text),
  constraint patients_email_format CHECK (char_length(email) <= 254 AND email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'::text),
  constraint patients_emergency_contact_name_check CHECK (emergency_contact_name !~ '[\x01-\x1f\x7f]'::text),
  constraint patients_emergency_contact_name_length CHECK (char_length(emergency_contact_name) >= 1 AND char_length(emergency_contact_name) <= 200),
  constraint patients_emergency_contact_phone_format CHECK (emergency_contact_phone ~ '^\+?[0-9][0-9 ()-]{4,31}$'::text),
  constraint patients_full_name_check CHECK (full_name !~ '[\x01-\x1f\x7f]'::text),
  constraint patients_full_name_length CHECK (char_length(full_name) >= 1 AND char_length(full_name) <= 200),
  constraint patients_identification_number_ciphertext_format CHECK (char_length(identification_number_ciphertext) <= 1024 AND identification_number_ciphertext ~ '^v1\.[a-z0-9-]{1,32}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$'::text),
  constraint patients_identification_number_hmac_format CHECK (identification_number_hmac ~ '^[a-z0-9-]{1,32}:[0-9a-f]{64}$'::text),
  constraint patients_identification_number_valid CHECK ((identification_number_ciphertext IS NULL) = (identification_number_hmac IS NULL) AND (identification_number_ciphertext IS NULL OR identification_type IS NOT NULL)),
  constraint patients_identification_type_valid CHECK (identification_type = ANY (ARRAY['national_id'::text, 'passport'::text, 'driving_licence'::text, 'other'::text])),
  constraint patients_merged_into_id_valid CHECK (merged_into_id <> id),
  constraint patients_patient_number_format CHECK (patient_number ~ '^PT-[0-9]{4}-[0-9]{5,}$'::text),
  constraint patients_phone_format CHECK (phone ~ '^\+?[0-9][0-9 ()-]{4,31}$'::text),
  constraint patients_sex_valid CHECK (sex = ANY (ARRAY['female'::text, 'male'::text, 'other'::text, 'unknown'::text])),
  constraint patients_status_check CHECK (merged_into_id IS NULL OR status = 'archived'::text),
  constraint patients_status_valid CHECK (status = ANY (ARRAY['registered'::text, 'in_treatment'::text, 'discharged'::text, 'deceased'::text, 'archived'::text]))
);
alter table app_public.patients enable row level security;
alter table app_public.patients force row level security;
CREATE INDEX patients_date_of_birth_idx ON app_public.patients USING btree (clinic_id, date_of_birth);
CREATE INDEX patients_full_name_trgm_idx ON app_public.patients USING gin (clinic_id, full_name public.gin_trgm_ops);
CREATE INDEX patients_identification_number_hmac_idx ON app_public.patients USING btree (clinic_id, identification_number_hmac);
CREATE INDEX patients_phone_normalised_idx ON app_public.patients USING btree (clinic_id, phone_normalised);
create policy tenant_isolation on app_public.patients
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));
create policy insert_front_desk on app_public.patients
  for insert to app_user
  with check (( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'receptionist'::text]) AS current_role_is));
create policy read_by_definer_functions on app_public.patients
  for select to app_owner
  using (true);
create policy select_staff_and_own on app_public.patients
  for select to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'doctor'::text, 'nurse'::text, 'receptionist'::text]) AS current_role_is) OR (( SELECT app_public.current_role_is(VARIADIC ARRAY['patient'::text]) AS current_role_is) AND (id = ( SELECT app_public.current_patient_id() AS current_patient_id)))));
create policy update_by_definer_functions on app_public.patients
  for update to app_owner
  using (true)
  with check (true);
create policy update_front_desk on app_public.patients
  for update to app_user
  using (( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'receptionist'::text]) AS current_role_is))
  with check (( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'receptionist'::text]) AS current_role_is));
grant select on app_public.patients to app_user;
grant insert (address, blood_group, contact_channel, date_of_birth, email, emergency_contact_name, emergency_contact_phone, full_name, identification_number_ciphertext, identification_number_hmac, identification_type, member_id, phone, sex) on app_public.patients to app_user;
grant update (address, blood_group, contact_channel, date_of_birth, email, emergency_contact_name, emergency_contact_phone, full_name, identification_number_ciphertext, identification_number_hmac, identification_type, member_id, phone, sex, status) on app_public.patients to app_user;
CREATE TRIGGER _100_updated_at BEFORE UPDATE ON app_public.patients FOR EACH ROW EXECUTE FUNCTION app_private.tg_set_updated_at();
CREATE TRIGGER _150_enforce_plan_quota BEFORE INSERT ON app_public.patients FOR EACH ROW EXECUTE FUNCTION app_private.tg_enforce_plan_quota('max_patients');
CREATE TRIGGER _200_set_patient_number BEFORE INSERT ON app_public.patients FOR EACH ROW EXECUTE FUNCTION app_private.tg_set_patient_number();
CREATE TRIGGER _210_member_is_patient BEFORE INSERT OR UPDATE OF member_id ON app_public.patients FOR EACH ROW EXECUTE FUNCTION app_private.tg_require_member_role('member_id', 'patient');
CREATE TRIGGER _900_audit AFTER INSERT OR DELETE OR UPDATE ON app_public.patients FOR EACH ROW EXECUTE FUNCTION app_private.tg_audit_row('id');
comment on table app_public.patients is '@unique id
@unique patient_number|@behavior -update -delete
@behavior -insert -delete -nodeId:resource:update -nodeId:resource:delete
A patient registered at the clinic: identity and contact details (clinical history is separate).';
comment on column app_public.patients.clinic_id is '@behavior -*';
comment on column app_public.patients.patient_number is '@behavior +filterBy +orderBy
PT-YYYY-NNNNN: the year in the clinic''s time zone, consecutive per clinic and year; set by the database.';
comment on column app_public.patients.full_name is '@behavior +filterBy';
comment on column app_public.patients.date_of_birth is '@behavior +filterBy +orderBy';
comment on column app_public.patients.phone_normalised is '@behavior +filterBy
The phone number as digits, a leading + kept (for search).';
comment on column app_public.patients.identification_number_ciphertext is '@behavior -*
The identification number, encrypted by the application (key id inside); the database never sees it in clear.';
comment on column app_public.patients.identification_number_hmac is '@behavior -*
Keyed hash of the identification number (<keyId>:<hex HMAC-SHA256>), for exact look-up.';
comment on column app_public.patients.status is 'registered, in_treatment, discharged, deceased or archived (records are archived, never deleted).';
comment on column app_public.patients.merged_into_id is '@behavior -insert -update
The record this duplicate was merged into; set by the merge.';
comment on column app_public.patients.member_id is 'The patient membership (portal login) linked to this record.';
comment on column app_public.patients.contact_channel is 'How the patient is told of appointments and results: email, sms, or none (opted out).';
comment on constraint patients_pkey on app_public.patients is '@behavior -single -update -delete';
comment on constraint patients_member_id_key on app_public.patients is '@behavior -single -update -delete';
comment on constraint patients_patient_number_key on app_public.patients is '@behavior -single -update -delete';

create table app_public.prescription_allergy_acknowledgements (
  clinic_id uuid default app_public.current_clinic_id() not null,
  id uuid default gen_random_uuid() not null,
  prescription_id uuid not null,
  patient_id uuid not null,
  allergy_id uuid not null,
  note text not null,
  acknowledged_by uuid default app_public.current_member_id() not null,
  created_at timestamp with time zone default now() not null,
  constraint prescription_allergy_acknowledgements_pkey PRIMARY KEY (clinic_id, id),
  constraint prescription_allergy_acknowledgements_acknowledged_by_fkey FOREIGN KEY (clinic_id, acknowledged_by) REFERENCES app_public.clinic_members(clinic_id, id),
  constraint prescription_allergy_acknowledgements_allergy_id_fkey FOREIGN KEY (clinic_id, allergy_id) REFERENCES app_public.patient_history(clinic_id, id),
  constraint prescription_allergy_acknowledgements_clinic_id_fkey FOREIGN KEY (clinic_id) REFERENCES app_public.clinics(id),
  constraint prescription_allergy_acknowledgements_prescription_id_fkey FOREIGN KEY (clinic_id, prescription_id, patient_id) REFERENCES app_public.prescriptions(clinic_id, id, patient_id) ON UPDATE CASCADE,
  constraint prescription_allergy_acknowledgements_note_check CHECK (note !~ '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]'::text),
  constraint prescription_allergy_acknowledgements_note_length CHECK (char_length(note) >= 1 AND char_length(note) <= 1000)
);
alter table app_public.prescription_allergy_acknowledgements enable row level security;
alter table app_public.prescription_allergy_acknowledgements force row level security;
CREATE INDEX prescription_allergy_acknowledgements_allergy_id_idx ON app_public.prescription_allergy_acknowledgements USING btree (clinic_id, allergy_id);
CREATE INDEX prescription_allergy_acknowledgements_prescription_id_idx ON app_public.prescription_allergy_acknowledgements USING btree (clinic_id, prescription_id, patient_id);
create policy tenant_isolation on app_public.prescription_allergy_acknowledgements
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));
create policy insert_author on app_public.prescription_allergy_acknowledgements
  for insert to app_user
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (acknowledged_by = ( SELECT app_public.current_member_id() AS current_member_id)) AND (EXISTS ( SELECT
   FROM app_public.prescriptions p
  WHERE ((p.clinic_id = prescription_allergy_acknowledgements.clinic_id) AND (p.id = prescription_allergy_acknowledgements.prescription_id) AND (p.doctor_id = ( SELECT app_public.current_member_id() AS current_member_id)))))));
create policy read_for_export on app_public.prescription_allergy_acknowledgements
  for select to app_owner
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));
create policy select_clinicians on app_public.prescription_allergy_acknowledgements
  for select to app_user
  using (( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'doctor'::text, 'nurse'::text]) AS current_role_is));
grant select on app_public.prescription_allergy_acknowledgements to app_user;
grant insert (allergy_id, note, patient_id, prescription_id) on app_public.prescription_allergy_acknowledgements to app_user;
CREATE TRIGGER _010_prescription_lock BEFORE INSERT OR DELETE OR UPDATE ON app_public.prescription_allergy_acknowledgements FOR EACH ROW EXECUTE FUNCTION app_private.tg_prescription_child_lock();
CREATE TRIGGER _020_allergy_of_patient BEFORE INSERT OR UPDATE ON app_public.prescription_allergy_acknowledgements FOR EACH ROW EXECUTE FUNCTION app_private.tg_acknowledged_allergy_of_patient();
CREATE TRIGGER _900_audit AFTER INSERT OR DELETE OR UPDATE ON app_public.prescription_allergy_acknowledgements FOR EACH ROW EXECUTE FUNCTION app_private.tg_audit_row('id');
comment on table app_public.prescription_allergy_acknowledgements is '@unique id
@behavior -insert -update -delete
A doctor''s recorded acknowledgement of a patient''s allergy that a prescription''s medicine matches.';
comment on column app_public.prescription_allergy_acknowledgements.clinic_id is '@behavior -*';
comment on constraint prescription_allergy_acknowledgements_pkey on app_public.prescription_allergy_acknowledgements is '@behavior -single -update -delete';
comment on constraint prescription_allergy_acknowledgements_prescription_id_fkey on app_public.prescription_allergy_acknowledgements is '@fieldName prescription
@foreignFieldName allergyAcknowledgements';

create table app_public.prescription_items (
  clinic_id uuid default app_public.current_clinic_id() not null,
  id uuid default gen_random_uuid() not null,
  prescription_id uuid not null,
  patient_id uuid not null,
  "position" integer not null,
  medicine_name text not null,
  generic_name text,
  strength text,
  dose_form text not null,
  dose text not null,
  frequency text not null,
  frequency_custom text,
  route text not null,
  duration_days integer,
  quantity integer not null,
  refills integer default 0 not null,
  instructions text,
  created_at timestamp with time zone default now() not null,
  updated_at timestamp with time zone default now() not null,
  constraint prescription_items_pkey PRIMARY KEY (clinic_id, id),
  constraint prescription_items_position_key UNIQUE (clinic_id, prescription_id, "position") DEFERRABLE INITIALLY DEFERRED,
  constraint prescription_items_clinic_id_fkey FOREIGN KEY (clinic_id) REFERENCES app_public.clinics(id),
  constraint prescription_items_prescription_id_fkey FOREIGN KEY (clinic_id, prescription_id, patient_id) REFERENCES app_public.prescriptions(clinic_id, id, patient_id) ON UPDATE CASCADE,
  constraint prescription_items_dose_check CHECK (dose !~ '[\x01-\x1f\x7f]'::text),
  constraint prescription_items_dose_form_valid CHECK (dose_form = ANY (ARRAY['tablet'::text, 'capsule'::text, 'syrup'::text, 'suspension'::text, 'injection'::text, 'cream'::text, 'ointment'::text, 'drops'::text, 'inhaler'::text, 'patch'::text, 'suppository'::text, 'other'::text])),
  constraint prescription_items_dose_length CHECK (char_length(dose) >= 1 AND char_length(dose) <= 60),
  constraint prescription_items_duration_days_valid CHECK (duration_days >= 1 AND duration_days <= 365),
  constraint prescription_items_frequency_custom_check CHECK (frequency_custom !~ '[\x01-\x1f\x7f]'::text),
  constraint prescription_items_frequency_custom_length CHECK (char_length(frequency_custom) >= 1 AND char_length(frequency_custom) <= 100),
  constraint prescription_items_frequency_custom_valid CHECK ((frequency = 'custom'::text) = (frequency_custom IS NOT NULL)),
  constraint prescription_items_frequency_valid CHECK (frequency = ANY (ARRAY['OD'::text, 'BD'::text, 'TDS'::text, 'QID'::text, 'PRN'::text, 'custom'::text])),
  constraint prescription_items_generic_name_check CHECK (generic_name !~ '[\x01-\x1f\x7f]'::text),
  constraint prescription_items_generic_name_length CHECK (char_length(generic_name) >= 1 AND char_length(generic_name) <= 200),
  constraint prescription_items_instructions_check CHECK (instructions !~ '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]'::text),
  constraint prescription_items_instructions_length CHECK (char_length(instructions) >= 1 AND char_length(instructions) <= 1000),
  constraint prescription_items_medicine_name_check CHECK (medicine_name !~ '[\x01-\x1f\x7f]'::text),
  constraint prescription_items_medicine_name_length CHECK (char_length(medicine_name) >= 1 AND char_length(medicine_name) <= 200),
  constraint prescription_items_position_valid CHECK ("position" >= 1 AND "position" <= 50),
  constraint prescription_items_quantity_valid CHECK (quantity >= 1 AND quantity <= 10000),
  constraint prescription_items_refills_valid CHECK (refills >= 0 AND refills <= 12),
  constraint prescription_items_route_valid CHECK (route = ANY (ARRAY['oral'::text, 'sublingual'::text, 'topical'::text, 'inhaled'::text, 'intravenous'::text, 'intramuscular'::text, 'subcutaneous'::text, 'rectal'::text, 'vaginal'::text, 'ophthalmic'::text, 'otic'::text, 'nasal'::text, 'other'::text])),
  constraint prescription_items_strength_check CHECK (strength !~ '[\x01-\x1f\x7f]'::text),
  constraint prescription_items_strength_length CHECK (char_length(strength) >= 1 AND char_length(strength) <= 60)
);
alter table app_public.prescription_items enable row level security;
alter table app_public.prescription_items force row level security;
CREATE INDEX prescription_items_prescription_id_idx ON app_public.prescription_items USING btree (clinic_id, prescription_id, patient_id);
create policy tenant_isolation on app_public.prescription_items
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));
create policy delete_author on app_public.prescription_items
  for delete to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (EXISTS ( SELECT
   FROM app_public.prescriptions p
  WHERE ((p.clinic_id = prescription_items.clinic_id) AND (p.id = prescription_items.prescription_id) AND (p.doctor_id = ( SELECT app_public.current_member_id() AS current_member_id)))))));
create policy insert_author on app_public.prescription_items
  for insert to app_user
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (EXISTS ( SELECT
   FROM app_public.prescriptions p
  WHERE ((p.clinic_id = prescription_items.clinic_id) AND (p.id = prescription_items.prescription_id) AND (p.doctor_id = ( SELECT app_public.current_member_id() AS current_member_id)))))));
create policy read_for_export on app_public.prescription_items
  for select to app_owner
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));
create policy select_clinicians_and_own_issued on app_public.prescription_items
  for select to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'doctor'::text, 'nurse'::text]) AS current_role_is) OR (app_private.patient_reads(patient_id) AND (EXISTS ( SELECT
   FROM app_public.prescriptions p
  WHERE ((p.clinic_id = prescription_items.clinic_id) AND (p.id = prescription_items.prescription_id) AND (p.status = ANY (ARRAY['issued'::text, 'completed'::text]))))))));
create policy update_author on app_public.prescription_items
  for update to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (EXISTS ( SELECT
   FROM app_public.prescriptions p
  WHERE ((p.clinic_id = prescription_items.clinic_id) AND (p.id = prescription_items.prescription_id) AND (p.doctor_id = ( SELECT app_public.current_member_id() AS current_member_id)))))))
  with check (( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is));
grant delete, select on app_public.prescription_items to app_user;
grant insert (dose, dose_form, duration_days, frequency, frequency_custom, generic_name, instructions, medicine_name, patient_id, position, prescription_id, quantity, refills, route, strength) on app_public.prescription_items to app_user;
grant update (dose, dose_form, duration_days, frequency, frequency_custom, generic_name, instructions, medicine_name, position, quantity, refills, route, strength) on app_public.prescription_items to app_user;
CREATE TRIGGER _010_prescription_lock BEFORE INSERT OR DELETE OR UPDATE ON app_public.prescription_items FOR EACH ROW EXECUTE FUNCTION app_private.tg_prescription_child_lock();
CREATE TRIGGER _100_updated_at BEFORE UPDATE ON app_public.prescription_items FOR EACH ROW EXECUTE FUNCTION app_private.tg_set_updated_at();
CREATE TRIGGER _900_audit AFTER INSERT OR DELETE OR UPDATE ON app_public.prescription_items FOR EACH ROW EXECUTE FUNCTION app_private.tg_audit_row('id');
comment on table app_public.prescription_items is '@unique id
@behavior -insert -update -delete
A medicine of a prescription.';
comment on column app_public.prescription_items.clinic_id is '@behavior -*';
comment on constraint prescription_items_pkey on app_public.prescription_items is '@behavior -single -update -delete';
comment on constraint prescription_items_position_key on app_public.prescription_items is '@behavior -single -update -delete';
comment on constraint prescription_items_prescription_id_fkey on app_public.prescription_items is '@fieldName prescription
@foreignFieldName items';

create table app_public.prescriptions (
  clinic_id uuid default app_public.current_clinic_id() not null,
  id uuid default gen_random_uuid() not null,
  consultation_id uuid not null,
  patient_id uuid not null,
  doctor_id uuid default app_public.current_member_id() not null,
  prescription_number text,
  status text default 'draft'::text not null,
  notes text,
  version integer default 1 not null,
  issued_at timestamp with time zone,
  completed_at timestamp with time zone,
  cancelled_at timestamp with time zone,
  cancellation_reason text,
  created_at timestamp with time zone default now() not null,
  updated_at timestamp with time zone default now() not null,
  constraint prescriptions_pkey PRIMARY KEY (clinic_id, id),
  constraint prescriptions_patient_key UNIQUE (clinic_id, id, patient_id),
  constraint prescriptions_prescription_number_key UNIQUE (clinic_id, prescription_number),
  constraint prescriptions_clinic_id_fkey FOREIGN KEY (clinic_id) REFERENCES app_public.clinics(id),
  constraint prescriptions_consultation_id_fkey FOREIGN KEY (clinic_id, consultation_id, patient_id) REFERENCES app_public.consultations(clinic_id, id, patient_id) ON UPDATE CASCADE,
  constraint prescriptions_doctor_id_fkey FOREIGN KEY (clinic_id, doctor_id) REFERENCES app_public.clinic_members(clinic_id, id),
  constraint prescriptions_cancellation_reason_check CHECK (cancellation_reason !~ '[\x01-\x1f\x7f]'::text),
  constraint prescriptions_cancellation_reason_length CHECK (char_length(cancellation_reason) >= 1 AND char_length(cancellation_reason) <= 500),
  constraint prescriptions_cancellation_reason_valid CHECK ((status = 'cancelled'::text) = (cancellation_reason IS NOT NULL)),
  constraint prescriptions_issued_valid CHECK ((issued_at IS NULL) = (prescription_number IS NULL) AND (status <> 'draft'::text OR issued_at IS NULL) AND ((status <> ALL (ARRAY['issued'::text, 'completed'::text])) OR issued_at IS NOT NULL)),
  constraint prescriptions_notes_check CHECK (notes !~ '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]'::text),
  constraint prescriptions_notes_length CHECK (char_length(notes) >= 1 AND char_length(notes) <= 2000),
  constraint prescriptions_prescription_number_format CHECK (prescription_number ~ '^RX-[0-9]{4}-[0-9]{5,}$'::text),
  constraint prescriptions_status_valid CHECK (status = ANY (ARRAY['draft'::text, 'issued'::text, 'completed'::text, 'cancelled'::text])),
  constraint prescriptions_version_valid CHECK (version > 0)
);
alter table app_public.prescriptions enable row level security;
alter table app_public.prescriptions force row level security;
CREATE INDEX prescriptions_consultation_id_idx ON app_public.prescriptions USING btree (clinic_id, consultation_id);
CREATE INDEX prescriptions_doctor_id_idx ON app_public.prescriptions USING btree (clinic_id, doctor_id, created_at DESC);
CREATE INDEX prescriptions_patient_id_idx ON app_public.prescriptions USING btree (clinic_id, patient_id, created_at DESC);
create policy tenant_isolation on app_public.prescriptions
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));
create policy insert_consultation_author on app_public.prescriptions
  for insert to app_user
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (doctor_id = ( SELECT app_public.current_member_id() AS current_member_id)) AND (EXISTS ( SELECT
   FROM app_public.consultations c
  WHERE ((c.clinic_id = prescriptions.clinic_id) AND (c.id = prescriptions.consultation_id) AND (c.doctor_id = ( SELECT app_public.current_member_id() AS current_member_id)) AND (c.status = ANY (ARRAY['draft'::text, 'signed'::text])))))));
create policy read_for_export on app_public.prescriptions
  for select to app_owner
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));
create policy select_clinicians_and_own_issued on app_public.prescriptions
  for select to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'doctor'::text, 'nurse'::text]) AS current_role_is) OR ((status = ANY (ARRAY['issued'::text, 'completed'::text])) AND app_private.patient_reads(patient_id))));
create policy update_author on app_public.prescriptions
  for update to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (doctor_id = ( SELECT app_public.current_member_id() AS current_member_id))))
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (doctor_id = ( SELECT app_public.current_member_id() AS current_member_id))));
grant select on app_public.prescriptions to app_user;
grant insert (consultation_id, doctor_id, notes, patient_id) on app_public.prescriptions to app_user;
grant update (cancellation_reason, notes, status) on app_public.prescriptions to app_user;
CREATE TRIGGER _010_prescription_transition BEFORE DELETE OR UPDATE ON app_public.prescriptions FOR EACH ROW EXECUTE FUNCTION app_private.tg_prescription_transition();
CREATE TRIGGER _020_prescription_number BEFORE UPDATE ON app_public.prescriptions FOR EACH ROW EXECUTE FUNCTION app_private.tg_prescription_number();
CREATE TRIGGER _100_updated_at BEFORE UPDATE ON app_public.prescriptions FOR EACH ROW EXECUTE FUNCTION app_private.tg_set_updated_at();
CREATE TRIGGER _110_bump_version BEFORE UPDATE ON app_public.prescriptions FOR EACH ROW EXECUTE FUNCTION app_private.tg_bump_prescription_version();
CREATE TRIGGER _900_audit AFTER INSERT OR DELETE OR UPDATE ON app_public.prescriptions FOR EACH ROW EXECUTE FUNCTION app_private.tg_audit_row('id');
comment on table app_public.prescriptions is '@unique id
@behavior -insert -update -delete
A prescription written in a consultation.';
comment on column app_public.prescriptions.clinic_id is '@behavior -*';
comment on column app_public.prescriptions.patient_id is '@behavior +filterBy
The patient the prescription is for.';
comment on column app_public.prescriptions.prescription_number is 'RX-YYYY-NNNNN, per clinic and year, set when issued.';
comment on column app_public.prescriptions.status is '@behavior +filterBy
draft, issued, completed or cancelled.';
comment on column app_public.prescriptions.version is 'Counts the changes (the ETag of REST''s If-Match).';
comment on constraint prescriptions_pkey on app_public.prescriptions is '@behavior -single -update -delete';
comment on constraint prescriptions_patient_key on app_public.prescriptions is '@behavior -single -update -delete';
comment on constraint prescriptions_prescription_number_key on app_public.prescriptions is '@behavior -single -update -delete';

create table app_public.support_access_grants (
  clinic_id uuid default app_public.current_clinic_id() not null,
  id uuid default gen_random_uuid() not null,
  operator_account_id uuid not null,
  granted_by uuid default app_public.current_user_id() not null,
  reason text not null,
  expires_at timestamp with time zone not null,
  revoked_at timestamp with time zone,
  revoked_by uuid,
  created_at timestamp with time zone default now() not null,
  updated_at timestamp with time zone default now() not null,
  constraint support_access_grants_pkey PRIMARY KEY (clinic_id, id),
  constraint support_access_grants_clinic_id_fkey FOREIGN KEY (clinic_id) REFERENCES app_public.clinics(id),
  constraint support_access_grants_granted_by_fkey FOREIGN KEY (granted_by) REFERENCES app_private.accounts(id),
  constraint support_access_grants_operator_account_id_fkey FOREIGN KEY (operator_account_id) REFERENCES app_private.accounts(id),
  constraint support_access_grants_revoked_by_fkey FOREIGN KEY (revoked_by) REFERENCES app_private.accounts(id),
  constraint support_access_grants_expires_at_valid CHECK (expires_at > created_at AND expires_at <= (created_at + '7 days'::interval)),
  constraint support_access_grants_reason_length CHECK (char_length(reason) >= 1 AND char_length(reason) <= 500),
  constraint support_access_grants_revoked_by_valid CHECK ((revoked_at IS NULL) = (revoked_by IS NULL))
);
alter table app_public.support_access_grants enable row level security;
alter table app_public.support_access_grants force row level security;
CREATE INDEX support_access_grants_operator_idx ON app_public.support_access_grants USING btree (clinic_id, operator_account_id);
create policy tenant_isolation on app_public.support_access_grants
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));
create policy insert_admins on app_public.support_access_grants
  for insert to app_user
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text]) AS current_role_is) AND (granted_by = ( SELECT app_public.current_user_id() AS current_user_id)) AND (revoked_at IS NULL)));
create policy read_by_definer_functions on app_public.support_access_grants
  for select to app_owner
  using (true);
create policy select_admins on app_public.support_access_grants
  for select to app_user
  using (( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text]) AS current_role_is));
create policy update_admins on app_public.support_access_grants
  for update to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text]) AS current_role_is) AND (revoked_at IS NULL)))
  with check (( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text]) AS current_role_is));
grant select on app_public.support_access_grants to app_user;
grant insert (expires_at, operator_account_id, reason) on app_public.support_access_grants to app_user;
grant update (revoked_at) on app_public.support_access_grants to app_user;
CREATE TRIGGER _050_operator_check BEFORE INSERT OR UPDATE OF operator_account_id ON app_public.support_access_grants FOR EACH ROW EXECUTE FUNCTION app_private.tg_support_grant_operator_check();
CREATE TRIGGER _100_updated_at BEFORE UPDATE ON app_public.support_access_grants FOR EACH ROW EXECUTE FUNCTION app_private.tg_set_updated_at();
CREATE TRIGGER _110_stamp_revocation BEFORE UPDATE OF revoked_at ON app_public.support_access_grants FOR EACH ROW EXECUTE FUNCTION app_private.tg_stamp_revocation();
CREATE TRIGGER _900_audit AFTER INSERT OR DELETE OR UPDATE ON app_public.support_access_grants FOR EACH ROW EXECUTE FUNCTION app_private.tg_audit_row('clinic_id', 'id');
comment on table app_public.support_access_grants is '@unique id
@behavior -insert -update -delete
Consented, time-limited read access of a platform operator to the clinic (break-glass support).';
comment on column app_public.support_access_grants.clinic_id is '@behavior -*';
comment on column app_public.support_access_grants.created_at is '@behavior +orderBy';
comment on constraint support_access_grants_pkey on app_public.support_access_grants is '@behavior -single -update -delete';

create table app_public.test_reports (
  clinic_id uuid default app_public.current_clinic_id() not null,
  id uuid default gen_random_uuid() not null,
  test_request_id uuid not null,
  patient_id uuid not null,
  technician_id uuid default app_public.current_member_id() not null,
  file_id uuid,
  conclusion text,
  status text default 'draft'::text not null,
  version integer default 1 not null,
  released_at timestamp with time zone,
  created_at timestamp with time zone default now() not null,
  updated_at timestamp with time zone default now() not null,
  constraint test_reports_pkey PRIMARY KEY (clinic_id, id),
  constraint test_reports_patient_key UNIQUE (clinic_id, id, patient_id),
  constraint test_reports_test_request_id_key UNIQUE (clinic_id, test_request_id) DEFERRABLE INITIALLY DEFERRED,
  constraint test_reports_clinic_id_fkey FOREIGN KEY (clinic_id) REFERENCES app_public.clinics(id),
  constraint test_reports_file_id_fkey FOREIGN KEY (clinic_id, file_id) REFERENCES app_public.files(clinic_id, id),
  constraint test_reports_technician_id_fkey FOREIGN KEY (clinic_id, technician_id) REFERENCES app_public.clinic_members(clinic_id, id),
  constraint test_reports_test_request_id_fkey FOREIGN KEY (clinic_id, test_request_id, patient_id) REFERENCES app_public.test_requests(clinic_id, id, patient_id) ON UPDATE CASCADE,
  constraint test_reports_conclusion_check CHECK (conclusion !~ '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]'::text),
  constraint test_reports_conclusion_length CHECK (char_length(conclusion) >= 1 AND char_length(conclusion) <= 4000),
  constraint test_reports_released_at_valid CHECK ((status = 'released'::text) = (released_at IS NOT NULL)),
  constraint test_reports_status_valid CHECK (status = ANY (ARRAY['draft'::text, 'released'::text])),
  constraint test_reports_version_valid CHECK (version > 0)
);
alter table app_public.test_reports enable row level security;
alter table app_public.test_reports force row level security;
CREATE INDEX test_reports_patient_id_idx ON app_public.test_reports USING btree (clinic_id, patient_id, created_at DESC);
create policy tenant_isolation on app_public.test_reports
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));
create policy insert_lab on app_public.test_reports
  for insert to app_user
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['lab_technician'::text]) AS current_role_is) AND (technician_id = ( SELECT app_public.current_member_id() AS current_member_id))));
create policy lock_by_definer_functions on app_public.test_reports
  for update to app_owner
  using (true)
  with check (false);
create policy read_by_definer_functions on app_public.test_reports
  for select to app_owner
  using (true);
create policy select_clinicians_lab_and_own_released on app_public.test_reports
  for select to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'doctor'::text, 'nurse'::text, 'lab_technician'::text]) AS current_role_is) OR ((status = 'released'::text) AND app_private.patient_reads(patient_id))));
create policy update_own on app_public.test_reports
  for update to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['lab_technician'::text]) AS current_role_is) AND (technician_id = ( SELECT app_public.current_member_id() AS current_member_id))))
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['lab_technician'::text]) AS current_role_is) AND (technician_id = ( SELECT app_public.current_member_id() AS current_member_id))));
grant select on app_public.test_reports to app_user;
grant insert (conclusion, patient_id, technician_id, test_request_id) on app_public.test_reports to app_user;
grant update (conclusion, file_id, status) on app_public.test_reports to app_user;
CREATE TRIGGER _100_updated_at BEFORE UPDATE ON app_public.test_reports FOR EACH ROW EXECUTE FUNCTION app_private.tg_set_updated_at();
CREATE TRIGGER _110_bump_version BEFORE UPDATE ON app_public.test_reports FOR EACH ROW EXECUTE FUNCTION app_private.tg_bump_test_report_version();
CREATE TRIGGER _200_state BEFORE INSERT OR DELETE OR UPDATE ON app_public.test_reports FOR EACH ROW EXECUTE FUNCTION app_private.tg_test_report_state();
CREATE TRIGGER _300_released AFTER UPDATE OF status ON app_public.test_reports FOR EACH ROW WHEN (old.status = 'draft'::text AND new.status = 'released'::text) EXECUTE FUNCTION app_private.tg_test_report_released();
CREATE TRIGGER _900_audit AFTER INSERT OR DELETE OR UPDATE ON app_public.test_reports FOR EACH ROW EXECUTE FUNCTION app_private.tg_audit_row('id');
comment on table app_public.test_reports is '@unique id
@behavior -insert -update -delete -totalCount
The lab''s report of a test request.';
comment on column app_public.test_reports.clinic_id is '@behavior -*';
comment on column app_public.test_reports.patient_id is '@behavior +filterBy';
comment on column app_public.test_reports.created_at is '@behavior +orderBy';
comment on constraint test_reports_pkey on app_public.test_reports is '@behavior -single -update -delete';
comment on constraint test_reports_patient_key on app_public.test_reports is '@behavior -single -update -delete';
comment on constraint test_reports_test_request_id_key on app_public.test_reports is '@behavior -single -update -delete';

create table app_public.test_requests (
  clinic_id uuid default app_public.current_clinic_id() not null,
  id uuid default gen_random_uuid() not null,
  consultation_id uuid not null,
  patient_id uuid not null,
  requested_by uuid default app_public.current_member_id() not null,
  test_name text not null,
  test_code text,
  category text not null,
  urgency text default 'routine'::text not null,
  required_by date,
  clinical_note text,
  status text default 'requested'::text not null,
  collected_at timestamp with time zone,
  started_at timestamp with time zone,
  completed_at timestamp with time zone,
  cancelled_at timestamp with time zone,
  created_at timestamp with time zone default now() not null,
  updated_at timestamp with time zone default now() not null,
  constraint test_requests_pkey PRIMARY KEY (clinic_id, id),
  constraint test_requests_patient_key UNIQUE (clinic_id, id, patient_id),
  constraint test_requests_clinic_id_fkey FOREIGN KEY (clinic_id) REFERENCES app_public.clinics(id),
  constraint test_requests_consultation_id_fkey FOREIGN KEY (clinic_id, consultation_id, patient_id) REFERENCES app_public.consultations(clinic_id, id, patient_id) ON UPDATE CASCADE,
  constraint test_requests_requested_by_fkey FOREIGN KEY (clinic_id, requested_by) REFERENCES app_public.clinic_members(clinic_id, id),
  constraint test_requests_category_valid CHECK (category = ANY (ARRAY['haematology'::text, 'biochemistry'::text, 'microbiology'::text, 'immunology'::text, 'pathology'::text, 'radiology'::text, 'urinalysis'::text, 'other'::text])),
  constraint test_requests_clinical_note_check CHECK (clinical_note !~ '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]'::text),
  constraint test_requests_clinical_note_length CHECK (char_length(clinical_note) >= 1 AND char_length(clinical_note) <= 2000),
  constraint test_requests_status_valid CHECK (status = ANY (ARRAY['requested'::text, 'collected'::text, 'in_progress'::text, 'completed'::text, 'cancelled'::text])),
  constraint test_requests_test_code_format CHECK (test_code ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$'::text),
  constraint test_requests_test_name_check CHECK (test_name !~ '[\x01-\x1f\x7f]'::text),
  constraint test_requests_test_name_length CHECK (char_length(test_name) >= 1 AND char_length(test_name) <= 200),
  constraint test_requests_urgency_valid CHECK (urgency = ANY (ARRAY['routine'::text, 'stat'::text]))
);
alter table app_public.test_requests enable row level security;
alter table app_public.test_requests force row level security;
CREATE INDEX test_requests_consultation_id_idx ON app_public.test_requests USING btree (clinic_id, consultation_id);
CREATE INDEX test_requests_open_idx ON app_public.test_requests USING btree (clinic_id, created_at) WHERE (status = ANY (ARRAY['requested'::text, 'collected'::text, 'in_progress'::text]));
CREATE INDEX test_requests_patient_id_idx ON app_public.test_requests USING btree (clinic_id, patient_id, created_at DESC);
create policy tenant_isolation on app_public.test_requests
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));
create policy insert_doctors on app_public.test_requests
  for insert to app_user
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (requested_by = ( SELECT app_public.current_member_id() AS current_member_id))));
create policy read_by_definer_functions on app_public.test_requests
  for select to app_owner
  using (true);
create policy select_clinicians_lab_and_own on app_public.test_requests
  for select to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'doctor'::text, 'nurse'::text, 'lab_technician'::text]) AS current_role_is) OR app_private.patient_reads(patient_id)));
create policy update_by_definer_functions on app_public.test_requests
  for update to app_owner
  using (true)
  with check (true);
create policy update_doctors_and_lab on app_public.test_requests
  for update to app_user
  using (( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text, 'lab_technician'::text]) AS current_role_is))
  with check (( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text, 'lab_technician'::text]) AS current_role_is));
grant select on app_public.test_requests to app_user;
grant insert (category, clinical_note, consultation_id, patient_id, requested_by, required_by, test_code, test_name, urgency) on app_public.test_requests to app_user;
grant update (status) on app_public.test_requests to app_user;
CREATE TRIGGER _100_updated_at BEFORE UPDATE ON app_public.test_requests FOR EACH ROW EXECUTE FUNCTION app_private.tg_set_updated_at();
CREATE TRIGGER _200_state BEFORE INSERT OR DELETE OR UPDATE ON app_public.test_requests FOR EACH ROW EXECUTE FUNCTION app_private.tg_test_request_state();
CREATE TRIGGER _900_audit AFTER INSERT OR DELETE OR UPDATE ON app_public.test_requests FOR EACH ROW EXECUTE FUNCTION app_private.tg_audit_row('id');
comment on table app_public.test_requests is '@unique id
@behavior -insert -update -delete -totalCount
A lab test a doctor requested.';
comment on column app_public.test_requests.clinic_id is '@behavior -*';
comment on column app_public.test_requests.patient_id is '@behavior +filterBy';
comment on column app_public.test_requests.status is '@behavior +filterBy
requested, collected, in_progress, completed or cancelled.';
comment on column app_public.test_requests.created_at is '@behavior +orderBy';
comment on constraint test_requests_pkey on app_public.test_requests is '@behavior -single -update -delete';
comment on constraint test_requests_patient_key on app_public.test_requests is '@behavior -single -update -delete';

create table app_public.test_results (
  clinic_id uuid default app_public.current_clinic_id() not null,
  id uuid default gen_random_uuid() not null,
  test_report_id uuid not null,
  patient_id uuid not null,
  "position" integer not null,
  analyte text not null,
  value_numeric numeric,
  value_text text,
  unit text,
  reference_low numeric,
  reference_high numeric,
  critical_low numeric,
  critical_high numeric,
  flag text generated always as (
CASE
    WHEN (value_numeric IS NULL) THEN NULL::text
    WHEN (value_numeric <= critical_low) THEN 'critical_low'::text
    WHEN (value_numeric >= critical_high) THEN 'critical_high'::text
    WHEN (value_numeric < reference_low) THEN 'low'::text
    WHEN (value_numeric > reference_high) THEN 'high'::text
    WHEN ((reference_low IS NULL) AND (reference_high IS NULL)) THEN NULL::text
    ELSE 'normal'::text
END) stored,
  created_at timestamp with time zone default now() not null,
  updated_at timestamp with time zone default now() not null,
  constraint test_results_pkey PRIMARY KEY (clinic_id, id),
  constraint test_results_position_key UNIQUE (clinic_id, test_report_id, "position") DEFERRABLE INITIALLY DEFERRED,
  constraint test_results_clinic_id_fkey FOREIGN KEY (clinic_id) REFERENCES app_public.clinics(id),
  constraint test_results_test_report_id_fkey FOREIGN KEY (clinic_id, test_report_id, patient_id) REFERENCES app_public.test_reports(clinic_id, id, patient_id) ON UPDATE CASCADE,
  constraint test_results_analyte_check CHECK (analyte !~ '[\x01-\x1f\x7f]'::text),
  constraint test_results_analyte_length CHECK (char_length(analyte) >= 1 AND char_length(analyte) <= 200),
  constraint test_results_critical_low_valid CHECK (critical_low < critical_high AND (critical_low IS NULL OR reference_low IS NULL OR critical_low < reference_low) AND (critical_high IS NULL OR reference_high IS NULL OR critical_high > reference_high)),
  constraint test_results_position_valid CHECK ("position" >= 1 AND "position" <= 200),
  constraint test_results_reference_low_valid CHECK (reference_low <= reference_high),
  constraint test_results_unit_check CHECK (unit !~ '[\x01-\x1f\x7f]'::text),
  constraint test_results_unit_length CHECK (char_length(unit) >= 1 AND char_length(unit) <= 40),
  constraint test_results_value_present CHECK (num_nonnulls(value_numeric, value_text) = 1),
  constraint test_results_value_text_check CHECK (value_text !~ '[\x01-\x1f\x7f]'::text),
  constraint test_results_value_text_length CHECK (char_length(value_text) >= 1 AND char_length(value_text) <= 200)
);
alter table app_public.test_results enable row level security;
alter table app_public.test_results force row level security;
create policy tenant_isolation on app_public.test_results
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));
create policy insert_lab_own on app_public.test_results
  for insert to app_user
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['lab_technician'::text]) AS current_role_is) AND (EXISTS ( SELECT
   FROM app_public.test_reports r
  WHERE ((r.clinic_id = test_results.clinic_id) AND (r.id = test_results.test_report_id) AND (r.technician_id = ( SELECT app_public.current_member_id() AS current_member_id)))))));
create policy read_by_definer_functions on app_public.test_results
  for select to app_owner
  using (true);
create policy select_clinicians_lab_and_own_released on app_public.test_results
  for select to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'doctor'::text, 'nurse'::text, 'lab_technician'::text]) AS current_role_is) OR (app_private.patient_reads(patient_id) AND (EXISTS ( SELECT
   FROM app_public.test_reports r
  WHERE ((r.clinic_id = test_results.clinic_id) AND (r.id = test_results.test_report_id) AND (r.status = 'released'::text)))))));
create policy update_lab_own on app_public.test_results
  for update to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['lab_technician'::text]) AS current_role_is) AND (EXISTS ( SELECT
   FROM app_public.test_reports r
  WHERE ((r.clinic_id = test_results.clinic_id) AND (r.id = test_results.test_report_id) AND (r.technician_id = ( SELECT app_public.current_member_id() AS current_member_id)))))))
  with check (( SELECT app_public.current_role_is(VARIADIC ARRAY['lab_technician'::text]) AS current_role_is));
grant select on app_public.test_results to app_user;
grant insert (analyte, critical_high, critical_low, patient_id, position, reference_high, reference_low, test_report_id, unit, value_numeric, value_text) on app_public.test_results to app_user;
grant update (analyte, critical_high, critical_low, position, reference_high, reference_low, unit, value_numeric, value_text) on app_public.test_results to app_user;
CREATE TRIGGER _100_updated_at BEFORE UPDATE ON app_public.test_results FOR EACH ROW EXECUTE FUNCTION app_private.tg_set_updated_at();
CREATE TRIGGER _200_lock BEFORE INSERT OR DELETE OR UPDATE ON app_public.test_results FOR EACH ROW EXECUTE FUNCTION app_private.tg_test_result_lock();
CREATE TRIGGER _900_audit AFTER INSERT OR DELETE OR UPDATE ON app_public.test_results FOR EACH ROW EXECUTE FUNCTION app_private.tg_audit_row('id');
comment on table app_public.test_results is '@unique id
@behavior -insert -update -delete -totalCount
One analyte''s result in a lab report.';
comment on column app_public.test_results.clinic_id is '@behavior -*';
comment on column app_public.test_results.flag is '@behavior -insert -update
normal, low, high, critical_low or critical_high, computed by the database from the ranges; null for text values and values without ranges.';
comment on constraint test_results_pkey on app_public.test_results is '@behavior -single -update -delete';
comment on constraint test_results_position_key on app_public.test_results is '@behavior -single -update -delete';

create table app_public.visits (
  clinic_id uuid default app_public.current_clinic_id() not null,
  id uuid default gen_random_uuid() not null,
  patient_id uuid not null,
  appointment_id uuid,
  doctor_id uuid,
  visit_date date not null,
  token_number integer not null,
  purpose text,
  priority text default 'normal'::text not null,
  status text default 'waiting'::text not null,
  checked_in_at timestamp with time zone default now() not null,
  called_at timestamp with time zone,
  consultation_started_at timestamp with time zone,
  completed_at timestamp with time zone,
  skipped_at timestamp with time zone,
  created_at timestamp with time zone default now() not null,
  updated_at timestamp with time zone default now() not null,
  constraint visits_pkey PRIMARY KEY (clinic_id, id),
  constraint visits_appointment_id_key UNIQUE (clinic_id, appointment_id),
  constraint visits_token_number_key UNIQUE (clinic_id, visit_date, token_number),
  constraint visits_appointment_id_fkey FOREIGN KEY (clinic_id, appointment_id) REFERENCES app_public.appointments(clinic_id, id),
  constraint visits_clinic_id_fkey FOREIGN KEY (clinic_id) REFERENCES app_public.clinics(id),
  constraint visits_doctor_id_fkey FOREIGN KEY (clinic_id, doctor_id) REFERENCES app_public.clinic_members(clinic_id, id),
  constraint visits_patient_id_fkey FOREIGN KEY (clinic_id, patient_id) REFERENCES app_public.patients(clinic_id, id),
  constraint visits_priority_valid CHECK (priority = ANY (ARRAY['normal'::text, 'urgent'::text, 'emergency'::text])),
  constraint visits_purpose_check CHECK (purpose !~ '[\x01-\x1f\x7f]'::text),
  constraint visits_purpose_length CHECK (char_length(purpose) >= 1 AND char_length(purpose) <= 500),
  constraint visits_status_valid CHECK (status = ANY (ARRAY['waiting'::text, 'called'::text, 'in_consultation'::text, 'completed'::text, 'no_show'::text, 'cancelled'::text])),
  constraint visits_token_number_valid CHECK (token_number > 0)
);
alter table app_public.visits enable row level security;
alter table app_public.visits force row level security;
CREATE INDEX visits_doctor_id_completed_at_idx ON app_public.visits USING btree (clinic_id, doctor_id, completed_at DESC) WHERE (status = 'completed'::text);
CREATE INDEX visits_doctor_id_idx ON app_public.visits USING btree (clinic_id, doctor_id, visit_date);
CREATE INDEX visits_open_visit_date_idx ON app_public.visits USING btree (clinic_id, visit_date) WHERE (status = ANY (ARRAY['waiting'::text, 'called'::text]));
CREATE INDEX visits_patient_id_idx ON app_public.visits USING btree (clinic_id, patient_id, visit_date);
create policy tenant_isolation on app_public.visits
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));
create policy insert_front_desk on app_public.visits
  for insert to app_user
  with check (( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'receptionist'::text]) AS current_role_is));
create policy read_by_definer_functions on app_public.visits
  for select to app_owner
  using (true);
create policy select_staff_and_own on app_public.visits
  for select to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'doctor'::text, 'nurse'::text, 'receptionist'::text]) AS current_role_is) OR (( SELECT app_public.current_role_is(VARIADIC ARRAY['patient'::text]) AS current_role_is) AND (patient_id = ( SELECT app_public.current_patient_id() AS current_patient_id)))));
create policy update_by_definer_functions on app_public.visits
  for update to app_owner
  using (true)
  with check (true);
create policy update_front_desk_and_own_queue on app_public.visits
  for update to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'receptionist'::text]) AS current_role_is) OR (( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (doctor_id = ( SELECT app_public.current_member_id() AS current_member_id)))))
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'receptionist'::text]) AS current_role_is) OR (( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (doctor_id = ( SELECT app_public.current_member_id() AS current_member_id)))));
grant select on app_public.visits to app_user;
grant insert (appointment_id, doctor_id, patient_id, priority, purpose) on app_public.visits to app_user;
grant update (doctor_id, priority, purpose, status) on app_public.visits to app_user;
CREATE TRIGGER _100_updated_at BEFORE UPDATE ON app_public.visits FOR EACH ROW EXECUTE FUNCTION app_private.tg_set_updated_at();
CREATE TRIGGER _150_status_transition BEFORE UPDATE OF status ON app_public.visits FOR EACH ROW EXECUTE FUNCTION app_private.tg_visit_transition();
CREATE TRIGGER _190_check_in_appointment BEFORE INSERT ON app_public.visits FOR EACH ROW WHEN (new.appointment_id IS NOT NULL) EXECUTE FUNCTION app_private.tg_visit_check_in_appointment();
CREATE TRIGGER _200_set_token BEFORE INSERT ON app_public.visits FOR EACH ROW EXECUTE FUNCTION app_private.tg_set_visit_token();
CREATE TRIGGER _210_doctor_is_doctor BEFORE INSERT OR UPDATE OF doctor_id ON app_public.visits FOR EACH ROW EXECUTE FUNCTION app_private.tg_require_member_role('doctor_id', 'doctor');
CREATE TRIGGER _800_complete_appointment AFTER UPDATE OF status ON app_public.visits FOR EACH ROW WHEN (new.status = 'completed'::text AND new.appointment_id IS NOT NULL) EXECUTE FUNCTION app_private.tg_visit_complete_appointment();
CREATE TRIGGER _850_notify_queue AFTER INSERT OR UPDATE ON app_public.visits FOR EACH ROW EXECUTE FUNCTION app_private.tg_visit_notify_queue();
CREATE TRIGGER _900_audit AFTER INSERT OR DELETE OR UPDATE ON app_public.visits FOR EACH ROW EXECUTE FUNCTION app_private.tg_audit_row('id');
comment on table app_public.visits is '@unique id
@unique visit_date,token_number|@behavior -update -delete
@behavior -delete -nodeId:resource:update -nodeId:resource:delete
A patient''s check-in: token of the day, queue position, consultation progress.';
comment on column app_public.visits.clinic_id is '@behavior -*';
comment on column app_public.visits.patient_id is '@behavior +filterBy';
comment on column app_public.visits.doctor_id is '@behavior -update +filterBy';
comment on column app_public.visits.visit_date is '@behavior +filterBy +orderBy
The clinic-local date of the check-in.';
comment on column app_public.visits.token_number is '@behavior +orderBy
The token of the day, consecutive per clinic and clinic-local date.';
comment on column app_public.visits.purpose is '@behavior -update';
comment on column app_public.visits.priority is '@behavior -update
normal, urgent or emergency (the queue serves emergency first).';
comment on column app_public.visits.status is '@behavior +filterBy
waiting, called, in_consultation, completed, no_show or cancelled.';
comment on column app_public.visits.skipped_at is 'When the visit was last skipped (it waits again, behind the others).';
comment on constraint visits_pkey on app_public.visits is '@behavior -single -update -delete';
comment on constraint visits_appointment_id_key on app_public.visits is '@behavior -single -update -delete';
comment on constraint visits_token_number_key on app_public.visits is '@behavior -single -update -delete';

create table app_public.vitals (
  clinic_id uuid default app_public.current_clinic_id() not null,
  id uuid default gen_random_uuid() not null,
  consultation_id uuid not null,
  patient_id uuid not null,
  recorded_by uuid default app_public.current_member_id() not null,
  measured_at timestamp with time zone default now() not null,
  systolic_mmhg integer,
  diastolic_mmhg integer,
  heart_rate_bpm integer,
  temperature_c numeric(4,1),
  respiratory_rate_per_min integer,
  spo2_percent integer,
  weight_kg numeric(5,2),
  height_cm numeric(4,1),
  created_at timestamp with time zone default now() not null,
  updated_at timestamp with time zone default now() not null,
  constraint vitals_pkey PRIMARY KEY (clinic_id, id),
  constraint vitals_clinic_id_fkey FOREIGN KEY (clinic_id) REFERENCES app_public.clinics(id),
  constraint vitals_consultation_id_fkey FOREIGN KEY (clinic_id, consultation_id, patient_id) REFERENCES app_public.consultations(clinic_id, id, patient_id) ON UPDATE CASCADE,
  constraint vitals_recorded_by_fkey FOREIGN KEY (clinic_id, recorded_by) REFERENCES app_public.clinic_members(clinic_id, id),
  constraint vitals_diastolic_mmhg_range CHECK (diastolic_mmhg >= 20 AND diastolic_mmhg <= 200),
  constraint vitals_diastolic_mmhg_valid CHECK ((systolic_mmhg IS NULL) = (diastolic_mmhg IS NULL) AND (systolic_mmhg IS NULL OR systolic_mmhg > diastolic_mmhg)),
  constraint vitals_heart_rate_bpm_range CHECK (heart_rate_bpm >= 20 AND heart_rate_bpm <= 300),
  constraint vitals_height_cm_range CHECK (height_cm >= 20::numeric AND height_cm <= 280::numeric),
  constraint vitals_measurement_present CHECK (num_nonnulls(systolic_mmhg, heart_rate_bpm, temperature_c, respiratory_rate_per_min, spo2_percent, weight_kg, height_cm) > 0),
  constraint vitals_respiratory_rate_per_min_range CHECK (respiratory_rate_per_min >= 4 AND respiratory_rate_per_min <= 80),
  constraint vitals_spo2_percent_range CHECK (spo2_percent >= 50 AND spo2_percent <= 100),
  constraint vitals_systolic_mmhg_range CHECK (systolic_mmhg >= 40 AND systolic_mmhg <= 300),
  constraint vitals_temperature_c_range CHECK (temperature_c >= 25::numeric AND temperature_c <= 45::numeric),
  constraint vitals_weight_kg_range CHECK (weight_kg >= 0.3 AND weight_kg <= 500::numeric)
);
alter table app_public.vitals enable row level security;
alter table app_public.vitals force row level security;
CREATE INDEX vitals_consultation_id_idx ON app_public.vitals USING btree (clinic_id, consultation_id, patient_id, measured_at);
CREATE INDEX vitals_patient_id_idx ON app_public.vitals USING btree (clinic_id, patient_id, measured_at DESC);
create policy tenant_isolation on app_public.vitals
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));
create policy insert_author_or_nurse on app_public.vitals
  for insert to app_user
  with check (((recorded_by = ( SELECT app_public.current_member_id() AS current_member_id)) AND (( SELECT app_public.current_role_is(VARIADIC ARRAY['nurse'::text]) AS current_role_is) OR (( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (EXISTS ( SELECT
   FROM app_public.consultations c
  WHERE ((c.clinic_id = vitals.clinic_id) AND (c.id = vitals.consultation_id) AND (c.doctor_id = ( SELECT app_public.current_member_id() AS current_member_id)))))))));
create policy read_for_export on app_public.vitals
  for select to app_owner
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));
create policy select_clinicians_and_own_signed on app_public.vitals
  for select to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'doctor'::text, 'nurse'::text]) AS current_role_is) OR (app_private.patient_reads(patient_id) AND (EXISTS ( SELECT
   FROM app_public.consultations c
  WHERE ((c.clinic_id = vitals.clinic_id) AND (c.id = vitals.consultation_id) AND (c.status = 'signed'::text)))))));
create policy update_recorder_or_author on app_public.vitals
  for update to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text, 'nurse'::text]) AS current_role_is) AND ((recorded_by = ( SELECT app_public.current_member_id() AS current_member_id)) OR (( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (EXISTS ( SELECT
   FROM app_public.consultations c
  WHERE ((c.clinic_id = vitals.clinic_id) AND (c.id = vitals.consultation_id) AND (c.doctor_id = ( SELECT app_public.current_member_id() AS current_member_id)))))))))
  with check (( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text, 'nurse'::text]) AS current_role_is));
grant select on app_public.vitals to app_user;
grant insert (consultation_id, diastolic_mmhg, heart_rate_bpm, height_cm, measured_at, respiratory_rate_per_min, spo2_percent, systolic_mmhg, temperature_c, weight_kg) on app_public.vitals to app_user;
grant update (diastolic_mmhg, heart_rate_bpm, height_cm, measured_at, respiratory_rate_per_min, spo2_percent, systolic_mmhg, temperature_c, weight_kg) on app_public.vitals to app_user;
CREATE TRIGGER _010_lock BEFORE INSERT OR DELETE OR UPDATE ON app_public.vitals FOR EACH ROW EXECUTE FUNCTION app_private.tg_consultation_child('consultation_vitals_are_final');
CREATE TRIGGER _100_updated_at BEFORE UPDATE ON app_public.vitals FOR EACH ROW EXECUTE FUNCTION app_private.tg_set_updated_at();
CREATE TRIGGER _900_audit AFTER INSERT OR DELETE OR UPDATE ON app_public.vitals FOR EACH ROW EXECUTE FUNCTION app_private.tg_audit_row('id');
comment on table app_public.vitals is '@unique id
@behavior -insert -update -delete
A reading of vital signs during a consultation, in the units the field names state.';
comment on column app_public.vitals.clinic_id is '@behavior -*';
comment on constraint vitals_pkey on app_public.vitals is '@behavior -single -update -delete';
comment on constraint vitals_consultation_id_fkey on app_public.vitals is '@fieldName consultation
@foreignFieldName vitals';

-- Views

create view app_audit.rls_report with (security_invoker=true) as
 WITH app_roles AS (
         SELECT pg_roles.oid,
            pg_roles.rolname
           FROM pg_roles
          WHERE pg_roles.rolname = ANY (ARRAY['app_user'::name, 'app_platform'::name, 'app_authenticator'::name])
        ), user_relations AS (
         SELECT c.oid,
            n.nspname,
            c.relname,
            c.relkind,
            c.relowner,
            c.relrowsecurity,
            c.relforcerowsecurity,
            c.reloptions,
            format('%I.%I'::text, n.nspname, c.relname) AS qualified_name
           FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE (c.relkind = ANY (ARRAY['r'::"char", 'p'::"char", 'v'::"char", 'm'::"char"])) AND (n.nspname <> ALL (ARRAY['pg_catalog'::name, 'information_schema'::name])) AND n.nspname !~ '^pg_'::text
        ), privileges AS (
         SELECT rel.oid,
            r.oid AS role_oid,
            r.rolname,
            p.privilege
           FROM user_relations rel
             CROSS JOIN app_roles r
             CROSS JOIN unnest(ARRAY['SELECT'::text, 'INSERT'::text, 'UPDATE'::text, 'DELETE'::text, 'TRUNCATE'::text]) p(privilege)
          WHERE has_table_privilege(r.oid, rel.oid, p.privilege) OR (p.privilege = ANY (ARRAY['SELECT'::text, 'INSERT'::text, 'UPDATE'::text])) AND has_any_column_privilege(r.oid, rel.oid, p.privilege)
        ), tenant_tables AS (
         SELECT rel.oid,
            a.attnum AS clinic_attnum,
            a.attnotnull AS clinic_not_null
           FROM user_relations rel
             JOIN pg_attribute a ON a.attrelid = rel.oid AND a.attname = 'clinic_id'::name AND NOT a.attisdropped
          WHERE rel.relkind = ANY (ARRAY['r'::"char", 'p'::"char"])
        ), exposed_tables AS (
         SELECT rel.oid,
            rel.nspname,
            rel.relname,
            rel.relkind,
            rel.relowner,
            rel.relrowsecurity,
            rel.relforcerowsecurity,
            rel.reloptions,
            rel.qualified_name
           FROM user_relations rel
          WHERE (rel.relkind = ANY (ARRAY['r'::"char", 'p'::"char"])) AND (EXISTS ( SELECT 1
                   FROM privileges p
                  WHERE p.oid = rel.oid))
        ), table_problems AS (
         SELECT t.oid,
            found.problem
           FROM exposed_tables t
             CROSS JOIN LATERAL ( SELECT 'RLS not enabled'::text AS "?column?"
                  WHERE NOT t.relrowsecurity
                UNION ALL
                 SELECT 'RLS not forced'::text
                  WHERE NOT t.relforcerowsecurity
                UNION ALL
                 SELECT format('owned by application role %s'::text, r.rolname) AS format
                   FROM app_roles r
                  WHERE r.oid = t.relowner
                UNION ALL
                 SELECT format('%s granted to %s without a permissive policy for it'::text, p.privilege, p.rolname) AS format
                   FROM privileges p
                  WHERE p.oid = t.oid AND (p.privilege = ANY (ARRAY['SELECT'::text, 'INSERT'::text, 'UPDATE'::text, 'DELETE'::text])) AND NOT (EXISTS ( SELECT 1
                           FROM pg_policy pol
                          WHERE pol.polrelid = t.oid AND pol.polpermissive AND (pol.polcmd = '*'::"char" OR pol.polcmd::text =
                                CASE p.privilege
                                    WHEN 'SELECT'::text THEN 'r'::text
                                    WHEN 'INSERT'::text THEN 'a'::text
                                    WHEN 'UPDATE'::text THEN 'w'::text
                                    ELSE 'd'::text
                                END) AND (pol.polroles = '{0}'::oid[] OR (p.role_oid = ANY (pol.polroles)))))
                UNION ALL
                 SELECT format('TRUNCATE granted to %s (TRUNCATE ignores RLS)'::text, p.rolname) AS format
                   FROM privileges p
                  WHERE p.oid = t.oid AND p.privilege = 'TRUNCATE'::text
                UNION ALL
                 SELECT format('%s holds privileges (the authenticator must hold none)'::text, p.rolname) AS format
                   FROM privileges p
                  WHERE p.oid = t.oid AND p.rolname = 'app_authenticator'::name
                UNION ALL
                 SELECT 'no clinic_id column'::text
                  WHERE t.qualified_name <> 'app_public.clinics'::text AND NOT (EXISTS ( SELECT 1
                           FROM tenant_tables tt
                          WHERE tt.oid = t.oid))
                UNION ALL
                 SELECT 'clinic_id is nullable'::text
                   FROM tenant_tables tt
                  WHERE tt.oid = t.oid AND NOT tt.clinic_not_null
                UNION ALL
                 SELECT format('%s %s does not include clinic_id'::text,
                        CASE
                            WHEN i.indisprimary THEN 'primary key'::text
                            ELSE 'unique index'::text
                        END, i.indexrelid::regclass) AS format
                   FROM pg_index i
                     JOIN tenant_tables tt ON tt.oid = i.indrelid
                  WHERE i.indrelid = t.oid AND i.indisunique AND NOT (tt.clinic_attnum = ANY (i.indkey::smallint[]))
                UNION ALL
                 SELECT format('index %s does not lead with clinic_id'::text, i.indexrelid::regclass) AS format
                   FROM pg_index i
                     JOIN tenant_tables tt ON tt.oid = i.indrelid
                  WHERE i.indrelid = t.oid AND (i.indkey::smallint[])[0] <> tt.clinic_attnum
                UNION ALL
                 SELECT format('foreign key %s references tenant table %s without clinic_id'::text, con.conname, con.confrelid::regclass) AS format
                   FROM pg_constraint con
                     JOIN tenant_tables target ON target.oid = con.confrelid
                  WHERE con.conrelid = t.oid AND con.contype = 'f'::"char" AND NOT (EXISTS ( SELECT 1
                           FROM UNNEST(con.conkey, con.confkey) k(local_attnum, foreign_attnum)
                          WHERE k.foreign_attnum = target.clinic_attnum AND k.local_attnum = (( SELECT a.attnum
                                   FROM pg_attribute a
                                  WHERE a.attrelid = t.oid AND a.attname = 'clinic_id'::name))))
                UNION ALL
                 SELECT 'no audit trigger (app_private.tg_audit_row)'::text
                  WHERE NOT (EXISTS ( SELECT 1
                           FROM pg_trigger tg
                          WHERE tg.tgrelid = t.oid AND tg.tgfoid = 'app_private.tg_audit_row()'::regprocedure::oid))) found(problem)
        ), relation_rows AS (
         SELECT
                CASE rel.relkind
                    WHEN 'v'::"char" THEN 'view'::text
                    WHEN 'm'::"char" THEN 'materialized view'::text
                    ELSE 'table'::text
                END AS object_type,
            rel.qualified_name AS object_name,
                CASE
                    WHEN rel.relkind = ANY (ARRAY['r'::"char", 'p'::"char"]) THEN format('rls=%s forced=%s policies=%s grants=%s'::text,
                    CASE
                        WHEN rel.relrowsecurity THEN 'on'::text
                        ELSE 'off'::text
                    END,
                    CASE
                        WHEN rel.relforcerowsecurity THEN 'on'::text
                        ELSE 'off'::text
                    END, ( SELECT count(*) AS count
                       FROM pg_policy pol
                      WHERE pol.polrelid = rel.oid), COALESCE(( SELECT string_agg((p.rolname::text || ':'::text) || p.privilege, ','::text ORDER BY p.rolname, p.privilege) AS string_agg
                       FROM privileges p
                      WHERE p.oid = rel.oid), '-'::text))
                    ELSE NULL::text
                END AS detail,
            ARRAY( SELECT tp.problem
                   FROM table_problems tp
                  WHERE tp.oid = rel.oid
                UNION ALL
                 SELECT 'view without security_invoker'::text
                  WHERE rel.relkind = 'v'::"char" AND (rel.nspname ~~ 'app\_%'::text OR (EXISTS ( SELECT 1
                           FROM privileges p
                          WHERE p.oid = rel.oid))) AND NOT COALESCE(rel.reloptions @> ARRAY['security_invoker=true'::text] OR rel.reloptions @> ARRAY['security_invoker=on'::text] OR rel.reloptions @> ARRAY['security_invoker=1'::text], false)
                UNION ALL
                 SELECT format('materialized view readable by %s (materialized views cannot have RLS)'::text, p.rolname) AS format
                   FROM privileges p
                  WHERE rel.relkind = 'm'::"char" AND p.oid = rel.oid AND p.privilege = 'SELECT'::text) AS problems
           FROM user_relations rel
          WHERE (rel.relkind = ANY (ARRAY['v'::"char", 'm'::"char"])) OR (EXISTS ( SELECT 1
                   FROM privileges p
                  WHERE p.oid = rel.oid)) OR (EXISTS ( SELECT 1
                   FROM tenant_tables tt
                  WHERE tt.oid = rel.oid))
        ), function_rows AS (
         SELECT 'function'::text AS object_type,
            p.oid::regprocedure::text AS object_name,
                CASE
                    WHEN p.prosecdef THEN 'security definer'::text
                    ELSE 'security invoker'::text
                END AS detail,
            ARRAY( SELECT 'SECURITY DEFINER without a pinned search_path'::text
                  WHERE p.prosecdef AND NOT (EXISTS ( SELECT 1
                           FROM unnest(p.proconfig) c(c)
                          WHERE c.c ~~ 'search\_path=%'::text))
                UNION ALL
                 SELECT 'executable by PUBLIC (grant EXECUTE to the roles that need it)'::text
                  WHERE n.nspname ~~ 'app\_%'::text AND (p.proacl IS NULL OR (EXISTS ( SELECT 1
                           FROM aclexplode(p.proacl) a(grantor, grantee, privilege_type, is_grantable)
                          WHERE a.grantee = 0::oid AND a.privilege_type = 'EXECUTE'::text)))) AS problems
           FROM pg_proc p
             JOIN pg_namespace n ON n.oid = p.pronamespace
          WHERE (p.prosecdef OR n.nspname ~~ 'app\_%'::text) AND (n.nspname <> ALL (ARRAY['pg_catalog'::name, 'information_schema'::name])) AND n.nspname !~ '^pg_'::text AND NOT (EXISTS ( SELECT 1
                   FROM pg_depend d
                  WHERE d.objid = p.oid AND d.deptype = 'e'::"char"))
        ), role_rows AS (
         SELECT 'role'::text AS object_type,
            r.rolname::text AS object_name,
            format('login=%s inherit=%s'::text, r.rolcanlogin, r.rolinherit) AS detail,
            ARRAY( SELECT 'is SUPERUSER'::text
                  WHERE r.rolsuper
                UNION ALL
                 SELECT 'has BYPASSRLS'::text
                  WHERE r.rolbypassrls
                UNION ALL
                 SELECT 'has CREATEROLE'::text
                  WHERE r.rolcreaterole
                UNION ALL
                 SELECT 'must be NOINHERIT'::text
                  WHERE r.rolname = 'app_authenticator'::name AND r.rolinherit
                UNION ALL
                 SELECT format('may become %s (only app_user and app_platform are allowed)'::text, g.rolname) AS format
                   FROM pg_auth_members m
                     JOIN pg_roles g ON g.oid = m.roleid
                  WHERE r.rolname = 'app_authenticator'::name AND m.member = r.oid AND (g.rolname <> ALL (ARRAY['app_user'::name, 'app_platform'::name]))) AS problems
           FROM pg_roles r
          WHERE r.rolname = ANY (ARRAY['app_owner'::name, 'app_authenticator'::name, 'app_user'::name, 'app_platform'::name, 'app_worker'::name])
        )
 SELECT object_type,
    object_name,
    detail,
    problems,
    cardinality(problems) = 0 AS ok
   FROM ( SELECT relation_rows.object_type,
            relation_rows.object_name,
            relation_rows.detail,
            relation_rows.problems
           FROM relation_rows
        UNION ALL
         SELECT function_rows.object_type,
            function_rows.object_name,
            function_rows.detail,
            function_rows.problems
           FROM function_rows
        UNION ALL
         SELECT role_rows.object_type,
            role_rows.object_name,
            role_rows.detail,
            role_rows.problems
           FROM role_rows) report;
comment on view app_audit.rls_report is 'Isolation audit: one row per table, view, function of the app_* schemas (and SECURITY DEFINER function elsewhere) and application role; problems lists every broken rule; ok is true when there are none.';
