--! Previous: sha1:18f0a6071f74143755f489884a9acaee7eecea07
--! Hash: sha1:c28b89e24ebebe2b97a4549a729c977208c45747
--! Message: front desk tables: patients, history, access log, time off, appointments, visits, files

--! split: 0600-extensions
-- Trigram search on patient names (pg_trgm), uuid and scalar columns in GiST and GIN indexes
-- (btree_gist for the appointments' exclusion constraint, btree_gin for the name index that leads
-- with clinic_id). All three are trusted extensions: app_owner creates them with its CREATE on the
-- database (db:setup grants it), no superuser needed, on Postgres 15 as on 18.
create extension if not exists pg_trgm with schema public;
create extension if not exists btree_gist with schema public;
create extension if not exists btree_gin with schema public;

--! split: 0610-current-member
-- Who the caller is inside the clinic: their membership, active and in the role the context
-- claims (a stale role finds none), or NULL without a clinic or user. SECURITY DEFINER so that it
-- answers the same whatever rows of clinic_members the caller's role may see.
create function app_public.current_member_id()
  returns uuid
  language sql stable security definer
  set search_path = pg_catalog, pg_temp
begin atomic
  select m.id from app_public.clinic_members m
  where m.clinic_id = app_public.current_clinic_id() and m.account_id = app_public.current_user_id()
    and m.status = 'active' and m.role = app_public.current_app_role();
end;
grant execute on function app_public.current_member_id() to app_user;
comment on function app_public.current_member_id() is 'The caller''s active membership in the context clinic, in the context role; NULL when there is none.';

--! split: 0620-clinic-counters
-- Per-clinic numbering without gaps or duplicates: patient numbers per year, visit tokens per day
-- (later invoice numbers). A global sequence would leave gaps on every rollback and share numbers
-- across clinics; a counter row is incremented by the inserting transaction and stays locked until
-- it ends, so concurrent registrations queue behind it and a rollback gives its number back. No
-- grants: only SECURITY DEFINER triggers (app_owner) reach it.
create table app_private.clinic_counters (
  clinic_id uuid not null references app_public.clinics (id),
  counter text not null constraint clinic_counters_counter_format check (counter ~ '^[a-z][a-z_]{0,31}$'),
  -- The numbering period in the clinic's time zone: '2025' for patient numbers, '2025-03-31' for tokens.
  period text not null constraint clinic_counters_period_length check (char_length(period) between 1 and 32),
  last_value integer not null constraint clinic_counters_last_value_valid check (last_value > 0),
  primary key (clinic_id, counter, period)
);
comment on table app_private.clinic_counters is 'The last number handed out per clinic, counter and period (gap-free numbering).';

-- The next number of a clinic's counter. INSERT … ON CONFLICT DO UPDATE locks the row until the
-- calling transaction ends: a concurrent caller waits and then reads the committed value (READ
-- COMMITTED), a rolled-back caller's increment disappears with it. The clinic is explicit (the
-- triggers pass the row's own clinic_id); owner-only, so no app role can advance another clinic's
-- counter.
create function app_private.next_clinic_number(clinic_id uuid, counter text, period text)
  returns integer
  language sql volatile
  set search_path = pg_catalog, pg_temp
begin atomic
  insert into app_private.clinic_counters as c (clinic_id, counter, period, last_value)
  values (next_clinic_number.clinic_id, next_clinic_number.counter, next_clinic_number.period, 1)
  on conflict (clinic_id, counter, period) do update set last_value = c.last_value + 1
  returning c.last_value;
end;

-- Now on the clinic's wall clock: years and days of patient numbers and tokens are the clinic's,
-- not the server's (a clinic at UTC+14 starts its day ten hours before Greenwich).
create function app_private.clinic_local_now(clinic_id uuid)
  returns timestamp
  language sql stable
  set search_path = pg_catalog, pg_temp
begin atomic
  select now() at time zone c.timezone from app_public.clinics c where c.id = clinic_local_now.clinic_id;
end;

