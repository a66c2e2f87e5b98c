-- Generated from the database by `npm run policies:generate` after migrating; do not edit.
-- The source of truth is migrations/; this file is what Postgres enforces for the table.

-- app_public.departments: @unique id @unique code|@behavior -update -delete @behavior -nodeId:resource:update -nodeId:resource:delete A department of a clinic (e.g. cardiology, laboratory).

alter table app_public.departments enable row level security;
alter table app_public.departments force row level security;

create policy tenant_isolation on app_public.departments
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));

create policy delete_admins on app_public.departments
  for delete to app_user
  using (( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text]) AS current_role_is));

create policy insert_admins on app_public.departments
  for insert to app_user
  with check (( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text]) AS current_role_is));

create policy read_for_export on app_public.departments
  for select to app_owner
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));

create policy select_members on app_public.departments
  for select to app_user
  using (true);

create policy update_admins on app_public.departments
  for update to app_user
  using (( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text]) AS current_role_is))
  with check (( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text]) AS current_role_is));

grant delete, select on app_public.departments to app_user;
grant insert (code, description, is_active, name) on app_public.departments to app_user;
grant update (code, description, is_active, name) on app_public.departments to app_user;
