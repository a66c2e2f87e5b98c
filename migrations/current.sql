-- Enter migration here

-- section core begin
-- Jobs (graphile-worker). The queue's schema, graphile_worker, belongs to app_worker (db:setup
-- creates it; graphile-worker's own migrations fill it). Its tables have RLS on and no policy, so
-- only their owner reaches them: app_owner through its membership in app_worker (granted by
-- db:setup), and no role that serves requests. Requests and jobs enqueue only through the
-- functions below, which stamp the clinic of the transaction into the payload.

-- The worker's login: functions only the worker may call begin with this check. A job's tenant
-- transaction runs as app_user like a request's, but its session logged in as app_worker, which no
-- request can (requests log in as app_authenticator).
create function app_private.assert_worker() returns void
  language plpgsql stable
  set search_path = pg_catalog, pg_temp
as $$
begin
  if session_user <> 'app_worker' then
    raise exception 'only the job worker may call this' using errcode = '42501';
  end if;
end;
$$;
revoke all on function app_private.assert_worker() from public;
comment on function app_private.assert_worker() is 'Raises 42501 unless the session logged in as app_worker (graphile-worker''s login): the first statement of every worker-only function.';

-- One job of a clinic. The payload's clinicId is the clinic given, never what a caller wrote
-- into the payload, and a transaction in a clinic can only enqueue for that clinic.
create function app_private.add_job(
  clinic_id uuid, task text, payload jsonb,
  run_at timestamptz default null, job_key text default null, max_attempts integer default null
) returns void
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
as $$
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
$$;
revoke all on function app_private.add_job(uuid, text, jsonb, timestamptz, text, integer) from public;
comment on function app_private.add_job(uuid, text, jsonb, timestamptz, text, integer) is 'Enqueues a job of a clinic (triggers and SECURITY DEFINER functions only): clinicId stamped into the payload; refused for another clinic than the transaction''s; a job_key replaces the waiting job of that key.';

-- A job of no clinic: delivering an account's e-mail, the crontab's fan-out.
create function app_private.add_system_job(
  task text, payload jsonb,
  run_at timestamptz default null, job_key text default null, max_attempts integer default null
) returns void
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
as $$
begin
  perform graphile_worker.add_job(
    identifier => add_system_job.task,
    payload => (coalesce(add_system_job.payload, '{}'::jsonb) - 'clinicId')::json,
    run_at => add_system_job.run_at,
    max_attempts => add_system_job.max_attempts,
    job_key => add_system_job.job_key,
    job_key_mode => 'replace');
end;
$$;
revoke all on function app_private.add_system_job(text, jsonb, timestamptz, text, integer) from public;
comment on function app_private.add_system_job(text, jsonb, timestamptz, text, integer) is 'Enqueues a job of no clinic (triggers and SECURITY DEFINER functions only); any clinicId in the payload is dropped.';

create function app_private.remove_job(job_key text) returns void
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
as $$
begin
  perform graphile_worker.remove_job(remove_job.job_key);
end;
$$;
revoke all on function app_private.remove_job(text) from public;
comment on function app_private.remove_job(text) is 'Removes the waiting job of a key (a running one finishes).';

-- The clinic of a job's transaction, as the worker sees it before running a task: a suspended
-- clinic's jobs wait (src/worker/task.ts puts them back) and start again on reactivation.
create function app_hidden.job_clinic_status() returns text
  language plpgsql stable security definer
  set search_path = pg_catalog, pg_temp
as $$
declare
  found_status text;
begin
  perform app_private.assert_worker();
  select c.status into found_status from app_public.clinics c where c.id = app_public.current_clinic_id();
  return found_status;
end;
$$;
revoke all on function app_hidden.job_clinic_status() from public;
grant execute on function app_hidden.job_clinic_status() to app_user;
comment on function app_hidden.job_clinic_status() is '@behavior -*
The status of the job''s clinic (active, suspended), or null for an unknown clinic: the worker''s check before a task runs.';

-- Reactivating a clinic runs the jobs it held back now instead of at their next try: those the
-- worker put back flagged held_for_suspension (src/worker/task.ts), not the clinic's other future
-- jobs (a reminder due next week stays due next week).
create function app_private.tg_clinic_reactivated_resume_jobs() returns trigger
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
as $$
begin
  perform graphile_worker.reschedule_jobs(
    -- graphile-worker's jobs view leaves payloads and flags out; its table has them.
    array(select j.id from graphile_worker._private_jobs j
          where j.payload->>'clinicId' = new.id::text and j.flags ? 'held_for_suspension'
            and j.locked_at is null and j.run_at > now()),
    run_at => now());
  return null;
