-- Generated from the database by `npm run policies:generate` after migrating; do not edit.
-- The source of truth is migrations/; this file is what Postgres enforces for the table.

-- app_public.doctor_time_off: @unique id @behavior -update -nodeId:resource:delete A doctor's leave or blocked time: no appointments then.

alter table app_public.doctor_time_off enable row level security;
alter table app_public.doctor_time_off force row level security;

create policy tenant_isolation on app_public.doctor_time_off
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));

create policy delete_front_desk_and_own on app_public.doctor_time_off
  for delete to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'receptionist'::text]) AS current_role_is) OR (( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (doctor_id = ( SELECT app_public.current_member_id() AS current_member_id)))));

create policy insert_front_desk_and_own on app_public.doctor_time_off
  for insert to app_user
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'receptionist'::text]) AS current_role_is) OR (( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (doctor_id = ( SELECT app_public.current_member_id() AS current_member_id)))));

create policy read_by_definer_functions on app_public.doctor_time_off
  for select to app_owner
  using (true);

create policy select_staff on app_public.doctor_time_off
  for select to app_user
  using (( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'doctor'::text, 'nurse'::text, 'receptionist'::text, 'lab_technician'::text]) AS current_role_is));

create policy update_front_desk_and_own on app_public.doctor_time_off
  for update to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'receptionist'::text]) AS current_role_is) OR (( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (doctor_id = ( SELECT app_public.current_member_id() AS current_member_id)))))
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'receptionist'::text]) AS current_role_is) OR (( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (doctor_id = ( SELECT app_public.current_member_id() AS current_member_id)))));

grant delete, select on app_public.doctor_time_off to app_user;
grant insert (doctor_id, ends_at, reason, starts_at) on app_public.doctor_time_off to app_user;
grant update (doctor_id, ends_at, reason, starts_at) on app_public.doctor_time_off to app_user;
