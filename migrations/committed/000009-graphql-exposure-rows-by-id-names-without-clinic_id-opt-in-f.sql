--! Previous: sha1:db4ad2be03c65861182b09d13dade9033a354246
--! Hash: sha1:0858781bae5faa589fb2bbcf4d79c86e2fb4cfb6
--! Message: GraphQL exposure: rows by id, names without clinic_id, opt-in filters, control characters refused in every text column GraphQL writes

--! split: 0900-graphql-exposure
-- What GraphQL (PostGraphile over app_public, as app_user) shows of each table, column, key and
-- function, declared in their comments (migrations/README.md, "GraphQL exposure"). GRANTs and RLS
-- decide what a caller may do; these tags decide what the API offers at all:
-- - clinic_id is never shown: the request's context gives it (`@behavior -*`);
-- - every tenant table is looked up, updated and deleted by its row id (`@unique id`: unique among
--   the rows RLS lets a request see, as the real key is (clinic_id, id)); the real keys keep the
--   node ids and the references, without lookups or mutations of their own (`-single -update -delete`);
-- - a create, update or delete is offered only where REST's workflow is the same SQL (constraints,
--   triggers, functions); where REST does part of the work in TypeScript (encryption, blob storage,
--   invitations, look-ups in app_hidden, token cut-off), the mutation or the column is not offered;
-- - a column is a filter or an ordering only when its comment says `+filterBy` / `+orderBy`
--   (src/graphql/exposure.ts makes that opt-in): columns an index serves, and a few that narrow
--   rows found otherwise or small tables (docs/architecture.md, "GraphQL: what is exposed");
-- - REST's input rules that GraphQL would skip become constraints (control characters, at the end).

-- Clinics: read-only (platform operators change them through REST); the caller's clinic only (RLS).
comment on table app_public.clinics is E'@behavior -insert -update -delete\nA clinic (tenant). Every tenant row belongs to exactly one clinic.';

-- Clinic settings: clinic admins update them as REST does, except the opening hours, whose shape
-- (weekday → time ranges) REST checks in TypeScript and the database only as a JSON object.
comment on table app_public.clinic_settings is E'@unique id\n@behavior -insert -delete -nodeId:resource:update -nodeId:resource:delete\nA clinic''s settings: currency, tax, scheduling, session timeout, 2FA, retention, branding.';
comment on constraint clinic_settings_pkey on app_public.clinic_settings is '@behavior -single -update -delete';
comment on constraint clinic_settings_clinic_id_key on app_public.clinic_settings is '@behavior -single -update -delete';
comment on column app_public.clinic_settings.clinic_id is '@behavior -*';
comment on column app_public.clinic_settings.operating_hours is E'@behavior -update\nOpening hours per weekday, e.g. {"mon": [["09:00", "17:00"]]}.';

-- Members: created by invitation only (REST: app_hidden.invite_member and an e-mailed token), never
-- deleted (deactivated instead). The profile may be updated; role and status may not, because REST
-- ends the member's tokens at once in TypeScript after such a change, nor office hours (their shape
-- is checked in TypeScript). The account id and the role-change stamp belong to the login machinery.
comment on table app_public.clinic_members is E'@unique id\n@behavior -insert -delete -nodeId:resource:update -nodeId:resource:delete\nA person''s membership of a clinic: role, status and staff profile.';
comment on constraint clinic_members_pkey on app_public.clinic_members is '@behavior -single -update -delete';
comment on constraint clinic_members_account_id_key on app_public.clinic_members is '@behavior -single -update -delete';
comment on constraint clinic_members_licence_number_key on app_public.clinic_members is '@behavior -single -update -delete';
comment on column app_public.clinic_members.clinic_id is '@behavior -*';
comment on column app_public.clinic_members.account_id is '@behavior -*';
comment on column app_public.clinic_members.role_changed_at is E'@behavior -*\nWhen the role last changed; NULL when it never did.';
comment on column app_public.clinic_members.role is E'@behavior -update +filterBy\nclinic_admin, doctor, nurse, receptionist, lab_technician or patient.';
comment on column app_public.clinic_members.status is E'@behavior -update +filterBy\ninvited (until the invitation is accepted), active, or deactivated (cannot log in or refresh).';
comment on column app_public.clinic_members.display_name is '@behavior +orderBy';
comment on column app_public.clinic_members.licence_number is E'@behavior +filterBy\nProfessional licence number, unique within the clinic.';
comment on column app_public.clinic_members.office_hours is E'@behavior -update\nOffice hours per weekday, e.g. {"mon": [["09:00", "13:00"]]}.';

