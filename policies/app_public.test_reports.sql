-- Generated from the database by `npm run policies:generate` after migrating; do not edit.
-- The source of truth is migrations/; this file is what Postgres enforces for the table.

-- app_public.test_reports: @unique id @behavior -insert -update -delete -totalCount The lab's report of a test request.

alter table app_public.test_reports enable row level security;
alter table app_public.test_reports force row level security;

create policy tenant_isolation on app_public.test_reports
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));

create policy insert_lab on app_public.test_reports
  for insert to app_user
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['lab_technician'::text]) AS current_role_is) AND (technician_id = ( SELECT app_public.current_member_id() AS current_member_id))));

create policy lock_by_definer_functions on app_public.test_reports
  for update to app_owner
  using (true)
  with check (false);

create policy read_by_definer_functions on app_public.test_reports
  for select to app_owner
  using (true);

create policy select_clinicians_lab_and_own_released on app_public.test_reports
  for select to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'doctor'::text, 'nurse'::text, 'lab_technician'::text]) AS current_role_is) OR ((status = 'released'::text) AND app_private.patient_reads(patient_id))));

create policy update_own on app_public.test_reports
  for update to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['lab_technician'::text]) AS current_role_is) AND (technician_id = ( SELECT app_public.current_member_id() AS current_member_id))))
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['lab_technician'::text]) AS current_role_is) AND (technician_id = ( SELECT app_public.current_member_id() AS current_member_id))));

grant select on app_public.test_reports to app_user;
grant insert (conclusion, patient_id, technician_id, test_request_id) on app_public.test_reports to app_user;
grant update (conclusion, file_id, status) on app_public.test_reports to app_user;
