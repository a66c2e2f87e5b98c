-- Generated from the database by `npm run policies:generate` after migrating; do not edit.
-- The source of truth is migrations/; this file is what Postgres enforces for the table.

-- app_public.consultation_addenda: @unique id @behavior -insert -update -delete A signed correction of a signed consultation, never changed.

alter table app_public.consultation_addenda enable row level security;
alter table app_public.consultation_addenda force row level security;

create policy tenant_isolation on app_public.consultation_addenda
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));

create policy insert_doctors on app_public.consultation_addenda
  for insert to app_user
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (author_id = ( SELECT app_public.current_member_id() AS current_member_id))));

create policy read_for_export on app_public.consultation_addenda
  for select to app_owner
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));

create policy select_clinicians_and_own on app_public.consultation_addenda
  for select to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'doctor'::text, 'nurse'::text]) AS current_role_is) OR app_private.patient_reads(patient_id)));

grant select on app_public.consultation_addenda to app_user;
grant insert (body, consultation_id) on app_public.consultation_addenda to app_user;
