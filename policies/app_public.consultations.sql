-- Generated from the database by `npm run policies:generate` after migrating; do not edit.
-- The source of truth is migrations/; this file is what Postgres enforces for the table.

-- app_public.consultations: @unique id @behavior -insert -update -delete A doctor's consultation during a visit: draft while written, then signed and locked.

alter table app_public.consultations enable row level security;
alter table app_public.consultations force row level security;

create policy tenant_isolation on app_public.consultations
  as restrictive
  for all to app_user
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)))
  with check ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));

create policy insert_visit_doctor on app_public.consultations
  for insert to app_user
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (doctor_id = ( SELECT app_public.current_member_id() AS current_member_id))));

create policy read_by_definer_functions on app_public.consultations
  for select to app_owner
  using (true);

create policy select_clinicians_and_own_signed on app_public.consultations
  for select to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['clinic_admin'::text, 'doctor'::text, 'nurse'::text]) AS current_role_is) OR ((status = 'signed'::text) AND app_private.patient_reads(patient_id))));

create policy update_author_draft on app_public.consultations
  for update to app_user
  using ((( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (doctor_id = ( SELECT app_public.current_member_id() AS current_member_id)) AND (status = 'draft'::text)))
  with check ((( SELECT app_public.current_role_is(VARIADIC ARRAY['doctor'::text]) AS current_role_is) AND (doctor_id = ( SELECT app_public.current_member_id() AS current_member_id))));

create policy update_by_definer_functions on app_public.consultations
  for update to app_owner
  using (true)
  with check (true);

grant select on app_public.consultations to app_user;
grant insert (chief_complaint, clinical_notes, doctor_id, findings, symptoms, treatment_plan, urgency, visit_id) on app_public.consultations to app_user;
grant update (chief_complaint, clinical_notes, findings, status, symptoms, treatment_plan, urgency) on app_public.consultations to app_user;
