-- Generated from the database by `npm run policies:generate` after migrating; do not edit.
-- The source of truth is migrations/; this file is what Postgres enforces for the table.

-- app_public.follow_ups: @unique id @behavior -insert -update -delete -totalCount A follow-up a doctor asked for in a consultation: due on a date, pending until completed, cancelled or missed.

alter table app_public.follow_ups enable row level security;
alter table app_public.follow_ups force row level security;

create policy tenant_isolation on app_public.follow_ups
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));

create policy insert_doctors_from_own_consultation on app_public.follow_ups
  for insert to app_user
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (doctor_id = ( SELECT app_public.current_member_id() AS current_member_id)) AND (EXISTS ( SELECT
   FROM app_public.consultations c
  WHERE ((c.clinic_id = follow_ups.clinic_id) AND (c.id = follow_ups.consultation_id) AND (c.doctor_id = ( SELECT app_public.current_member_id() AS current_member_id)))))));

create policy read_by_definer_functions on app_public.follow_ups
  for select to app_owner
  using (true);

create policy select_clinicians_and_own on app_public.follow_ups
  for select to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'doctor'::text, 'nurse'::text]) AS current_role_is) OR app_private.patient_reads(patient_id)));

create policy update_by_definer_functions on app_public.follow_ups
  for update to app_owner
  using (true)
  with check (true);

create policy update_doctors on app_public.follow_ups
  for update to app_user
  using (( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is))
  with check (( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is));

grant select on app_public.follow_ups to app_user;
grant insert (consultation_id, due_date, patient_id, reason) on app_public.follow_ups to app_user;
grant update (status) on app_public.follow_ups to app_user;
