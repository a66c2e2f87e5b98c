-- Generated from the database by `npm run policies:generate` after migrating; do not edit.
-- The source of truth is migrations/; this file is what Postgres enforces for the table.

-- app_public.prescription_items: @unique id @behavior -insert -update -delete A medicine of a prescription.

alter table app_public.prescription_items enable row level security;
alter table app_public.prescription_items force row level security;

create policy tenant_isolation on app_public.prescription_items
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));

create policy delete_author on app_public.prescription_items
  for delete to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (EXISTS ( SELECT
   FROM app_public.prescriptions p
  WHERE ((p.clinic_id = prescription_items.clinic_id) AND (p.id = prescription_items.prescription_id) AND (p.doctor_id = ( SELECT app_public.current_member_id() AS current_member_id)))))));

create policy insert_author on app_public.prescription_items
  for insert to app_user
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (EXISTS ( SELECT
   FROM app_public.prescriptions p
  WHERE ((p.clinic_id = prescription_items.clinic_id) AND (p.id = prescription_items.prescription_id) AND (p.doctor_id = ( SELECT app_public.current_member_id() AS current_member_id)))))));

create policy read_for_export on app_public.prescription_items
  for select to app_owner
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));

create policy select_clinicians_and_own_issued on app_public.prescription_items
  for select to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'doctor'::text, 'nurse'::text]) AS current_role_is) OR (app_private.patient_reads(patient_id) AND (EXISTS ( SELECT
   FROM app_public.prescriptions p
  WHERE ((p.clinic_id = prescription_items.clinic_id) AND (p.id = prescription_items.prescription_id) AND (p.status = ANY (ARRAY['issued'::text, 'completed'::text]))))))));

create policy update_author on app_public.prescription_items
  for update to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (EXISTS ( SELECT
   FROM app_public.prescriptions p
  WHERE ((p.clinic_id = prescription_items.clinic_id) AND (p.id = prescription_items.prescription_id) AND (p.doctor_id = ( SELECT app_public.current_member_id() AS current_member_id)))))))
  with check (( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is));

grant delete, select on app_public.prescription_items to app_user;
grant insert (dose, dose_form, duration_days, frequency, frequency_custom, generic_name, instructions, medicine_name, patient_id, position, prescription_id, quantity, refills, route, strength) on app_public.prescription_items to app_user;
grant update (dose, dose_form, duration_days, frequency, frequency_custom, generic_name, instructions, medicine_name, position, quantity, refills, route, strength) on app_public.prescription_items to app_user;
