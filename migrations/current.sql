-- Enter migration here

-- section remind begin
--! split: 1220-appointment-reminders
-- Appointment confirmations and reminders (docs/operations.md, Appointment reminders). A booking
-- queues a confirmation at once and reminders 24 h and 2 h before it starts (those still to come),
-- one graphile-worker job each, keyed `appointments__remind:<clinic>:<appointment>:<window>`.
-- Moving the start replaces them under the same keys (new run_at, new startsAt): the patient is
-- told the new time once and reminded of it, and a reminder whose time has passed for the new start
-- is removed. Leaving `booked` (cancelled, checked in, completed, no-show) removes the waiting ones. The run
-- times are instants (24 h before is 24 real hours, whatever the clinic's clock does meanwhile);
-- the clinic's time zone is the message's, which shows the local time. The task re-checks the
-- appointment when it runs, so a job that outlived its slot (a removal racing a running job, a
-- restore) announces nothing.

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
