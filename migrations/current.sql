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

-- section notify begin
-- Notification delivery (issue 12, point 3; docs/operations.md "Notification delivery"). Every
-- outbox row written as 'pending' queues one delivery job, keyed by the row, in the transaction
-- that wrote it: a rolled-back write queues nothing. The worker reads, renders and sends through
-- the worker-only functions below (SECURITY DEFINER, `assert_worker()` first: requests log in as
-- app_authenticator and cannot call them even as app_user).

-- A clinic's name in the From of its mail and in front of its SMS (unset: the clinic's name), and
-- the language of its messages (templates exist for these two).
alter table app_public.clinic_settings
  add column notification_sender_name text
    constraint clinic_settings_notification_sender_name_length check (char_length(notification_sender_name) between 1 and 64)
    constraint clinic_settings_notification_sender_name_check check (notification_sender_name !~ '[\x01-\x1f\x7f]'),
  add column language text not null default 'en'
    constraint clinic_settings_language_valid check (language in ('en', 'es'));
grant update (notification_sender_name, language) on app_public.clinic_settings to app_user;
comment on column app_public.clinic_settings.notification_sender_name is 'The name messages to patients and staff come from (the From display name, the prefix of an SMS); unset: the clinic''s name.';
comment on column app_public.clinic_settings.language is 'The language of the clinic''s messages: en or es.';

create function app_private.tg_notification_outbox_deliver()
  returns trigger
  language plpgsql security definer
  set search_path = pg_catalog, pg_temp
as $$
begin
  perform app_private.add_system_job('notification_outbox__deliver', jsonb_build_object('outboxId', new.id), null,
    'notification_outbox__deliver:' || new.id, 10);
  return null;
end;
$$;
revoke all on function app_private.tg_notification_outbox_deliver() from public;
create trigger _500_deliver after insert on app_private.notification_outbox
  for each row when (new.status = 'pending') execute function app_private.tg_notification_outbox_deliver();

-- One message as delivery needs it: the row, and its clinic's name, sender name, language and time
-- zone, and whether the clinic it belongs to is suspended (its messages wait). An invitation's row
-- names its clinic by slug in the payload (account mails carry no clinic_id); a password reset has
-- none: English, UTC, no sender name.
create function app_hidden.notification_for_delivery(outbox_id bigint)
  returns table (id bigint, kind text, channel text, recipient text, payload jsonb, clinic_id uuid, status text,
                 clinic_name text, sender_name text, language text, timezone text, clinic_suspended boolean)
  language plpgsql stable security definer
  set search_path = pg_catalog, pg_temp
as $$
begin
  perform app_private.assert_worker();
  return query
  select o.id, o.kind, o.channel, o.recipient, o.payload, o.clinic_id, o.status,
         c.name, s.notification_sender_name, coalesce(s.language, 'en'), coalesce(c.timezone, 'UTC'),
         o.clinic_id is not null and c.status = 'suspended'
  from app_private.notification_outbox o
  left join app_public.clinics c on c.id = coalesce(o.clinic_id,
    (select i.id from app_public.clinics i where o.kind = 'invitation' and i.slug = o.payload->>'clinic_slug'))
  left join app_public.clinic_settings s on s.clinic_id = c.id
  where o.id = notification_for_delivery.outbox_id;
end;
$$;
revoke all on function app_hidden.notification_for_delivery(bigint) from public;
grant execute on function app_hidden.notification_for_delivery(bigint) to app_user;
comment on function app_hidden.notification_for_delivery(bigint) is '@behavior -*
The worker only: one outbox row with its clinic''s name, sender name, language and time zone.';

-- The appointment a confirmation or reminder tells: looked up in the message's own clinic only, so
-- an id of another clinic in a payload finds nothing.
create function app_hidden.notification_appointment(outbox_id bigint)
  returns table (starts_at timestamptz, doctor_name text, status text)
  language plpgsql stable security definer
  set search_path = pg_catalog, pg_temp
as $$
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
$$;
revoke all on function app_hidden.notification_appointment(bigint) from public;
grant execute on function app_hidden.notification_appointment(bigint) to app_user;
comment on function app_hidden.notification_appointment(bigint) is '@behavior -*
The worker only: the appointment a message tells, looked up in the message''s clinic.';

-- The outcomes of one attempt. A sent row stays sent: a late failure report changes nothing.
create function app_hidden.notification_sent(outbox_id bigint) returns void
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
as $$
begin
  perform app_private.assert_worker();
  update app_private.notification_outbox o
  set status = 'sent', sent_at = now(), attempts = o.attempts + 1, failed_at = null
  where o.id = notification_sent.outbox_id and o.status <> 'sent';
end;
$$;
revoke all on function app_hidden.notification_sent(bigint) from public;
grant execute on function app_hidden.notification_sent(bigint) to app_user;
comment on function app_hidden.notification_sent(bigint) is '@behavior -*
The worker only: the message was handed over.';

-- A failed attempt; `final`: the last one (or a message that can never be sent): the row is failed.
create function app_hidden.notification_attempt_failed(outbox_id bigint, reason text, final boolean) returns void
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
as $$
begin
  perform app_private.assert_worker();
  update app_private.notification_outbox o
  set attempts = o.attempts + 1, last_error = left(notification_attempt_failed.reason, 500),
      status = case when notification_attempt_failed.final then 'failed' else o.status end,
      failed_at = case when notification_attempt_failed.final then now() else o.failed_at end
  where o.id = notification_attempt_failed.outbox_id and o.status <> 'sent';
end;
$$;
revoke all on function app_hidden.notification_attempt_failed(bigint, text, boolean) from public;
grant execute on function app_hidden.notification_attempt_failed(bigint, text, boolean) to app_user;
comment on function app_hidden.notification_attempt_failed(bigint, text, boolean) is '@behavior -*
The worker only: one failed attempt and its reason; final: the message is failed.';

-- For operators (psql as app_owner; no application role may call it): a failed or stuck message
-- goes back to pending and is queued again under its job key (a waiting job is replaced); the
-- failed jobs of the message (graphile-worker drops a job's key when it fails for good) leave the
-- queue. A sent message is never sent again this way.
create function app_private.resend_notification(outbox_id bigint) returns boolean
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
as $$
begin
  update app_private.notification_outbox o set status = 'pending', failed_at = null
  where o.id = resend_notification.outbox_id and o.status <> 'sent';
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
$$;
revoke all on function app_private.resend_notification(bigint) from public;
comment on function app_private.resend_notification(bigint) is 'Operators (psql as app_owner): a failed or stuck message back to pending and queued again; false for a sent one, never sent twice.';

-- Releasing a report (000012's trigger, re-created): the doctor's message stays an e-mail to their
-- login; the patient's goes through notify_patient, on their channel or not at all (opted out, no
-- address). Each keyed by the report, so it is written once.
create or replace function app_private.tg_test_report_released()
  returns trigger
  language plpgsql security definer
  set search_path = pg_catalog, pg_temp
as $$
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
$$;
-- section notify end
