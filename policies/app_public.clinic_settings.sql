-- Generated from the database by `npm run policies:generate` after migrating; do not edit.
-- The source of truth is migrations/; this file is what Postgres enforces for the table.

-- app_public.clinic_settings: @unique id @behavior -insert -delete -nodeId:resource:update -nodeId:resource:delete A clinic's settings: currency, tax, scheduling, session timeout, 2FA, retention, branding.

alter table app_public.clinic_settings enable row level security;
alter table app_public.clinic_settings force row level security;

create policy tenant_isolation on app_public.clinic_settings
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));

create policy insert_by_definer_functions on app_public.clinic_settings
  for insert to app_owner
  with check (true);

create policy read_by_definer_functions on app_public.clinic_settings
  for select to app_owner
  using (true);

create policy select_members on app_public.clinic_settings
  for select to app_user
  using (true);

create policy update_admins on app_public.clinic_settings
  for update to app_user
  using (( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text]) AS current_role_is))
  with check (( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text]) AS current_role_is));

grant select on app_public.clinic_settings to app_user;
grant update (appointment_slot_minutes, brand_logo_url, brand_primary_colour, brand_secondary_colour, currency, language, no_show_grace_minutes, notification_sender_name, operating_hours, require_two_factor, retention_days, session_idle_minutes, tax_rate) on app_public.clinic_settings to app_user;
