-- Enter migration here
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
create trigger _500_deliver after insert on app_private.notification_outbox
  for each row when (new.status = 'pending') execute function app_private.tg_notification_outbox_deliver();

-- One message as delivery needs it: the row, and its clinic's name, sender name, language and time
-- zone. An invitation's row names its clinic by slug in the payload (account mails carry no
-- clinic_id); a password reset has none: English, UTC, no sender name.
create function app_hidden.notification_for_delivery(outbox_id bigint)
  returns table (id bigint, kind text, channel text, recipient text, payload jsonb, clinic_id uuid, status text,
                 clinic_name text, sender_name text, language text, timezone text)
  language plpgsql stable security definer
  set search_path = pg_catalog, pg_temp
as $$
begin
  perform app_private.assert_worker();
  return query
  select o.id, o.kind, o.channel, o.recipient, o.payload, o.clinic_id, o.status,
         c.name, s.notification_sender_name, coalesce(s.language, 'en'), coalesce(c.timezone, 'UTC')
  from app_private.notification_outbox o
  left join app_public.clinics c on c.id = coalesce(o.clinic_id,
    (select i.id from app_public.clinics i where o.kind = 'invitation' and i.slug = o.payload->>'clinic_slug'))
  left join app_public.clinic_settings s on s.clinic_id = c.id
  where o.id = notification_for_delivery.outbox_id;
end;
$$;
grant execute on function app_hidden.notification_for_delivery(bigint) to app_user;

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
grant execute on function app_hidden.notification_appointment(bigint) to app_user;

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
grant execute on function app_hidden.notification_sent(bigint) to app_user;

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
grant execute on function app_hidden.notification_attempt_failed(bigint, text, boolean) to app_user;

-- For operators (psql as app_owner; no application role may call it): a failed or stuck message
-- goes back to pending and is queued again (the same job key: a waiting job is replaced, a failed
-- job's attempts start over). A sent message is never sent again this way.
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
  perform app_private.add_system_job('notification_outbox__deliver', jsonb_build_object('outboxId', resend_notification.outbox_id), null,
    'notification_outbox__deliver:' || resend_notification.outbox_id, 10);
  return true;
end;
$$;

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
