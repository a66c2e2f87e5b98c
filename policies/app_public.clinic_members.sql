-- Generated from the database by `npm run policies:generate` after migrating; do not edit.
-- The source of truth is migrations/; this file is what Postgres enforces for the table.

-- app_public.clinic_members: @unique id @behavior -insert -delete -nodeId:resource:update -nodeId:resource:delete A person's membership of a clinic: role, status and staff profile.

alter table app_public.clinic_members enable row level security;
alter table app_public.clinic_members force row level security;

create policy tenant_isolation on app_public.clinic_members
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));

create policy delete_admins on app_public.clinic_members
  for delete to app_user
  using (( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text]) AS current_role_is));

create policy insert_admins on app_public.clinic_members
  for insert to app_user
  with check (( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text]) AS current_role_is));

create policy insert_by_definer_functions on app_public.clinic_members
  for insert to app_owner
  with check (true);

create policy read_by_definer_functions on app_public.clinic_members
  for select to app_owner
  using (true);

create policy select_staff_all_patients_staff_and_self on app_public.clinic_members
  for select to app_user
  using (((NOT ( SELECT app_public.current_role_is(VARIADIC ARRAY['patient'::text]) AS current_role_is)) OR (role <> 'patient'::text) OR (account_id = ( SELECT app_public.current_user_id() AS current_user_id))));

create policy update_admins on app_public.clinic_members
  for update to app_user
  using (( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text]) AS current_role_is))
  with check (( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text]) AS current_role_is));

create policy update_by_definer_functions on app_public.clinic_members
  for update to app_owner
  using (true)
  with check (true);

grant delete, select on app_public.clinic_members to app_user;
grant insert (account_id, consultation_fee, display_name, licence_number, office_hours, qualification, role, specialisation, status) on app_public.clinic_members to app_user;
grant update (consultation_fee, display_name, licence_number, office_hours, qualification, role, specialisation, status) on app_public.clinic_members to app_user;
