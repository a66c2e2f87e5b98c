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

-- Reactivating a clinic runs its waiting jobs now instead of at their next retry.
create function app_private.tg_clinic_reactivated_resume_jobs() returns trigger
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
as $$
begin
  perform graphile_worker.reschedule_jobs(
    -- graphile-worker's jobs view leaves payloads out; its table has them.
    array(select j.id from graphile_worker._private_jobs j
          where j.payload->>'clinicId' = new.id::text and j.locked_at is null and j.run_at > now()),
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
-- patient opted out or has no address. Returns the outbox row's id, or null when nothing was
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
  where p.clinic_id = notify_patient.clinic_id and p.id = notify_patient.patient_id;
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
comment on function app_private.notify_patient(uuid, uuid, text, jsonb, text) is 'Writes one outbox message to a patient on their contact channel (or the other when it has no address); none when opted out, without address, or already written under dedup_key. Returns the row id or null.';
-- section core end
