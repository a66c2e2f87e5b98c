-- Generated from the database by `npm run policies:generate` after migrating; do not edit.
-- The source of truth is migrations/; this file is what Postgres enforces for the table.

-- app_public.clinic_icd10_codes: @unique id @behavior -update -delete An ICD-10 code a clinic added to the bundled list (a local or newer code).

alter table app_public.clinic_icd10_codes enable row level security;
alter table app_public.clinic_icd10_codes force row level security;

create policy tenant_isolation on app_public.clinic_icd10_codes
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));

create policy insert_admins_and_doctors on app_public.clinic_icd10_codes
  for insert to app_user
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'doctor'::text]) AS current_role_is) AND (created_by = ( SELECT app_public.current_member_id() AS current_member_id))));

create policy read_by_definer_functions on app_public.clinic_icd10_codes
  for select to app_owner
  using (true);

create policy select_clinicians on app_public.clinic_icd10_codes
  for select to app_user
  using (( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'doctor'::text, 'nurse'::text]) AS current_role_is));

grant select on app_public.clinic_icd10_codes to app_user;
grant insert (code, description) on app_public.clinic_icd10_codes to app_user;
