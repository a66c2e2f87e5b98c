-- Generated from the database by `npm run policies:generate` after migrating; do not edit.
-- The source of truth is migrations/; this file is what Postgres enforces for the table.

-- app_public.appointments: @unique id @behavior -delete -nodeId:resource:update -nodeId:resource:delete An appointment of a patient with a doctor.

alter table app_public.appointments enable row level security;
alter table app_public.appointments force row level security;

create policy tenant_isolation on app_public.appointments
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));

create policy insert_front_desk_and_own on app_public.appointments
  for insert to app_user
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'receptionist'::text]) AS current_role_is) OR (( SELECT app_public.current_role_is(VARIADIC ARRAY['patient'::text]) AS current_role_is) AND (patient_id = ( SELECT app_public.current_patient_id() AS current_patient_id)))));

create policy read_by_definer_functions on app_public.appointments
  for select to app_owner
  using (true);

create policy select_staff_and_own on app_public.appointments
  for select to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'doctor'::text, 'nurse'::text, 'receptionist'::text]) AS current_role_is) OR (( SELECT app_public.current_role_is(VARIADIC ARRAY['patient'::text]) AS current_role_is) AND (patient_id = ( SELECT app_public.current_patient_id() AS current_patient_id)))));

create policy update_by_definer_functions on app_public.appointments
  for update to app_owner
  using (true)
  with check (true);

create policy update_front_desk_and_own on app_public.appointments
  for update to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'receptionist'::text]) AS current_role_is) OR (( SELECT app_public.current_role_is(VARIADIC ARRAY['patient'::text]) AS current_role_is) AND (patient_id = ( SELECT app_public.current_patient_id() AS current_patient_id)) AND (status = 'booked'::text))))
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'receptionist'::text]) AS current_role_is) OR (( SELECT app_public.current_role_is(VARIADIC ARRAY['patient'::text]) AS current_role_is) AND (patient_id = ( SELECT app_public.current_patient_id() AS current_patient_id)) AND (status = ANY (ARRAY['booked'::text, 'cancelled'::text])))));

grant select on app_public.appointments to app_user;
grant insert (doctor_id, ends_at, patient_id, reason, starts_at) on app_public.appointments to app_user;
grant update (cancellation_reason, doctor_id, ends_at, reason, starts_at, status) on app_public.appointments to app_user;
