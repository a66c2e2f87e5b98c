--! Previous: sha1:f381e88277c49e1d720b83f2d2a478fca13aa57d
--! Hash: sha1:92039eae6e239923a39b72c4938f24148522ef0d
--! Message: Clinical care: consultations, vital signs, diagnoses, addenda and ICD-10 codes; prescriptions and allergy acknowledgements; lab requests, reports and results; follow-ups; their rules, locks and reads

-- Clinical care, the tables: consultations with their vital signs, diagnoses and addenda;
-- prescriptions and their items; lab test requests, reports and results; follow-ups. This
-- migration lays down the rows and the rules every row must satisfy on its own (keys, references,
-- formats, ranges), each table under RLS, enabled and forced, with the tenant boundary. Nothing is
-- granted here: no app role can read or write these tables until the next migrations add each
-- table's policies, grants, state machines and locks (who may do what: docs/permissions.md,
-- footnotes 3, 5, 6, 7 and 9), so no table is ever reachable before its rules are.
--
-- Shared shape: every table is a tenant table (the template in migrations/README.md); every row
-- that belongs to a patient carries patient_id, checked against its parent's by composite
-- references (clinic_id, parent_id, patient_id), so a child can never hang under one patient's
-- consultation while naming another patient (the references cascade on update: a patient merge
-- re-files a consultation and its children follow, 0950-patient-merge); the author columns default
-- to the caller's membership.
-- Free text refuses control characters but tab, CR and LF (multi-line notes), names refuse all.

--! split: 0100-consultations
-- A doctor's consultation during a visit. Draft while the author writes it; signing locks it with
-- its vital signs and diagnoses. `version` counts updates, for optimistic concurrency (If-Match).
create table app_public.consultations (
  clinic_id uuid not null default app_public.current_clinic_id() references app_public.clinics (id),
  id uuid not null default gen_random_uuid(),
  visit_id uuid not null,
  patient_id uuid not null,
  doctor_id uuid not null default app_public.current_member_id(),
  status text not null default 'draft' constraint consultations_status_valid check (status in ('draft', 'signed')),
  chief_complaint text constraint consultations_chief_complaint_length check (char_length(chief_complaint) between 1 and 500)
    constraint consultations_chief_complaint_check check (chief_complaint !~ '[\x01-\x1f\x7f]'),
  symptoms text constraint consultations_symptoms_length check (char_length(symptoms) between 1 and 4000)
    constraint consultations_symptoms_check check (symptoms !~ '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]'),
  findings text constraint consultations_findings_length check (char_length(findings) between 1 and 4000)
    constraint consultations_findings_check check (findings !~ '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]'),
  clinical_notes text constraint consultations_clinical_notes_length check (char_length(clinical_notes) between 1 and 8000)
    constraint consultations_clinical_notes_check check (clinical_notes !~ '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]'),
  urgency text not null default 'routine' constraint consultations_urgency_valid check (urgency in ('routine', 'urgent', 'emergency')),
  treatment_plan text constraint consultations_treatment_plan_length check (char_length(treatment_plan) between 1 and 4000)
    constraint consultations_treatment_plan_check check (treatment_plan !~ '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]'),
  version integer not null default 1 constraint consultations_version_valid check (version > 0),
  signed_at timestamptz,
  completed_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (clinic_id, id),
  -- The target of children's (clinic_id, consultation_id, patient_id) references.
  constraint consultations_patient_key unique (clinic_id, id, patient_id),
  -- One consultation per visit (opening also moves the visit on, so a second is refused either way).
  constraint consultations_visit_id_key unique (clinic_id, visit_id),
  constraint consultations_visit_id_fkey foreign key (clinic_id, visit_id) references app_public.visits (clinic_id, id),
  constraint consultations_patient_id_fkey foreign key (clinic_id, patient_id) references app_public.patients (clinic_id, id),
  constraint consultations_doctor_id_fkey foreign key (clinic_id, doctor_id) references app_public.clinic_members (clinic_id, id),
  constraint consultations_signed_at_valid check ((status = 'signed') = (signed_at is not null))
);
alter table app_public.consultations enable row level security;
alter table app_public.consultations force row level security;
create index consultations_patient_id_idx on app_public.consultations (clinic_id, patient_id, created_at desc);
create index consultations_doctor_id_idx on app_public.consultations (clinic_id, doctor_id, created_at desc);
create policy tenant_isolation on app_public.consultations as restrictive to app_user
  using (clinic_id = (select app_public.current_clinic_id()))
  with check (clinic_id = (select app_public.current_clinic_id()));

-- Vital signs: several readings per consultation, each with at least one measurement, in the
-- units the column names state, inside ranges a living patient can show (a typo, 370 °C or a
-- pulse of 7, is refused rather than charted).
create table app_public.vitals (
  clinic_id uuid not null default app_public.current_clinic_id() references app_public.clinics (id),
  id uuid not null default gen_random_uuid(),
  consultation_id uuid not null,
  patient_id uuid not null,
  recorded_by uuid not null default app_public.current_member_id(),
  measured_at timestamptz not null default now(),
  systolic_mmhg integer constraint vitals_systolic_mmhg_range check (systolic_mmhg between 40 and 300),
  diastolic_mmhg integer constraint vitals_diastolic_mmhg_range check (diastolic_mmhg between 20 and 200),
  heart_rate_bpm integer constraint vitals_heart_rate_bpm_range check (heart_rate_bpm between 20 and 300),
  temperature_c numeric(4, 1) constraint vitals_temperature_c_range check (temperature_c between 25 and 45),
  respiratory_rate_per_min integer constraint vitals_respiratory_rate_per_min_range check (respiratory_rate_per_min between 4 and 80),
  spo2_percent integer constraint vitals_spo2_percent_range check (spo2_percent between 50 and 100),
  weight_kg numeric(5, 2) constraint vitals_weight_kg_range check (weight_kg between 0.3 and 500),
  height_cm numeric(4, 1) constraint vitals_height_cm_range check (height_cm between 20 and 280),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (clinic_id, id),
  constraint vitals_consultation_id_fkey foreign key (clinic_id, consultation_id, patient_id)
    references app_public.consultations (clinic_id, id, patient_id) on update cascade,
  constraint vitals_recorded_by_fkey foreign key (clinic_id, recorded_by) references app_public.clinic_members (clinic_id, id),
  -- Blood pressure is a pair, systolic above diastolic.
  constraint vitals_diastolic_mmhg_valid check ((systolic_mmhg is null) = (diastolic_mmhg is null) and (systolic_mmhg is null or systolic_mmhg > diastolic_mmhg)),
  constraint vitals_measurement_present check (num_nonnulls(systolic_mmhg, heart_rate_bpm, temperature_c, respiratory_rate_per_min, spo2_percent, weight_kg, height_cm) > 0)
);
alter table app_public.vitals enable row level security;
alter table app_public.vitals force row level security;
-- Leads with the whole reference (clinic, consultation, patient): it serves GraphQL's consultation.vitals too.
create index vitals_consultation_id_idx on app_public.vitals (clinic_id, consultation_id, patient_id, measured_at);
create index vitals_patient_id_idx on app_public.vitals (clinic_id, patient_id, measured_at desc);
create policy tenant_isolation on app_public.vitals as restrictive to app_user
  using (clinic_id = (select app_public.current_clinic_id()))
  with check (clinic_id = (select app_public.current_clinic_id()));

-- Diagnoses: an ICD-10 code in its written form (letter, two digits, optional dot and up to four
-- more characters: J45, J45.909, S72.001A) with its text; at most one primary per consultation.
create table app_public.diagnoses (
  clinic_id uuid not null default app_public.current_clinic_id() references app_public.clinics (id),
  id uuid not null default gen_random_uuid(),
  consultation_id uuid not null,
  patient_id uuid not null,
  icd10_code text not null constraint diagnoses_icd10_code_format check (icd10_code ~ '^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$'),
  description text not null constraint diagnoses_description_length check (char_length(description) between 1 and 500)
    constraint diagnoses_description_check check (description !~ '[\x01-\x1f\x7f]'),
  is_primary boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (clinic_id, id),
  constraint diagnoses_consultation_id_fkey foreign key (clinic_id, consultation_id, patient_id)
    references app_public.consultations (clinic_id, id, patient_id) on update cascade
);
alter table app_public.diagnoses enable row level security;
alter table app_public.diagnoses force row level security;
create index diagnoses_consultation_id_idx on app_public.diagnoses (clinic_id, consultation_id, patient_id);
create index diagnoses_patient_id_idx on app_public.diagnoses (clinic_id, patient_id);
create index diagnoses_icd10_code_idx on app_public.diagnoses (clinic_id, icd10_code);
create unique index diagnoses_is_primary_key on app_public.diagnoses (clinic_id, consultation_id) where is_primary;
create policy tenant_isolation on app_public.diagnoses as restrictive to app_user
  using (clinic_id = (select app_public.current_clinic_id()))
  with check (clinic_id = (select app_public.current_clinic_id()));

-- Addenda: the only way to correct a signed consultation. Written signed (no draft), never changed.
create table app_public.consultation_addenda (
  clinic_id uuid not null default app_public.current_clinic_id() references app_public.clinics (id),
  id uuid not null default gen_random_uuid(),
  consultation_id uuid not null,
  patient_id uuid not null,
  author_id uuid not null default app_public.current_member_id(),
  body text not null constraint consultation_addenda_body_length check (char_length(body) between 1 and 8000)
    constraint consultation_addenda_body_check check (body !~ '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]'),
  signed_at timestamptz not null default now(),
  created_at timestamptz not null default now(),
  primary key (clinic_id, id),
  constraint consultation_addenda_consultation_id_fkey foreign key (clinic_id, consultation_id, patient_id)
    references app_public.consultations (clinic_id, id, patient_id) on update cascade,
  constraint consultation_addenda_author_id_fkey foreign key (clinic_id, author_id) references app_public.clinic_members (clinic_id, id)
);
alter table app_public.consultation_addenda enable row level security;
alter table app_public.consultation_addenda force row level security;
create index consultation_addenda_consultation_id_idx on app_public.consultation_addenda (clinic_id, consultation_id, patient_id, signed_at);
create policy tenant_isolation on app_public.consultation_addenda as restrictive to app_user
  using (clinic_id = (select app_public.current_clinic_id()))
  with check (clinic_id = (select app_public.current_clinic_id()));