end;
$$;
revoke all on function app_private.tg_clinic_reactivated_resume_jobs() from public;
create trigger _800_resume_jobs after update of status on app_public.clinics
  for each row when (old.status = 'suspended' and new.status = 'active')
  execute function app_private.tg_clinic_reactivated_resume_jobs();

-- Delivery state of the notification outbox (the delivery task, src/worker/tasks/), and the
-- clinic a message belongs to (its sender name and language; null: an account's own mail).
alter table app_private.notification_outbox
  add column clinic_id uuid constraint notification_outbox_clinic_id_fkey references app_public.clinics (id),
  add column channel text not null default 'email' constraint notification_outbox_channel_valid check (channel in ('email', 'sms')),
  add column status text not null default 'pending' constraint notification_outbox_status_valid check (status in ('pending', 'sent', 'failed')),
  add column attempts integer not null default 0 constraint notification_outbox_attempts_valid check (attempts >= 0),
  add column last_error text constraint notification_outbox_last_error_length check (char_length(last_error) <= 500),
  add column failed_at timestamptz,
  add column dedup_key text constraint notification_outbox_dedup_key_key unique
    constraint notification_outbox_dedup_key_length check (char_length(dedup_key) between 1 and 200);
create index notification_outbox_clinic_idx on app_private.notification_outbox (clinic_id, created_at) where clinic_id is not null;
comment on column app_private.notification_outbox.dedup_key is 'Set by idempotent producers (a job run twice writes one message): insert … on conflict (dedup_key) do nothing.';

-- How a patient wants to be told (reminders, released reports): 'none' opts out.
alter table app_public.patients
  add column contact_channel text not null default 'email'
    constraint patients_contact_channel_valid check (contact_channel in ('email', 'sms', 'none'));
grant insert (contact_channel), update (contact_channel) on app_public.patients to app_user;
comment on column app_public.patients.contact_channel is 'How the patient is told of appointments and results: email, sms, or none (opted out).';

-- One message to a patient on their channel: e-mail (the portal account's, else the record's) or
-- SMS (the record's phone), the other one when the preferred has no address, nothing when the
-- patient opted out, has no address, died, was archived or merged into another record. Returns the outbox row's id, or null when nothing was
-- written (opted out, no address, or a message of this dedup_key exists).
create function app_private.notify_patient(clinic_id uuid, patient_id uuid, kind text, payload jsonb, dedup_key text)
returns bigint
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
as $$
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
$$;
revoke all on function app_private.notify_patient(uuid, uuid, text, jsonb, text) from public;
comment on function app_private.notify_patient(uuid, uuid, text, jsonb, text) is 'Writes one outbox message to a patient on their contact channel (or the other when it has no address); none when opted out, without address, deceased, archived or merged, or already written under dedup_key. Returns the row id or null.';
-- section core end

-- section upkeep begin
--! split: 1210-scheduled-upkeep
-- Scheduled upkeep (src/worker/crontab.ts): the hourly jobs that move what time alone moves (a
-- booked appointment nobody came to, a visit left open at the end of its day, a follow-up whose
-- date passed), remove what expired (account secrets, lockouts) and purge the logs past a clinic's
-- retention. Each is a worker-only function (app_private.assert_worker: 42501 for any other login)
-- given the time `at` by the task, so tests control the clock, and acts at `least(at, now())`: a
-- worker clock ahead of the database's marks nothing early and purges nothing young. The
-- per-clinic ones act on the context's clinic only. Each is idempotent and safe under two workers: rows are taken with
-- FOR UPDATE SKIP LOCKED (never waiting on each other, never the same row twice; the purge: one
-- per clinic at a time, by an advisory lock), and a row already moved no longer matches.

-- How long after its start a booked appointment nobody checked in becomes a no-show: each clinic's.
alter table app_public.clinic_settings add column no_show_grace_minutes integer not null default 30
  constraint clinic_settings_no_show_grace_minutes_range check (no_show_grace_minutes between 5 and 1440);
grant update (no_show_grace_minutes) on app_public.clinic_settings to app_user;
comment on column app_public.clinic_settings.no_show_grace_minutes is
  'Minutes after its start before a booked appointment nobody checked in is marked no_show (5 to 1440).';

-- The upkeep reads these few rows by clinic: booked appointments and open visits are a small part
-- of their tables, and the access log is purged by age.
create index appointments_booked_starts_at_idx on app_public.appointments (clinic_id, starts_at) where status = 'booked';
create index visits_open_visit_date_idx on app_public.visits (clinic_id, visit_date) where status in ('waiting', 'called');
create index patient_access_log_accessed_at_idx on app_public.patient_access_log (clinic_id, accessed_at);

-- Booked appointments of the context clinic whose start plus the clinic's grace is before `at`
-- become no_show, through the appointments' state machine (booked → no_show).
create function app_hidden.mark_no_shows("at" timestamptz)
  returns integer
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
as $$
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
$$;

-- Visits of the context clinic still waiting or called after their day ended (the clinic's
-- calendar, at `at`) become no_show, as the visits' state machine allows, and a checked-in
-- appointment of such a visit too (checked_in → no_show): the patient came and was never seen.
-- A visit in consultation is left to its doctor: its state machine allows only completed, which
-- signing the consultation does; the upkeep does not claim care that was not recorded.
create function app_hidden.close_stale_visits("at" timestamptz)
  returns integer
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
as $$
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
$$;

-- Pending follow-ups of the context clinic whose due date is over (the clinic's calendar, at `at`)
-- become missed, unless an appointment linked to them still holds (booked, checked in) or took
-- place (completed: whether the question is settled is the doctor's to say in that visit). An
-- unlinked follow-up, or one whose appointment was cancelled or not attended, is missed.
create function app_hidden.mark_missed_follow_ups("at" timestamptz)
  returns integer
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
as $$
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
$$;

-- The instant before which a clinic's log rows are past its retention, at the database's clock
-- (null: a clinic without settings keeps everything). A definer, so the purge policies read the
-- setting whoever deletes.
create function app_private.clinic_retention_horizon(clinic_id uuid)
  returns timestamptz
  language sql stable security definer
  set search_path = pg_catalog, pg_temp
begin atomic
  select now() - make_interval(hours => 24 * s.retention_days)
  from app_public.clinic_settings s where s.clinic_id = clinic_retention_horizon.clinic_id;
end;

-- The retention purge's one way through the append-only rules (docs/security-model.md, Audit
-- log). app.retention_purge holds "<clinic id>:<cutoff in microseconds since the epoch>", set by
-- app_hidden.purge_expired_logs for its two deletes and cleared before it returns (an error rolls
-- it back with the rest: set_config is transactional). A row is
-- covered when it is that clinic's, strictly older than the cutoff and past the clinic's retention
-- at the database's clock, and the deleting role is app_owner (the function's owner): any other
-- role, clinic or age is refused as before. Any role can set the setting, so it only narrows: a
-- forged one (app_owner's own session) reaches no row inside the retention.
create function app_private.retention_purge_covers(clinic_id uuid, logged_at timestamptz)
  returns boolean
  language sql stable
  set search_path = pg_catalog, pg_temp
begin atomic
  select case
    when current_user = 'app_owner'
      and current_setting('app.retention_purge', true) ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:[0-9]{1,18}$'
    then coalesce(split_part(current_setting('app.retention_purge', true), ':', 1)::uuid = retention_purge_covers.clinic_id
      and (extract(epoch from retention_purge_covers.logged_at) * 1000000)::bigint
        < split_part(current_setting('app.retention_purge', true), ':', 2)::bigint
      and retention_purge_covers.logged_at < app_private.clinic_retention_horizon(retention_purge_covers.clinic_id), false)
    else false
  end;
end;

create or replace function app_private.tg_audit_log_is_append_only()
  returns trigger
  language plpgsql
  set search_path = pg_catalog, pg_temp
as $$
begin
  if tg_op = 'DELETE' then
    if app_private.retention_purge_covers(old.clinic_id, old.occurred_at) then
      return old;
    end if;
  end if;
  raise exception 'audit_log is append-only (% refused)', tg_op using errcode = 'CBAUD';
end;
$$;

-- A delete reads the rows it deletes: both logs get a read and a delete policy for app_owner,
-- each as narrow as the purge.
create policy read_for_retention_purge on app_audit.audit_log for select to app_owner
  using (app_private.retention_purge_covers(clinic_id, occurred_at));
create policy delete_for_retention_purge on app_audit.audit_log for delete to app_owner
  using (app_private.retention_purge_covers(clinic_id, occurred_at));
create policy read_for_retention_purge on app_public.patient_access_log for select to app_owner
  using (app_private.retention_purge_covers(clinic_id, accessed_at));
create policy delete_for_retention_purge on app_public.patient_access_log for delete to app_owner
  using (app_private.retention_purge_covers(clinic_id, accessed_at));

-- Purged access-log rows are not copied into the audit log one by one (that would keep what the
-- retention removes for another full period): the purge records one event with the counts.
drop trigger _900_audit on app_public.patient_access_log;
create trigger _900_audit after update or delete on app_public.patient_access_log
  for each row when (not app_private.retention_purge_covers(old.clinic_id, old.accessed_at))
  execute function app_private.tg_audit_row('id');

-- The context clinic's audit-log and chart-access-log rows older than its retention_days before
-- `at` (never a later `at` than the database's clock: a clock ahead would cut into the retention),
-- at most 5,000 of each per call, oldest first; `more` says a batch was full (rows may remain: the
-- task queues another run at once). One audit event 'retention.purged' records what went (counts
-- and cutoff) when anything did. A clinic without settings keeps everything.
create function app_hidden.purge_expired_logs("at" timestamptz)
  returns table (audit_log integer, access_log integer, more boolean)
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
as $$
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
$$;

-- The hourly fan-out: one clinics__upkeep job per active clinic, keyed by clinic and hour (UTC)
-- of `at`, so a fan-out run twice in an hour (a backfill, a retry) queues one job per clinic.
-- Suspended clinics get none (their data waits with them). Returns how many were queued.
create function app_hidden.fan_out_clinic_upkeep("at" timestamptz)
  returns integer
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
as $$
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
$$;

-- Account secrets and lockouts nobody can use any more, a day (margin) after they expired as of
-- `at` (never later than the database's clock): invitations and password resets past expires_at;
-- refresh-token families none of whose tokens is still within its idle and absolute expiry (a
-- rotated token is kept while its family lives: presenting it again revokes the family);
-- login-failure counts whose window and lock are over (the next failure would start afresh); and
-- the ended-sessions stamps the blocked-access list (src/auth/blocked-access.ts) no longer reads
-- (it reads the last hour). Returns the counts by name.
create function app_hidden.expire_account_secrets("at" timestamptz)
  returns jsonb
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
as $$
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
$$;

revoke all on function app_hidden.mark_no_shows(timestamptz), app_hidden.close_stale_visits(timestamptz),
  app_hidden.mark_missed_follow_ups(timestamptz), app_hidden.purge_expired_logs(timestamptz),
  app_hidden.fan_out_clinic_upkeep(timestamptz), app_hidden.expire_account_secrets(timestamptz),
  app_private.retention_purge_covers(uuid, timestamptz), app_private.clinic_retention_horizon(uuid) from public;
-- app_user: the worker's tenant transactions run as app_user (assert_worker refuses requests).
grant execute on function app_hidden.mark_no_shows(timestamptz), app_hidden.close_stale_visits(timestamptz),
  app_hidden.mark_missed_follow_ups(timestamptz), app_hidden.purge_expired_logs(timestamptz),
  app_hidden.fan_out_clinic_upkeep(timestamptz), app_hidden.expire_account_secrets(timestamptz) to app_user;
-- section upkeep end

-- section remind begin
--! split: 1220-appointment-reminders
-- Appointment confirmations and reminders (docs/operations.md, Appointment reminders). A booking
-- queues a confirmation at once and reminders 24 h and 2 h before it starts (those still to come),
-- one graphile-worker job each, keyed `appointments__remind:<clinic>:<appointment>:<window>`.
-- Moving the start replaces them under the same keys (new run_at, new startsAt): the patient is
-- told the new time once and reminded of it, and a reminder whose time has passed for the new
-- start is removed. Leaving `booked` (cancelled, checked in, completed, no-show) removes the
-- waiting ones. Either way the messages for the old start already written but still pending in
-- the outbox are withdrawn (one being delivered or sent stays). The run times are instants (24 h
-- before is 24 real hours, whatever the clinic's clock does meanwhile); the clinic's time zone is
-- the message's, which shows the local time. The task re-checks the appointment when it runs
-- (waiting for a change not yet committed), so a job that outlived its slot (a removal racing a
-- running job, a restore) announces nothing.

-- The reminders before an appointment's start: window name and lead time.
create function app_private.appointment_reminder_windows()
  returns table (reminder_window text, lead interval)
  language sql immutable
  set search_path = pg_catalog, pg_temp
begin atomic
  select w.reminder_window, w.lead from (values ('24h', interval '24 hours'), ('2h', interval '2 hours')) w(reminder_window, lead);
end;

-- Every message of an appointment: the confirmation and the reminders' windows.
create function app_private.appointment_message_windows()
  returns setof text
  language sql immutable
  set search_path = pg_catalog, pg_temp
begin atomic
  select 'confirmation' union all select w.reminder_window from app_private.appointment_reminder_windows() w;
end;

-- The job key of one window of one appointment (the contract's `<task>:<clinicId>:<rowId>:<suffix>`).
create function app_private.appointment_reminder_key(clinic_id uuid, appointment_id uuid, reminder_window text)
  returns text
  language sql immutable
  set search_path = pg_catalog, pg_temp
begin atomic
  select 'appointments__remind:' || clinic_id || ':' || appointment_id || ':' || reminder_window;
end;

-- The outbox dedup key of one window's message for one start: the job key and the start in epoch
-- seconds (a second run of the job writes nothing; a new start is a new message).
create function app_private.appointment_message_dedup_key(clinic_id uuid, appointment_id uuid, reminder_window text, starts_at timestamptz)
  returns text
  language sql immutable
  set search_path = pg_catalog, pg_temp
begin atomic
  select app_private.appointment_reminder_key(clinic_id, appointment_id, reminder_window)
    || ':' || floor(extract(epoch from starts_at))::bigint;
end;

-- Queues one window's job for the appointment as it is now: ids, the window and the start as a
-- UTC instant (the task compares it with the row when it runs; the session's TimeZone must not
-- change its text). add_job stamps the clinic and replaces a waiting job of the same key.
create function app_private.queue_appointment_reminder(appointment app_public.appointments, reminder_window text, run_at timestamptz)
  returns void
  language sql volatile
  set search_path = pg_catalog, pg_temp
begin atomic
  select app_private.add_job(
    appointment.clinic_id,
    'appointments__remind',
    jsonb_build_object(
      'appointmentId', appointment.id,
      'window', reminder_window,
      'startsAt', to_char(appointment.starts_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
    ),
    run_at,
    app_private.appointment_reminder_key(appointment.clinic_id, appointment.id, reminder_window)
  );
end;

-- After a booking, a move of its start, or its leaving `booked`. SECURITY DEFINER: add_job,
-- remove_job and the outbox are the owner's (app roles have no way to them but this). A booking
-- whose start is past (a superuser's restore may insert one) queues nothing. An update withdraws
-- the old start's pending messages: the row's lock (held by this transaction) makes the worker's
-- write_appointment_reminder wait for it, so no message for the old start is written after this.
create function app_private.tg_appointment_reminders()
  returns trigger
  language plpgsql security definer
  set search_path = pg_catalog, pg_temp
as $$
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
$$;

-- After the state machine and the schedule (_300, _310) let the row through, after the audit
-- (_900): the last word on a row that is written.
create trigger _950_reminders after insert on app_public.appointments
  for each row when (new.status = 'booked') execute function app_private.tg_appointment_reminders();
create trigger _951_reminders_moved after update of starts_at, status on app_public.appointments
  for each row when (old.status = 'booked' and (new.status <> 'booked' or new.starts_at <> old.starts_at))
  execute function app_private.tg_appointment_reminders();

-- The worker's half (src/worker/tasks/appointments__remind.ts): one job's message, in the job's
-- tenant transaction. Writes the patient's outbox row (their channel; none when they opted out or
-- have no address) only while the appointment of the context's clinic is still booked, still
-- starts at the start the job was queued for, and has not begun: a patient is never told about a
-- slot they no longer hold. The dedup key names the start, so a second run of the job writes
-- nothing, while a booking moved and then reminded again is told its new time. Returns the outbox
-- row's id, or null when nothing was written. The worker's login only (assert_worker); the clinic
-- is the context's, never an argument: another clinic's appointment id finds nothing.
create function app_hidden.write_appointment_reminder(appointment_id uuid, reminder_window text, starts_at timestamptz)
  returns bigint
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
as $$
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
$$;
grant execute on function app_hidden.write_appointment_reminder(uuid, text, timestamptz) to app_user;
comment on function app_hidden.write_appointment_reminder(uuid, text, timestamptz) is
  'The worker''s appointment confirmation or reminder: one outbox row while the appointment still holds that start, else nothing.';
-- section remind end

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
