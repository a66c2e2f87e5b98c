--! Previous: sha1:c28b89e24ebebe2b97a4549a729c977208c45747
--! Hash: sha1:4d4c04c2ba978219876583dea03ebef1e4c3ee6b
--! Message: appointment rules, visit rules and the queue

--! split: 0700-appointment-rules
-- Appointments keep to the doctor's schedule and to their state machine, whoever writes them: the
-- API, a script, a portal patient with a crafted request. The schedule is computed in one place
-- (app_private.doctor_schedule) for the availability the API shows and for the trigger that
-- refuses a booking outside it, so what is offered is exactly what can be booked.

-- The scheduling functions below read time off and appointments as app_owner (SECURITY DEFINER),
-- filtering by the clinic themselves: a patient sees free slots without seeing anyone's bookings
-- or leave.
create policy read_by_definer_functions on app_public.doctor_time_off for select to app_owner
  using (true);
create policy read_by_definer_functions on app_public.appointments for select to app_owner
  using (true);

-- A cancelled appointment says why; a reason belongs to cancelled appointments only.
alter table app_public.appointments add constraint appointments_cancellation_reason_valid
  check ((status = 'cancelled') = (cancellation_reason is not null));

-- The [opens, closes) ranges of one weekday ('mon' … 'sun') of a weekly-hours object
-- ({"mon": [["09:00", "13:00"]]}: clinics.operating_hours, clinic_members.office_hours). Entries
-- that are not two HH:MM times, opening before closing, are ignored rather than failing every
-- booking of the clinic: the API validates what it writes, this reads what is there.
create function app_private.weekday_ranges(hours jsonb, weekday text)
  returns table (opens time, closes time)
  language sql immutable
  set search_path = pg_catalog, pg_temp
begin atomic
  select (r.value ->> 0)::time, (r.value ->> 1)::time
  from jsonb_array_elements(case when jsonb_typeof(hours -> weekday) = 'array' then hours -> weekday else '[]'::jsonb end) r
  where jsonb_typeof(r.value) = 'array'
    and (r.value ->> 0) ~ '^([01][0-9]|2[0-3]):[0-5][0-9]$'
    and (r.value ->> 1) ~ '^([01][0-9]|2[0-3]):[0-5][0-9]$'
    and (r.value ->> 0) < (r.value ->> 1);
end;

-- A doctor's bookable slots from one clinic-local date to another, before appointments: the
-- doctor's office hours ∩ the clinic's operating hours of each weekday (an empty operating_hours,
-- a clinic that has set none, restricts nothing; a weekday missing from a non-empty one is closed),
-- cut into appointment_slot_minutes from the start of each range, minus the doctor's time off.
-- Nothing for a member who is not an active doctor. Slots are walked on the clinic's wall clock
-- and converted with AT TIME ZONE: a local time that does not exist (the hour skipped when
-- daylight-saving time starts) does not survive the round trip and yields no slot; a local time
-- that happens twice (the hour repeated when it ends) is one slot, at its second (standard-time)
-- occurrence, as Postgres resolves it. A slot lasts appointment_slot_minutes of real time.
-- Owner-only: callers name the clinic (the trigger: the row's; doctor_free_slots: the context's).
create function app_private.doctor_schedule(clinic_id uuid, doctor_id uuid, from_date date, to_date date)
  returns table (starts_at timestamptz, ends_at timestamptz)
  language sql stable security definer
  set search_path = pg_catalog, pg_temp
