-- Generated from the database by `npm run policies:generate` after migrating; do not edit.
-- The source of truth is migrations/; this file is what Postgres enforces for the table.

-- app_public.clinic_exports: @behavior -* A full export of the clinic (its tables as JSON Lines and its files), built by a background job.

alter table app_public.clinic_exports enable row level security;
alter table app_public.clinic_exports force row level security;

create policy tenant_isolation on app_public.clinic_exports
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));

create policy insert_admins on app_public.clinic_exports
  for insert to app_user
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text]) AS current_role_is) AND (requested_by = ( SELECT app_public.current_member_id() AS current_member_id))));

create policy read_by_definer_functions on app_public.clinic_exports
  for select to app_owner
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));

create policy select_admins on app_public.clinic_exports
  for select to app_user
  using (( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text]) AS current_role_is));

create policy update_by_definer_functions on app_public.clinic_exports
  for update to app_owner
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));

grant select on app_public.clinic_exports to app_user;
grant insert (requested_by) on app_public.clinic_exports to app_user;
