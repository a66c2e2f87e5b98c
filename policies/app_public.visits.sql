-- Generated from the database by `npm run policies:generate` after migrating; do not edit.
-- The source of truth is migrations/; this file is what Postgres enforces for the table.

-- app_public.visits: @unique id @unique visit_date,token_number|@behavior -update -delete @behavior -delete -nodeId:resource:update -nodeId:resource:delete A patient's check-in: token of the day, queue position, consultation progress.

alter table app_public.visits enable row level security;
alter table app_public.visits force row level security;

create policy tenant_isolation on app_public.visits
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));

create policy insert_front_desk on app_public.visits
  for insert to app_user
  with check (( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'receptionist'::text]) AS current_role_is));

create policy read_by_definer_functions on app_public.visits
  for select to app_owner
  using (true);

create policy select_staff_and_own on app_public.visits
  for select to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'doctor'::text, 'nurse'::text, 'receptionist'::text]) AS current_role_is) OR (( SELECT app_public.current_role_is(VARIADIC ARRAY['patient'::text]) AS current_role_is) AND (patient_id = ( SELECT app_public.current_patient_id() AS current_patient_id)))));

create policy update_by_definer_functions on app_public.visits
  for update to app_owner
  using (true)
  with check (true);

create policy update_front_desk_and_own_queue on app_public.visits
  for update to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'receptionist'::text]) AS current_role_is) OR (( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (doctor_id = ( SELECT app_public.current_member_id() AS current_member_id)))))
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'receptionist'::text]) AS current_role_is) OR (( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (doctor_id = ( SELECT app_public.current_member_id() AS current_member_id)))));

grant select on app_public.visits to app_user;
grant insert (appointment_id, doctor_id, patient_id, priority, purpose) on app_public.visits to app_user;
grant update (doctor_id, priority, purpose, status) on app_public.visits to app_user;
