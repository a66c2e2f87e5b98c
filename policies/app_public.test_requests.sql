-- Generated from the database by `npm run policies:generate` after migrating; do not edit.
-- The source of truth is migrations/; this file is what Postgres enforces for the table.

-- app_public.test_requests: @unique id @behavior -insert -update -delete -totalCount A lab test a doctor requested.

alter table app_public.test_requests enable row level security;
alter table app_public.test_requests force row level security;

create policy tenant_isolation on app_public.test_requests
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));

create policy insert_doctors on app_public.test_requests
  for insert to app_user
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (requested_by = ( SELECT app_public.current_member_id() AS current_member_id))));

create policy read_by_definer_functions on app_public.test_requests
  for select to app_owner
  using (true);

create policy select_clinicians_lab_and_own on app_public.test_requests
  for select to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'doctor'::text, 'nurse'::text, 'lab_technician'::text]) AS current_role_is) OR app_private.patient_reads(patient_id)));

create policy update_by_definer_functions on app_public.test_requests
  for update to app_owner
  using (true)
  with check (true);

create policy update_doctors_and_lab on app_public.test_requests
  for update to app_user
  using (( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text, 'lab_technician'::text]) AS current_role_is))
  with check (( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text, 'lab_technician'::text]) AS current_role_is));

grant select on app_public.test_requests to app_user;
grant insert (category, clinical_note, consultation_id, patient_id, requested_by, required_by, test_code, test_name, urgency) on app_public.test_requests to app_user;
grant update (status) on app_public.test_requests to app_user;