-- Departments: plain CRUD for clinic admins (RLS), nothing else involved.
comment on table app_public.departments is E'@unique id\n@unique code|@behavior -update -delete\n@behavior -nodeId:resource:update -nodeId:resource:delete\nA department of a clinic (e.g. cardiology, laboratory).';
comment on constraint departments_pkey on app_public.departments is '@behavior -single -update -delete';
comment on constraint departments_code_key on app_public.departments is '@behavior -single -update -delete';
comment on column app_public.departments.clinic_id is '@behavior -*';
comment on column app_public.departments.code is E'@behavior +filterBy +orderBy\nShort code unique within the clinic, e.g. CARD.';
comment on column app_public.departments.is_active is '@behavior +filterBy';

-- Patients: registration is REST only (it encrypts the identification number and looks for
-- duplicates in TypeScript), and so is merging (app_hidden.merge_patients): no create, no delete,
-- no merged_into_id to write. The identification number is hidden entirely: the application
-- encrypts and masks it, which GraphQL cannot; its keyed hash is no filter either.
comment on table app_public.patients is E'@unique id\n@unique patient_number|@behavior -update -delete\n@behavior -insert -delete -nodeId:resource:update -nodeId:resource:delete\nA patient registered at the clinic: identity and contact details (clinical history is separate).';
comment on constraint patients_pkey on app_public.patients is '@behavior -single -update -delete';
comment on constraint patients_patient_number_key on app_public.patients is '@behavior -single -update -delete';
comment on constraint patients_member_id_key on app_public.patients is '@behavior -single -update -delete';
comment on column app_public.patients.clinic_id is '@behavior -*';
comment on column app_public.patients.identification_number_ciphertext is E'@behavior -*\nThe identification number, encrypted by the application (key id inside); the database never sees it in clear.';
comment on column app_public.patients.identification_number_hmac is E'@behavior -*\nKeyed hash of the identification number (<keyId>:<hex HMAC-SHA256>), for exact look-up.';
comment on column app_public.patients.merged_into_id is E'@behavior -insert -update\nThe record this duplicate was merged into; set by the merge.';
comment on column app_public.patients.patient_number is E'@behavior +filterBy +orderBy\nPT-YYYY-NNNNN: the year in the clinic''s time zone, consecutive per clinic and year; set by the database.';
comment on column app_public.patients.full_name is '@behavior +filterBy';
comment on column app_public.patients.date_of_birth is '@behavior +filterBy +orderBy';
comment on column app_public.patients.phone_normalised is E'@behavior +filterBy\nThe phone number as digits, a leading + kept (for search).';

-- Allergies and medication: recorded and corrected as REST does (plain insert and update), never deleted.
comment on table app_public.patient_history is E'@unique id\n@behavior -delete -nodeId:resource:update -nodeId:resource:delete\nA patient''s allergies and current medication.';
comment on constraint patient_history_pkey on app_public.patient_history is '@behavior -single -update -delete';
comment on column app_public.patient_history.clinic_id is '@behavior -*';
comment on column app_public.patient_history.patient_id is '@behavior +filterBy';
comment on column app_public.patient_history.kind is E'@behavior +filterBy\nallergy or medication.';

