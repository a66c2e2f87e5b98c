-- Generated from the database by `npm run policies:generate` after migrating; do not edit.
-- The source of truth is migrations/; this file is what Postgres enforces for the table.

-- app_public.patient_access_log: @unique id @behavior -insert -update -delete Who read which patient's record or files, when, from which address, in which request (append-only).

alter table app_public.patient_access_log enable row level security;
alter table app_public.patient_access_log force row level security;

create policy tenant_isolation on app_public.patient_access_log
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));

create policy delete_for_retention_purge on app_public.patient_access_log
  for delete to app_owner
  using (app_private.retention_purge_covers(clinic_id, accessed_at));

create policy insert_readers_as_themselves on app_public.patient_access_log
  for insert to app_user
  with check (((member_id = ( SELECT app_public.current_member_id() AS current_member_id)) AND (( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'doctor'::text, 'nurse'::text, 'receptionist'::text]) AS current_role_is) OR (( SELECT app_public.current_role_is(VARIADIC ARRAY['patient'::text]) AS current_role_is) AND (patient_id = ( SELECT app_public.current_patient_id() AS current_patient_id))) OR (( SELECT app_public.current_role_is(VARIADIC ARRAY['lab_technician'::text]) AS current_role_is) AND (action = 'read_lab'::text) AND (EXISTS ( SELECT
   FROM app_public.test_requests q
  WHERE ((q.clinic_id = patient_access_log.clinic_id) AND (q.patient_id = patient_access_log.patient_id))))))));

create policy insert_support_reads_by_definer_functions on app_public.patient_access_log
  for insert to app_owner
  with check (((member_id IS NULL) AND (support_grant_id IS NOT NULL)));

create policy read_for_export on app_public.patient_access_log
  for select to app_owner
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));

create policy read_for_retention_purge on app_public.patient_access_log
  for select to app_owner
  using (app_private.retention_purge_covers(clinic_id, accessed_at));

create policy select_admins_and_own on app_public.patient_access_log
  for select to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text]) AS current_role_is) OR (( SELECT app_public.current_role_is(VARIADIC ARRAY['patient'::text]) AS current_role_is) AND (patient_id = ( SELECT app_public.current_patient_id() AS current_patient_id)))));

grant select on app_public.patient_access_log to app_user;
grant insert (action, file_id, patient_id) on app_public.patient_access_log to app_user;