begin atomic
  with clinic as (
    select c.timezone, make_interval(mins => coalesce(s.appointment_slot_minutes, 15)) as slot, coalesce(s.operating_hours, '{}'::jsonb) as operating
    from app_public.clinics c left join app_public.clinic_settings s on s.clinic_id = c.id
    where c.id = doctor_schedule.clinic_id
  ),
  doctor as (
    select m.office_hours from app_public.clinic_members m
    where m.clinic_id = doctor_schedule.clinic_id and m.id = doctor_schedule.doctor_id and m.role = 'doctor' and m.status = 'active'
  ),
  days as (
    select d::date as day, (array['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'])[extract(dow from d)::int + 1] as weekday
    from generate_series(doctor_schedule.from_date::timestamp, doctor_schedule.to_date::timestamp, interval '1 day') d
  ),
  ranges as (
    select days.day, greatest(o.opens, p.opens) as opens, least(o.closes, p.closes) as closes
    from days cross join doctor cross join clinic
    cross join lateral app_private.weekday_ranges(doctor.office_hours, days.weekday) o
    cross join lateral (
      select w.opens, w.closes from app_private.weekday_ranges(clinic.operating, days.weekday) w
      union all
      select time '00:00', time '23:59:59.999999' where clinic.operating = '{}'::jsonb
    ) p
  ),
  local_slots as (
    select distinct s.local_start
    from ranges r cross join clinic
    cross join lateral generate_series(r.day + r.opens, r.day + r.closes - clinic.slot, clinic.slot) s(local_start)
    where r.opens < r.closes
  ),
  slots as (
    select s.local_start at time zone clinic.timezone as starts_at, (s.local_start at time zone clinic.timezone) + clinic.slot as ends_at
    from local_slots s cross join clinic
    where (s.local_start at time zone clinic.timezone) at time zone clinic.timezone = s.local_start
  )
  select slots.starts_at, slots.ends_at from slots
  where not exists (
    select from app_public.doctor_time_off t
    where t.clinic_id = doctor_schedule.clinic_id and t.doctor_id = doctor_schedule.doctor_id
      and tstzrange(t.starts_at, t.ends_at) && tstzrange(slots.starts_at, slots.ends_at)
  )
  order by slots.starts_at;
end;

-- The free slots of a doctor of the context clinic, in the future, between two clinic-local dates
-- (at most 31 days): the schedule minus booked and checked-in appointments. SECURITY DEFINER so
-- that a patient sees when a doctor is free without reading others' appointments; the clinic is
-- the context's, never an argument, and a caller without one is refused.
create function app_public.doctor_free_slots(doctor_id uuid, from_date date, to_date date)
  returns table (starts_at timestamptz, ends_at timestamptz)
  language plpgsql stable security definer
  set search_path = pg_catalog, pg_temp
as $$
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
$$;
grant execute on function app_public.doctor_free_slots(uuid, date, date) to app_user;
comment on function app_public.doctor_free_slots(uuid, date, date) is
  'The future free slots of a doctor of the context clinic between two clinic-local dates (at most 31 days).';

-- A booking, or a change of its doctor or times, must be exactly one slot of the doctor's schedule
-- (office hours ∩ operating hours, on the slot grid, outside time off), in the future, with an
-- active doctor. Whether another appointment holds the slot is the exclusion constraint's to say
-- (race-free, 23P01 → SLOT_TAKEN); this refuses what no free slot could be (CBSLT →
-- SLOT_UNAVAILABLE). Only bookings are checked: a row written as completed or cancelled (a data
-- import) books no time, and app roles insert nothing but `booked`.
create function app_private.tg_appointment_in_schedule()
  returns trigger
  language plpgsql security definer
  set search_path = pg_catalog, pg_temp
as $$
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
$$;

-- The state machine: booked → checked_in | completed | cancelled | no_show; checked_in →
-- completed | no_show; the others are final. The doctor and times change only while booked
-- (CBSTA → INVALID_TRANSITION). A portal patient (RLS lets them touch only their own booked
-- appointments, leaving them booked or cancelled) changes nothing but the times and the
-- cancellation, and only of an appointment still to come: a policy cannot compare the old row
-- with the new one, so this does (42501).
create function app_private.tg_appointment_transition()
  returns trigger
  language plpgsql
  set search_path = pg_catalog, pg_temp
as $$
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
$$;

create trigger _300_transition before update on app_public.appointments
  for each row execute function app_private.tg_appointment_transition();
create trigger _310_in_schedule before insert or update on app_public.appointments
  for each row execute function app_private.tg_appointment_in_schedule();

--! split: 0720-visit-rules
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
-- visits) and read (policy above) and update appointments (a doctor completing a visit completes its
-- appointment, which the doctor may not update otherwise). Forced RLS holds app_owner too: these
-- policies let it, and each function filters by the clinic itself.
create policy read_by_definer_functions on app_public.visits for select to app_owner
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

--! split: 0730-queue
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
