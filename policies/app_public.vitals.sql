-- Generated from the database by `npm run policies:generate` after migrating; do not edit.
-- The source of truth is migrations/; this file is what Postgres enforces for the table.

-- app_public.vitals: @unique id @behavior -insert -update -delete A reading of vital signs during a consultation, in the units the field names state.

alter table app_public.vitals enable row level security;
alter table app_public.vitals force row level security;

create policy tenant_isolation on app_public.vitals
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));

create policy insert_author_or_nurse on app_public.vitals
  for insert to app_user
  with check (((recorded_by = ( SELECT app_public.current_member_id() AS current_member_id)) AND (( SELECT app_public.current_role_is(VARIADIC ARRAY['nurse'::text]) AS current_role_is) OR (( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (EXISTS ( SELECT
   FROM app_public.consultations c
  WHERE ((c.clinic_id = vitals.clinic_id) AND (c.id = vitals.consultation_id) AND (c.doctor_id = ( SELECT app_public.current_member_id() AS current_member_id)))))))));

create policy read_for_export on app_public.vitals
  for select to app_owner
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));

create policy select_clinicians_and_own_signed on app_public.vitals
  for select to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'doctor'::text, 'nurse'::text]) AS current_role_is) OR (app_private.patient_reads(patient_id) AND (EXISTS ( SELECT
   FROM app_public.consultations c
  WHERE ((c.clinic_id = vitals.clinic_id) AND (c.id = vitals.consultation_id) AND (c.status = 'signed'::text)))))));

create policy update_recorder_or_author on app_public.vitals
  for update to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text, 'nurse'::text]) AS current_role_is) AND ((recorded_by = ( SELECT app_public.current_member_id() AS current_member_id)) OR (( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (EXISTS ( SELECT
   FROM app_public.consultations c
  WHERE ((c.clinic_id = vitals.clinic_id) AND (c.id = vitals.consultation_id) AND (c.doctor_id = ( SELECT app_public.current_member_id() AS current_member_id)))))))))
  with check (( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text, 'nurse'::text]) AS current_role_is));

grant select on app_public.vitals to app_user;
grant insert (consultation_id, diastolic_mmhg, heart_rate_bpm, height_cm, measured_at, respiratory_rate_per_min, spo2_percent, systolic_mmhg, temperature_c, weight_kg) on app_public.vitals to app_user;
grant update (diastolic_mmhg, heart_rate_bpm, height_cm, measured_at, respiratory_rate_per_min, spo2_percent, systolic_mmhg, temperature_c, weight_kg) on app_public.vitals to app_user;
