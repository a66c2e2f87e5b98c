--! split: 0700-visit-rules
-- The queue's rules, held by the database whatever the code does: the states a visit may move
-- through, the check-in of an appointment, a completed consultation completing its appointment,
-- and a notification per change for the live queue displays.

-- The clinic-local date of now: the day of the queue and of tokens. Invoker: app_user reads its
-- own clinic's row.
create function app_public.current_clinic_date()
  returns date
  language sql stable
  set search_path = pg_catalog, pg_temp
begin atomic
  select (now() at time zone c.timezone)::date from app_public.clinics c where c.id = app_public.current_clinic_id();
end;
grant execute on function app_public.current_clinic_date() to app_user;
comment on function app_public.current_clinic_date() is 'Today in the context clinic''s time zone.';

-- Definer functions and triggers below read visits (a patient's queue position counts the others'
-- visits) and read and update appointments (a doctor completing a visit completes its
-- appointment, which the doctor may not update otherwise). Forced RLS holds app_owner too: these
-- policies let it, and each function filters by the clinic itself.
create policy read_by_definer_functions on app_public.visits for select to app_owner
  using (true);
create policy read_by_definer_functions on app_public.appointments for select to app_owner
  using (true);
create policy update_by_definer_functions on app_public.appointments for update to app_owner
  using (true)
  with check (true);

-- The wait estimate reads a doctor's latest completed consultations.
create index visits_doctor_id_completed_at_idx on app_public.visits (clinic_id, doctor_id, completed_at desc)
  where status = 'completed';

-- The state machine (SQLSTATE CBSTA → 409 INVALID_TRANSITION):
--   waiting → called | cancelled | no_show
--   called → in_consultation | waiting (skipped: it waits again, behind the others) | no_show
--   in_consultation → completed
-- An UPDATE that names status asks for a transition: naming the status the visit already has is
-- refused too (completing a completed visit, skipping a waiting one). Each move stamps its time;
-- the stamps are not writable by app_user (no column grant), only by this trigger.
create function app_private.tg_visit_transition()
  returns trigger
  language plpgsql
  set search_path = pg_catalog, pg_temp
as $$
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
$$;

-- Checking in an appointment's patient: the visit takes the appointment's patient and doctor when
-- the client names none, must match them when it names them, and the appointment must be today's
-- (clinic-local) and booked; it becomes checked_in. SECURITY DEFINER: the receptionist may update
-- appointments, but the rule must hold whoever inserts. Another clinic's appointment is not found,
-- exactly like one that does not exist (23503, as the foreign key would say).
create function app_private.tg_visit_check_in_appointment()
  returns trigger
  language plpgsql security definer
  set search_path = pg_catalog, pg_temp
as $$
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
$$;

-- A completed consultation completes its appointment (the doctor who completes it may not update
-- appointments: SECURITY DEFINER, this one change only).
create function app_private.tg_visit_complete_appointment()
  returns trigger
  language plpgsql security definer
  set search_path = pg_catalog, pg_temp
as $$
begin
  update app_public.appointments set status = 'completed'
  where clinic_id = new.clinic_id and id = new.appointment_id and status = 'checked_in';
  return null;
end;
$$;

-- Every change of a visit tells the live queue displays, ids only: any session of the database
-- may LISTEN, so a payload carries no token, status or name. Subscribers re-read the queue under
-- their own tenant context (docs/architecture.md, The queue stream). A visit moved to another
-- doctor is news for both queues. A visit in nobody's queue is on no display.
create function app_private.tg_visit_notify_queue()
  returns trigger
  language plpgsql
  set search_path = pg_catalog, pg_temp
as $$
begin
  if new.doctor_id is not null then
    perform pg_notify('clinicbase_queue', json_build_object('clinicId', new.clinic_id, 'doctorId', new.doctor_id, 'visitId', new.id)::text);
  end if;
  if tg_op = 'UPDATE' and old.doctor_id is not null and old.doctor_id is distinct from new.doctor_id then
    perform pg_notify('clinicbase_queue', json_build_object('clinicId', old.clinic_id, 'doctorId', old.doctor_id, 'visitId', old.id)::text);
  end if;
  return null;
end;
$$;

create trigger _150_status_transition before update of status on app_public.visits
  for each row execute function app_private.tg_visit_transition();
