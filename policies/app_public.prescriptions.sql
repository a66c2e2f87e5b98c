-- Generated from the database by `npm run policies:generate` after migrating; do not edit.
-- The source of truth is migrations/; this file is what Postgres enforces for the table.

-- app_public.prescriptions: @unique id @behavior -insert -update -delete A prescription written in a consultation.

alter table app_public.prescriptions enable row level security;
alter table app_public.prescriptions force row level security;

create policy tenant_isolation on app_public.prescriptions
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));

create policy insert_consultation_author on app_public.prescriptions
  for insert to app_user
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (doctor_id = ( SELECT app_public.current_member_id() AS current_member_id)) AND (EXISTS ( SELECT
   FROM app_public.consultations c
  WHERE ((c.clinic_id = prescriptions.clinic_id) AND (c.id = prescriptions.consultation_id) AND (c.doctor_id = ( SELECT app_public.current_member_id() AS current_member_id)) AND (c.status = ANY (ARRAY['draft'::text, 'signed'::text])))))));

create policy read_for_export on app_public.prescriptions
  for select to app_owner
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));

create policy select_clinicians_and_own_issued on app_public.prescriptions
  for select to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'doctor'::text, 'nurse'::text]) AS current_role_is) OR ((status = ANY (ARRAY['issued'::text, 'completed'::text])) AND app_private.patient_reads(patient_id))));

create policy update_author on app_public.prescriptions
  for update to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (doctor_id = ( SELECT app_public.current_member_id() AS current_member_id))))
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (doctor_id = ( SELECT app_public.current_member_id() AS current_member_id))));

grant select on app_public.prescriptions to app_user;
grant insert (consultation_id, doctor_id, notes, patient_id) on app_public.prescriptions to app_user;
grant update (cancellation_reason, notes, status) on app_public.prescriptions to app_user;
