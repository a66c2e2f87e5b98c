-- Generated from the database by `npm run policies:generate` after migrating; do not edit.
-- The source of truth is migrations/; this file is what Postgres enforces for the table.

-- app_public.support_access_grants: @unique id @behavior -insert -update -delete Consented, time-limited read access of a platform operator to the clinic (break-glass support).

alter table app_public.support_access_grants enable row level security;
alter table app_public.support_access_grants force row level security;

create policy tenant_isolation on app_public.support_access_grants
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));

create policy insert_admins on app_public.support_access_grants
  for insert to app_user
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text]) AS current_role_is) AND (granted_by = ( SELECT app_public.current_user_id() AS current_user_id)) AND (revoked_at IS NULL)));

create policy read_by_definer_functions on app_public.support_access_grants
  for select to app_owner
  using (true);

create policy select_admins on app_public.support_access_grants
  for select to app_user
  using (( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text]) AS current_role_is));

create policy update_admins on app_public.support_access_grants
  for update to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text]) AS current_role_is) AND (revoked_at IS NULL)))
  with check (( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text]) AS current_role_is));

grant select on app_public.support_access_grants to app_user;
grant insert (expires_at, operator_account_id, reason) on app_public.support_access_grants to app_user;
grant update (revoked_at) on app_public.support_access_grants to app_user;