-- Before _200 and _210: the doctor it fills in is then checked like any other.
create trigger _190_check_in_appointment before insert on app_public.visits
  for each row when (new.appointment_id is not null) execute function app_private.tg_visit_check_in_appointment();
create trigger _800_complete_appointment after update of status on app_public.visits
  for each row when (new.status = 'completed' and new.appointment_id is not null)
  execute function app_private.tg_visit_complete_appointment();
create trigger _850_notify_queue after insert or update on app_public.visits
  for each row execute function app_private.tg_visit_notify_queue();

--! split: 0710-queue
-- A doctor's average consultation over their last 20 completed visits (consultation start to
-- completion), in minutes, and how many it is based on; without history, the clinic's
-- appointment slot (15 minutes without settings) and 0. Invoker: staff read every visit.
create function app_public.doctor_wait_estimate(doctor_id uuid)
  returns table (minutes_per_patient numeric, based_on integer)
  language sql stable
  set search_path = pg_catalog, pg_temp
begin atomic
  with recent as (
    select v.completed_at - v.consultation_started_at as took
    from app_public.visits v
    where v.clinic_id = app_public.current_clinic_id() and v.doctor_id = doctor_wait_estimate.doctor_id
      and v.status = 'completed' and v.consultation_started_at is not null
    order by v.completed_at desc
    limit 20
  )
  select coalesce(
           round(avg(extract(epoch from r.took)) / 60, 1),
           (select s.appointment_slot_minutes from app_public.clinic_settings s where s.clinic_id = app_public.current_clinic_id()),
           15),
         count(*)::integer
  from recent r;
end;
grant execute on function app_public.doctor_wait_estimate(uuid) to app_user;
comment on function app_public.doctor_wait_estimate(uuid) is
  'Minutes per patient of a doctor: the average of their last 20 completed consultations, or the clinic''s appointment slot without history; based_on says how many.';

-- A doctor's queue of today, in order: those in consultation, then called, then the waiting ones
-- (emergency, urgent, normal; not skipped before skipped; then token). position counts the
-- waiting ones from 1; the estimated wait is the patients ahead (served or waiting) times the
-- doctor's minutes per patient. Staff only (42501 for others): under a patient's RLS the queue
-- would be their own visit alone, a wrong position; they use visit_queue_position.
create function app_public.doctor_queue(doctor_id uuid)
  returns table (
    visit_id uuid, token_number integer, status text, priority text, skipped boolean, queue_position integer,
    estimated_wait_minutes integer
  )
  language plpgsql stable
  set search_path = pg_catalog, pg_temp
as $$
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
$$;
grant execute on function app_public.doctor_queue(uuid) to app_user;
comment on function app_public.doctor_queue(uuid) is
  'A doctor''s queue of today in order, with the waiting visits'' positions and estimated waits (staff only).';

-- One visit's place in its doctor's queue, for whoever may read the visit: a patient their own
-- (a SECURITY DEFINER count of the others' visits, which reveals nothing about them but how many
-- are ahead), staff any. No row when the visit is not waiting today or not the caller's.
create function app_public.visit_queue_position(visit_id uuid)
  returns table (queue_position integer, estimated_wait_minutes integer)
  language plpgsql stable security definer
  set search_path = pg_catalog, pg_temp
as $$
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
$$;
grant execute on function app_public.visit_queue_position(uuid) to app_user;
comment on function app_public.visit_queue_position(uuid) is
  'The queue position and estimated wait of a waiting visit of today: a patient''s own, or any for staff.';

-- Calls the first waiting visit of a doctor's queue of today (the queue's order) and returns it;
-- nothing when the queue is empty. FOR UPDATE SKIP LOCKED: two clicks or two desks calling at
-- once lock different visits, never the same one. Invoker: RLS and the update policy decide as
-- for any update; a doctor calls only their own queue (42501), receptionists and admins any.
create function app_public.call_next_visit(doctor_id uuid)
  returns setof app_public.visits
  language plpgsql volatile
  set search_path = pg_catalog, pg_temp
as $$
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
$$;
grant execute on function app_public.call_next_visit(uuid) to app_user;
comment on function app_public.call_next_visit(uuid) is
  'Calls the next waiting visit of a doctor''s queue of today and returns it (none when the queue is empty).';