-- The chart access log: written by reads only (the API's), never through a mutation. Who read is
-- shown; the request id, address and support grant are for clinic admins in REST, a distinction
-- by role GraphQL cannot make, so they are not shown.
comment on table app_public.patient_access_log is E'@unique id\n@behavior -insert -update -delete\nWho read which patient''s record or files, when, from which address, in which request (append-only).';
comment on constraint patient_access_log_pkey on app_public.patient_access_log is '@behavior -single -update -delete';
comment on constraint patient_access_log_support_grant_id_fkey on app_public.patient_access_log is '@behavior -*';
comment on column app_public.patient_access_log.clinic_id is '@behavior -*';
comment on column app_public.patient_access_log.request_id is '@behavior -*';
comment on column app_public.patient_access_log.client_ip is '@behavior -*';
comment on column app_public.patient_access_log.support_grant_id is E'@behavior -*\nThe support access grant a platform operator read under; NULL for a member''s read.';
comment on column app_public.patient_access_log.patient_id is '@behavior +filterBy';
comment on column app_public.patient_access_log.accessed_at is '@behavior +filterBy +orderBy';

-- Files: the bytes live in blob storage, which only REST writes and reads: metadata, read-only.
comment on table app_public.files is E'@unique id\n@behavior -insert -update -delete\nA file attached to a patient: its metadata (the bytes are in storage under <clinic_id>/<id>).';
comment on constraint files_pkey on app_public.files is '@behavior -single -update -delete';
comment on column app_public.files.clinic_id is '@behavior -*';
comment on column app_public.files.patient_id is '@behavior +filterBy';
comment on column app_public.files.created_at is '@behavior +orderBy';

-- Leave: blocked and unblocked as REST does (insert, delete); REST never edits leave, neither does GraphQL.
comment on table app_public.doctor_time_off is E'@unique id\n@behavior -update -nodeId:resource:delete\nA doctor''s leave or blocked time: no appointments then.';
comment on constraint doctor_time_off_pkey on app_public.doctor_time_off is '@behavior -single -update -delete';
comment on column app_public.doctor_time_off.clinic_id is '@behavior -*';
comment on column app_public.doctor_time_off.doctor_id is E'@behavior +filterBy\nThe doctor''s membership.';
comment on column app_public.doctor_time_off.starts_at is '@behavior +filterBy +orderBy';

-- Appointments: booking is an insert the triggers and the exclusion constraint judge (a free slot
-- of the schedule, not taken), as REST's; so is moving one (the schedule and state machine's
-- triggers). Never deleted (cancelled instead). REST never changes the reason of a booking. The
-- status stays REST's (cancel, complete, no-show): the state machine also lets app_user move a
-- booking to checked_in, which only a check-in (a visit's insert) does, and REST never asks for;
-- a patchable status would let a client check an appointment in with no visit in the queue.
comment on table app_public.appointments is E'@unique id\n@behavior -delete -nodeId:resource:update -nodeId:resource:delete\nAn appointment of a patient with a doctor.';
comment on constraint appointments_pkey on app_public.appointments is '@behavior -single -update -delete';
comment on column app_public.appointments.clinic_id is '@behavior -*';
comment on column app_public.appointments.doctor_id is '@behavior +filterBy';
comment on column app_public.appointments.patient_id is '@behavior +filterBy';
comment on column app_public.appointments.starts_at is '@behavior +filterBy +orderBy';
comment on column app_public.appointments.status is E'@behavior -update +filterBy\nbooked, checked_in, completed, cancelled or no_show.';
comment on column app_public.appointments.cancellation_reason is '@behavior -update';
comment on column app_public.appointments.reason is '@behavior -update';

-- Visits: check-in is an insert whose triggers give the token and refuse an appointment that is
-- not booked (a second check-in among them); the queue moves are status changes the state
-- machine's trigger judges, and calling next is call_next_visit. REST changes nothing else.
comment on table app_public.visits is E'@unique id\n@unique visit_date,token_number|@behavior -update -delete\n@behavior -delete -nodeId:resource:update -nodeId:resource:delete\nA patient''s check-in: token of the day, queue position, consultation progress.';
comment on constraint visits_pkey on app_public.visits is '@behavior -single -update -delete';
comment on constraint visits_token_number_key on app_public.visits is '@behavior -single -update -delete';
comment on constraint visits_appointment_id_key on app_public.visits is '@behavior -single -update -delete';
comment on column app_public.visits.clinic_id is '@behavior -*';
comment on column app_public.visits.doctor_id is '@behavior -update +filterBy';
comment on column app_public.visits.patient_id is '@behavior +filterBy';
comment on column app_public.visits.purpose is '@behavior -update';
comment on column app_public.visits.visit_date is E'@behavior +filterBy +orderBy\nThe clinic-local date of the check-in.';
comment on column app_public.visits.token_number is E'@behavior +orderBy\nThe token of the day, consecutive per clinic and clinic-local date.';
comment on column app_public.visits.priority is E'@behavior -update\nnormal, urgent or emergency (the queue serves emergency first).';
comment on column app_public.visits.status is E'@behavior +filterBy\nwaiting, called, in_consultation, completed, no_show or cancelled.';

-- Support access: granting needs the operator's account, which REST finds by e-mail through
-- app_hidden, and REST revokes only a grant in force: both stay REST's. Read-only here.
comment on table app_public.support_access_grants is E'@unique id\n@behavior -insert -update -delete\nConsented, time-limited read access of a platform operator to the clinic (break-glass support).';
comment on constraint support_access_grants_pkey on app_public.support_access_grants is '@behavior -single -update -delete';
comment on column app_public.support_access_grants.clinic_id is '@behavior -*';
comment on column app_public.support_access_grants.created_at is '@behavior +orderBy';

-- Text GraphQL writes: REST refuses control characters in every text field before any SQL
-- (src/http/text.ts: none in one-line text; tab, CR and LF only in multi-line text), which GraphQL
-- cannot repeat; so the database refuses them too, for every column a create or patch above
-- writes (codes, phones, colours and enumerations have format checks of their own already).
-- `<table>_<column>_check` names the field at fault, as every constraint does.
alter table app_public.appointments drop constraint if exists appointments_reason_check;
alter table app_public.appointments add constraint appointments_reason_check check (reason !~ '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]');
alter table app_public.clinic_members drop constraint if exists clinic_members_display_name_check;
alter table app_public.clinic_members add constraint clinic_members_display_name_check check (display_name !~ '[\x01-\x1f\x7f]');
alter table app_public.clinic_members drop constraint if exists clinic_members_licence_number_check;
alter table app_public.clinic_members add constraint clinic_members_licence_number_check check (licence_number !~ '[\x01-\x1f\x7f]');
alter table app_public.clinic_members drop constraint if exists clinic_members_qualification_check;
alter table app_public.clinic_members add constraint clinic_members_qualification_check check (qualification !~ '[\x01-\x1f\x7f]');
alter table app_public.clinic_members drop constraint if exists clinic_members_specialisation_check;
alter table app_public.clinic_members add constraint clinic_members_specialisation_check check (specialisation !~ '[\x01-\x1f\x7f]');
alter table app_public.clinic_settings drop constraint if exists clinic_settings_brand_logo_url_check;
alter table app_public.clinic_settings add constraint clinic_settings_brand_logo_url_check check (brand_logo_url !~ '[\x01-\x1f\x7f]');
alter table app_public.departments drop constraint if exists departments_description_check;
alter table app_public.departments add constraint departments_description_check check (description !~ '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]');
alter table app_public.departments drop constraint if exists departments_name_check;
alter table app_public.departments add constraint departments_name_check check (name !~ '[\x01-\x1f\x7f]');
alter table app_public.doctor_time_off drop constraint if exists doctor_time_off_reason_check;
alter table app_public.doctor_time_off add constraint doctor_time_off_reason_check check (reason !~ '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]');
alter table app_public.patient_history drop constraint if exists patient_history_detail_check;
alter table app_public.patient_history add constraint patient_history_detail_check check (detail !~ '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]');
alter table app_public.patient_history drop constraint if exists patient_history_name_check;
alter table app_public.patient_history add constraint patient_history_name_check check (name !~ '[\x01-\x1f\x7f]');
alter table app_public.patients drop constraint if exists patients_address_check;
alter table app_public.patients add constraint patients_address_check check (address !~ '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]');
alter table app_public.patients drop constraint if exists patients_email_check;
alter table app_public.patients add constraint patients_email_check check (email !~ '[\x01-\x1f\x7f]');
alter table app_public.patients drop constraint if exists patients_emergency_contact_name_check;
alter table app_public.patients add constraint patients_emergency_contact_name_check check (emergency_contact_name !~ '[\x01-\x1f\x7f]');
alter table app_public.patients drop constraint if exists patients_full_name_check;
alter table app_public.patients add constraint patients_full_name_check check (full_name !~ '[\x01-\x1f\x7f]');
alter table app_public.visits drop constraint if exists visits_purpose_check;
alter table app_public.visits add constraint visits_purpose_check check (purpose !~ '[\x01-\x1f\x7f]');

-- Functions: the context helpers are the policies' plumbing, not API; the front desk's queries and
-- calling next (which checks who may call whom itself) are.
comment on function app_public.current_app_role() is E'@behavior -*\nThe clinic role of the current request (app.role), or NULL when none is set.';
comment on function app_public.current_clinic_date() is E'@behavior -*\nToday in the context clinic''s time zone.';
comment on function app_public.current_clinic_id() is E'@behavior -*\nThe clinic of the current request (app.clinic_id), or NULL when none is set.';
comment on function app_public.current_member_id() is E'@behavior -*\nThe caller''s active membership in the context clinic, in the context role; NULL when there is none.';
comment on function app_public.current_patient_id() is E'@behavior -*\nThe patient record linked to the caller''s patient membership in the context clinic; NULL otherwise.';
comment on function app_public.current_role_is(text[]) is E'@behavior -*\nTrue when the current request''s clinic role is one of the given roles.';
comment on function app_public.current_user_id() is E'@behavior -*\nThe user of the current request (app.user_id), or NULL when none is set.';
