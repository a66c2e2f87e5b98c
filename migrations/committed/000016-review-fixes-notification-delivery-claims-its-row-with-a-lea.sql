--! Previous: sha1:e8fe9125241f47513bead9ef6dc692f97e020ec8
--! Hash: sha1:bc55c12f9d1d79637734ee812daed94960f9a17a
--! Message: Review fixes: notification delivery claims its row with a lease (no transaction across the send); exports carry no credentials and support grants name an account checked as an operator by trigger; export reads without credential tables

-- Enter migration here

-- section fixnotify begin
--! split: 1500-delivery-fixes
-- Notification delivery without a transaction across the send (docs/operations.md, "Notification
-- delivery"). 000014's delivery held the row locked in one transaction from its read to its record,
-- across the SMTP conversation: a slow server kept that transaction idle past
-- idle_in_transaction_session_timeout, the session died after the server had accepted the mail, the
-- record failed and the retry sent it again. Now a delivery claims the row in one short transaction
-- (status 'sending' with a lease, sending_until), sends with no transaction open, within one overall
-- deadline shorter than the lease, and records the outcome in a second short transaction. A claimed
-- row is nobody else's until its lease ends: a second delivery of it does nothing, the reminders'
-- withdrawal (000014, section remind: status 'pending' only) leaves it alone, a resend waits for the
-- lease. A lease that ends without a record (the worker died mid-send) lets the next attempt claim
-- the row again: that attempt may send a second copy (at least once).
alter table app_private.notification_outbox add column sending_until timestamptz;
alter table app_private.notification_outbox drop constraint notification_outbox_status_valid;
alter table app_private.notification_outbox
  add constraint notification_outbox_status_valid check (status in ('pending', 'sending', 'sent', 'failed')),
  add constraint notification_outbox_sending_lease check ((status = 'sending') = (sending_until is not null));
comment on column app_private.notification_outbox.sending_until is 'While status is sending: the end of the delivery''s lease (after it, another attempt may claim the row).';

drop function app_hidden.notification_for_delivery(bigint);

-- Claims one message for a delivery and returns it with its clinic's name, sender name, language and
-- time zone: a pending row, or a row whose sending lease ended, becomes 'sending' until now() +
-- lease_ms (claimed true). A suspended clinic's pending row is not claimed (clinic_suspended: it
-- waits); nor is a row sent, failed, or being sent under a live lease (sending_until: when it may be
-- looked at again). Nothing for a row that is gone. An invitation's row names its clinic by slug in
-- the payload (account mails carry no clinic_id); a password reset has none: English, UTC, no sender
-- name. The caller commits before sending.
create function app_hidden.notification_claim(outbox_id bigint, lease_ms integer)
  returns table (id bigint, kind text, channel text, recipient text, payload jsonb, clinic_id uuid, status text,
                 clinic_name text, sender_name text, language text, timezone text, clinic_suspended boolean,
                 claimed boolean, sending_until timestamptz)
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
as $$
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
$$;
revoke all on function app_hidden.notification_claim(bigint, integer) from public;
grant execute on function app_hidden.notification_claim(bigint, integer) to app_user;
comment on function app_hidden.notification_claim(bigint, integer) is '@behavior -*
The worker only: claims one message for a delivery (sending, under a lease) and returns it with its clinic''s name, sender name, language and time zone; claimed false when it is not the caller''s to send.';

-- The outcomes of one attempt, each ending the claim. A sent row stays sent: a late failure report
-- changes nothing.
create or replace function app_hidden.notification_sent(outbox_id bigint) returns void
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
as $$
begin
  perform app_private.assert_worker();
  update app_private.notification_outbox o
  set status = 'sent', sending_until = null, sent_at = now(), attempts = o.attempts + 1, failed_at = null
  where o.id = notification_sent.outbox_id and o.status <> 'sent';
end;
$$;

-- A failed attempt; `final`: the last one (or a message that can never be sent): the row is failed.
-- Otherwise a claimed row is pending again, for the job's next attempt.
create or replace function app_hidden.notification_attempt_failed(outbox_id bigint, reason text, final boolean) returns void
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
as $$
begin
  perform app_private.assert_worker();
  update app_private.notification_outbox o
  set attempts = o.attempts + 1, last_error = left(notification_attempt_failed.reason, 500),
      status = case when notification_attempt_failed.final then 'failed' when o.status = 'sending' then 'pending' else o.status end,
      sending_until = null,
      failed_at = case when notification_attempt_failed.final then now() else o.failed_at end
  where o.id = notification_attempt_failed.outbox_id and o.status <> 'sent';
end;
$$;

-- For operators (psql as app_owner; no application role may call it): a failed or stuck message
-- (pending without a job, or 'sending' past its lease) goes back to pending and is queued again
-- under its job key (a waiting job is replaced); the failed jobs of the message (graphile-worker
-- drops a job's key when it fails for good) leave the queue. A sent message is never sent again
-- this way, nor one being sent under a live lease (false: try again once it ends).
create or replace function app_private.resend_notification(outbox_id bigint) returns boolean
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
as $$
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
$$;
comment on function app_private.resend_notification(bigint) is 'Operators (psql as app_owner): a failed or stuck message (pending without a job, sending past its lease) back to pending and queued again; false for a sent one or one being sent.';

-- Reactivating a clinic (000014's trigger, re-created): also the deliveries of its messages that the
-- delivery task held back itself, flagged held_for_suspension. A delivery job is a system job (its
-- payload names the outbox row, not the clinic): its clinic is its row's.
create or replace function app_private.tg_clinic_reactivated_resume_jobs() returns trigger
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
as $$
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
$$;
-- section fixnotify end

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
