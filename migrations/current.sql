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

-- section remind begin
--! split: 1220-appointment-reminders
-- Appointment confirmations and reminders (docs/operations.md, Appointment reminders). A booking
-- queues a confirmation at once and reminders 24 h and 2 h before it starts (those still to come),
-- one graphile-worker job each, keyed `appointments__remind:<clinic>:<appointment>:<window>`.
-- Moving the start replaces them under the same keys (new run_at, new startsAt): the patient is
-- told the new time once and reminded of it, and a reminder whose time has passed for the new
-- start is removed. Leaving `booked` (cancelled, checked in, completed, no-show) removes the
-- waiting ones. The run times are instants (24 h before is 24 real hours, whatever the clinic's
-- clock does meanwhile); the clinic's time zone is the message's, which shows the local time. The
-- task re-checks the appointment when it runs, so a job that outlived its slot (a removal racing a
-- running job, a restore) announces nothing.

-- The reminders before an appointment's start: window name and lead time.
create function app_private.appointment_reminder_windows()
  returns table (reminder_window text, lead interval)
  language sql immutable
  set search_path = pg_catalog, pg_temp
begin atomic
  select w.reminder_window, w.lead from (values ('24h', interval '24 hours'), ('2h', interval '2 hours')) w(reminder_window, lead);
end;

-- The job key of one window of one appointment (the contract's `<task>:<clinicId>:<rowId>:<suffix>`).
create function app_private.appointment_reminder_key(clinic_id uuid, appointment_id uuid, reminder_window text)
  returns text
  language sql immutable
  set search_path = pg_catalog, pg_temp
begin atomic
  select 'appointments__remind:' || clinic_id || ':' || appointment_id || ':' || reminder_window;
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

-- After a booking, a move of its start, or its leaving `booked`. SECURITY DEFINER: add_job and
-- remove_job are the owner's (app roles have no way to the queue but this). A booking whose start
-- is past (a superuser's restore may insert one) queues nothing.
create function app_private.tg_appointment_reminders()
  returns trigger
  language plpgsql security definer
  set search_path = pg_catalog, pg_temp
as $$
declare
  w record;
begin
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
    perform app_private.remove_job(app_private.appointment_reminder_key(new.clinic_id, new.id, k.reminder_window))
    from (select 'confirmation' as reminder_window union all select r.reminder_window from app_private.appointment_reminder_windows() r) k;
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
  select a.patient_id into patient from app_public.appointments a
  where a.clinic_id = clinic and a.id = write_appointment_reminder.appointment_id
    and a.status = 'booked' and a.starts_at = write_appointment_reminder.starts_at and a.starts_at > now();
  if patient is null then
    return null;
  end if;
  return app_private.notify_patient(
    clinic,
    patient,
    case reminder_window when 'confirmation' then 'appointment_confirmation' else 'appointment_reminder' end,
    jsonb_build_object('appointmentId', write_appointment_reminder.appointment_id, 'clinicId', clinic, 'window', reminder_window),
    app_private.appointment_reminder_key(clinic, write_appointment_reminder.appointment_id, reminder_window)
      || ':' || floor(extract(epoch from write_appointment_reminder.starts_at))::bigint
  );
end;
$$;
grant execute on function app_hidden.write_appointment_reminder(uuid, text, timestamptz) to app_user;
comment on function app_hidden.write_appointment_reminder(uuid, text, timestamptz) is
  'The worker''s appointment confirmation or reminder: one outbox row while the appointment still holds that start, else nothing.';
-- section remind end