-- A reference to clinic_members that must hold a given role (a patient record's portal login, a
-- doctor's time off, appointments and queue). Arguments: the column, the role. A check violation
-- named <table>_<column>_valid, so the API names the field. SECURITY DEFINER: a patient booking
-- a doctor must not need to read every membership.
create function app_private.tg_require_member_role()
  returns trigger
  language plpgsql security definer
  set search_path = pg_catalog, pg_temp
as $$
declare
  column_name text := tg_argv[0];
  required_role text := tg_argv[1];
  member uuid := (pg_catalog.to_jsonb(new) ->> column_name)::uuid;
begin
  if member is not null and not exists (
    select from app_public.clinic_members m where m.clinic_id = new.clinic_id and m.id = member and m.role = required_role
  ) then
    raise exception '% must be a % membership', column_name, required_role
      using errcode = '23514', table = tg_table_name, column = column_name,
            constraint = tg_table_name || '_' || column_name || '_valid';
  end if;
  return new;
end;
$$;

--! split: 0630-patients
-- The patient registry. Registration data only: clinical history lives in patient_history, so a
-- receptionist who registers patients reads no allergies or medication. Clinic admins and
-- receptionists register and edit; every clinical role reads; a patient reads their own record
-- (through their portal membership, member_id); lab technicians read nothing yet (issue 11: the
-- patients of their open test requests). Never deleted: archiving is a status, merging points
-- the merged record at its survivor. Identification numbers arrive encrypted by the application
-- (ciphertext) with a keyed hash for exact look-up: the database never sees them in clear.
create table app_public.patients (
  clinic_id uuid not null default app_public.current_clinic_id() references app_public.clinics (id),
  id uuid not null default gen_random_uuid(),
  -- Set by the trigger _200_set_patient_number; no client writes it.
  patient_number text not null constraint patients_patient_number_format check (patient_number ~ '^PT-[0-9]{4}-[0-9]{5,}$'),
  full_name text not null constraint patients_full_name_length check (char_length(full_name) between 1 and 200),
  -- Not after today anywhere on earth (UTC+14): a clinic's today is never refused.
  date_of_birth date not null
    constraint patients_date_of_birth_valid check (date_of_birth between '1900-01-01' and (now() at time zone 'Etc/GMT-14')::date),
  sex text not null constraint patients_sex_valid check (sex in ('female', 'male', 'other', 'unknown')),
  phone text constraint patients_phone_format check (phone ~ '^\+?[0-9][0-9 ()-]{4,31}$'),
  -- Digits only, a leading + kept: what phone search compares.
  phone_normalised text generated always as (
    case when phone like '+%' then '+' else '' end || regexp_replace(phone, '[^0-9]', '', 'g')
  ) stored,
  email text constraint patients_email_format check (char_length(email) <= 254 and email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'),
  address text constraint patients_address_length check (char_length(address) between 1 and 500),
  emergency_contact_name text
    constraint patients_emergency_contact_name_length check (char_length(emergency_contact_name) between 1 and 200),
  emergency_contact_phone text constraint patients_emergency_contact_phone_format check (emergency_contact_phone ~ '^\+?[0-9][0-9 ()-]{4,31}$'),
  blood_group text constraint patients_blood_group_valid check (blood_group in ('A+', 'A-', 'B+', 'B-', 'AB+', 'AB-', 'O+', 'O-')),
  identification_type text
    constraint patients_identification_type_valid check (identification_type in ('national_id', 'passport', 'driving_licence', 'other')),
  -- The shapes src/crypto/field-encryption.ts writes, so a number in clear is refused: the ciphertext
  -- v1.<keyId>.<iv>.<sealed> (base64url), the look-up hash <keyId>:<hex HMAC-SHA256>.
  identification_number_ciphertext text constraint patients_identification_number_ciphertext_format check (
    char_length(identification_number_ciphertext) <= 1024
    and identification_number_ciphertext ~ '^v1\.[a-z0-9-]{1,32}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$'
  ),
  identification_number_hmac text
    constraint patients_identification_number_hmac_format check (identification_number_hmac ~ '^[a-z0-9-]{1,32}:[0-9a-f]{64}$'),
  status text not null default 'registered'
    constraint patients_status_valid check (status in ('registered', 'in_treatment', 'discharged', 'deceased', 'archived')),
  merged_into_id uuid,
  member_id uuid,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (clinic_id, id),
  constraint patients_patient_number_key unique (clinic_id, patient_number),
  constraint patients_member_id_key unique (clinic_id, member_id),
  -- An identification number comes as a whole: its type, its ciphertext and its hash, or none.
  constraint patients_identification_number_valid check (
    (identification_number_ciphertext is null) = (identification_number_hmac is null)
    and (identification_number_ciphertext is null or identification_type is not null)
  ),
  constraint patients_merged_into_id_valid check (merged_into_id <> id),
  constraint patients_merged_into_id_fkey foreign key (clinic_id, merged_into_id) references app_public.patients (clinic_id, id),
  -- Deleting the portal membership unlinks the record; the record stays.
  constraint patients_member_id_fkey foreign key (clinic_id, member_id)
    references app_public.clinic_members (clinic_id, id) on delete set null (member_id)
);
alter table app_public.patients enable row level security;
alter table app_public.patients force row level security;

create index patients_phone_normalised_idx on app_public.patients (clinic_id, phone_normalised);
create index patients_date_of_birth_idx on app_public.patients (clinic_id, date_of_birth);
create index patients_identification_number_hmac_idx on app_public.patients (clinic_id, identification_number_hmac);
create index patients_full_name_trgm_idx on app_public.patients using gin (clinic_id, full_name public.gin_trgm_ops);

-- The patient record of the caller's patient membership (the portal), NULL for everyone else.
-- SECURITY DEFINER: it must find the record whatever the caller may read (the read policy below
-- depends on it).
create function app_public.current_patient_id()
  returns uuid
  language sql stable security definer
  set search_path = pg_catalog, pg_temp
begin atomic
  select p.id from app_public.patients p
  where p.clinic_id = app_public.current_clinic_id() and p.member_id = app_public.current_member_id()
    and app_public.current_role_is('patient');
end;
grant execute on function app_public.current_patient_id() to app_user;
comment on function app_public.current_patient_id() is 'The patient record linked to the caller''s patient membership in the context clinic; NULL otherwise.';

create policy tenant_isolation on app_public.patients as restrictive to app_user
  using (clinic_id = (select app_public.current_clinic_id()))
  with check (clinic_id = (select app_public.current_clinic_id()));
-- current_patient_id() and the plan quota (tg_enforce_plan_quota counts rows) read as app_owner.
create policy read_by_definer_functions on app_public.patients for select to app_owner
  using (true);
create policy select_staff_and_own on app_public.patients for select to app_user
  using (
    (select app_public.current_role_is('clinic_admin', 'doctor', 'nurse', 'receptionist'))
    or ((select app_public.current_role_is('patient')) and id = (select app_public.current_patient_id()))
  );
create policy insert_front_desk on app_public.patients for insert to app_user
  with check ((select app_public.current_role_is('clinic_admin', 'receptionist')));
create policy update_front_desk on app_public.patients for update to app_user
  using ((select app_public.current_role_is('clinic_admin', 'receptionist')))
  with check ((select app_public.current_role_is('clinic_admin', 'receptionist')));

-- Registration starts as `registered`; patient_number and merged_into_id are the database's.
grant select on app_public.patients to app_user;
grant insert (full_name, date_of_birth, sex, phone, email, address, emergency_contact_name, emergency_contact_phone, blood_group,
    identification_type, identification_number_ciphertext, identification_number_hmac, member_id),
  update (full_name, date_of_birth, sex, phone, email, address, emergency_contact_name, emergency_contact_phone, blood_group,
    identification_type, identification_number_ciphertext, identification_number_hmac, status, member_id)
  on app_public.patients to app_user;

create function app_private.tg_set_patient_number()
  returns trigger
  language plpgsql security definer
  set search_path = pg_catalog, pg_temp
as $$
declare
  year text := pg_catalog.to_char(app_private.clinic_local_now(new.clinic_id), 'YYYY');
  serial integer := app_private.next_clinic_number(new.clinic_id, 'patient_number', year);
begin
  new.patient_number := 'PT-' || year || '-' || pg_catalog.lpad(serial::text, greatest(5, pg_catalog.length(serial::text)), '0');
  return new;
end;
$$;

create trigger _100_updated_at before update on app_public.patients
  for each row execute function app_private.tg_set_updated_at();
create trigger _150_enforce_plan_quota before insert on app_public.patients
  for each row execute function app_private.tg_enforce_plan_quota('max_patients');
create trigger _200_set_patient_number before insert on app_public.patients
  for each row execute function app_private.tg_set_patient_number();
create trigger _210_member_is_patient before insert or update of member_id on app_public.patients
  for each row execute function app_private.tg_require_member_role('member_id', 'patient');
create trigger _900_audit after insert or update or delete on app_public.patients
  for each row execute function app_private.tg_audit_row('id');

comment on table app_public.patients is 'A patient registered at the clinic: identity and contact details (clinical history is separate).';
comment on column app_public.patients.patient_number is 'PT-YYYY-NNNNN: the year in the clinic''s time zone, consecutive per clinic and year; set by the database.';
comment on column app_public.patients.phone_normalised is 'The phone number as digits, a leading + kept (for search).';
comment on column app_public.patients.identification_number_ciphertext is 'The identification number, encrypted by the application (key id inside); the database never sees it in clear.';
comment on column app_public.patients.identification_number_hmac is 'Keyed hash of the identification number (<keyId>:<hex HMAC-SHA256>), for exact look-up.';
comment on column app_public.patients.status is 'registered, in_treatment, discharged, deceased or archived (records are archived, never deleted).';
comment on column app_public.patients.merged_into_id is 'The record this duplicate was merged into; set by the merge.';
comment on column app_public.patients.member_id is 'The patient membership (portal login) linked to this record.';

--! split: 0640-patient-history
-- Allergies and current medication: clinical history, so doctors and nurses record and read it,
-- clinic admins read it, the patient reads their own; receptionists and lab technicians do not
-- (docs/permissions.md, footnote 2 of the full matrix). Entries are corrected or set inactive,
-- never deleted.
create table app_public.patient_history (
  clinic_id uuid not null default app_public.current_clinic_id() references app_public.clinics (id),
  id uuid not null default gen_random_uuid(),
  patient_id uuid not null,
  kind text not null constraint patient_history_kind_valid check (kind in ('allergy', 'medication')),
  name text not null constraint patient_history_name_length check (char_length(name) between 1 and 200),
  detail text constraint patient_history_detail_length check (char_length(detail) <= 2000),
  -- Severity describes allergies only.
  severity text constraint patient_history_severity_valid
    check (severity is null or (kind = 'allergy' and severity in ('mild', 'moderate', 'severe'))),
  is_active boolean not null default true,
  recorded_by uuid not null default app_public.current_member_id(),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (clinic_id, id),
  constraint patient_history_patient_id_fkey foreign key (clinic_id, patient_id) references app_public.patients (clinic_id, id),
  constraint patient_history_recorded_by_fkey foreign key (clinic_id, recorded_by) references app_public.clinic_members (clinic_id, id)
);
alter table app_public.patient_history enable row level security;
alter table app_public.patient_history force row level security;

create index patient_history_patient_id_idx on app_public.patient_history (clinic_id, patient_id);

create policy tenant_isolation on app_public.patient_history as restrictive to app_user
  using (clinic_id = (select app_public.current_clinic_id()))
  with check (clinic_id = (select app_public.current_clinic_id()));
create policy select_clinical_and_own on app_public.patient_history for select to app_user
  using (
    (select app_public.current_role_is('clinic_admin', 'doctor', 'nurse'))
    or ((select app_public.current_role_is('patient')) and patient_id = (select app_public.current_patient_id()))
  );
create policy insert_clinicians on app_public.patient_history for insert to app_user
  with check ((select app_public.current_role_is('doctor', 'nurse')));
create policy update_clinicians on app_public.patient_history for update to app_user
  using ((select app_public.current_role_is('doctor', 'nurse')))
  with check ((select app_public.current_role_is('doctor', 'nurse')));

-- recorded_by is the caller (its default), never chosen by the client.
grant select on app_public.patient_history to app_user;
grant insert (patient_id, kind, name, detail, severity, is_active), update (name, detail, severity, is_active)
  on app_public.patient_history to app_user;

create trigger _100_updated_at before update on app_public.patient_history
  for each row execute function app_private.tg_set_updated_at();
create trigger _900_audit after insert or update or delete on app_public.patient_history
  for each row execute function app_private.tg_audit_row('id');

comment on table app_public.patient_history is 'A patient''s allergies and current medication.';
comment on column app_public.patient_history.kind is 'allergy or medication.';
comment on column app_public.patient_history.severity is 'mild, moderate or severe (allergies only).';
comment on column app_public.patient_history.recorded_by is 'The membership that recorded the entry.';

--! split: 0650-doctor-time-off
-- A doctor's leave and blocked time: no slots there. Every staff role reads it (planning the
-- day); clinic admins and receptionists manage anyone's, a doctor their own only. Patients see
-- free slots through the availability function, never the reasons.
create table app_public.doctor_time_off (
  clinic_id uuid not null default app_public.current_clinic_id() references app_public.clinics (id),
  id uuid not null default gen_random_uuid(),
  doctor_id uuid not null,
  starts_at timestamptz not null,
  ends_at timestamptz not null,
  reason text constraint doctor_time_off_reason_length check (char_length(reason) between 1 and 500),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (clinic_id, id),
  constraint doctor_time_off_ends_at_valid check (ends_at > starts_at),
  constraint doctor_time_off_doctor_id_fkey foreign key (clinic_id, doctor_id) references app_public.clinic_members (clinic_id, id)
);
alter table app_public.doctor_time_off enable row level security;
alter table app_public.doctor_time_off force row level security;

create index doctor_time_off_doctor_id_idx on app_public.doctor_time_off (clinic_id, doctor_id, starts_at);

create policy tenant_isolation on app_public.doctor_time_off as restrictive to app_user
  using (clinic_id = (select app_public.current_clinic_id()))
  with check (clinic_id = (select app_public.current_clinic_id()));
create policy select_staff on app_public.doctor_time_off for select to app_user
  using ((select app_public.current_role_is('clinic_admin', 'doctor', 'nurse', 'receptionist', 'lab_technician')));
create policy insert_front_desk_and_own on app_public.doctor_time_off for insert to app_user
  with check (
    (select app_public.current_role_is('clinic_admin', 'receptionist'))
    or ((select app_public.current_role_is('doctor')) and doctor_id = (select app_public.current_member_id()))
  );
create policy update_front_desk_and_own on app_public.doctor_time_off for update to app_user
  using (
    (select app_public.current_role_is('clinic_admin', 'receptionist'))
    or ((select app_public.current_role_is('doctor')) and doctor_id = (select app_public.current_member_id()))
  )
  with check (
    (select app_public.current_role_is('clinic_admin', 'receptionist'))
    or ((select app_public.current_role_is('doctor')) and doctor_id = (select app_public.current_member_id()))
  );
create policy delete_front_desk_and_own on app_public.doctor_time_off for delete to app_user
  using (
    (select app_public.current_role_is('clinic_admin', 'receptionist'))
    or ((select app_public.current_role_is('doctor')) and doctor_id = (select app_public.current_member_id()))
  );

grant select, delete on app_public.doctor_time_off to app_user;
grant insert (doctor_id, starts_at, ends_at, reason), update (doctor_id, starts_at, ends_at, reason)
  on app_public.doctor_time_off to app_user;

create trigger _100_updated_at before update on app_public.doctor_time_off
  for each row execute function app_private.tg_set_updated_at();
create trigger _200_doctor_is_doctor before insert or update of doctor_id on app_public.doctor_time_off
  for each row execute function app_private.tg_require_member_role('doctor_id', 'doctor');
create trigger _900_audit after insert or update or delete on app_public.doctor_time_off
  for each row execute function app_private.tg_audit_row('id');

comment on table app_public.doctor_time_off is 'A doctor''s leave or blocked time: no appointments then.';
comment on column app_public.doctor_time_off.doctor_id is 'The doctor''s membership.';

--! split: 0660-appointments
-- Bookings of a patient with a doctor. Clinic admins and receptionists book for anyone, a
-- patient for themselves (only as booked or cancelled: the portal books, reschedules and cancels;
-- the state machine's trigger comes with the appointments feature). Every clinical role reads;
-- lab technicians do not. Never deleted: cancelled is a status. Double-booking is impossible on
-- every path: the exclusion constraint holds whatever the code does.
create table app_public.appointments (
  clinic_id uuid not null default app_public.current_clinic_id() references app_public.clinics (id),
  id uuid not null default gen_random_uuid(),
  patient_id uuid not null,
  doctor_id uuid not null,
  starts_at timestamptz not null,
  ends_at timestamptz not null,
  status text not null default 'booked'
    constraint appointments_status_valid check (status in ('booked', 'checked_in', 'completed', 'cancelled', 'no_show')),
  reason text constraint appointments_reason_length check (char_length(reason) between 1 and 500),
  cancellation_reason text constraint appointments_cancellation_reason_length check (char_length(cancellation_reason) between 1 and 500),
  booked_by uuid not null default app_public.current_member_id(),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (clinic_id, id),
  constraint appointments_ends_at_valid check (ends_at > starts_at),
  constraint appointments_patient_id_fkey foreign key (clinic_id, patient_id) references app_public.patients (clinic_id, id),
  constraint appointments_doctor_id_fkey foreign key (clinic_id, doctor_id) references app_public.clinic_members (clinic_id, id),
  constraint appointments_booked_by_fkey foreign key (clinic_id, booked_by) references app_public.clinic_members (clinic_id, id),
  -- One active appointment per doctor at a time ([starts_at, ends_at): back-to-back slots do not
  -- overlap). 23P01 → 409.
  constraint appointments_starts_at_excl exclude using gist (
    clinic_id with =, doctor_id with =, tstzrange(starts_at, ends_at) with &&
  ) where (status in ('booked', 'checked_in'))
);
alter table app_public.appointments enable row level security;
alter table app_public.appointments force row level security;

create index appointments_doctor_id_idx on app_public.appointments (clinic_id, doctor_id, starts_at);
create index appointments_patient_id_idx on app_public.appointments (clinic_id, patient_id, starts_at);
create index appointments_starts_at_idx on app_public.appointments (clinic_id, starts_at);

create policy tenant_isolation on app_public.appointments as restrictive to app_user
  using (clinic_id = (select app_public.current_clinic_id()))
  with check (clinic_id = (select app_public.current_clinic_id()));
create policy select_staff_and_own on app_public.appointments for select to app_user
  using (
    (select app_public.current_role_is('clinic_admin', 'doctor', 'nurse', 'receptionist'))
    or ((select app_public.current_role_is('patient')) and patient_id = (select app_public.current_patient_id()))
  );
create policy insert_front_desk_and_own on app_public.appointments for insert to app_user
  with check (
    (select app_public.current_role_is('clinic_admin', 'receptionist'))
    or ((select app_public.current_role_is('patient')) and patient_id = (select app_public.current_patient_id()))
  );
-- A patient changes only their own booked appointments, and leaves them booked or cancelled.
create policy update_front_desk_and_own on app_public.appointments for update to app_user
  using (
    (select app_public.current_role_is('clinic_admin', 'receptionist'))
    or ((select app_public.current_role_is('patient')) and patient_id = (select app_public.current_patient_id()) and status = 'booked')
  )
  with check (
    (select app_public.current_role_is('clinic_admin', 'receptionist'))
    or ((select app_public.current_role_is('patient')) and patient_id = (select app_public.current_patient_id())
        and status in ('booked', 'cancelled'))
  );

-- A booking starts as booked (no status on insert); booked_by is the caller.
grant select on app_public.appointments to app_user;
grant insert (patient_id, doctor_id, starts_at, ends_at, reason),
  update (doctor_id, starts_at, ends_at, status, reason, cancellation_reason)
  on app_public.appointments to app_user;

create trigger _100_updated_at before update on app_public.appointments
  for each row execute function app_private.tg_set_updated_at();
create trigger _200_doctor_is_doctor before insert or update of doctor_id on app_public.appointments
  for each row execute function app_private.tg_require_member_role('doctor_id', 'doctor');
create trigger _900_audit after insert or update or delete on app_public.appointments
  for each row execute function app_private.tg_audit_row('id');

comment on table app_public.appointments is 'An appointment of a patient with a doctor.';
comment on column app_public.appointments.status is 'booked, checked_in, completed, cancelled or no_show.';
comment on column app_public.appointments.booked_by is 'The membership that booked it (the patient''s own when booked in the portal).';

--! split: 0670-visits
-- Check-in and the queue: a visit per arrival, with or without an appointment, and its token
-- number of the day. Clinic admins and receptionists check in and manage the queue, a doctor
-- works the visits assigned to them; every clinical role reads; a patient sees their own visits
-- (their queue position). Tokens come from the clinic's counter for its local date, in the
-- inserting transaction: unique and consecutive per clinic and day.
create table app_public.visits (
  clinic_id uuid not null default app_public.current_clinic_id() references app_public.clinics (id),
  id uuid not null default gen_random_uuid(),
  patient_id uuid not null,
  appointment_id uuid,
  doctor_id uuid,
  -- The clinic-local date of the check-in and the token of that day: set by _200_set_token.
  visit_date date not null,
  token_number integer not null constraint visits_token_number_valid check (token_number > 0),
  purpose text constraint visits_purpose_length check (char_length(purpose) between 1 and 500),
  priority text not null default 'normal' constraint visits_priority_valid check (priority in ('normal', 'urgent', 'emergency')),
  status text not null default 'waiting'
    constraint visits_status_valid check (status in ('waiting', 'called', 'in_consultation', 'completed', 'no_show', 'cancelled')),
  checked_in_at timestamptz not null default now(),
  called_at timestamptz,
  consultation_started_at timestamptz,
  completed_at timestamptz,
  skipped_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (clinic_id, id),
  constraint visits_token_number_key unique (clinic_id, visit_date, token_number),
  -- An appointment is checked in once.
  constraint visits_appointment_id_key unique (clinic_id, appointment_id),
  constraint visits_patient_id_fkey foreign key (clinic_id, patient_id) references app_public.patients (clinic_id, id),
  constraint visits_appointment_id_fkey foreign key (clinic_id, appointment_id) references app_public.appointments (clinic_id, id),
  constraint visits_doctor_id_fkey foreign key (clinic_id, doctor_id) references app_public.clinic_members (clinic_id, id)
);
alter table app_public.visits enable row level security;
alter table app_public.visits force row level security;

create index visits_doctor_id_idx on app_public.visits (clinic_id, doctor_id, visit_date);
create index visits_patient_id_idx on app_public.visits (clinic_id, patient_id, visit_date);

create policy tenant_isolation on app_public.visits as restrictive to app_user
  using (clinic_id = (select app_public.current_clinic_id()))
  with check (clinic_id = (select app_public.current_clinic_id()));
create policy select_staff_and_own on app_public.visits for select to app_user
  using (
    (select app_public.current_role_is('clinic_admin', 'doctor', 'nurse', 'receptionist'))
    or ((select app_public.current_role_is('patient')) and patient_id = (select app_public.current_patient_id()))
  );
create policy insert_front_desk on app_public.visits for insert to app_user
  with check ((select app_public.current_role_is('clinic_admin', 'receptionist')));
-- A doctor updates only the visits in their own queue, and cannot hand them to another doctor.
create policy update_front_desk_and_own_queue on app_public.visits for update to app_user
  using (
    (select app_public.current_role_is('clinic_admin', 'receptionist'))
    or ((select app_public.current_role_is('doctor')) and doctor_id = (select app_public.current_member_id()))
  )
  with check (
    (select app_public.current_role_is('clinic_admin', 'receptionist'))
    or ((select app_public.current_role_is('doctor')) and doctor_id = (select app_public.current_member_id()))
  );

-- visit_date, token_number and the check-in time are the database's.
grant select on app_public.visits to app_user;
grant insert (patient_id, appointment_id, doctor_id, purpose, priority), update (doctor_id, purpose, priority, status)
  on app_public.visits to app_user;

create function app_private.tg_set_visit_token()
  returns trigger
  language plpgsql security definer
  set search_path = pg_catalog, pg_temp
as $$
begin
  new.visit_date := app_private.clinic_local_now(new.clinic_id)::date;
  new.token_number := app_private.next_clinic_number(new.clinic_id, 'visit_token', pg_catalog.to_char(new.visit_date, 'YYYY-MM-DD'));
  return new;
end;
$$;

create trigger _100_updated_at before update on app_public.visits
  for each row execute function app_private.tg_set_updated_at();
create trigger _200_set_token before insert on app_public.visits
  for each row execute function app_private.tg_set_visit_token();
create trigger _210_doctor_is_doctor before insert or update of doctor_id on app_public.visits
  for each row execute function app_private.tg_require_member_role('doctor_id', 'doctor');
create trigger _900_audit after insert or update or delete on app_public.visits
  for each row execute function app_private.tg_audit_row('id');

comment on table app_public.visits is 'A patient''s check-in: token of the day, queue position, consultation progress.';
comment on column app_public.visits.visit_date is 'The clinic-local date of the check-in.';
comment on column app_public.visits.token_number is 'The token of the day, consecutive per clinic and clinic-local date.';
comment on column app_public.visits.priority is 'normal, urgent or emergency (the queue serves emergency first).';
comment on column app_public.visits.status is 'waiting, called, in_consultation, completed, no_show or cancelled.';
comment on column app_public.visits.skipped_at is 'When the visit was last skipped (it waits again, behind the others).';

--! split: 0680-files
-- Files attached to a patient (later to clinical records): the metadata row under RLS; the bytes
-- live in storage under <clinic_id>/<id>, a key the server makes from this row, never from the
-- client. Readable like the patient record; uploaded by the clinical and front-desk roles and lab
-- technicians (their report files: narrowed with issue 11). No update, no delete: a file is a
-- record. The plan's storage quota counts size_bytes.
create table app_public.files (
  clinic_id uuid not null default app_public.current_clinic_id() references app_public.clinics (id),
  id uuid not null default gen_random_uuid(),
  patient_id uuid not null,
  category text not null constraint files_category_valid check (category in ('registration', 'report', 'other')),
  -- The name the client gave: metadata only, never a path.
  original_name text not null constraint files_original_name_length check (char_length(original_name) between 1 and 255),
  -- Sniffed from the bytes by the server, not taken from the client.
  content_type text not null
    constraint files_content_type_valid check (content_type in ('application/pdf', 'image/png', 'image/jpeg', 'text/plain')),
  size_bytes bigint not null constraint files_size_bytes_valid check (size_bytes > 0),
  sha256 text not null constraint files_sha256_format check (sha256 ~ '^[0-9a-f]{64}$'),
  uploaded_by uuid not null default app_public.current_member_id(),
  created_at timestamptz not null default now(),
  primary key (clinic_id, id),
  constraint files_patient_id_fkey foreign key (clinic_id, patient_id) references app_public.patients (clinic_id, id),
  constraint files_uploaded_by_fkey foreign key (clinic_id, uploaded_by) references app_public.clinic_members (clinic_id, id)
);
alter table app_public.files enable row level security;
alter table app_public.files force row level security;

create index files_patient_id_idx on app_public.files (clinic_id, patient_id, created_at);

create policy tenant_isolation on app_public.files as restrictive to app_user
  using (clinic_id = (select app_public.current_clinic_id()))
  with check (clinic_id = (select app_public.current_clinic_id()));
-- The storage quota (tg_enforce_plan_quota sums size_bytes) reads as app_owner.
create policy read_by_definer_functions on app_public.files for select to app_owner
  using (true);
create policy select_staff_and_own on app_public.files for select to app_user
  using (
    (select app_public.current_role_is('clinic_admin', 'doctor', 'nurse', 'receptionist'))
    or ((select app_public.current_role_is('patient')) and patient_id = (select app_public.current_patient_id()))
  );
create policy insert_uploaders on app_public.files for insert to app_user
  with check ((select app_public.current_role_is('doctor', 'nurse', 'receptionist', 'lab_technician')));

grant select on app_public.files to app_user;
grant insert (patient_id, category, original_name, content_type, size_bytes, sha256) on app_public.files to app_user;

create trigger _150_enforce_plan_quota before insert on app_public.files
  for each row execute function app_private.tg_enforce_plan_quota('max_storage_mb', 'size_bytes');
create trigger _900_audit after insert or update or delete on app_public.files
  for each row execute function app_private.tg_audit_row('id');

comment on table app_public.files is 'A file attached to a patient: its metadata (the bytes are in storage under <clinic_id>/<id>).';
comment on column app_public.files.original_name is 'The uploaded file''s name, as metadata only.';
comment on column app_public.files.content_type is 'The type sniffed from the bytes: application/pdf, image/png, image/jpeg or text/plain.';
comment on column app_public.files.sha256 is 'Hex SHA-256 of the bytes.';

--! split: 0690-patient-access-log
-- The chart access log: who read which patient's record or files, when, from where, in which
-- request, written in the reading transaction. Append-only: no update or delete for anyone (the
-- owner has no policy for them either). Clinic admins read it all, a patient reads who viewed
-- their own record. Every role that reads patients writes it, as itself only (member_id).
create table app_public.patient_access_log (
  clinic_id uuid not null default app_public.current_clinic_id() references app_public.clinics (id),
  id uuid not null default gen_random_uuid(),
  patient_id uuid not null,
  file_id uuid,
  action text not null constraint patient_access_log_action_valid check (action in ('read_record', 'read_files', 'download_file')),
  member_id uuid not null default app_public.current_member_id(),
  request_id text default nullif(current_setting('app.request_id', true), '')
    constraint patient_access_log_request_id_length check (char_length(request_id) <= 200),
  client_ip inet default nullif(current_setting('app.client_ip', true), '')::inet,
  accessed_at timestamptz not null default now(),
  primary key (clinic_id, id),
  -- A download names its file; other reads name none.
  constraint patient_access_log_file_id_valid check ((action = 'download_file') = (file_id is not null)),
  constraint patient_access_log_patient_id_fkey foreign key (clinic_id, patient_id) references app_public.patients (clinic_id, id),
  constraint patient_access_log_file_id_fkey foreign key (clinic_id, file_id) references app_public.files (clinic_id, id),
  constraint patient_access_log_member_id_fkey foreign key (clinic_id, member_id) references app_public.clinic_members (clinic_id, id)
);
alter table app_public.patient_access_log enable row level security;
alter table app_public.patient_access_log force row level security;

create index patient_access_log_patient_id_idx on app_public.patient_access_log (clinic_id, patient_id, accessed_at desc);

create policy tenant_isolation on app_public.patient_access_log as restrictive to app_user
  using (clinic_id = (select app_public.current_clinic_id()))
  with check (clinic_id = (select app_public.current_clinic_id()));
create policy select_admins_and_own on app_public.patient_access_log for select to app_user
  using (
    (select app_public.current_role_is('clinic_admin'))
    or ((select app_public.current_role_is('patient')) and patient_id = (select app_public.current_patient_id()))
  );
create policy insert_readers_as_themselves on app_public.patient_access_log for insert to app_user
  with check (
    member_id = (select app_public.current_member_id())
    and (
      (select app_public.current_role_is('clinic_admin', 'doctor', 'nurse', 'receptionist'))
      or ((select app_public.current_role_is('patient')) and patient_id = (select app_public.current_patient_id()))
    )
  );

-- Who, when, from where and in which request come from the context (defaults), never the client.
grant select on app_public.patient_access_log to app_user;
grant insert (patient_id, file_id, action) on app_public.patient_access_log to app_user;

-- The log is itself the record of its inserts (an audit row per read would double the cost of
-- every read); any change or removal of an entry is audited.
create trigger _900_audit after update or delete on app_public.patient_access_log
  for each row execute function app_private.tg_audit_row('id');

comment on table app_public.patient_access_log is 'Who read which patient''s record or files, when, from which address, in which request (append-only).';
comment on column app_public.patient_access_log.action is 'read_record, read_files or download_file.';
comment on column app_public.patient_access_log.member_id is 'The membership that read.';
