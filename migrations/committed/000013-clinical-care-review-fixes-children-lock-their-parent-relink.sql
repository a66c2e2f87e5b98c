--! Previous: sha1:92039eae6e239923a39b72c4938f24148522ef0d
--! Hash: sha1:c5bafa18621670c624c6325d4b6a33adba4691f2
--! Message: Clinical care review fixes: children lock their parent, relinking a follow-up after a cancelled appointment, a reason only with cancellation, range constraints named by their low bound

-- Review fixes to 000012 (clinical care), forward: the child locks read their parent FOR SHARE,
-- a follow-up whose appointment fell through can be booked again, and a prescription's
-- cancellation reason belongs to a cancelled prescription only. Idempotent (create or replace,
-- drop … if exists before add).

--! split: 0110-consultation-rules
-- A child of a consultation (vital signs, diagnoses, addenda): its patient is the consultation's
-- (never the client's), and under a signed consultation nothing is added, changed or deleted.
-- The argument is the rule's name; for addenda the other way round: only under a signed one.
-- The parent is read FOR SHARE: a sign (an update of the consultation) waits for a child write in
-- flight to commit, and a child write waits for a sign in flight and then sees it signed; without
-- the lock a vital inserted while the author signs could commit under the signed consultation.
create or replace function app_private.tg_consultation_child()
  returns trigger
  language plpgsql security definer
  set search_path = pg_catalog, pg_temp
as $$
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
$$;

--! split: 0210-prescription-rules
-- The cancellation reason is a cancelled prescription's, and only its (as appointments'). No
-- existing row can violate it: the state machine set a reason only on the move to cancelled.
alter table app_public.prescriptions drop constraint if exists prescriptions_cancellation_reason_valid;
alter table app_public.prescriptions add constraint prescriptions_cancellation_reason_valid
  check ((status = 'cancelled') = (cancellation_reason is not null));

create or replace function app_private.tg_prescription_transition()
  returns trigger
  language plpgsql
  set search_path = pg_catalog, pg_temp
as $$
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
$$;
comment on function app_private.tg_prescription_transition() is
  'The prescriptions'' state machine and lock: draft → issued → completed | cancelled, draft → cancelled; locked once issued; a reason only with a cancellation.';

--! split: 0310-lab-rules
-- tg_test_result_lock (a definer, app_owner) reads the report FOR SHARE; under forced RLS a row lock
-- needs an UPDATE policy's USING. This one lets the definer functions lock a report, never change
-- one (WITH CHECK false: an update as app_owner is refused; the patient merge re-files reports by
-- the cascade of test_requests, which RLS does not filter).
drop policy if exists lock_by_definer_functions on app_public.test_reports;
create policy lock_by_definer_functions on app_public.test_reports for update to app_owner
  using (true)
  with check (false);

-- Results follow their report: written only while it is a draft, never after (CBLCK). The report
-- is read FOR SHARE, so a release (an update of the report) and a result write in flight are
-- ordered: one waits for the other, and a write after a release sees it released.
create or replace function app_private.tg_test_result_lock()
  returns trigger
  language plpgsql security definer
  set search_path = pg_catalog, pg_temp
as $$
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
$$;

-- Range checks name the field they bound (errors[].path body.referenceLow / body.criticalLow,
-- src/errors.ts strips <table>_ and the rule suffix): the low bound is the one a client fixes.
do $$
begin
  if exists (select from pg_constraint where conname = 'test_results_reference_range_valid' and conrelid = 'app_public.test_results'::regclass) then
    alter table app_public.test_results rename constraint test_results_reference_range_valid to test_results_reference_low_valid;
  end if;
  if exists (select from pg_constraint where conname = 'test_results_critical_range_valid' and conrelid = 'app_public.test_results'::regclass) then
    alter table app_public.test_results rename constraint test_results_critical_range_valid to test_results_critical_low_valid;
  end if;
end;
$$;

--! split: 0410-follow-up-rules
-- A follow-up is booked once; when its appointment falls through (cancelled, no-show) it can be
-- booked again: the link moves to the new appointment. Every other "no" stays false (400).
create or replace function app_public.link_follow_up_appointment(follow_up_id uuid, appointment_id uuid)
  returns boolean
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
as $$
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
$$;
revoke all on function app_public.link_follow_up_appointment(uuid, uuid) from public;
grant execute on function app_public.link_follow_up_appointment(uuid, uuid) to app_user;
comment on function app_public.link_follow_up_appointment(uuid, uuid) is
  E'@behavior -*\nLinks a pending follow-up to the booked appointment of the same patient (again when its appointment was cancelled or a no-show); false when there is no such follow-up the caller may link.';
