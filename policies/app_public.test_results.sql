-- Generated from the database by `npm run policies:generate` after migrating; do not edit.
-- The source of truth is migrations/; this file is what Postgres enforces for the table.

-- app_public.test_results: @unique id @behavior -insert -update -delete -totalCount One analyte's result in a lab report.

alter table app_public.test_results enable row level security;
alter table app_public.test_results force row level security;

create policy tenant_isolation on app_public.test_results
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));

create policy insert_lab_own on app_public.test_results
  for insert to app_user
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['lab_technician'::text]) AS current_role_is) AND (EXISTS ( SELECT
   FROM app_public.test_reports r
  WHERE ((r.clinic_id = test_results.clinic_id) AND (r.id = test_results.test_report_id) AND (r.technician_id = ( SELECT app_public.current_member_id() AS current_member_id)))))));

create policy read_by_definer_functions on app_public.test_results
  for select to app_owner
  using (true);

create policy select_clinicians_lab_and_own_released on app_public.test_results
  for select to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'doctor'::text, 'nurse'::text, 'lab_technician'::text]) AS current_role_is) OR (app_private.patient_reads(patient_id) AND (EXISTS ( SELECT
   FROM app_public.test_reports r
  WHERE ((r.clinic_id = test_results.clinic_id) AND (r.id = test_results.test_report_id) AND (r.status = 'released'::text)))))));

create policy update_lab_own on app_public.test_results
  for update to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['lab_technician'::text]) AS current_role_is) AND (EXISTS ( SELECT
   FROM app_public.test_reports r
  WHERE ((r.clinic_id = test_results.clinic_id) AND (r.id = test_results.test_report_id) AND (r.technician_id = ( SELECT app_public.current_member_id() AS current_member_id)))))))
  with check (( SELECT app_public.current_role_is(VARIADIC ARRAY['lab_technician'::text]) AS current_role_is));

grant select on app_public.test_results to app_user;
grant insert (analyte, critical_high, critical_low, patient_id, position, reference_high, reference_low, test_report_id, unit, value_numeric, value_text) on app_public.test_results to app_user;
grant update (analyte, critical_high, critical_low, position, reference_high, reference_low, unit, value_numeric, value_text) on app_public.test_results to app_user;
