-- Generated from the database by `npm run policies:generate` after migrating; do not edit.
-- The source of truth is migrations/; this file is what Postgres enforces for the table.

-- app_public.diagnoses: @unique id @behavior -insert -update -delete An ICD-10 diagnosis of a consultation, primary or secondary.

alter table app_public.diagnoses enable row level security;
alter table app_public.diagnoses force row level security;

create policy tenant_isolation on app_public.diagnoses
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));

create policy insert_author on app_public.diagnoses
  for insert to app_user
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (EXISTS ( SELECT
   FROM app_public.consultations c
  WHERE ((c.clinic_id = diagnoses.clinic_id) AND (c.id = diagnoses.consultation_id) AND (c.doctor_id = ( SELECT app_public.current_member_id() AS current_member_id)))))));

create policy read_for_export on app_public.diagnoses
  for select to app_owner
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));

create policy select_clinicians_and_own_signed on app_public.diagnoses
  for select to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'doctor'::text, 'nurse'::text]) AS current_role_is) OR (app_private.patient_reads(patient_id) AND (EXISTS ( SELECT
   FROM app_public.consultations c
  WHERE ((c.clinic_id = diagnoses.clinic_id) AND (c.id = diagnoses.consultation_id) AND (c.status = 'signed'::text)))))));

create policy update_author on app_public.diagnoses
  for update to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (EXISTS ( SELECT
   FROM app_public.consultations c
  WHERE ((c.clinic_id = diagnoses.clinic_id) AND (c.id = diagnoses.consultation_id) AND (c.doctor_id = ( SELECT app_public.current_member_id() AS current_member_id)))))))
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (EXISTS ( SELECT
   FROM app_public.consultations c
  WHERE ((c.clinic_id = diagnoses.clinic_id) AND (c.id = diagnoses.consultation_id) AND (c.doctor_id = ( SELECT app_public.current_member_id() AS current_member_id)))))));

grant select on app_public.diagnoses to app_user;
grant insert (consultation_id, description, icd10_code, is_primary) on app_public.diagnoses to app_user;
grant update (description, icd10_code, is_primary) on app_public.diagnoses to app_user;
