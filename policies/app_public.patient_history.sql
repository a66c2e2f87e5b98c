-- Generated from the database by `npm run policies:generate` after migrating; do not edit.
-- The source of truth is migrations/; this file is what Postgres enforces for the table.

-- app_public.patient_history: @unique id @behavior -delete -nodeId:resource:update -nodeId:resource:delete -totalCount A patient's allergies and current medication.

alter table app_public.patient_history enable row level security;
alter table app_public.patient_history force row level security;

create policy tenant_isolation on app_public.patient_history
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));

create policy insert_clinicians on app_public.patient_history
  for insert to app_user
  with check (( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text, 'nurse'::text]) AS current_role_is));

create policy read_by_definer_functions on app_public.patient_history
  for select to app_owner
  using (true);

create policy select_clinical_and_own on app_public.patient_history
  for select to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'doctor'::text, 'nurse'::text]) AS current_role_is) OR (( SELECT app_public.current_role_is(VARIADIC ARRAY['patient'::text]) AS current_role_is) AND (patient_id = ( SELECT app_public.current_patient_id() AS current_patient_id)))));

create policy update_by_definer_functions on app_public.patient_history
  for update to app_owner
  using (true)
  with check (true);

create policy update_clinicians on app_public.patient_history
  for update to app_user
  using (( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text, 'nurse'::text]) AS current_role_is))
  with check (( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text, 'nurse'::text]) AS current_role_is));

grant select on app_public.patient_history to app_user;
grant insert (detail, is_active, kind, name, patient_id, severity) on app_public.patient_history to app_user;
grant update (detail, is_active, name, severity) on app_public.patient_history to app_user;
