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
