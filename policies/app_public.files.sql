-- Generated from the database by `npm run policies:generate` after migrating; do not edit.
-- The source of truth is migrations/; this file is what Postgres enforces for the table.

-- app_public.files: @unique id @behavior -insert -update -delete -totalCount A file attached to a patient: its metadata (the bytes are in storage under <clinic_id>/<id>).

alter table app_public.files enable row level security;
alter table app_public.files force row level security;

create policy tenant_isolation on app_public.files
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));

create policy insert_uploaders on app_public.files
  for insert to app_user
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text, 'nurse'::text, 'receptionist'::text]) AS current_role_is) OR (( SELECT app_public.current_role_is(VARIADIC ARRAY['lab_technician'::text]) AS current_role_is) AND (category = 'report'::text) AND (EXISTS ( SELECT
   FROM app_public.test_requests q
  WHERE ((q.clinic_id = files.clinic_id) AND (q.patient_id = files.patient_id) AND (q.status = ANY (ARRAY['requested'::text, 'collected'::text, 'in_progress'::text]))))))));

create policy read_by_definer_functions on app_public.files
  for select to app_owner
  using (true);

create policy select_lab_own_uploads on app_public.files
  for select to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['lab_technician'::text]) AS current_role_is) AND (uploaded_by = ( SELECT app_public.current_member_id() AS current_member_id))));

create policy select_staff_and_own on app_public.files
  for select to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'doctor'::text, 'nurse'::text, 'receptionist'::text]) AS current_role_is) OR (( SELECT app_public.current_role_is(VARIADIC ARRAY['patient'::text]) AS current_role_is) AND (patient_id = ( SELECT app_public.current_patient_id() AS current_patient_id)))));

create policy update_by_definer_functions on app_public.files
  for update to app_owner
  using (true)
  with check (true);

grant select on app_public.files to app_user;
grant insert (category, content_type, original_name, patient_id, sha256, size_bytes) on app_public.files to app_user;