--! split: 0110-consultation-rules
-- Who writes consultations (docs/permissions.md, footnote 6): the visit's doctor opens one, only its
-- author edits it, only while a draft; vital signs are recorded by the author or a nurse, diagnoses
-- by the author, both while the consultation is a draft; addenda are written by doctors on signed
-- consultations only. Nobody deletes (no grant). Signing locks the consultation with its vital signs
-- and diagnoses in triggers that hold for every role, clinic_admin and the owner role included
-- (CBLCK; only session_replication_role, which no app role may set, skips triggers).
--
-- Rule names (the RAISE's CONSTRAINT, `rule` in problem+json):
--   consultation_needs_open_visit        CBSTA  opening from a visit that is not waiting, called or in consultation
--   consultation_status_transition       CBSTA  any status move but draft → signed
--   consultation_signed_is_final         CBLCK  an update or delete of a signed consultation
--   consultation_vitals_are_final        CBLCK  a vital sign added, changed or deleted under a signed one
--   consultation_diagnoses_are_final     CBLCK  the same for diagnoses
--   addendum_needs_signed_consultation   CBSTA  an addendum to a draft
--   addendum_is_final                    CBLCK  an update or delete of an addendum

-- Definer triggers below read consultations (a child's lock) and update visits (opening and
-- completing one): forced RLS holds app_owner too, so it needs its own policies; each function
-- filters by the row's clinic itself.
create policy read_by_definer_functions on app_public.consultations for select to app_owner
  using (true);

create policy insert_visit_doctor on app_public.consultations for insert to app_user
  with check ((select app_public.current_role_is('doctor')) and doctor_id = (select app_public.current_member_id()));
create policy update_author_draft on app_public.consultations for update to app_user
  using ((select app_public.current_role_is('doctor')) and doctor_id = (select app_public.current_member_id()) and status = 'draft')
  with check ((select app_public.current_role_is('doctor')) and doctor_id = (select app_public.current_member_id()));
-- visit_id: the visit opened; patient_id is copied from it (never the client's). status: signing
-- (draft → signed, the trigger stamps the times). version, signed_at, completed_at: the database's.
grant insert (visit_id, doctor_id, chief_complaint, symptoms, findings, clinical_notes, urgency, treatment_plan),
  update (chief_complaint, symptoms, findings, clinical_notes, urgency, treatment_plan, status)
  on app_public.consultations to app_user;

-- Opening: the visit must be in the caller's queue (its doctor is the consultation's) and waiting,
-- called or in_consultation (started by POST visits/{id}/start, before its consultation was opened);
-- it moves to in_consultation through the visits' own state machine. A waiting visit
-- goes through called first (both moves stamped, both on the queue display): a doctor may take a
-- patient out of the queue order (the one in pain, the one whose results just came), and calling
-- first then opening would only add a click. The row lock on the visit serialises two openings:
-- the second finds it in_consultation and meets the unique key (23505, 409 naming visitId).
create function app_private.tg_consultation_open_visit()
  returns trigger
  language plpgsql security definer
  set search_path = pg_catalog, pg_temp
as $$
declare
  opened app_public.visits;
begin
  select v.* into opened from app_public.visits v where v.clinic_id = new.clinic_id and v.id = new.visit_id for update;
  if not found then
    raise exception 'no such visit' using errcode = '23503', table = tg_table_name, column = 'visit_id',
      constraint = 'consultations_visit_id_fkey';
  end if;
  if opened.doctor_id is distinct from new.doctor_id then
    raise exception 'the visit is not in this doctor''s queue' using errcode = '23514', table = tg_table_name,
      column = 'visit_id', constraint = 'consultations_visit_id_valid';
  end if;
  if opened.status not in ('waiting', 'called', 'in_consultation') then
    raise exception 'a visit in status % cannot be opened', opened.status using errcode = 'CBSTA',
      constraint = 'consultation_needs_open_visit';
  end if;
  new.patient_id := opened.patient_id;
  if opened.status = 'waiting' then
    update app_public.visits set status = 'called' where clinic_id = opened.clinic_id and id = opened.id;
  end if;
  if opened.status <> 'in_consultation' then
    update app_public.visits set status = 'in_consultation' where clinic_id = opened.clinic_id and id = opened.id;
  end if;
  return new;
end;
$$;

-- The state machine: draft → signed, once; signing stamps signed_at and completed_at.
create function app_private.tg_consultation_transition()
  returns trigger
  language plpgsql
  set search_path = pg_catalog, pg_temp
as $$
begin
  if new.status is distinct from old.status then
    if not (old.status = 'draft' and new.status = 'signed') then
      raise exception 'a consultation cannot go from % to %', old.status, new.status using errcode = 'CBSTA',
        constraint = 'consultation_status_transition';
    end if;
    new.signed_at := now();
    new.completed_at := new.signed_at;
  else
    new.signed_at := old.signed_at;
    new.completed_at := old.completed_at;
  end if;
  return new;
end;
$$;

-- A signed consultation does not change; a status move away from signed is the state machine's
-- refusal (CBSTA), anything else a lock (CBLCK). Its patient changes only by a patient merge (any
-- status), re-filing it and, by the cascading references, its children (0950-patient-merge).
create function app_private.tg_consultation_lock()
  returns trigger
  language plpgsql
  set search_path = pg_catalog, pg_temp
as $$
begin
  if tg_op = 'UPDATE' and new.patient_id is distinct from old.patient_id then
    if current_user = 'app_owner' then
      if app_private.refiles_patient_only(to_jsonb(old), to_jsonb(new)) then
        return new;
      end if;
    end if;
    raise exception 'a consultation''s patient changes only by a patient merge' using errcode = 'CBLCK',
      constraint = 'consultation_patient_changes_by_merge';
  end if;
  if old.status = 'signed' then
    if tg_op = 'UPDATE' and new.status is distinct from old.status then
      raise exception 'a consultation cannot go from % to %', old.status, new.status using errcode = 'CBSTA',
        constraint = 'consultation_status_transition';
    end if;
    raise exception 'a signed consultation does not change' using errcode = 'CBLCK', constraint = 'consultation_signed_is_final';
  end if;
  return case tg_op when 'DELETE' then old else new end;
end;
$$;

-- Optimistic concurrency: every update is a new version (If-Match compares it); no client writes it.
create function app_private.tg_bump_version()
  returns trigger
  language plpgsql
  set search_path = pg_catalog, pg_temp
as $$
begin
  new.version := old.version + 1;
  return new;
end;
$$;

-- Signing completes the visit (a definer: the doctor's visit, whoever signs; the visit's own state
-- machine checks the move, and completing the visit completes its appointment).
create function app_private.tg_consultation_complete_visit()
  returns trigger
  language plpgsql security definer
  set search_path = pg_catalog, pg_temp
as $$
begin
  update app_public.visits set status = 'completed'
  where clinic_id = new.clinic_id and id = new.visit_id and status = 'in_consultation';
  return null;
end;
$$;

create trigger _010_lock before update or delete on app_public.consultations
  for each row execute function app_private.tg_consultation_lock();
create trigger _020_transition before update on app_public.consultations
  for each row execute function app_private.tg_consultation_transition();
create trigger _050_open_visit before insert on app_public.consultations
  for each row execute function app_private.tg_consultation_open_visit();
create trigger _110_bump_version before update on app_public.consultations
  for each row execute function app_private.tg_bump_version();
create trigger _800_complete_visit after update of status on app_public.consultations
  for each row when (new.status = 'signed') execute function app_private.tg_consultation_complete_visit();

-- A child of a consultation (vital signs, diagnoses, addenda): its patient is the consultation's
-- (never the client's), and under a signed consultation nothing is added, changed or deleted.
-- The argument is the rule's name; for addenda the other way round: only under a signed one.
create function app_private.tg_consultation_child()
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
    and c.id = (case tg_op when 'DELETE' then old.consultation_id else new.consultation_id end);
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

create trigger _010_lock before insert or update or delete on app_public.vitals
  for each row execute function app_private.tg_consultation_child('consultation_vitals_are_final');
create trigger _010_lock before insert or update or delete on app_public.diagnoses
  for each row execute function app_private.tg_consultation_child('consultation_diagnoses_are_final');
create trigger _010_lock before insert or update or delete on app_public.consultation_addenda
  for each row execute function app_private.tg_consultation_child('addendum_is_final');

-- Vital signs: the author doctor or any nurse, while the consultation is a draft (the lock trigger
-- refuses signed ones for every role); the recorder or the consultation's author corrects a reading.
create policy insert_author_or_nurse on app_public.vitals for insert to app_user
  with check (recorded_by = (select app_public.current_member_id()) and (
    (select app_public.current_role_is('nurse'))
    or ((select app_public.current_role_is('doctor')) and exists (
      select from app_public.consultations c where c.clinic_id = vitals.clinic_id and c.id = vitals.consultation_id
        and c.doctor_id = (select app_public.current_member_id())))));
create policy update_recorder_or_author on app_public.vitals for update to app_user
  using ((select app_public.current_role_is('doctor', 'nurse')) and (recorded_by = (select app_public.current_member_id())
    or ((select app_public.current_role_is('doctor')) and exists (
      select from app_public.consultations c where c.clinic_id = vitals.clinic_id and c.id = vitals.consultation_id
        and c.doctor_id = (select app_public.current_member_id())))))
  with check ((select app_public.current_role_is('doctor', 'nurse')));
grant insert (consultation_id, measured_at, systolic_mmhg, diastolic_mmhg, heart_rate_bpm, temperature_c, respiratory_rate_per_min,
    spo2_percent, weight_kg, height_cm),
  update (measured_at, systolic_mmhg, diastolic_mmhg, heart_rate_bpm, temperature_c, respiratory_rate_per_min, spo2_percent, weight_kg, height_cm)
  on app_public.vitals to app_user;

-- Diagnoses: the consultation's author, while a draft. The text defaults to the code's in the
-- bundled list or the clinic's own codes (below).
create policy insert_author on app_public.diagnoses for insert to app_user
  with check ((select app_public.current_role_is('doctor')) and exists (
    select from app_public.consultations c where c.clinic_id = diagnoses.clinic_id and c.id = diagnoses.consultation_id
      and c.doctor_id = (select app_public.current_member_id())));
create policy update_author on app_public.diagnoses for update to app_user
  using ((select app_public.current_role_is('doctor')) and exists (
    select from app_public.consultations c where c.clinic_id = diagnoses.clinic_id and c.id = diagnoses.consultation_id
      and c.doctor_id = (select app_public.current_member_id())))
  with check ((select app_public.current_role_is('doctor')) and exists (
    select from app_public.consultations c where c.clinic_id = diagnoses.clinic_id and c.id = diagnoses.consultation_id
      and c.doctor_id = (select app_public.current_member_id())));
grant insert (consultation_id, icd10_code, description, is_primary), update (icd10_code, description, is_primary)
  on app_public.diagnoses to app_user;

-- Addenda: any doctor of the clinic, as themselves, on a signed consultation (the trigger); never changed.
create policy insert_doctors on app_public.consultation_addenda for insert to app_user
  with check ((select app_public.current_role_is('doctor')) and author_id = (select app_public.current_member_id()));
grant insert (consultation_id, body) on app_public.consultation_addenda to app_user;

-- ICD-10 codes: a bundled list of common codes (ICD-10-CM, CMS/CDC, public domain: docs/architecture.md
-- says which and how many), shared by every clinic and read-only, plus each clinic's own codes. The
-- bundled list is no tenant table: app_private, no grant, read through app_hidden.search_bundled_icd10.
create table app_private.bundled_icd10_codes (
  code text primary key constraint bundled_icd10_codes_code_format check (code ~ '^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$'),
  description text not null constraint bundled_icd10_codes_description_length check (char_length(description) between 1 and 500)
);
create index bundled_icd10_codes_code_prefix_idx on app_private.bundled_icd10_codes (code text_pattern_ops);
create index bundled_icd10_codes_description_words_idx on app_private.bundled_icd10_codes using gin (to_tsvector('simple', description));
-- The bundled list: 321 common codes of ICD-10-CM (2024 code set, CMS and CDC's NCHS, in the public
-- domain), chosen for primary care: infections, chronic disease, symptoms (R), injuries (S, T) and
-- encounters (Z), with their official short descriptions.
insert into app_private.bundled_icd10_codes (code, description) values
  ('A08.4', 'Viral intestinal infection, unspecified'),
  ('A09', 'Infectious gastroenteritis and colitis, unspecified'),
  ('A15.0', 'Tuberculosis of lung'),
  ('A41.9', 'Sepsis, unspecified organism'),
  ('A49.9', 'Bacterial infection, unspecified'),
  ('A59.01', 'Trichomonal vulvovaginitis'),
  ('A60.04', 'Herpesviral vulvovaginitis'),
  ('A63.0', 'Anogenital (venereal) warts'),
  ('A90', 'Dengue fever [classical dengue]'),
  ('B00.1', 'Herpesviral vesicular dermatitis'),
  ('B01.9', 'Varicella without complication'),
  ('B02.9', 'Zoster without complications'),
  ('B05.9', 'Measles without complication'),
  ('B07.9', 'Viral wart, unspecified'),
  ('B08.1', 'Molluscum contagiosum'),
  ('B08.4', 'Enteroviral vesicular stomatitis with exanthem'),
  ('B15.9', 'Hepatitis A without hepatic coma'),
  ('B16.9', 'Acute hepatitis B without delta-agent and without hepatic coma'),
  ('B18.1', 'Chronic viral hepatitis B without delta-agent'),
  ('B18.2', 'Chronic viral hepatitis C'),
  ('B20', 'Human immunodeficiency virus [HIV] disease'),
  ('B27.90', 'Infectious mononucleosis, unspecified without complication'),
  ('B34.9', 'Viral infection, unspecified'),
  ('B35.1', 'Tinea unguium'),
  ('B35.3', 'Tinea pedis'),
  ('B35.4', 'Tinea corporis'),
  ('B36.0', 'Pityriasis versicolor'),
  ('B37.0', 'Candidal stomatitis'),
  ('B37.2', 'Candidiasis of skin and nail'),
  ('B37.3', 'Candidiasis of vulva and vagina'),
  ('B50.9', 'Plasmodium falciparum malaria, unspecified'),
  ('B54', 'Unspecified malaria'),
  ('B80', 'Enterobiasis'),
  ('B82.9', 'Intestinal parasitism, unspecified'),
  ('B86', 'Scabies'),
  ('B96.20', 'Unspecified Escherichia coli [E. coli] as the cause of diseases classified elsewhere'),
  ('C18.9', 'Malignant neoplasm of colon, unspecified'),
  ('C34.90', 'Malignant neoplasm of unspecified part of unspecified bronchus or lung'),
  ('C44.91', 'Basal cell carcinoma of skin, unspecified'),
  ('C50.919', 'Malignant neoplasm of unspecified site of unspecified female breast'),
  ('C61', 'Malignant neoplasm of prostate'),
  ('D17.9', 'Benign lipomatous neoplasm, unspecified'),
  ('D22.9', 'Melanocytic nevi, unspecified'),
  ('D25.9', 'Leiomyoma of uterus, unspecified'),
  ('D50.9', 'Iron deficiency anemia, unspecified'),
  ('D51.9', 'Vitamin B12 deficiency anemia, unspecified'),
  ('D64.9', 'Anemia, unspecified'),
  ('D69.6', 'Thrombocytopenia, unspecified'),
  ('D72.829', 'Elevated white blood cell count, unspecified'),
  ('E03.9', 'Hypothyroidism, unspecified'),
  ('E04.2', 'Nontoxic multinodular goiter'),
  ('E05.90', 'Thyrotoxicosis, unspecified without thyrotoxic crisis or storm'),
  ('E06.3', 'Autoimmune thyroiditis'),
  ('E10.9', 'Type 1 diabetes mellitus without complications'),
  ('E11.22', 'Type 2 diabetes mellitus with diabetic chronic kidney disease'),
  ('E11.319', 'Type 2 diabetes mellitus with unspecified diabetic retinopathy without macular edema'),
  ('E11.40', 'Type 2 diabetes mellitus with diabetic neuropathy, unspecified'),
  ('E11.65', 'Type 2 diabetes mellitus with hyperglycemia'),
  ('E11.9', 'Type 2 diabetes mellitus without complications'),
  ('E13.9', 'Other specified diabetes mellitus without complications'),
  ('E16.2', 'Hypoglycemia, unspecified'),
  ('E28.2', 'Polycystic ovarian syndrome'),
  ('E53.8', 'Deficiency of other specified B group vitamins'),
  ('E55.9', 'Vitamin D deficiency, unspecified'),
  ('E61.1', 'Iron deficiency'),
  ('E66.01', 'Morbid (severe) obesity due to excess calories'),
  ('E66.9', 'Obesity, unspecified'),
  ('E78.00', 'Pure hypercholesterolemia, unspecified'),
  ('E78.1', 'Pure hyperglyceridemia'),
  ('E78.2', 'Mixed hyperlipidemia'),
  ('E78.5', 'Hyperlipidemia, unspecified'),
  ('E79.0', 'Hyperuricemia without signs of inflammatory arthritis and tophaceous disease'),
  ('E83.42', 'Hypomagnesemia'),
  ('E86.0', 'Dehydration'),
  ('E87.1', 'Hypo-osmolality and hyponatremia'),
  ('E87.6', 'Hypokalemia'),
  ('F10.20', 'Alcohol dependence, uncomplicated'),
  ('F17.210', 'Nicotine dependence, cigarettes, uncomplicated'),
  ('F32.9', 'Major depressive disorder, single episode, unspecified'),
  ('F32.A', 'Depression, unspecified'),
  ('F33.1', 'Major depressive disorder, recurrent, moderate'),
  ('F41.0', 'Panic disorder [episodic paroxysmal anxiety]'),
  ('F41.1', 'Generalized anxiety disorder'),
  ('F41.9', 'Anxiety disorder, unspecified'),
  ('F43.10', 'Post-traumatic stress disorder, unspecified'),
  ('F43.20', 'Adjustment disorder, unspecified'),
  ('F51.01', 'Primary insomnia'),
  ('F84.0', 'Autistic disorder'),
  ('F90.9', 'Attention-deficit hyperactivity disorder, unspecified type'),
  ('G20', 'Parkinson''s disease'),
  ('G30.9', 'Alzheimer''s disease, unspecified'),
  ('G35', 'Multiple sclerosis'),
  ('G40.909', 'Epilepsy, unspecified, not intractable, without status epilepticus'),
  ('G43.009', 'Migraine without aura, not intractable, without status migrainosus'),
  ('G43.909', 'Migraine, unspecified, not intractable, without status migrainosus'),
  ('G44.209', 'Tension-type headache, unspecified, not intractable'),
  ('G47.00', 'Insomnia, unspecified'),
  ('G47.33', 'Obstructive sleep apnea (adult) (pediatric)'),
  ('G51.0', 'Bell''s palsy'),
  ('G56.00', 'Carpal tunnel syndrome, unspecified upper limb'),
  ('G62.9', 'Polyneuropathy, unspecified'),
  ('H00.019', 'Hordeolum externum unspecified eye, unspecified eyelid'),
  ('H10.10', 'Acute atopic conjunctivitis, unspecified eye'),
  ('H10.9', 'Unspecified conjunctivitis'),
  ('H16.9', 'Unspecified keratitis'),
  ('H25.9', 'Unspecified age-related cataract'),
  ('H40.9', 'Unspecified glaucoma'),
  ('H52.4', 'Presbyopia'),
  ('H60.9', 'Unspecified otitis externa'),
  ('H61.20', 'Impacted cerumen, unspecified ear'),
  ('H65.90', 'Unspecified nonsuppurative otitis media, unspecified ear'),
  ('H66.90', 'Otitis media, unspecified, unspecified ear'),
  ('H81.10', 'Benign paroxysmal vertigo, unspecified ear'),
  ('H91.90', 'Unspecified hearing loss, unspecified ear'),
  ('H93.19', 'Tinnitus, unspecified ear'),
  ('I10', 'Essential (primary) hypertension'),
  ('I11.9', 'Hypertensive heart disease without heart failure'),
  ('I20.9', 'Angina pectoris, unspecified'),
  ('I21.9', 'Acute myocardial infarction, unspecified'),
  ('I25.10', 'Atherosclerotic heart disease of native coronary artery without angina pectoris'),
  ('I26.99', 'Other pulmonary embolism without acute cor pulmonale'),
  ('I48.91', 'Unspecified atrial fibrillation'),
  ('I49.9', 'Cardiac arrhythmia, unspecified'),
  ('I50.9', 'Heart failure, unspecified'),
  ('I63.9', 'Cerebral infarction, unspecified'),
  ('I73.9', 'Peripheral vascular disease, unspecified'),
  ('I80.209', 'Phlebitis and thrombophlebitis of unspecified deep vessels of unspecified lower extremity'),
  ('I82.409', 'Acute embolism and thrombosis of unspecified deep veins of unspecified lower extremity'),
  ('I83.90', 'Asymptomatic varicose veins of unspecified lower extremity'),
  ('I84.20', 'Unspecified hemorrhoids without complication'),
  ('I95.9', 'Hypotension, unspecified'),
  ('J00', 'Acute nasopharyngitis [common cold]'),
  ('J01.90', 'Acute sinusitis, unspecified'),
  ('J02.0', 'Streptococcal pharyngitis'),
  ('J02.9', 'Acute pharyngitis, unspecified'),
  ('J03.90', 'Acute tonsillitis, unspecified'),
  ('J04.0', 'Acute laryngitis'),
  ('J05.0', 'Acute obstructive laryngitis [croup]'),
  ('J06.9', 'Acute upper respiratory infection, unspecified'),
  ('J09.X2', 'Influenza due to identified novel influenza A virus with other respiratory manifestations'),
  ('J10.1', 'Influenza due to other identified influenza virus with other respiratory manifestations'),
  ('J11.1', 'Influenza due to unidentified influenza virus with other respiratory manifestations'),
  ('J12.9', 'Viral pneumonia, unspecified'),
  ('J15.9', 'Unspecified bacterial pneumonia'),
  ('J18.9', 'Pneumonia, unspecified organism'),
  ('J20.9', 'Acute bronchitis, unspecified'),
  ('J21.9', 'Acute bronchiolitis, unspecified'),
  ('J30.1', 'Allergic rhinitis due to pollen'),
  ('J30.9', 'Allergic rhinitis, unspecified'),
  ('J31.0', 'Chronic rhinitis'),
  ('J32.9', 'Chronic sinusitis, unspecified'),
  ('J35.01', 'Chronic tonsillitis'),
  ('J40', 'Bronchitis, not specified as acute or chronic'),
  ('J42', 'Unspecified chronic bronchitis'),
  ('J43.9', 'Emphysema, unspecified'),
  ('J44.1', 'Chronic obstructive pulmonary disease with (acute) exacerbation'),
  ('J44.9', 'Chronic obstructive pulmonary disease, unspecified'),
  ('J45.20', 'Mild intermittent asthma, uncomplicated'),
  ('J45.30', 'Mild persistent asthma, uncomplicated'),
  ('J45.40', 'Moderate persistent asthma, uncomplicated'),
  ('J45.901', 'Unspecified asthma with (acute) exacerbation'),
  ('J45.909', 'Unspecified asthma, uncomplicated'),
  ('J96.00', 'Acute respiratory failure, unspecified whether with hypoxia or hypercapnia'),
  ('K02.9', 'Dental caries, unspecified'),
  ('K04.7', 'Periapical abscess without sinus'),
  ('K05.10', 'Chronic gingivitis, plaque induced'),
  ('K12.0', 'Recurrent oral aphthae'),
  ('K21.9', 'Gastro-esophageal reflux disease without esophagitis'),
  ('K25.9', 'Gastric ulcer, unspecified as acute or chronic, without hemorrhage or perforation'),
  ('K27.9', 'Peptic ulcer, site unspecified, unspecified as acute or chronic, without hemorrhage or perforation'),
  ('K29.70', 'Gastritis, unspecified, without bleeding'),
  ('K30', 'Functional dyspepsia'),
  ('K35.80', 'Unspecified acute appendicitis'),
  ('K40.90', 'Unilateral inguinal hernia, without obstruction or gangrene, not specified as recurrent'),
  ('K42.9', 'Umbilical hernia without obstruction or gangrene'),
  ('K52.9', 'Noninfective gastroenteritis and colitis, unspecified'),
  ('K57.30', 'Diverticulosis of large intestine without perforation or abscess without bleeding'),
  ('K58.9', 'Irritable bowel syndrome without diarrhea'),
  ('K59.00', 'Constipation, unspecified'),
  ('K60.2', 'Anal fissure, unspecified'),
  ('K64.9', 'Unspecified hemorrhoids'),
  ('K76.0', 'Fatty (change of) liver, not elsewhere classified'),
  ('K80.20', 'Calculus of gallbladder without cholecystitis without obstruction'),
  ('K81.9', 'Cholecystitis, unspecified'),
  ('K85.90', 'Acute pancreatitis without necrosis or infection, unspecified'),
  ('K92.1', 'Melena'),
  ('L01.00', 'Impetigo, unspecified'),
  ('L02.91', 'Cutaneous abscess, unspecified'),
  ('L03.90', 'Cellulitis, unspecified'),
  ('L08.9', 'Local infection of the skin and subcutaneous tissue, unspecified'),
  ('L20.9', 'Atopic dermatitis, unspecified'),
  ('L21.9', 'Seborrheic dermatitis, unspecified'),
  ('L23.9', 'Allergic contact dermatitis, unspecified cause'),
  ('L25.9', 'Unspecified contact dermatitis, unspecified cause'),
  ('L29.9', 'Pruritus, unspecified'),
  ('L30.9', 'Dermatitis, unspecified'),
  ('L40.0', 'Psoriasis vulgaris'),
  ('L50.9', 'Urticaria, unspecified'),
  ('L60.0', 'Ingrowing nail'),
  ('L63.9', 'Alopecia areata, unspecified'),
  ('L70.0', 'Acne vulgaris'),
  ('L72.0', 'Epidermal cyst'),
  ('L82.1', 'Other seborrheic keratosis'),
  ('L84', 'Corns and callosities'),
  ('L98.9', 'Disorder of the skin and subcutaneous tissue, unspecified'),
  ('M06.9', 'Rheumatoid arthritis, unspecified'),
  ('M10.9', 'Gout, unspecified'),
  ('M15.9', 'Polyosteoarthritis, unspecified'),
  ('M16.9', 'Osteoarthritis of hip, unspecified'),
  ('M17.9', 'Osteoarthritis of knee, unspecified'),
  ('M19.90', 'Unspecified osteoarthritis, unspecified site'),
  ('M25.50', 'Pain in unspecified joint'),
  ('M25.561', 'Pain in right knee'),
  ('M25.562', 'Pain in left knee'),
  ('M54.16', 'Radiculopathy, lumbar region'),
  ('M54.2', 'Cervicalgia'),
  ('M54.30', 'Sciatica, unspecified side'),
  ('M54.50', 'Low back pain, unspecified'),
  ('M62.830', 'Muscle spasm of back'),
  ('M65.30', 'Trigger finger, unspecified finger'),
  ('M67.40', 'Ganglion, unspecified site'),
  ('M72.2', 'Plantar fascial fibromatosis'),
  ('M75.100', 'Unspecified rotator cuff tear or rupture of unspecified shoulder, not specified as traumatic'),
  ('M77.10', 'Lateral epicondylitis, unspecified elbow'),
  ('M79.10', 'Myalgia, unspecified site'),
  ('M79.7', 'Fibromyalgia'),
  ('M81.0', 'Age-related osteoporosis without current pathological fracture'),
  ('N18.9', 'Chronic kidney disease, unspecified'),
  ('N20.0', 'Calculus of kidney'),
  ('N23', 'Unspecified renal colic'),
  ('N30.00', 'Acute cystitis without hematuria'),
  ('N39.0', 'Urinary tract infection, site not specified'),
  ('N40.0', 'Benign prostatic hyperplasia without lower urinary tract symptoms'),
  ('N41.0', 'Acute prostatitis'),
  ('N60.19', 'Diffuse cystic mastopathy of unspecified breast'),
  ('N63.0', 'Unspecified lump in unspecified breast'),
  ('N73.9', 'Female pelvic inflammatory disease, unspecified'),
  ('N76.0', 'Acute vaginitis'),
  ('N80.9', 'Endometriosis, unspecified'),
  ('N83.20', 'Unspecified ovarian cysts'),
  ('N91.2', 'Amenorrhea, unspecified'),
  ('N92.0', 'Excessive and frequent menstruation with regular cycle'),
  ('N94.6', 'Dysmenorrhea, unspecified'),
  ('N95.1', 'Menopausal and female climacteric states'),
  ('N97.9', 'Female infertility, unspecified'),
  ('O03.9', 'Complete or unspecified spontaneous abortion without complication'),
  ('O13.9', 'Gestational [pregnancy-induced] hypertension without significant proteinuria, unspecified trimester'),
  ('O21.0', 'Mild hyperemesis gravidarum'),
  ('O24.419', 'Gestational diabetes mellitus in pregnancy, unspecified control'),
  ('O80', 'Encounter for full-term uncomplicated delivery'),
  ('P59.9', 'Neonatal jaundice, unspecified'),
  ('R00.0', 'Tachycardia, unspecified'),
  ('R00.2', 'Palpitations'),
  ('R03.0', 'Elevated blood-pressure reading, without diagnosis of hypertension'),
  ('R05.9', 'Cough, unspecified'),
  ('R06.00', 'Dyspnea, unspecified'),
  ('R06.2', 'Wheezing'),
  ('R07.9', 'Chest pain, unspecified'),
  ('R10.13', 'Epigastric pain'),
  ('R10.31', 'Right lower quadrant pain'),
  ('R10.9', 'Unspecified abdominal pain'),
  ('R11.0', 'Nausea'),
  ('R11.10', 'Vomiting, unspecified'),
  ('R11.2', 'Nausea with vomiting, unspecified'),
  ('R19.7', 'Diarrhea, unspecified'),
  ('R21', 'Rash and other nonspecific skin eruption'),
  ('R25.2', 'Cramp and spasm'),
  ('R31.9', 'Hematuria, unspecified'),
  ('R35.0', 'Frequency of micturition'),
  ('R42', 'Dizziness and giddiness'),
  ('R50.9', 'Fever, unspecified'),
  ('R51.9', 'Headache, unspecified'),
  ('R53.83', 'Other fatigue'),
  ('R55', 'Syncope and collapse'),
  ('R59.0', 'Localized enlarged lymph nodes'),
  ('R60.0', 'Localized edema'),
  ('R63.4', 'Abnormal weight loss'),
  ('R73.03', 'Prediabetes'),
  ('R73.9', 'Hyperglycemia, unspecified'),
  ('R80.9', 'Proteinuria, unspecified'),
  ('R94.31', 'Abnormal electrocardiogram [ECG] [EKG]'),
  ('S00.93XA', 'Contusion of unspecified part of head, initial encounter'),
  ('S01.01XA', 'Laceration without foreign body of scalp, initial encounter'),
  ('S06.0X0A', 'Concussion without loss of consciousness, initial encounter'),
  ('S13.4XXA', 'Sprain of ligaments of cervical spine, initial encounter'),
  ('S39.012A', 'Strain of muscle, fascia and tendon of lower back, initial encounter'),
  ('S52.501A', 'Unspecified fracture of the lower end of right radius, initial encounter for closed fracture'),
  ('S61.219A', 'Laceration without foreign body of unspecified finger without damage to nail, initial encounter'),
  ('S62.609A', 'Fracture of unspecified phalanx of unspecified finger, initial encounter for closed fracture'),
  ('S83.90XA', 'Sprain of unspecified site of unspecified knee, initial encounter'),
  ('S93.401A', 'Sprain of unspecified ligament of right ankle, initial encounter'),
  ('S93.402A', 'Sprain of unspecified ligament of left ankle, initial encounter'),
  ('T14.90XA', 'Injury, unspecified, initial encounter'),
  ('T30.0', 'Burn of unspecified body region, unspecified degree'),
  ('T63.441A', 'Toxic effect of venom of bees, accidental (unintentional), initial encounter'),
  ('T78.2XXA', 'Anaphylactic shock, unspecified, initial encounter'),
  ('T78.3XXA', 'Angioneurotic edema, initial encounter'),
  ('T78.40XA', 'Allergy, unspecified, initial encounter'),
  ('U07.1', 'COVID-19'),
  ('W57.XXXA', 'Bitten or stung by nonvenomous insect and other nonvenomous arthropods, initial encounter'),
  ('Z00.00', 'Encounter for general adult medical examination without abnormal findings'),
  ('Z00.129', 'Encounter for routine child health examination without abnormal findings'),
  ('Z01.419', 'Encounter for gynecological examination (general) (routine) without abnormal findings'),
  ('Z09', 'Encounter for follow-up examination after completed treatment for conditions other than malignant neoplasm'),
  ('Z11.59', 'Encounter for screening for other viral diseases'),
  ('Z12.31', 'Encounter for screening mammogram for malignant neoplasm of breast'),
  ('Z13.1', 'Encounter for screening for diabetes mellitus'),
  ('Z20.822', 'Contact with and (suspected) exposure to COVID-19'),
  ('Z23', 'Encounter for immunization'),
  ('Z30.09', 'Encounter for other general counseling and advice on contraception'),
  ('Z32.01', 'Encounter for pregnancy test, result positive'),
  ('Z34.90', 'Encounter for supervision of normal pregnancy, unspecified, unspecified trimester'),
  ('Z51.81', 'Encounter for therapeutic drug level monitoring'),
  ('Z71.3', 'Dietary counseling and surveillance'),
  ('Z76.0', 'Encounter for issue of repeat prescription'),
  ('Z79.01', 'Long term (current) use of anticoagulants'),
  ('Z79.4', 'Long term (current) use of insulin'),
  ('Z87.891', 'Personal history of nicotine dependence'),
  ('Z88.0', 'Allergy status to penicillin'),
  ('Z91.010', 'Allergy to peanuts'),
  ('Z95.1', 'Presence of aortocoronary bypass graft');
comment on table app_private.bundled_icd10_codes is 'Common ICD-10 codes with their text (a curated subset of ICD-10-CM), the same for every clinic.';

-- The look-up in the bundled list: codes starting with `prefix` (upper-case, LIKE-escaped by the
-- caller) or whose text matches `words` (a tsquery of word prefixes, 'chest:* & pain:*'), by code,
-- at most `max_rows` (1–50). SECURITY DEFINER: app_user has no grant on app_private; the list is
-- public reference data, the same for every caller, so there is no caller to check beyond the grant.
create function app_hidden.search_bundled_icd10(prefix text, words text, max_rows integer)
  returns table (code text, description text)
  language sql stable security definer
  set search_path = pg_catalog, pg_temp
begin atomic
  select b.code, b.description from app_private.bundled_icd10_codes b
  where b.code like search_bundled_icd10.prefix
     or (search_bundled_icd10.words is not null and to_tsvector('simple', b.description) @@ to_tsquery('simple', search_bundled_icd10.words))
  order by b.code
  limit least(greatest(search_bundled_icd10.max_rows, 1), 50);
end;
grant execute on function app_hidden.search_bundled_icd10(text, text, integer) to app_user;
comment on function app_hidden.search_bundled_icd10(text, text, integer) is
  'Common ICD-10 codes (the bundled list) by code prefix or word prefixes of their text.';

create table app_public.clinic_icd10_codes (
  clinic_id uuid not null default app_public.current_clinic_id() references app_public.clinics (id),
  id uuid not null default gen_random_uuid(),
  code text not null constraint clinic_icd10_codes_code_format check (code ~ '^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$'),
  description text not null constraint clinic_icd10_codes_description_length check (char_length(description) between 1 and 500)
    constraint clinic_icd10_codes_description_check check (description !~ '[\x01-\x1f\x7f]'),
  created_by uuid not null default app_public.current_member_id(),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (clinic_id, id),
  constraint clinic_icd10_codes_code_key unique (clinic_id, code),
  constraint clinic_icd10_codes_created_by_fkey foreign key (clinic_id, created_by) references app_public.clinic_members (clinic_id, id)
);
alter table app_public.clinic_icd10_codes enable row level security;
alter table app_public.clinic_icd10_codes force row level security;
create index clinic_icd10_codes_code_prefix_idx on app_public.clinic_icd10_codes (clinic_id, code text_pattern_ops);
create index clinic_icd10_codes_description_words_idx on app_public.clinic_icd10_codes using gin (clinic_id, to_tsvector('simple', description));
create index clinic_icd10_codes_created_by_idx on app_public.clinic_icd10_codes (clinic_id, created_by);
create policy tenant_isolation on app_public.clinic_icd10_codes as restrictive to app_user
  using (clinic_id = (select app_public.current_clinic_id()))
  with check (clinic_id = (select app_public.current_clinic_id()));
-- Clinicians read them (the look-up); clinic admins and doctors add them, as themselves; nobody
-- changes or deletes one (a diagnosis keeps its own text, and a code in use stays known).
create policy select_clinicians on app_public.clinic_icd10_codes for select to app_user
  using ((select app_public.current_role_is('clinic_admin', 'doctor', 'nurse')));
create policy insert_admins_and_doctors on app_public.clinic_icd10_codes for insert to app_user
  with check ((select app_public.current_role_is('clinic_admin', 'doctor')) and created_by = (select app_public.current_member_id()));
create policy read_by_definer_functions on app_public.clinic_icd10_codes for select to app_owner
  using (true);
grant select, insert (code, description) on app_public.clinic_icd10_codes to app_user;
create trigger _100_updated_at before update on app_public.clinic_icd10_codes
  for each row execute function app_private.tg_set_updated_at();
create trigger _900_audit after insert or update or delete on app_public.clinic_icd10_codes
  for each row execute function app_private.tg_audit_row('id');
comment on table app_public.clinic_icd10_codes is E'@unique id\n@behavior -update -delete\nAn ICD-10 code a clinic added to the bundled list (a local or newer code).';
comment on constraint clinic_icd10_codes_pkey on app_public.clinic_icd10_codes is '@behavior -single -update -delete';
comment on constraint clinic_icd10_codes_code_key on app_public.clinic_icd10_codes is '@behavior -single -update -delete';
comment on column app_public.clinic_icd10_codes.clinic_id is '@behavior -*';
comment on column app_public.clinic_icd10_codes.code is E'@behavior +filterBy +orderBy\nThe ICD-10 code, e.g. J45.909.';
comment on column app_public.clinic_icd10_codes.created_by is E'@behavior -insert\nThe member who added it.';

-- A diagnosis without text takes its code's: the clinic's own first, then the bundled list.
create function app_private.tg_diagnosis_default_description()
  returns trigger
  language plpgsql security definer
  set search_path = pg_catalog, pg_temp
as $$
begin
  if new.description is null then
    new.description := coalesce(
      (select k.description from app_public.clinic_icd10_codes k where k.clinic_id = new.clinic_id and k.code = new.icd10_code),
      (select b.description from app_private.bundled_icd10_codes b where b.code = new.icd10_code));
  end if;
  return new;
end;
$$;
create trigger _060_default_description before insert or update on app_public.diagnoses
  for each row execute function app_private.tg_diagnosis_default_description();

-- GraphQL: reads only. Opening a consultation moves the visit (REST checks the caller's queue and
-- answers the visit's state), editing needs If-Match (REST compares versions), signing is a state
-- move REST guards with If-Match, vital signs and diagnoses are written under REST's draft and
-- author rules and addenda after signing: every write is a workflow REST runs, so GraphQL offers
-- no mutation on these tables. Reads: a visit's consultation, a consultation's vital signs,
-- diagnoses and addenda (relations); every read of them is logged (src/graphql/chart-access.ts).
comment on table app_public.consultations is E'@unique id\n@behavior -insert -update -delete\nA doctor''s consultation during a visit: draft while written, then signed and locked.';
comment on constraint consultations_pkey on app_public.consultations is '@behavior -single -update -delete';
comment on constraint consultations_patient_key on app_public.consultations is '@behavior -single -update -delete';
comment on constraint consultations_visit_id_key on app_public.consultations is '@behavior -single -update -delete';
comment on column app_public.consultations.clinic_id is '@behavior -*';
comment on column app_public.consultations.status is 'draft or signed.';
comment on column app_public.consultations.version is 'Counts updates: the ETag REST answers and If-Match compares.';
-- A child's reference is (clinic, consultation, patient): named for its consultation, both ways.
comment on constraint vitals_consultation_id_fkey on app_public.vitals is E'@fieldName consultation\n@foreignFieldName vitals';
comment on constraint diagnoses_consultation_id_fkey on app_public.diagnoses is E'@fieldName consultation\n@foreignFieldName diagnoses';
comment on constraint consultation_addenda_consultation_id_fkey on app_public.consultation_addenda is E'@fieldName consultation\n@foreignFieldName addenda';
comment on table app_public.vitals is E'@unique id\n@behavior -insert -update -delete\nA reading of vital signs during a consultation, in the units the field names state.';
comment on constraint vitals_pkey on app_public.vitals is '@behavior -single -update -delete';
comment on column app_public.vitals.clinic_id is '@behavior -*';
comment on table app_public.diagnoses is E'@unique id\n@behavior -insert -update -delete\nAn ICD-10 diagnosis of a consultation, primary or secondary.';
comment on constraint diagnoses_pkey on app_public.diagnoses is '@behavior -single -update -delete';
comment on column app_public.diagnoses.clinic_id is '@behavior -*';
comment on table app_public.consultation_addenda is E'@unique id\n@behavior -insert -update -delete\nA signed correction of a signed consultation, never changed.';
comment on constraint consultation_addenda_pkey on app_public.consultation_addenda is '@behavior -single -update -delete';
comment on column app_public.consultation_addenda.clinic_id is '@behavior -*';

--! split: 0200-prescriptions
-- Prescriptions, issued by doctors from a consultation. prescription_number is set by the
-- database when the prescription is issued (unique per clinic); issued prescriptions are locked.
create table app_public.prescriptions (
  clinic_id uuid not null default app_public.current_clinic_id() references app_public.clinics (id),
  id uuid not null default gen_random_uuid(),
  consultation_id uuid not null,
  patient_id uuid not null,
  doctor_id uuid not null default app_public.current_member_id(),
  prescription_number text constraint prescriptions_prescription_number_format check (prescription_number ~ '^RX-[0-9]{4}-[0-9]{5,}$'),
  status text not null default 'draft' constraint prescriptions_status_valid check (status in ('draft', 'issued', 'completed', 'cancelled')),
  notes text constraint prescriptions_notes_length check (char_length(notes) between 1 and 2000)
    constraint prescriptions_notes_check check (notes !~ '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]'),
  version integer not null default 1 constraint prescriptions_version_valid check (version > 0),
  issued_at timestamptz,
  completed_at timestamptz,
  cancelled_at timestamptz,
  cancellation_reason text constraint prescriptions_cancellation_reason_length check (char_length(cancellation_reason) between 1 and 500)
    constraint prescriptions_cancellation_reason_check check (cancellation_reason !~ '[\x01-\x1f\x7f]'),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (clinic_id, id),
  constraint prescriptions_patient_key unique (clinic_id, id, patient_id),
  constraint prescriptions_prescription_number_key unique (clinic_id, prescription_number),
  constraint prescriptions_consultation_id_fkey foreign key (clinic_id, consultation_id, patient_id)
    references app_public.consultations (clinic_id, id, patient_id) on update cascade,
  constraint prescriptions_doctor_id_fkey foreign key (clinic_id, doctor_id) references app_public.clinic_members (clinic_id, id),
  -- Issued (or completed, or cancelled after issue): a number and issue time; a draft, or a draft cancelled: neither.
  constraint prescriptions_issued_valid check ((issued_at is null) = (prescription_number is null) and (status <> 'draft' or issued_at is null)
    and (status not in ('issued', 'completed') or issued_at is not null))
);
alter table app_public.prescriptions enable row level security;
alter table app_public.prescriptions force row level security;
create index prescriptions_consultation_id_idx on app_public.prescriptions (clinic_id, consultation_id);
create index prescriptions_patient_id_idx on app_public.prescriptions (clinic_id, patient_id, created_at desc);
create index prescriptions_doctor_id_idx on app_public.prescriptions (clinic_id, doctor_id, created_at desc);
create policy tenant_isolation on app_public.prescriptions as restrictive to app_user
  using (clinic_id = (select app_public.current_clinic_id()))
  with check (clinic_id = (select app_public.current_clinic_id()));

-- The medicines of a prescription, in the order written (position).
create table app_public.prescription_items (
  clinic_id uuid not null default app_public.current_clinic_id() references app_public.clinics (id),
  id uuid not null default gen_random_uuid(),
  prescription_id uuid not null,
  patient_id uuid not null,
  position integer not null constraint prescription_items_position_valid check (position between 1 and 50),
  medicine_name text not null constraint prescription_items_medicine_name_length check (char_length(medicine_name) between 1 and 200)
    constraint prescription_items_medicine_name_check check (medicine_name !~ '[\x01-\x1f\x7f]'),
  generic_name text constraint prescription_items_generic_name_length check (char_length(generic_name) between 1 and 200)
    constraint prescription_items_generic_name_check check (generic_name !~ '[\x01-\x1f\x7f]'),
  strength text constraint prescription_items_strength_length check (char_length(strength) between 1 and 60)
    constraint prescription_items_strength_check check (strength !~ '[\x01-\x1f\x7f]'),
  dose_form text not null constraint prescription_items_dose_form_valid check (dose_form in ('tablet', 'capsule', 'syrup', 'suspension', 'injection', 'cream', 'ointment', 'drops', 'inhaler', 'patch', 'suppository', 'other')),
  dose text not null constraint prescription_items_dose_length check (char_length(dose) between 1 and 60)
    constraint prescription_items_dose_check check (dose !~ '[\x01-\x1f\x7f]'),
  frequency text not null constraint prescription_items_frequency_valid check (frequency in ('OD', 'BD', 'TDS', 'QID', 'PRN', 'custom')),
  frequency_custom text constraint prescription_items_frequency_custom_length check (char_length(frequency_custom) between 1 and 100)
    constraint prescription_items_frequency_custom_check check (frequency_custom !~ '[\x01-\x1f\x7f]'),
  route text not null constraint prescription_items_route_valid check (route in ('oral', 'sublingual', 'topical', 'inhaled', 'intravenous', 'intramuscular', 'subcutaneous', 'rectal', 'vaginal', 'ophthalmic', 'otic', 'nasal', 'other')),
  duration_days integer constraint prescription_items_duration_days_valid check (duration_days between 1 and 365),
  quantity integer not null constraint prescription_items_quantity_valid check (quantity between 1 and 10000),
  refills integer not null default 0 constraint prescription_items_refills_valid check (refills between 0 and 12),
  instructions text constraint prescription_items_instructions_length check (char_length(instructions) between 1 and 1000)
    constraint prescription_items_instructions_check check (instructions !~ '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]'),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (clinic_id, id),
  constraint prescription_items_position_key unique (clinic_id, prescription_id, position) deferrable initially deferred,
  constraint prescription_items_prescription_id_fkey foreign key (clinic_id, prescription_id, patient_id)
    references app_public.prescriptions (clinic_id, id, patient_id) on update cascade,
  constraint prescription_items_frequency_custom_valid check ((frequency = 'custom') = (frequency_custom is not null))
);
alter table app_public.prescription_items enable row level security;
alter table app_public.prescription_items force row level security;
create policy tenant_isolation on app_public.prescription_items as restrictive to app_user
  using (clinic_id = (select app_public.current_clinic_id()))
  with check (clinic_id = (select app_public.current_clinic_id()));

--! split: 0210-prescription-rules
-- Who writes prescriptions, their state machine, numbering, locks and the allergy rule.
--
-- Writers: the doctor who authored the consultation writes its prescriptions (and only while the
-- consultation is a draft or signed: a prescription is part of the encounter, so another doctor of
-- the clinic writes one from a consultation of their own, not into a colleague's). Only the author
-- updates a prescription, and only while it is a draft (the lock below); the status moves are the
-- author's too. Nobody deletes a prescription: a draft written in error is cancelled, so every
-- prescription number and every cancelled draft stays in the record (footnote 1). The items of a
-- draft are replaced by deleting and inserting rows (PATCH sends the whole list): the author may
-- delete items of a draft only; the lock refuses it once the prescription is issued, for every
-- role, the owner included.
--
-- State machine (trigger _010_prescription_transition, SQLSTATE CBSTA, the rule as CONSTRAINT):
-- draft → issued → completed | cancelled; draft → cancelled. issued_at, the number, completed_at
-- and cancelled_at are stamped here, never written by a client (no grant). Issuing needs at least
-- one item and an acknowledgement of every active allergy of the patient that one of its
-- medicines matches (SQLSTATE CBALG). Once issued, completed or cancelled, a prescription is
-- locked (CBLCK): only the moves above change it, and its items and acknowledgements never.
-- The transition trigger runs as the caller (SECURITY INVOKER): the only role that may update a
-- prescription (its doctor) reads its items, acknowledgements and the patient's allergies.
create policy insert_consultation_author on app_public.prescriptions for insert to app_user
  with check ((select app_public.current_role_is('doctor')) and doctor_id = (select app_public.current_member_id())
    and exists (select from app_public.consultations c where c.clinic_id = prescriptions.clinic_id and c.id = prescriptions.consultation_id
      and c.doctor_id = (select app_public.current_member_id()) and c.status in ('draft', 'signed')));
create policy update_author on app_public.prescriptions for update to app_user
  using ((select app_public.current_role_is('doctor')) and doctor_id = (select app_public.current_member_id()))
  with check ((select app_public.current_role_is('doctor')) and doctor_id = (select app_public.current_member_id()));
-- doctor_id may be named on insert only as the caller's own membership (the policy's check).
grant insert (consultation_id, patient_id, doctor_id, notes), update (notes, status, cancellation_reason) on app_public.prescriptions to app_user;

create policy insert_author on app_public.prescription_items for insert to app_user
  with check ((select app_public.current_role_is('doctor')) and exists (
    select from app_public.prescriptions p where p.clinic_id = prescription_items.clinic_id and p.id = prescription_items.prescription_id
      and p.doctor_id = (select app_public.current_member_id())));
create policy update_author on app_public.prescription_items for update to app_user
  using ((select app_public.current_role_is('doctor')) and exists (
    select from app_public.prescriptions p where p.clinic_id = prescription_items.clinic_id and p.id = prescription_items.prescription_id
      and p.doctor_id = (select app_public.current_member_id())))
  with check ((select app_public.current_role_is('doctor')));
create policy delete_author on app_public.prescription_items for delete to app_user
  using ((select app_public.current_role_is('doctor')) and exists (
    select from app_public.prescriptions p where p.clinic_id = prescription_items.clinic_id and p.id = prescription_items.prescription_id
      and p.doctor_id = (select app_public.current_member_id())));
-- The reference's columns in order (the position key leads with the prescription but not the
-- patient): GraphQL shows a prescription's items only where an index serves the relation.
create index prescription_items_prescription_id_idx on app_public.prescription_items (clinic_id, prescription_id, patient_id);
grant delete on app_public.prescription_items to app_user;
grant insert (prescription_id, patient_id, position, medicine_name, generic_name, strength, dose_form, dose, frequency, frequency_custom,
    route, duration_days, quantity, refills, instructions),
  update (position, medicine_name, generic_name, strength, dose_form, dose, frequency, frequency_custom, route, duration_days, quantity,
    refills, instructions)
  on app_public.prescription_items to app_user;

-- An allergy the doctor knowingly prescribes against: recorded with the prescription (who, when,
-- which allergy, why), before it is issued, in the issuing transaction. Insert-only and locked
-- with the prescription.
create table app_public.prescription_allergy_acknowledgements (
  clinic_id uuid not null default app_public.current_clinic_id() references app_public.clinics (id),
  id uuid not null default gen_random_uuid(),
  prescription_id uuid not null,
  patient_id uuid not null,
  allergy_id uuid not null,
  note text not null constraint prescription_allergy_acknowledgements_note_length check (char_length(note) between 1 and 1000)
    constraint prescription_allergy_acknowledgements_note_check check (note !~ '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]'),
  acknowledged_by uuid not null default app_public.current_member_id(),
  created_at timestamptz not null default now(),
  primary key (clinic_id, id),
  constraint prescription_allergy_acknowledgements_prescription_id_fkey foreign key (clinic_id, prescription_id, patient_id)
    references app_public.prescriptions (clinic_id, id, patient_id) on update cascade,
  constraint prescription_allergy_acknowledgements_allergy_id_fkey foreign key (clinic_id, allergy_id)
    references app_public.patient_history (clinic_id, id),
  constraint prescription_allergy_acknowledgements_acknowledged_by_fkey foreign key (clinic_id, acknowledged_by)
    references app_public.clinic_members (clinic_id, id)
);
alter table app_public.prescription_allergy_acknowledgements enable row level security;
alter table app_public.prescription_allergy_acknowledgements force row level security;
create index prescription_allergy_acknowledgements_allergy_id_idx on app_public.prescription_allergy_acknowledgements (clinic_id, allergy_id);
-- Serves the reference's columns in order: reading a prescription's acknowledgements, and GraphQL's relation.
create index prescription_allergy_acknowledgements_prescription_id_idx on app_public.prescription_allergy_acknowledgements (clinic_id, prescription_id, patient_id);
create policy tenant_isolation on app_public.prescription_allergy_acknowledgements as restrictive to app_user
  using (clinic_id = (select app_public.current_clinic_id()))
  with check (clinic_id = (select app_public.current_clinic_id()));
create policy select_clinicians on app_public.prescription_allergy_acknowledgements for select to app_user
  using ((select app_public.current_role_is('clinic_admin', 'doctor', 'nurse')));
create policy insert_author on app_public.prescription_allergy_acknowledgements for insert to app_user
  with check ((select app_public.current_role_is('doctor')) and acknowledged_by = (select app_public.current_member_id()) and exists (
    select from app_public.prescriptions p where p.clinic_id = prescription_allergy_acknowledgements.clinic_id
      and p.id = prescription_allergy_acknowledgements.prescription_id and p.doctor_id = (select app_public.current_member_id())));
grant select, insert (prescription_id, patient_id, allergy_id, note) on app_public.prescription_allergy_acknowledgements to app_user;
create trigger _900_audit after insert or update or delete on app_public.prescription_allergy_acknowledgements
  for each row execute function app_private.tg_audit_row('id');

-- The allergy rule, one definition for the trigger and the API: an item matches an allergy when,
-- case-insensitively, the allergy's name (trimmed) occurs as whole words in the item's medicine
-- name or generic name, or either name occurs as whole words in the allergy's name ("Penicillin"
-- matches "Penicillin V" and "penicillin allergy"; "Amoxicillin" does not match "Penicillin": drug
-- classes are not expanded). Whole words: the phrase is neither preceded nor followed by a word
-- character (a letter, digit or _), every other character of the names matched literally. Only active
-- allergies (patient_history kind 'allergy', is_active) count. SECURITY INVOKER: the caller's
-- policies apply (the prescribing doctor reads all three tables).
create function app_private.words_match(haystack text, needle text)
  returns boolean
  language sql immutable strict
  set search_path = pg_catalog, pg_temp
begin atomic
  select haystack ~* ('(^|[^[:alnum:]_])' || regexp_replace(btrim(needle), '([^[:alnum:][:space:]])', '\\\1', 'g') || '($|[^[:alnum:]_])');
end;
comment on function app_private.words_match(text, text) is
  'True when needle (trimmed) occurs in haystack as whole words, case-insensitively; needle''s punctuation matches literally.';
grant execute on function app_private.words_match(text, text) to app_user;

create function app_public.prescription_allergy_matches(prescription_id uuid)
  returns table (allergy_id uuid, allergy_name text, item_position integer, medicine_name text, acknowledged boolean)
  language sql stable
  set search_path = pg_catalog, pg_temp
begin atomic
  select h.id, h.name, i.position, i.medicine_name,
      exists (select from app_public.prescription_allergy_acknowledgements a
        where a.clinic_id = p.clinic_id and a.prescription_id = p.id and a.allergy_id = h.id)
    from app_public.prescriptions p
    join app_public.prescription_items i on i.clinic_id = p.clinic_id and i.prescription_id = p.id
    join app_public.patient_history h on h.clinic_id = p.clinic_id and h.patient_id = p.patient_id and h.kind = 'allergy' and h.is_active
    where p.id = prescription_allergy_matches.prescription_id
      and (app_private.words_match(i.medicine_name, h.name) or app_private.words_match(i.generic_name, h.name)
        or app_private.words_match(h.name, i.medicine_name) or app_private.words_match(h.name, i.generic_name))
    order by i.position, h.name, h.id;
end;
-- In app_public: the API reads it (and the transition trigger, as the caller); GraphQL does not
-- show it (REST's issue answers the same matches in its 409).
comment on function app_public.prescription_allergy_matches(uuid) is
  E'@behavior -*\nThe active allergies of the patient that an item of the prescription matches (see the rule above), and whether each is acknowledged.';
grant execute on function app_public.prescription_allergy_matches(uuid) to app_user;

create function app_private.tg_prescription_transition()
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
  'The prescriptions'' state machine and lock: draft → issued → completed | cancelled, draft → cancelled; locked once issued.';

-- The number, RX-YYYY-NNNNN: per clinic and year of the clinic's calendar at issue, consecutive
-- (the counter row is locked by the issuing transaction until it ends; a rolled-back issue gives
-- its number back). SECURITY DEFINER for the owner-only counter; a trigger function cannot be
-- called on its own.
create function app_private.tg_prescription_number()
  returns trigger
  language plpgsql security definer
  set search_path = pg_catalog, pg_temp
as $$
declare
  year text;
  serial integer;
begin
  if new.status = 'issued' and old.status = 'draft' then
    year := pg_catalog.to_char(app_private.clinic_local_now(new.clinic_id), 'YYYY');
    serial := app_private.next_clinic_number(new.clinic_id, 'prescription_number', year);
    new.prescription_number := 'RX-' || year || '-' || pg_catalog.lpad(serial::text, greatest(5, pg_catalog.length(serial::text)), '0');
  end if;
  return new;
end;
$$;

create function app_private.tg_bump_prescription_version()
  returns trigger
  language plpgsql
  set search_path = pg_catalog, pg_temp
as $$
begin
  new.version := old.version + 1;
  return new;
end;
$$;

-- Items and acknowledgements: written only while their prescription is a draft (insert, update,
-- delete), for every role. The parent row is read FOR SHARE: an issue running concurrently
-- (which holds the row for update) is waited for, so no item slips in under an issued prescription.
create function app_private.tg_prescription_child_lock()
  returns trigger
  language plpgsql
  set search_path = pg_catalog, pg_temp
as $$
declare
  row_ record := case when tg_op = 'DELETE' then old else new end;
  parent_status text;
begin
  -- A patient merge re-filing the prescription: the row follows it (0950-patient-merge).
  if tg_op = 'UPDATE' and current_user = 'app_owner' then
    if app_private.refiles_patient_only(to_jsonb(old), to_jsonb(new)) then
      return new;
    end if;
  end if;
  if tg_op <> 'INSERT' then
    select p.status into parent_status from app_public.prescriptions p
      where p.clinic_id = old.clinic_id and p.id = old.prescription_id for share;
    if parent_status is distinct from 'draft' and parent_status is not null then
      raise exception 'prescription % is %', old.prescription_id, parent_status using errcode = 'CBLCK', constraint = 'prescription_issued_is_locked';
    end if;
  end if;
  if tg_op <> 'DELETE' then
    select p.status into parent_status from app_public.prescriptions p
      where p.clinic_id = new.clinic_id and p.id = new.prescription_id for share;
    if parent_status is distinct from 'draft' and parent_status is not null then
      raise exception 'prescription % is %', new.prescription_id, parent_status using errcode = 'CBLCK', constraint = 'prescription_issued_is_locked';
    end if;
  end if;
  return row_;
end;
$$;

-- An acknowledgement names an allergy of the prescription's own patient (patient_history has no
-- composite key with the patient to reference).
create function app_private.tg_acknowledged_allergy_of_patient()
  returns trigger
  language plpgsql
  set search_path = pg_catalog, pg_temp
as $$
begin
  -- A patient merge: the allergy moves to the survivor in the same merge (0950-patient-merge).
  if tg_op = 'UPDATE' and current_user = 'app_owner' then
    if app_private.refiles_patient_only(to_jsonb(old), to_jsonb(new)) then
      return new;
    end if;
  end if;
  if not exists (select from app_public.patient_history h where h.clinic_id = new.clinic_id and h.id = new.allergy_id
      and h.patient_id = new.patient_id and h.kind = 'allergy') then
    raise exception 'not an allergy of the patient' using errcode = '23514', table = 'prescription_allergy_acknowledgements',
      constraint = 'prescription_allergy_acknowledgements_allergy_id_valid';
  end if;
  return new;
end;
$$;

create trigger _010_prescription_transition before update or delete on app_public.prescriptions
  for each row execute function app_private.tg_prescription_transition();
create trigger _020_prescription_number before update on app_public.prescriptions
  for each row execute function app_private.tg_prescription_number();
create trigger _110_bump_version before update on app_public.prescriptions
  for each row execute function app_private.tg_bump_prescription_version();
create trigger _010_prescription_lock before insert or update or delete on app_public.prescription_items
  for each row execute function app_private.tg_prescription_child_lock();
create trigger _010_prescription_lock before insert or update or delete on app_public.prescription_allergy_acknowledgements
  for each row execute function app_private.tg_prescription_child_lock();
create trigger _020_allergy_of_patient before insert or update on app_public.prescription_allergy_acknowledgements
  for each row execute function app_private.tg_acknowledged_allergy_of_patient();

-- GraphQL: prescriptions, their items and acknowledged allergies are read-only (queries and
-- relations, a chart read logged like REST's, src/graphql/chart-access.ts). No mutation: writing a
-- prescription is a TypeScript transaction (the draft and its items together; PATCH replaces the
-- item list; If-Match), and issuing records the acknowledgements and answers the allergy 409 with
-- what to acknowledge, before the database's own rule (the trigger) decides. Completing and
-- cancelling would be plain updates, but they need If-Match as well: REST only, for now.
comment on table app_public.prescriptions is E'@unique id\n@behavior -insert -update -delete\nA prescription written in a consultation.';
comment on constraint prescriptions_pkey on app_public.prescriptions is '@behavior -single -update -delete';
comment on constraint prescriptions_patient_key on app_public.prescriptions is '@behavior -single -update -delete';
comment on constraint prescriptions_prescription_number_key on app_public.prescriptions is '@behavior -single -update -delete';
comment on column app_public.prescriptions.clinic_id is '@behavior -*';
comment on column app_public.prescriptions.patient_id is E'@behavior +filterBy\nThe patient the prescription is for.';
comment on column app_public.prescriptions.status is E'@behavior +filterBy\ndraft, issued, completed or cancelled.';
comment on column app_public.prescriptions.prescription_number is 'RX-YYYY-NNNNN, per clinic and year, set when issued.';
comment on column app_public.prescriptions.version is 'Counts the changes (the ETag of REST''s If-Match).';
comment on table app_public.prescription_items is E'@unique id\n@behavior -insert -update -delete\nA medicine of a prescription.';
comment on constraint prescription_items_pkey on app_public.prescription_items is '@behavior -single -update -delete';
comment on constraint prescription_items_position_key on app_public.prescription_items is '@behavior -single -update -delete';
comment on column app_public.prescription_items.clinic_id is '@behavior -*';
-- The relations by name (the inflection would name them after both columns of the composite reference).
comment on constraint prescription_items_prescription_id_fkey on app_public.prescription_items is E'@fieldName prescription\n@foreignFieldName items';
comment on constraint prescription_allergy_acknowledgements_prescription_id_fkey on app_public.prescription_allergy_acknowledgements is E'@fieldName prescription\n@foreignFieldName allergyAcknowledgements';
comment on table app_public.prescription_allergy_acknowledgements is E'@unique id\n@behavior -insert -update -delete\nA doctor''s recorded acknowledgement of a patient''s allergy that a prescription''s medicine matches.';
comment on constraint prescription_allergy_acknowledgements_pkey on app_public.prescription_allergy_acknowledgements is '@behavior -single -update -delete';
comment on column app_public.prescription_allergy_acknowledgements.clinic_id is '@behavior -*';

--! split: 0300-lab
-- Test requests: what the doctor asks the lab to do, for whom, how urgently.
create table app_public.test_requests (
  clinic_id uuid not null default app_public.current_clinic_id() references app_public.clinics (id),
  id uuid not null default gen_random_uuid(),
  consultation_id uuid not null,
  patient_id uuid not null,
  requested_by uuid not null default app_public.current_member_id(),
  test_name text not null constraint test_requests_test_name_length check (char_length(test_name) between 1 and 200)
    constraint test_requests_test_name_check check (test_name !~ '[\x01-\x1f\x7f]'),
  test_code text constraint test_requests_test_code_format check (test_code ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$'),
  category text not null constraint test_requests_category_valid check (category in ('haematology', 'biochemistry', 'microbiology', 'immunology', 'pathology', 'radiology', 'urinalysis', 'other')),
  urgency text not null default 'routine' constraint test_requests_urgency_valid check (urgency in ('routine', 'stat')),
  required_by date,
  clinical_note text constraint test_requests_clinical_note_length check (char_length(clinical_note) between 1 and 2000)
    constraint test_requests_clinical_note_check check (clinical_note !~ '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]'),
  status text not null default 'requested' constraint test_requests_status_valid check (status in ('requested', 'collected', 'in_progress', 'completed', 'cancelled')),
  collected_at timestamptz,
  started_at timestamptz,
  completed_at timestamptz,
  cancelled_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (clinic_id, id),
  constraint test_requests_patient_key unique (clinic_id, id, patient_id),
  constraint test_requests_consultation_id_fkey foreign key (clinic_id, consultation_id, patient_id)
    references app_public.consultations (clinic_id, id, patient_id) on update cascade,
  constraint test_requests_requested_by_fkey foreign key (clinic_id, requested_by) references app_public.clinic_members (clinic_id, id)
);
alter table app_public.test_requests enable row level security;
alter table app_public.test_requests force row level security;
create index test_requests_consultation_id_idx on app_public.test_requests (clinic_id, consultation_id);
create index test_requests_patient_id_idx on app_public.test_requests (clinic_id, patient_id, created_at desc);
-- The lab's worklist: the open requests, oldest first.
create index test_requests_open_idx on app_public.test_requests (clinic_id, created_at)
  where status in ('requested', 'collected', 'in_progress');
create policy tenant_isolation on app_public.test_requests as restrictive to app_user
  using (clinic_id = (select app_public.current_clinic_id()))
  with check (clinic_id = (select app_public.current_clinic_id()));

-- The lab's report of one request: draft while the technician enters results; releasing it locks
-- it (with its results) and completes the request. The report's document is a file.
create table app_public.test_reports (
  clinic_id uuid not null default app_public.current_clinic_id() references app_public.clinics (id),
  id uuid not null default gen_random_uuid(),
  test_request_id uuid not null,
  patient_id uuid not null,
  technician_id uuid not null default app_public.current_member_id(),
  file_id uuid,
  conclusion text constraint test_reports_conclusion_length check (char_length(conclusion) between 1 and 4000)
    constraint test_reports_conclusion_check check (conclusion !~ '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]'),
  status text not null default 'draft' constraint test_reports_status_valid check (status in ('draft', 'released')),
  version integer not null default 1 constraint test_reports_version_valid check (version > 0),
  released_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (clinic_id, id),
  constraint test_reports_patient_key unique (clinic_id, id, patient_id),
  constraint test_reports_test_request_id_fkey foreign key (clinic_id, test_request_id, patient_id)
    references app_public.test_requests (clinic_id, id, patient_id) on update cascade,
  constraint test_reports_technician_id_fkey foreign key (clinic_id, technician_id) references app_public.clinic_members (clinic_id, id),
  constraint test_reports_file_id_fkey foreign key (clinic_id, file_id) references app_public.files (clinic_id, id),
  constraint test_reports_released_at_valid check ((status = 'released') = (released_at is not null)),
  -- One report per request (checked at commit, like the results' positions).
  constraint test_reports_test_request_id_key unique (clinic_id, test_request_id) deferrable initially deferred
);
alter table app_public.test_reports enable row level security;
alter table app_public.test_reports force row level security;
create index test_reports_patient_id_idx on app_public.test_reports (clinic_id, patient_id, created_at desc);
create policy tenant_isolation on app_public.test_reports as restrictive to app_user
  using (clinic_id = (select app_public.current_clinic_id()))
  with check (clinic_id = (select app_public.current_clinic_id()));

-- Structured results: one analyte each, numeric (flagged against its reference and critical
-- ranges by the database) or text (a titre, "positive"; never flagged).
create table app_public.test_results (
  clinic_id uuid not null default app_public.current_clinic_id() references app_public.clinics (id),
  id uuid not null default gen_random_uuid(),
  test_report_id uuid not null,
  patient_id uuid not null,
  position integer not null constraint test_results_position_valid check (position between 1 and 200),
  analyte text not null constraint test_results_analyte_length check (char_length(analyte) between 1 and 200)
    constraint test_results_analyte_check check (analyte !~ '[\x01-\x1f\x7f]'),
  value_numeric numeric,
  value_text text constraint test_results_value_text_length check (char_length(value_text) between 1 and 200)
    constraint test_results_value_text_check check (value_text !~ '[\x01-\x1f\x7f]'),
  unit text constraint test_results_unit_length check (char_length(unit) between 1 and 40)
    constraint test_results_unit_check check (unit !~ '[\x01-\x1f\x7f]'),
  reference_low numeric,
  reference_high numeric,
  critical_low numeric,
  critical_high numeric,
  flag text generated always as (
    case
      when value_numeric is null then null
      when value_numeric <= critical_low then 'critical_low'
      when value_numeric >= critical_high then 'critical_high'
      when value_numeric < reference_low then 'low'
      when value_numeric > reference_high then 'high'
      when reference_low is null and reference_high is null then null
      else 'normal'
    end
  ) stored,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (clinic_id, id),
  constraint test_results_position_key unique (clinic_id, test_report_id, position) deferrable initially deferred,
  constraint test_results_test_report_id_fkey foreign key (clinic_id, test_report_id, patient_id)
    references app_public.test_reports (clinic_id, id, patient_id) on update cascade,
  constraint test_results_value_present check (num_nonnulls(value_numeric, value_text) = 1),
  constraint test_results_reference_range_valid check (reference_low <= reference_high),
  constraint test_results_critical_range_valid check (critical_low < critical_high
    and (critical_low is null or reference_low is null or critical_low < reference_low)
    and (critical_high is null or reference_high is null or critical_high > reference_high))
);
alter table app_public.test_results enable row level security;
alter table app_public.test_results force row level security;
create policy tenant_isolation on app_public.test_results as restrictive to app_user
  using (clinic_id = (select app_public.current_clinic_id()))
  with check (clinic_id = (select app_public.current_clinic_id()));

--! split: 0310-lab-rules
-- The lab's rules (docs/permissions.md, footnotes 3, 6 and 9). Doctors request tests and cancel
-- them; lab technicians move a request through collected and in progress, write its one report
-- (results flagged by the database) and release it. Release is the lock point, like signing: a
-- released report and its results refuse every change for every role, the owner included, and
-- releasing completes the request and announces the report (notification outbox) in the same
-- transaction. No delete anywhere: a request that is not needed is cancelled.

-- The release trigger (SECURITY DEFINER, app_owner) reads the request and the results and
-- completes the request; the lock triggers read the parent report whatever the caller may see.
create policy read_by_definer_functions on app_public.test_requests for select to app_owner using (true);
create policy update_by_definer_functions on app_public.test_requests for update to app_owner using (true) with check (true);
create policy read_by_definer_functions on app_public.test_reports for select to app_owner using (true);
create policy read_by_definer_functions on app_public.test_results for select to app_owner using (true);

-- Requests: a doctor requests, as themselves; doctors cancel, lab technicians move the status (the
-- trigger below says which move is whose). Only `status` is ever updated.
create policy insert_doctors on app_public.test_requests for insert to app_user
  with check ((select app_public.current_role_is('doctor')) and requested_by = (select app_public.current_member_id()));
create policy update_doctors_and_lab on app_public.test_requests for update to app_user
  using ((select app_public.current_role_is('doctor', 'lab_technician')))
  with check ((select app_public.current_role_is('doctor', 'lab_technician')));
grant insert (consultation_id, patient_id, requested_by, test_name, test_code, category, urgency, required_by, clinical_note)
  on app_public.test_requests to app_user;
grant update (status) on app_public.test_requests to app_user;

-- The request's state machine: requested → collected → in_progress (lab technicians), in_progress →
-- completed (only with its report released: the release trigger makes the move), requested |
-- collected → cancelled (doctors). A completed or cancelled request is final. Each move stamps its
-- time. Refusals: CBSTA (a move that is not allowed) and CBLCK (a closed request), naming the rule.
create function app_private.tg_test_request_state()
  returns trigger
  language plpgsql
  set search_path = pg_catalog, pg_temp
as $$
begin
  if tg_op = 'INSERT' then
    if new.status <> 'requested' or num_nonnulls(new.collected_at, new.started_at, new.completed_at, new.cancelled_at) > 0 then
      raise exception 'A test request starts as requested.' using errcode = 'CBSTA', constraint = 'test_request_starts_requested';
    end if;
    return new;
  end if;
  -- A patient merge re-filing the consultation: the request follows it (0950-patient-merge).
  if tg_op = 'UPDATE' and current_user = 'app_owner' then
    if app_private.refiles_patient_only(to_jsonb(old), to_jsonb(new)) then
      return new;
    end if;
  end if;
  if old.status in ('completed', 'cancelled') then
    raise exception 'A completed or cancelled test request does not change.' using errcode = 'CBLCK', constraint = 'test_request_closed_is_final';
  end if;
  if tg_op = 'DELETE' then
    return old;
  end if;
  if new.status is distinct from old.status then
    if (old.status, new.status) in (('requested', 'collected'), ('collected', 'in_progress')) then
      if not app_public.current_role_is('lab_technician') then
        raise exception 'Only the lab collects and starts a test.' using errcode = 'CBSTA', constraint = 'test_request_lab_moves_by_technician';
      end if;
      if new.status = 'collected' then new.collected_at := now(); else new.started_at := now(); end if;
    elsif old.status in ('requested', 'collected') and new.status = 'cancelled' then
      if not app_public.current_role_is('doctor') then
        raise exception 'Only a doctor cancels a test request.' using errcode = 'CBSTA', constraint = 'test_request_cancel_by_doctor';
      end if;
      new.cancelled_at := now();
    elsif old.status = 'in_progress' and new.status = 'completed' then
      if not exists (select from app_public.test_reports r
                     where r.clinic_id = new.clinic_id and r.test_request_id = new.id and r.status = 'released') then
        raise exception 'A test request is completed by releasing its report.' using errcode = 'CBSTA', constraint = 'test_request_completed_by_release';
      end if;
      new.completed_at := now();
    else
      raise exception 'A test request cannot move from % to %.', old.status, new.status
        using errcode = 'CBSTA', constraint = 'test_request_status_flow';
    end if;
  end if;
  -- The stamps are the trigger's alone.
  if new.status = old.status then
    new.collected_at := old.collected_at; new.started_at := old.started_at;
    new.completed_at := old.completed_at; new.cancelled_at := old.cancelled_at;
  end if;
  return new;
end;
$$;
create trigger _200_state before insert or update or delete on app_public.test_requests
  for each row execute function app_private.tg_test_request_state();

-- Reports and results: the lab technician writes, as themselves; only the report's own technician
-- updates it and its results, and only while it is a draft (the lock triggers below refuse the rest
-- as CBLCK, for every role). Everyone who reads requests reads them
-- (the select policies in 0900-reading). Writable: the report's `conclusion`, `file_id` and
-- `status` (the release), the results' values and ranges; `version`, `released_at` and `flag` are
-- the database's.
create policy insert_lab on app_public.test_reports for insert to app_user
  with check ((select app_public.current_role_is('lab_technician')) and technician_id = (select app_public.current_member_id()));
create policy update_own on app_public.test_reports for update to app_user
  using ((select app_public.current_role_is('lab_technician')) and technician_id = (select app_public.current_member_id()))
  with check ((select app_public.current_role_is('lab_technician')) and technician_id = (select app_public.current_member_id()));
grant insert (test_request_id, patient_id, technician_id, conclusion) on app_public.test_reports to app_user;
grant update (conclusion, file_id, status) on app_public.test_reports to app_user;

create policy insert_lab_own on app_public.test_results for insert to app_user
  with check ((select app_public.current_role_is('lab_technician')) and exists (
    select from app_public.test_reports r where r.clinic_id = test_results.clinic_id and r.id = test_results.test_report_id
      and r.technician_id = (select app_public.current_member_id())));
create policy update_lab_own on app_public.test_results for update to app_user
  using ((select app_public.current_role_is('lab_technician')) and exists (
    select from app_public.test_reports r where r.clinic_id = test_results.clinic_id and r.id = test_results.test_report_id
      and r.technician_id = (select app_public.current_member_id())))
  with check ((select app_public.current_role_is('lab_technician')));
grant insert (test_report_id, patient_id, position, analyte, value_numeric, value_text, unit, reference_low, reference_high, critical_low, critical_high)
  on app_public.test_results to app_user;
grant update (position, analyte, value_numeric, value_text, unit, reference_low, reference_high, critical_low, critical_high)
  on app_public.test_results to app_user;

-- Every write of a report bumps its version (optimistic concurrency: If-Match); clients never write it.
create function app_private.tg_bump_test_report_version()
  returns trigger
  language plpgsql
  set search_path = pg_catalog, pg_temp
as $$
begin
  new.version := old.version + 1;
  return new;
end;
$$;
create trigger _110_bump_version before update on app_public.test_reports
  for each row execute function app_private.tg_bump_test_report_version();

-- The report's rules. A report is written for an open request (requested, collected or in
-- progress) and starts as a draft; its file is a 'report' file of the same patient; release needs
-- at least one result and the request in progress, and stamps released_at. A released report
-- refuses every update and delete, whoever asks (CBLCK). SECURITY DEFINER: the checks read the
-- request and the file whatever the caller may see (a lab technician reads no files).
create function app_private.tg_test_report_state()
  returns trigger
  language plpgsql security definer
  set search_path = pg_catalog, pg_temp
as $$
begin
  if tg_op = 'INSERT' then
    if new.status <> 'draft' or new.released_at is not null or new.version <> 1 then
      raise exception 'A test report starts as a draft.' using errcode = 'CBSTA', constraint = 'test_report_starts_draft';
    end if;
    if not exists (select from app_public.test_requests q where q.clinic_id = new.clinic_id and q.id = new.test_request_id
                   and q.status in ('requested', 'collected', 'in_progress')) then
      raise exception 'A report is written for an open test request.' using errcode = 'CBSTA', constraint = 'test_report_needs_open_request';
    end if;
  elsif tg_op = 'UPDATE' and app_private.refiles_patient_only(to_jsonb(old), to_jsonb(new)) and new.patient_id = (
      select q.patient_id from app_public.test_requests q where q.clinic_id = new.clinic_id and q.id = new.test_request_id) then
    -- A patient merge: the report follows its request (0950-patient-merge; a definer, so the
    -- request's patient is the check, not current_user).
    return new;
  elsif old.status = 'released' then
    raise exception 'A released test report does not change.' using errcode = 'CBLCK', constraint = 'test_report_released_is_final';
  elsif tg_op = 'DELETE' then
    return old;
  elsif new.status = 'released' then
    if not exists (select from app_public.test_results r where r.clinic_id = new.clinic_id and r.test_report_id = new.id) then
      raise exception 'A report is released with at least one result.' using errcode = 'CBSTA', constraint = 'test_report_release_needs_results';
    end if;
    if not exists (select from app_public.test_requests q where q.clinic_id = new.clinic_id and q.id = new.test_request_id
                   and q.status = 'in_progress') then
      raise exception 'A report is released once its test is in progress.' using errcode = 'CBSTA', constraint = 'test_report_release_needs_started_request';
    end if;
    new.released_at := now();
  else
    new.released_at := old.released_at;
  end if;
  if new.file_id is not null and (tg_op = 'INSERT' or new.file_id is distinct from old.file_id) and not exists (
    select from app_public.files f where f.clinic_id = new.clinic_id and f.id = new.file_id and f.patient_id = new.patient_id and f.category = 'report'
  ) then
    raise exception 'A report''s file is a report file of the same patient.' using errcode = '23514', constraint = 'test_reports_file_is_patients_report';
  end if;
  return new;
end;
$$;
create trigger _200_state before insert or update or delete on app_public.test_reports
  for each row execute function app_private.tg_test_report_state();

-- Results follow their report: written only while it is a draft, never after (CBLCK).
create function app_private.tg_test_result_lock()
  returns trigger
  language plpgsql security definer
  set search_path = pg_catalog, pg_temp
as $$
declare
  report_id uuid := case when tg_op = 'DELETE' then old.test_report_id else new.test_report_id end;
  clinic uuid := case when tg_op = 'DELETE' then old.clinic_id else new.clinic_id end;
begin
  -- A patient merge: the result follows its report (0950-patient-merge; a definer, so the report's
  -- patient is the check, not current_user). The flag is generated (null in NEW before the update).
  if tg_op = 'UPDATE' and app_private.refiles_patient_only(to_jsonb(old) - 'flag', to_jsonb(new) - 'flag') and new.patient_id = (
      select r.patient_id from app_public.test_reports r where r.clinic_id = new.clinic_id and r.id = new.test_report_id) then
    return new;
  end if;
  if exists (select from app_public.test_reports r where r.clinic_id = clinic and r.id = report_id and r.status = 'released')
     or (tg_op = 'UPDATE' and exists (select from app_public.test_reports r
           where r.clinic_id = old.clinic_id and r.id = old.test_report_id and r.status = 'released')) then
    raise exception 'A released test report does not change.' using errcode = 'CBLCK', constraint = 'test_report_released_is_final';
  end if;
  return case when tg_op = 'DELETE' then old else new end;
end;
$$;
create trigger _200_lock before insert or update or delete on app_public.test_results
  for each row execute function app_private.tg_test_result_lock();

-- Releasing: the request is completed and the report announced, in the release's transaction.
-- One message to the requesting doctor (`critical` true when any result is critical) and one to
-- the patient when they have an e-mail (their portal login's, else the record's), which says only
-- that a report is ready. Payloads carry ids, never values or names: the jobs that deliver them
-- read the rest under the recipient's rules.
create function app_private.tg_test_report_released()
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
  insert into app_private.notification_outbox (kind, recipient, payload)
  select 'lab_report_released', a.email, jsonb_build_object('audience', 'doctor', 'clinic_id', new.clinic_id,
    'test_report_id', new.id, 'test_request_id', new.test_request_id, 'critical', critical)
  from app_public.test_requests q
  join app_public.clinic_members m on m.clinic_id = q.clinic_id and m.id = q.requested_by
  join app_private.accounts a on a.id = m.account_id
  where q.clinic_id = new.clinic_id and q.id = new.test_request_id;
  insert into app_private.notification_outbox (kind, recipient, payload)
  select 'lab_report_released', coalesce(a.email, p.email), jsonb_build_object('audience', 'patient', 'clinic_id', new.clinic_id,
    'test_report_id', new.id, 'test_request_id', new.test_request_id)
  from app_public.patients p
  left join app_public.clinic_members m on m.clinic_id = p.clinic_id and m.id = p.member_id and m.status = 'active'
  left join app_private.accounts a on a.id = m.account_id
  where p.clinic_id = new.clinic_id and p.id = new.patient_id and coalesce(a.email, p.email) is not null;
  return null;
end;
$$;
create trigger _300_released after update of status on app_public.test_reports
  for each row when (old.status = 'draft' and new.status = 'released') execute function app_private.tg_test_report_released();

-- Footnote 3: a lab technician sees of a patient only the identity the lab needs (name, patient
-- number, date of birth, sex), and only of patients with an open request of the clinic; never the
-- record itself (no select policy on patients gives them a row). SECURITY DEFINER, filtered by the
-- context's clinic and role: for any other role it answers nothing (they read patients under their
-- own policies).
create function app_hidden.lab_patient_identities(patient_ids uuid[])
  returns table (id uuid, patient_number text, full_name text, date_of_birth date, sex text)
  language sql stable security definer
  set search_path = pg_catalog, pg_temp
begin atomic
  select p.id, p.patient_number, p.full_name, p.date_of_birth, p.sex
  from app_public.patients p
  where p.clinic_id = app_public.current_clinic_id()
    and app_public.current_role_is('lab_technician')
    and app_public.current_member_id() is not null
    and p.id = any (lab_patient_identities.patient_ids)
    and exists (select from app_public.test_requests q where q.clinic_id = p.clinic_id and q.patient_id = p.id
                and q.status in ('requested', 'collected', 'in_progress'));
end;
grant execute on function app_hidden.lab_patient_identities(uuid[]) to app_user;
comment on function app_hidden.lab_patient_identities(uuid[]) is
  'Footnote 3: for a lab technician, the identity (number, name, date of birth, sex) of those patients with an open test request in the context clinic; nothing for anyone else.';

-- Footnote 9 for the lab: a lab technician uploads only report files, for patients with an open
-- request, and reads back only the files they uploaded themselves (the insert's RETURNING; the
-- files API keeps refusing them reads).
drop policy insert_uploaders on app_public.files;
create policy insert_uploaders on app_public.files for insert to app_user
  with check ((select app_public.current_role_is('doctor', 'nurse', 'receptionist'))
    or ((select app_public.current_role_is('lab_technician')) and category = 'report' and exists (
      select from app_public.test_requests q where q.clinic_id = files.clinic_id and q.patient_id = files.patient_id
        and q.status in ('requested', 'collected', 'in_progress'))));
create policy select_lab_own_uploads on app_public.files for select to app_user
  using ((select app_public.current_role_is('lab_technician')) and uploaded_by = (select app_public.current_member_id()));

-- The chart access log records lab reads as `read_lab`; a lab technician records their reads of
-- the patients whose tests they handle.
alter table app_public.patient_access_log drop constraint patient_access_log_action_valid;
alter table app_public.patient_access_log add constraint patient_access_log_action_valid
  check (action in ('read_record', 'read_files', 'download_file', 'read_lab'));
drop policy insert_readers_as_themselves on app_public.patient_access_log;
create policy insert_readers_as_themselves on app_public.patient_access_log for insert to app_user
  with check (
    member_id = (select app_public.current_member_id())
    and (
      (select app_public.current_role_is('clinic_admin', 'doctor', 'nurse', 'receptionist'))
      or ((select app_public.current_role_is('patient')) and patient_id = (select app_public.current_patient_id()))
      or ((select app_public.current_role_is('lab_technician')) and action = 'read_lab' and exists (
        select from app_public.test_requests q where q.clinic_id = patient_access_log.clinic_id and q.patient_id = patient_access_log.patient_id))
    )
  );

--! split: 0400-follow-ups
-- Follow-ups a doctor asks for in a consultation; booking one's appointment links the two.
create table app_public.follow_ups (
  clinic_id uuid not null default app_public.current_clinic_id() references app_public.clinics (id),
  id uuid not null default gen_random_uuid(),
  consultation_id uuid not null,
  patient_id uuid not null,
  doctor_id uuid not null default app_public.current_member_id(),
  due_date date not null,
  reason text not null constraint follow_ups_reason_length check (char_length(reason) between 1 and 500)
    constraint follow_ups_reason_check check (reason !~ '[\x01-\x1f\x7f]'),
  status text not null default 'pending' constraint follow_ups_status_valid check (status in ('pending', 'completed', 'cancelled', 'missed')),
  appointment_id uuid,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (clinic_id, id),
  constraint follow_ups_appointment_id_key unique (clinic_id, appointment_id),
  constraint follow_ups_consultation_id_fkey foreign key (clinic_id, consultation_id, patient_id)
    references app_public.consultations (clinic_id, id, patient_id) on update cascade,
  constraint follow_ups_doctor_id_fkey foreign key (clinic_id, doctor_id) references app_public.clinic_members (clinic_id, id),
  constraint follow_ups_appointment_id_fkey foreign key (clinic_id, appointment_id) references app_public.appointments (clinic_id, id)
);
alter table app_public.follow_ups enable row level security;
alter table app_public.follow_ups force row level security;
create index follow_ups_consultation_id_idx on app_public.follow_ups (clinic_id, consultation_id);
create index follow_ups_patient_id_idx on app_public.follow_ups (clinic_id, patient_id, due_date desc);
create index follow_ups_pending_idx on app_public.follow_ups (clinic_id, doctor_id, due_date) where status = 'pending';
create policy tenant_isolation on app_public.follow_ups as restrictive to app_user
  using (clinic_id = (select app_public.current_clinic_id()))
  with check (clinic_id = (select app_public.current_clinic_id()));

--! split: 0410-follow-up-rules
-- Follow-ups (docs/permissions.md, footnote 8): a doctor asks for one in a consultation of their
-- own, due on a date (the API turns "in N days" into the clinic-local date); doctors move it on;
-- clinic admins, nurses and the patient (their own) read it; receptionists never see it.
--   pending → completed | cancelled | missed, and a closed follow-up is final (CBSTA, rule
--   follow_up_closed_is_final); the status is the only column app_user may update.
-- Completing the visit of the linked appointment does NOT complete the follow-up: the doctor
-- decides in that visit whether the question it was for is settled (it may need another one).
create policy insert_doctors_from_own_consultation on app_public.follow_ups for insert to app_user
  with check ((select app_public.current_role_is('doctor'))
    and doctor_id = (select app_public.current_member_id())
    and exists (select from app_public.consultations c
      where c.clinic_id = follow_ups.clinic_id and c.id = follow_ups.consultation_id and c.doctor_id = (select app_public.current_member_id())));
create policy update_doctors on app_public.follow_ups for update to app_user
  using ((select app_public.current_role_is('doctor')))
  with check ((select app_public.current_role_is('doctor')));
grant insert (consultation_id, patient_id, due_date, reason) on app_public.follow_ups to app_user;
grant update (status) on app_public.follow_ups to app_user;

create function app_private.tg_follow_up_transition()
  returns trigger
  language plpgsql
  set search_path = pg_catalog, pg_temp
as $$
begin
  -- A patient merge re-filing the consultation: the follow-up follows it (0950-patient-merge).
  if current_user = 'app_owner' then
    if app_private.refiles_patient_only(to_jsonb(old), to_jsonb(new)) then
      return new;
    end if;
  end if;
  if old.status <> 'pending' then
    raise exception 'a % follow-up is final', old.status
      using errcode = 'CBSTA', constraint = 'follow_up_closed_is_final';
  end if;
  if new.status is distinct from old.status and new.status = 'pending' then
    raise exception 'a follow-up cannot go from pending to pending'
      using errcode = 'CBSTA', constraint = 'follow_up_closed_is_final';
  end if;
  return new;
end;
$$;
create trigger _200_transition before update on app_public.follow_ups
  for each row execute function app_private.tg_follow_up_transition();

-- A follow-up is due today or later in the clinic's calendar (422 naming dueDate): a date in the
-- past is a typo, not a plan.
create function app_private.tg_follow_up_due_date()
  returns trigger
  language plpgsql
  set search_path = pg_catalog, pg_temp
as $$
begin
  if new.due_date < app_public.current_clinic_date() then
    raise exception 'a follow-up is due today or later'
      using errcode = '23514', table = tg_table_name, column = 'due_date', constraint = 'follow_ups_due_date_valid';
  end if;
  return new;
end;
$$;
create trigger _150_due_date before insert on app_public.follow_ups
  for each row execute function app_private.tg_follow_up_due_date();

-- Booking a follow-up's appointment links the two. The receptionist books appointments but cannot
-- see follow-ups, so the link is this definer function, called in the booking's transaction: it
-- links a pending, unlinked follow-up of the context clinic to a visible appointment of the same
-- patient, and answers only true or false, the same false for an unknown id, another clinic's,
-- another patient's, a closed or an already linked follow-up (no existence oracle).
create policy read_by_definer_functions on app_public.follow_ups for select to app_owner
  using (true);
create policy update_by_definer_functions on app_public.follow_ups for update to app_owner
  using (true)
  with check (true);
create function app_public.link_follow_up_appointment(follow_up_id uuid, appointment_id uuid)
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
    and f.patient_id = booked_patient and f.status = 'pending' and f.appointment_id is null;
  return found;
end;
$$;
revoke all on function app_public.link_follow_up_appointment(uuid, uuid) from public;
grant execute on function app_public.link_follow_up_appointment(uuid, uuid) to app_user;
comment on function app_public.link_follow_up_appointment(uuid, uuid) is
  E'@behavior -*\nLinks a pending follow-up to the booked appointment of the same patient; false when there is no such follow-up the caller may link.';

--! split: 0900-reading
-- Who reads what (docs/permissions.md; footnote 7: a patient reads their own records once signed,
-- issued or released, never drafts). Staff who treat (clinic_admin, doctor, nurse) read the
-- clinic's clinical records; receptionists read none; lab technicians read the requests and
-- reports that are the lab's work, never the consultation. Writes are granted table by table
-- with their state machines and locks.
create function app_private.patient_reads(patient_id uuid)
  returns boolean
  language sql stable
  set search_path = pg_catalog, pg_temp
begin atomic
  select app_public.current_role_is('patient') and patient_reads.patient_id = app_public.current_patient_id();
end;
comment on function app_private.patient_reads(uuid) is
  'True when the caller is the patient whose record this is: the row rule of a patient''s own clinical records.';
grant execute on function app_private.patient_reads(uuid) to app_user;

create policy select_clinicians_and_own_signed on app_public.consultations for select to app_user
  using ((select app_public.current_role_is('clinic_admin', 'doctor', 'nurse'))
    or (status = 'signed' and app_private.patient_reads(patient_id)));
create policy select_clinicians_and_own_signed on app_public.vitals for select to app_user
  using ((select app_public.current_role_is('clinic_admin', 'doctor', 'nurse'))
    or (app_private.patient_reads(patient_id) and exists (
      select from app_public.consultations c where c.clinic_id = vitals.clinic_id and c.id = vitals.consultation_id and c.status = 'signed')));
create policy select_clinicians_and_own_signed on app_public.diagnoses for select to app_user
  using ((select app_public.current_role_is('clinic_admin', 'doctor', 'nurse'))
    or (app_private.patient_reads(patient_id) and exists (
      select from app_public.consultations c where c.clinic_id = diagnoses.clinic_id and c.id = diagnoses.consultation_id and c.status = 'signed')));
create policy select_clinicians_and_own on app_public.consultation_addenda for select to app_user
  using ((select app_public.current_role_is('clinic_admin', 'doctor', 'nurse')) or app_private.patient_reads(patient_id));
create policy select_clinicians_and_own_issued on app_public.prescriptions for select to app_user
  using ((select app_public.current_role_is('clinic_admin', 'doctor', 'nurse'))
    or (status in ('issued', 'completed') and app_private.patient_reads(patient_id)));
create policy select_clinicians_and_own_issued on app_public.prescription_items for select to app_user
  using ((select app_public.current_role_is('clinic_admin', 'doctor', 'nurse'))
    or (app_private.patient_reads(patient_id) and exists (
      select from app_public.prescriptions p where p.clinic_id = prescription_items.clinic_id and p.id = prescription_items.prescription_id
        and p.status in ('issued', 'completed'))));
create policy select_clinicians_lab_and_own on app_public.test_requests for select to app_user
  using ((select app_public.current_role_is('clinic_admin', 'doctor', 'nurse', 'lab_technician')) or app_private.patient_reads(patient_id));
create policy select_clinicians_lab_and_own_released on app_public.test_reports for select to app_user
  using ((select app_public.current_role_is('clinic_admin', 'doctor', 'nurse', 'lab_technician'))
    or (status = 'released' and app_private.patient_reads(patient_id)));
create policy select_clinicians_lab_and_own_released on app_public.test_results for select to app_user
  using ((select app_public.current_role_is('clinic_admin', 'doctor', 'nurse', 'lab_technician'))
    or (app_private.patient_reads(patient_id) and exists (
      select from app_public.test_reports r where r.clinic_id = test_results.clinic_id and r.id = test_results.test_report_id and r.status = 'released')));
create policy select_clinicians_and_own on app_public.follow_ups for select to app_user
  using ((select app_public.current_role_is('clinic_admin', 'doctor', 'nurse')) or app_private.patient_reads(patient_id));

grant select on app_public.consultations, app_public.vitals, app_public.diagnoses, app_public.consultation_addenda,
  app_public.prescriptions, app_public.prescription_items, app_public.test_requests, app_public.test_reports,
  app_public.test_results, app_public.follow_ups to app_user;

-- Every table: updated_at kept by the database, every change in the audit log.
create trigger _100_updated_at before update on app_public.consultations
  for each row execute function app_private.tg_set_updated_at();
create trigger _900_audit after insert or update or delete on app_public.consultations
  for each row execute function app_private.tg_audit_row('id');
create trigger _100_updated_at before update on app_public.vitals
  for each row execute function app_private.tg_set_updated_at();
create trigger _900_audit after insert or update or delete on app_public.vitals
  for each row execute function app_private.tg_audit_row('id');
create trigger _100_updated_at before update on app_public.diagnoses
  for each row execute function app_private.tg_set_updated_at();
create trigger _900_audit after insert or update or delete on app_public.diagnoses
  for each row execute function app_private.tg_audit_row('id');
create trigger _900_audit after insert or update or delete on app_public.consultation_addenda
  for each row execute function app_private.tg_audit_row('id');
create trigger _100_updated_at before update on app_public.prescriptions
  for each row execute function app_private.tg_set_updated_at();
create trigger _900_audit after insert or update or delete on app_public.prescriptions
  for each row execute function app_private.tg_audit_row('id');
create trigger _100_updated_at before update on app_public.prescription_items
  for each row execute function app_private.tg_set_updated_at();
create trigger _900_audit after insert or update or delete on app_public.prescription_items
  for each row execute function app_private.tg_audit_row('id');
create trigger _100_updated_at before update on app_public.test_requests
  for each row execute function app_private.tg_set_updated_at();
create trigger _900_audit after insert or update or delete on app_public.test_requests
  for each row execute function app_private.tg_audit_row('id');
create trigger _100_updated_at before update on app_public.test_reports
  for each row execute function app_private.tg_set_updated_at();
create trigger _900_audit after insert or update or delete on app_public.test_reports
  for each row execute function app_private.tg_audit_row('id');
create trigger _100_updated_at before update on app_public.test_results
  for each row execute function app_private.tg_set_updated_at();
create trigger _900_audit after insert or update or delete on app_public.test_results
  for each row execute function app_private.tg_audit_row('id');
create trigger _100_updated_at before update on app_public.follow_ups
  for each row execute function app_private.tg_set_updated_at();
create trigger _900_audit after insert or update or delete on app_public.follow_ups
  for each row execute function app_private.tg_audit_row('id');

-- GraphQL: not exposed until each table declares its exposure (migrations/README.md "GraphQL exposure").
-- The lab: read-only in GraphQL. Requesting is REST's (the patient is taken from the consultation),
-- the moves are REST's routes, a report is written with its results and file (blob storage) and
-- released with If-Match in REST: no mutation here, so every write goes through the one workflow.
-- A lab technician reads requests, reports and results like REST, and no patient through them
-- (the patients policy shows them none; their identity is REST's, app_hidden.lab_patient_identities).
comment on table app_public.test_requests is E'@unique id\n@behavior -insert -update -delete -totalCount\nA lab test a doctor requested.';
comment on constraint test_requests_pkey on app_public.test_requests is '@behavior -single -update -delete';
comment on constraint test_requests_patient_key on app_public.test_requests is '@behavior -single -update -delete';
comment on column app_public.test_requests.clinic_id is '@behavior -*';
comment on column app_public.test_requests.patient_id is '@behavior +filterBy';
comment on column app_public.test_requests.created_at is '@behavior +orderBy';
comment on column app_public.test_requests.status is E'@behavior +filterBy\nrequested, collected, in_progress, completed or cancelled.';
comment on table app_public.test_reports is E'@unique id\n@behavior -insert -update -delete -totalCount\nThe lab''s report of a test request.';
comment on constraint test_reports_pkey on app_public.test_reports is '@behavior -single -update -delete';
comment on constraint test_reports_patient_key on app_public.test_reports is '@behavior -single -update -delete';
comment on constraint test_reports_test_request_id_key on app_public.test_reports is '@behavior -single -update -delete';
comment on column app_public.test_reports.clinic_id is '@behavior -*';
comment on column app_public.test_reports.patient_id is '@behavior +filterBy';
comment on column app_public.test_reports.created_at is '@behavior +orderBy';
comment on table app_public.test_results is E'@unique id\n@behavior -insert -update -delete -totalCount\nOne analyte''s result in a lab report.';
comment on constraint test_results_pkey on app_public.test_results is '@behavior -single -update -delete';
comment on constraint test_results_position_key on app_public.test_results is '@behavior -single -update -delete';
comment on column app_public.test_results.clinic_id is '@behavior -*';
comment on column app_public.test_results.flag is E'@behavior -insert -update\nnormal, low, high, critical_low or critical_high, computed by the database from the ranges; null for text values and values without ranges.';
-- follow_ups: read through GraphQL like its REST list (by id, by doctor, by patient, soonest due
-- first); no mutation: asking for one "in N days" is the API's (the clinic-local date), and the
-- moves of its state machine keep one door, REST's …/follow-ups/{id}/complete|cancel|miss.
comment on table app_public.follow_ups is E'@unique id\n@behavior -insert -update -delete -totalCount\nA follow-up a doctor asked for in a consultation: due on a date, pending until completed, cancelled or missed.';
comment on constraint follow_ups_pkey on app_public.follow_ups is '@behavior -single -update -delete';
comment on constraint follow_ups_appointment_id_key on app_public.follow_ups is '@behavior -single -update -delete';
comment on column app_public.follow_ups.clinic_id is '@behavior -*';
comment on column app_public.follow_ups.doctor_id is E'@behavior +filterBy\nThe doctor who asked for it.';
comment on column app_public.follow_ups.patient_id is '@behavior +filterBy';
comment on column app_public.follow_ups.status is 'pending, completed, cancelled or missed; a closed follow-up is final.';
comment on column app_public.follow_ups.appointment_id is 'The appointment booked for it (POST …/appointments with followUpId).';

--! split: 0950-patient-merge
-- Merging a duplicate patient (app_hidden.merge_patients, migration 000008) re-files all of its
-- clinical records under the survivor, signed consultations, issued prescriptions and released
-- reports included: they are the same person's chart, so the content does not change, only the
-- record it is filed under, and the audit log records each row's change. merge_patients moves the
-- rows of every table that references patients directly, here consultations (it requires the
-- owner's read and update policies below); every other clinical row follows its parent through the
-- composite references (clinic_id, parent_id, patient_id), which cascade on update: consultation
-- → vital signs, diagnoses, addenda, prescriptions (→ items, allergy acknowledgements), test
-- requests (→ reports → results), follow-ups.
--
-- The locks let exactly that through and nothing else: an update that changes patient_id and no
-- other column (updated_at and version are the database's) made as app_owner. Only SECURITY
-- DEFINER functions (merge_patients) and the referential cascades (Postgres runs them as the
-- referencing table's owner) run as app_owner; app_user is not a member of it and cannot SET ROLE
-- to it, and no app role has an update grant on any clinical patient_id. Where the lock trigger is
-- itself a definer (current_user is always app_owner in it), the row must also name its parent's
-- current patient, which differs from its own only inside the cascade (the references hold it at
-- every statement's end). The consultation, the root, refuses any change of its patient but by
-- app_owner (CBLCK, consultation_patient_changes_by_merge), so neither an app role nor the
-- superuser starts a cascade that carries locked children along.
create function app_private.refiles_patient_only(old_row jsonb, new_row jsonb)
  returns boolean
  language sql stable
  set search_path = pg_catalog, pg_temp
begin atomic
  select current_user = 'app_owner'
    and old_row -> 'patient_id' is distinct from new_row -> 'patient_id'
    and (old_row - array['patient_id', 'updated_at', 'version']) = (new_row - array['patient_id', 'updated_at', 'version']);
end;
comment on function app_private.refiles_patient_only(jsonb, jsonb) is
  'True when a row''s update (old and new as jsonb) is a patient merge re-filing it: as app_owner, patient_id changed and nothing else (updated_at and version aside).';
-- The invoker triggers call it only once current_user is app_owner, in an IF of its own: PL/pgSQL
-- looks a name up when it first runs the statement, and app roles have no usage on app_private.

-- merge_patients updates consultations as app_owner (forced RLS holds the owner too).
create policy update_by_definer_functions on app_public.consultations for update to app_owner
  using (true)
  with check (true);
