-- Generated from the database by `npm run policies:generate` after migrating; do not edit.
-- The source of truth is migrations/; this file is what Postgres enforces for the table.

-- app_public.patients: @unique id @unique patient_number|@behavior -update -delete @behavior -insert -delete -nodeId:resource:update -nodeId:resource:delete A patient registered at the clinic: identity and contact details (clinical history is separate).

alter table app_public.patients enable row level security;
alter table app_public.patients force row level security;

create policy tenant_isolation on app_public.patients
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));

create policy insert_front_desk on app_public.patients
  for insert to app_user
  with check (( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'receptionist'::text]) AS current_role_is));

create policy read_by_definer_functions on app_public.patients
  for select to app_owner
  using (true);

create policy select_staff_and_own on app_public.patients
  for select to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'doctor'::text, 'nurse'::text, 'receptionist'::text]) AS current_role_is) OR (( SELECT app_public.current_role_is(VARIADIC ARRAY['patient'::text]) AS current_role_is) AND (id = ( SELECT app_public.current_patient_id() AS current_patient_id)))));

create policy update_by_definer_functions on app_public.patients
  for update to app_owner
  using (true)
  with check (true);

create policy update_front_desk on app_public.patients
  for update to app_user
  using (( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'receptionist'::text]) AS current_role_is))
  with check (( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'receptionist'::text]) AS current_role_is));

grant select on app_public.patients to app_user;
grant insert (address, blood_group, contact_channel, date_of_birth, email, emergency_contact_name, emergency_contact_phone, full_name, identification_number_ciphertext, identification_number_hmac, identification_type, member_id, phone, sex) on app_public.patients to app_user;
grant update (address, blood_group, contact_channel, date_of_birth, email, emergency_contact_name, emergency_contact_phone, full_name, identification_number_ciphertext, identification_number_hmac, identification_type, member_id, phone, sex, status) on app_public.patients to app_user;
