-- Generated from the database by `npm run policies:generate` after migrating; do not edit.
-- The source of truth is migrations/; this file is what Postgres enforces for the table.

-- app_public.clinics: @behavior -insert -update -delete A clinic (tenant). Every tenant row belongs to exactly one clinic.

alter table app_public.clinics enable row level security;
alter table app_public.clinics force row level security;

create policy insert_any on app_public.clinics
  for insert to app_platform
  with check (true);

create policy insert_by_definer_functions on app_public.clinics
  for insert to app_owner
  with check (true);

create policy read_by_definer_functions on app_public.clinics
  for select to app_owner
  using (true);

create policy select_all on app_public.clinics
  for select to app_platform
  using (true);

create policy select_own_clinic on app_public.clinics
  for select to app_user
  using ((id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));

create policy update_any on app_public.clinics
  for update to app_platform
  using (true)
  with check (true);

grant select on app_public.clinics to app_platform;
grant insert (name, slug, status, timezone) on app_public.clinics to app_platform;
grant update (address, contact_email, contact_phone, name, plan, plan_status, registration_number, status, tax_id, timezone) on app_public.clinics to app_platform;
grant select on app_public.clinics to app_user;
