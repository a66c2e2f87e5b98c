-- Generated from the database by `npm run policies:generate` after migrating; do not edit.
-- The source of truth is migrations/; this file is what Postgres enforces for the table.

-- app_public.prescription_allergy_acknowledgements: @unique id @behavior -insert -update -delete A doctor's recorded acknowledgement of a patient's allergy that a prescription's medicine matches.

alter table app_public.prescription_allergy_acknowledgements enable row level security;
alter table app_public.prescription_allergy_acknowledgements force row level security;

create policy tenant_isolation on app_public.prescription_allergy_acknowledgements
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));

create policy insert_author on app_public.prescription_allergy_acknowledgements
  for insert to app_user
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (acknowledged_by = ( SELECT app_public.current_member_id() AS current_member_id)) AND (EXISTS ( SELECT
   FROM app_public.prescriptions p
  WHERE ((p.clinic_id = prescription_allergy_acknowledgements.clinic_id) AND (p.id = prescription_allergy_acknowledgements.prescription_id) AND (p.doctor_id = ( SELECT app_public.current_member_id() AS current_member_id)))))));

create policy read_for_export on app_public.prescription_allergy_acknowledgements
  for select to app_owner
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));

create policy select_clinicians on app_public.prescription_allergy_acknowledgements
  for select to app_user
  using (( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'doctor'::text, 'nurse'::text]) AS current_role_is));

grant select on app_public.prescription_allergy_acknowledgements to app_user;
grant insert (allergy_id, note, patient_id, prescription_id) on app_public.prescription_allergy_acknowledgements to app_user;
