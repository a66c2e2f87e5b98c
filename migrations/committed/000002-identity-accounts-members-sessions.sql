--! Previous: sha1:ee59c0f29dba47eb9879382c078818b120413383
--! Hash: sha1:52fcca512a309c38ab908678a98d7ef5149c6572
--! Message: identity accounts members sessions

--! split: 0290-plans-and-settings
-- Subscription plans: reference data the platform maintains. Private: a clinic meets its plan
-- through the limits below, operators through their clinic list. NULL limit = unlimited.
create table app_private.plans (
  code text primary key constraint plans_code_format check (code ~ '^[a-z][a-z0-9_]{1,31}$'),
  name text not null,
  max_doctors integer constraint plans_max_doctors_valid check (max_doctors >= 0),
  max_receptionists integer constraint plans_max_receptionists_valid check (max_receptionists >= 0),
  max_patients integer constraint plans_max_patients_valid check (max_patients >= 0),
  max_storage_mb integer constraint plans_max_storage_mb_valid check (max_storage_mb >= 0)
);
insert into app_private.plans (code, name, max_doctors, max_receptionists, max_patients, max_storage_mb) values
  ('trial', 'Trial', 2, 1, 100, 1024),
  ('basic', 'Basic', 5, 3, 2000, 10240),
  ('professional', 'Professional', 25, 10, 50000, 102400),
  ('enterprise', 'Enterprise', null, null, null, null);

alter table app_public.clinics
  add column plan text not null default 'trial' constraint clinics_plan_fkey references app_private.plans (code),
  add column plan_status text not null default 'trial'
    constraint clinics_plan_status_valid check (plan_status in ('trial', 'active', 'expired', 'suspended'));
grant update (plan, plan_status) on app_public.clinics to app_platform;
comment on column app_public.clinics.plan is 'Subscription plan: trial, basic, professional or enterprise (limits per plan).';
comment on column app_public.clinics.plan_status is 'trial, active, expired or suspended.';

-- A clinic's settings: one row per clinic, created at onboarding. Every member reads them; only
-- clinic admins change them. session_idle_minutes is the refresh tokens' idle timeout.
create table app_public.clinic_settings (
  clinic_id uuid not null default app_public.current_clinic_id() references app_public.clinics (id),
  id uuid not null default gen_random_uuid(),
  currency text not null default 'USD' constraint clinic_settings_currency_format check (currency ~ '^[A-Z]{3}$'),
  tax_rate numeric(5, 2) not null default 0 constraint clinic_settings_tax_rate_valid check (tax_rate between 0 and 100),
  appointment_slot_minutes integer not null default 15
    constraint clinic_settings_appointment_slot_minutes_valid check (appointment_slot_minutes between 5 and 240),
  session_idle_minutes integer not null default 15
    constraint clinic_settings_session_idle_minutes_valid check (session_idle_minutes between 5 and 720),
  require_two_factor boolean not null default false,
  operating_hours jsonb not null default '{}'
    constraint clinic_settings_operating_hours_valid check (jsonb_typeof(operating_hours) = 'object'),
  retention_days integer not null default 3650
    constraint clinic_settings_retention_days_valid check (retention_days between 365 and 36500),
  brand_primary_colour text constraint clinic_settings_brand_primary_colour_format check (brand_primary_colour ~ '^#[0-9a-f]{6}$'),
  brand_secondary_colour text constraint clinic_settings_brand_secondary_colour_format check (brand_secondary_colour ~ '^#[0-9a-f]{6}$'),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (clinic_id, id),
  constraint clinic_settings_clinic_id_key unique (clinic_id)
);
alter table app_public.clinic_settings enable row level security;
alter table app_public.clinic_settings force row level security;

create policy tenant_isolation on app_public.clinic_settings as restrictive to app_user
  using (clinic_id = (select app_public.current_clinic_id()))
  with check (clinic_id = (select app_public.current_clinic_id()));
create policy select_members on app_public.clinic_settings for select to app_user using (true);
create policy update_admins on app_public.clinic_settings for update to app_user
  using ((select app_public.current_role_is('clinic_admin')))
  with check ((select app_public.current_role_is('clinic_admin')));
-- Onboarding creates the row; refresh tokens read the idle timeout (SECURITY DEFINER functions).
create policy read_by_definer_functions on app_public.clinic_settings for select to app_owner using (true);
create policy insert_by_definer_functions on app_public.clinic_settings for insert to app_owner with check (true);

grant select on app_public.clinic_settings to app_user;
grant update (currency, tax_rate, appointment_slot_minutes, session_idle_minutes, require_two_factor, operating_hours,
  retention_days, brand_primary_colour, brand_secondary_colour) on app_public.clinic_settings to app_user;

create trigger _100_updated_at before update on app_public.clinic_settings
  for each row execute function app_private.tg_set_updated_at();
create trigger _900_audit after insert or update or delete on app_public.clinic_settings
  for each row execute function app_private.tg_audit_row('clinic_id');

comment on table app_public.clinic_settings is 'A clinic''s settings: currency, tax, scheduling, session timeout, 2FA, retention, branding.';
comment on column app_public.clinic_settings.session_idle_minutes is 'Minutes of inactivity after which a session''s refresh token expires.';
comment on column app_public.clinic_settings.operating_hours is 'Opening hours per weekday, e.g. {"mon": [["09:00", "17:00"]]}.';

--! split: 0300-accounts
-- One login per person, platform-wide: the e-mail and the argon2id hash (computed and verified
-- by the application; Postgres never sees a password). Secrets: no grants to any app role;
-- reached only through the SECURITY DEFINER functions of 0330-login. No audit trigger: the
-- generic trigger would copy the hash into the audit log; login events are audited on purpose.
create table app_private.accounts (
  id uuid primary key default gen_random_uuid(),
  email text not null
    constraint accounts_email_format check (char_length(email) <= 254 and email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'),
  password_hash text not null constraint accounts_password_hash_format check (password_hash like '$argon2id$%'),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create unique index accounts_email_key on app_private.accounts (lower(email));

create trigger _100_updated_at before update on app_private.accounts
  for each row execute function app_private.tg_set_updated_at();

comment on table app_private.accounts is 'A person''s login: e-mail and argon2id password hash. One per person, platform-wide.';

--! split: 0310-clinic-members
-- A person's membership of one clinic: their role there and their staff profile. A person may
-- belong to several clinics with different roles; every token is scoped to exactly one.
-- Staff see every member of their clinic; a patient sees the staff and their own membership,
-- never other patients. Only clinic admins change memberships.
create table app_public.clinic_members (
  clinic_id uuid not null default app_public.current_clinic_id() references app_public.clinics (id),
  id uuid not null default gen_random_uuid(),
  account_id uuid not null references app_private.accounts (id),
  role text not null
    constraint clinic_members_role_valid
    check (role in ('clinic_admin', 'doctor', 'nurse', 'receptionist', 'lab_technician', 'patient')),
  display_name text not null constraint clinic_members_display_name_length check (char_length(display_name) between 1 and 120),
  status text not null default 'active'
    constraint clinic_members_status_valid check (status in ('invited', 'active', 'deactivated')),
  specialisation text constraint clinic_members_specialisation_length check (char_length(specialisation) <= 120),
  licence_number text constraint clinic_members_licence_number_length check (char_length(licence_number) between 1 and 64),
  qualification text constraint clinic_members_qualification_length check (char_length(qualification) <= 200),
  consultation_fee numeric(12, 2) constraint clinic_members_consultation_fee_valid check (consultation_fee >= 0),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (clinic_id, id),
  constraint clinic_members_account_id_key unique (clinic_id, account_id),
  constraint clinic_members_licence_number_key unique (clinic_id, licence_number)
);
alter table app_public.clinic_members enable row level security;
alter table app_public.clinic_members force row level security;

create policy tenant_isolation on app_public.clinic_members as restrictive to app_user
  using (clinic_id = (select app_public.current_clinic_id()))
  with check (clinic_id = (select app_public.current_clinic_id()));
create policy select_staff_all_patients_staff_and_self on app_public.clinic_members for select to app_user
  using (
    not (select app_public.current_role_is('patient'))
    or role <> 'patient'
    or account_id = (select app_public.current_user_id())
  );
create policy insert_admins on app_public.clinic_members for insert to app_user
  with check ((select app_public.current_role_is('clinic_admin')));
create policy update_admins on app_public.clinic_members for update to app_user
  using ((select app_public.current_role_is('clinic_admin')))
  with check ((select app_public.current_role_is('clinic_admin')));
create policy delete_admins on app_public.clinic_members for delete to app_user
  using ((select app_public.current_role_is('clinic_admin')));

grant select, delete on app_public.clinic_members to app_user;
grant insert (account_id, role, display_name, status, specialisation, licence_number, qualification, consultation_fee),
  update (role, display_name, status, specialisation, licence_number, qualification, consultation_fee)
  on app_public.clinic_members to app_user;

create trigger _100_updated_at before update on app_public.clinic_members
  for each row execute function app_private.tg_set_updated_at();
create trigger _900_audit after insert or update or delete on app_public.clinic_members
  for each row execute function app_private.tg_audit_row('id');

comment on table app_public.clinic_members is 'A person''s membership of a clinic: role, status and staff profile.';
comment on column app_public.clinic_members.role is 'clinic_admin, doctor, nurse, receptionist, lab_technician or patient.';
comment on column app_public.clinic_members.status is 'invited (until the invitation is accepted), active, or deactivated (cannot log in or refresh).';
comment on column app_public.clinic_members.licence_number is 'Professional licence number, unique within the clinic.';

--! split: 0320-refresh-tokens
-- Refresh tokens: opaque to the client, stored as SHA-256 hashes, rotated on every use. All the
-- tokens descending from one login form a family; presenting a token that was already rotated
-- (a stolen copy, or the real one after the thief used it) revokes the whole family.
create table app_private.refresh_tokens (
  token_hash bytea primary key constraint refresh_tokens_token_hash_length check (octet_length(token_hash) = 32),
  family_id uuid not null,
  account_id uuid not null references app_private.accounts (id),
  clinic_id uuid not null references app_public.clinics (id),
  created_at timestamptz not null default now(),
  idle_expires_at timestamptz not null,
  absolute_expires_at timestamptz not null,
  rotated_at timestamptz,
  revoked_at timestamptz
);
create index refresh_tokens_family_idx on app_private.refresh_tokens (family_id);
create index refresh_tokens_account_idx on app_private.refresh_tokens (account_id);

comment on table app_private.refresh_tokens is 'Hashed refresh tokens, one family per login; rotated on use, the family revoked on reuse.';

--! split: 0330-login
-- The login path runs before anybody is known, so these functions check their arguments, not a
-- caller; they are granted to app_user only (withContext without a clinic). Each does one
-- step; the application verifies the password hash in between.

-- RLS is forced, so even the owner's SECURITY DEFINER functions see no rows without a policy of
-- their own. These policies let such functions read clinics and memberships across clinics
-- (the application never connects as app_owner; migrations do); each function says why it may.
create policy read_by_definer_functions on app_public.clinics for select to app_owner using (true);
create policy read_by_definer_functions on app_public.clinic_members for select to app_owner using (true);
-- Onboarding (0370) creates a clinic and its first admin; accepting an invitation activates a
-- membership.
create policy insert_by_definer_functions on app_public.clinics for insert to app_owner with check (true);
create policy insert_by_definer_functions on app_public.clinic_members for insert to app_owner with check (true);
create policy update_by_definer_functions on app_public.clinic_members for update to app_owner using (true) with check (true);

-- The account for an e-mail (NULL row when there is none): the application verifies the hash.
create function app_hidden.login_account(email text)
  returns table (account_id uuid, password_hash text)
  language sql stable security definer
  set search_path = pg_catalog, pg_temp
begin atomic
  select a.id, a.password_hash from app_private.accounts a where lower(a.email) = lower(login_account.email);
end;

-- The clinics an account may enter: active memberships of active clinics.
create function app_hidden.account_clinics(account_id uuid)
  returns table (clinic_id uuid, clinic_slug text, clinic_name text, member_id uuid, role text, display_name text)
  language sql stable security definer
  set search_path = pg_catalog, pg_temp
begin atomic
  select c.id, c.slug, c.name, m.id, m.role, m.display_name
  from app_public.clinic_members m
  join app_public.clinics c on c.id = m.clinic_id
  where m.account_id = account_clinics.account_id and m.status = 'active' and c.status = 'active'
  order by c.name, c.slug;
end;

-- Starts a family (family_id NULL) or continues one. The idle timeout is the clinic's setting
-- (15 minutes when the clinic has no settings row).
create function app_hidden.store_refresh_token(
  token_hash bytea, account_id uuid, clinic_id uuid, lifetime interval, family_id uuid default null
) returns void
  language sql volatile security definer
  set search_path = pg_catalog, pg_temp
begin atomic
  insert into app_private.refresh_tokens (token_hash, family_id, account_id, clinic_id, idle_expires_at, absolute_expires_at)
  values (
    store_refresh_token.token_hash, coalesce(store_refresh_token.family_id, gen_random_uuid()),
    store_refresh_token.account_id, store_refresh_token.clinic_id,
    now() + make_interval(mins => coalesce(
      (select s.session_idle_minutes from app_public.clinic_settings s where s.clinic_id = store_refresh_token.clinic_id), 15)),
    now() + store_refresh_token.lifetime
  );
end;

-- Uses a refresh token: returns its family and the membership it grants, and marks it rotated;
-- the caller stores the successor in the same family. Returns no row when the token is unknown,
-- expired, revoked, or its membership or clinic is no longer active. A token already rotated is
-- a reuse: the whole family is revoked (reused = true, no membership returned).
create function app_hidden.use_refresh_token(token_hash bytea)
  returns table (family_id uuid, account_id uuid, clinic_id uuid, clinic_slug text, role text, absolute_expires_at timestamptz, reused boolean)
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
as $$
declare
  presented app_private.refresh_tokens;
begin
  select * into presented from app_private.refresh_tokens t where t.token_hash = use_refresh_token.token_hash for update;
  if presented.token_hash is null then
    return;
  end if;
  if presented.rotated_at is not null and presented.revoked_at is null then
    update app_private.refresh_tokens t set revoked_at = now()
    where t.family_id = presented.family_id and t.revoked_at is null;
    return query select presented.family_id, presented.account_id, presented.clinic_id, null::text, null::text, null::timestamptz, true;
    return;
  end if;
  if presented.revoked_at is not null or presented.idle_expires_at <= now() or presented.absolute_expires_at <= now() then
    return;
  end if;
  update app_private.refresh_tokens t set rotated_at = now() where t.token_hash = presented.token_hash;
  return query
    select presented.family_id, presented.account_id, presented.clinic_id, c.slug, m.role, presented.absolute_expires_at, false
    from app_public.clinic_members m
    join app_public.clinics c on c.id = m.clinic_id
    where m.clinic_id = presented.clinic_id and m.account_id = presented.account_id
      and m.status = 'active' and c.status = 'active';
end;
$$;

-- Logout: the token's whole family ends.
create function app_hidden.revoke_refresh_family(token_hash bytea) returns void
  language sql volatile security definer
  set search_path = pg_catalog, pg_temp
begin atomic
  update app_private.refresh_tokens t set revoked_at = now()
  where t.revoked_at is null
    and t.family_id = (select r.family_id from app_private.refresh_tokens r where r.token_hash = revoke_refresh_family.token_hash);
end;

--! split: 0340-login-throttle
-- Lockout after repeated failures, keyed by the e-mail as typed (lower-cased) whether or not an
-- account has it: an unknown e-mail locks exactly like a real one, so a lockout says nothing
-- about who has an account. 5 failures within 15 minutes lock the e-mail for 15 minutes.
create table app_private.login_throttle (
  email_key text primary key constraint login_throttle_email_key_length check (char_length(email_key) <= 254),
  failures integer not null default 0,
  window_started_at timestamptz not null default now(),
  locked_until timestamptz
);

create function app_hidden.login_locked_until(email text) returns timestamptz
  language sql stable security definer
  set search_path = pg_catalog, pg_temp
begin atomic
  select t.locked_until from app_private.login_throttle t
  where t.email_key = lower(login_locked_until.email) and t.locked_until > now();
end;

-- Records a failure; returns the lock's end when this failure locked the e-mail.
create function app_hidden.login_failed(email text) returns timestamptz
  language sql volatile security definer
  set search_path = pg_catalog, pg_temp
begin atomic
  insert into app_private.login_throttle as t (email_key, failures)
  values (lower(login_failed.email), 1)
  on conflict (email_key) do update set
    failures = case when t.window_started_at < now() - interval '15 minutes' then 1 else t.failures + 1 end,
    window_started_at = case when t.window_started_at < now() - interval '15 minutes' then now() else t.window_started_at end,
    locked_until = case
      when t.window_started_at >= now() - interval '15 minutes' and t.failures + 1 >= 5 then now() + interval '15 minutes'
    end
  returning t.locked_until;
end;

create function app_hidden.login_succeeded(email text) returns void
  language sql volatile security definer
  set search_path = pg_catalog, pg_temp
begin atomic
  delete from app_private.login_throttle t where t.email_key = lower(login_succeeded.email);
end;

--! split: 0350-auth-events
-- Security events into the audit log: who (account), where (clinic, when known), from which
-- address and request (the context), what (auth.*), with details that never hold a secret.
create function app_hidden.record_auth_event(action text, account_id uuid, clinic_id uuid, details jsonb default null)
  returns void
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
as $$
begin
  if record_auth_event.action not in (
    'auth.login.succeeded', 'auth.login.failed', 'auth.login.locked', 'auth.refresh.reused', 'auth.logout', 'auth.switch',
    'auth.password.changed', 'auth.password.reset'
  ) then
    raise exception 'unknown auth event %', record_auth_event.action using errcode = '22023';
  end if;
  insert into app_audit.audit_log (clinic_id, actor_user_id, db_role, request_id, client_ip, action, details)
  values (
    record_auth_event.clinic_id, record_auth_event.account_id, session_user || '/' || current_setting('role'),
    nullif(current_setting('app.request_id', true), ''), nullif(current_setting('app.client_ip', true), '')::inet,
    record_auth_event.action, record_auth_event.details
  );
end;
$$;

--! split: 0360-platform-operators
-- Platform operators onboard and manage clinics. They see clinic metadata and counts, never
-- patient data: app_platform holds no grant on any tenant table.
create table app_private.platform_operators (
  account_id uuid primary key references app_private.accounts (id),
  created_at timestamptz not null default now()
);

-- A new account that is an operator. Not SECURITY DEFINER and granted to nobody: only the owner
-- (the ops command `npm run cli -- operator:create`, and the bootstrap below) makes operators.
create function app_private.create_platform_operator(email text, password_hash text) returns uuid
  language sql volatile
  set search_path = pg_catalog, pg_temp
begin atomic
  with account as (
    insert into app_private.accounts (email, password_hash)
    values (create_platform_operator.email, create_platform_operator.password_hash)
    returning id
  )
  insert into app_private.platform_operators (account_id) select id from account returning account_id;
end;

-- The first operator, from PLATFORM_BOOTSTRAP_* at start: only while there is none at all.
create function app_hidden.bootstrap_platform_operator(email text, password_hash text) returns boolean
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
as $$
begin
  lock table app_private.platform_operators in exclusive mode;
  if exists (select 1 from app_private.platform_operators) then
    return false;
  end if;
  perform app_private.create_platform_operator(bootstrap_platform_operator.email, bootstrap_platform_operator.password_hash);
  return true;
end;
$$;

create function app_hidden.is_platform_operator(account_id uuid) returns boolean
  language sql stable security definer
  set search_path = pg_catalog, pg_temp
begin atomic
  select exists (select 1 from app_private.platform_operators o where o.account_id = is_platform_operator.account_id);
end;

--! split: 0370-invitations-and-onboarding
-- Invitations: a single-use, expiring token (stored as SHA-256) that lets a person set their
-- password (new account) or confirm it (existing account) and so activate an invited membership.
create table app_private.invitations (
  token_hash bytea primary key constraint invitations_token_hash_length check (octet_length(token_hash) = 32),
  clinic_id uuid not null references app_public.clinics (id),
  account_id uuid not null references app_private.accounts (id),
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  accepted_at timestamptz
);
create index invitations_account_idx on app_private.invitations (account_id);

-- The hash of an account that has no password yet: argon2 can never verify it.
create function app_private.unset_password_hash() returns text
  language sql immutable
  set search_path = pg_catalog, pg_temp
begin atomic
  select '$argon2id$unset';
end;

-- A clinic and its first admin, in one transaction. Caller: a platform operator (app.user_id).
-- The admin's membership is 'invited' until they accept the invitation whose hash is given.
create function app_hidden.onboard_clinic(
  slug text, name text, timezone text, plan text, admin_email text, admin_display_name text,
  invitation_hash bytea, invitation_ttl interval
) returns uuid
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
as $$
declare
  operator_id uuid := app_public.current_user_id();
  new_clinic uuid;
  admin_account uuid;
begin
  if operator_id is null or not exists (select 1 from app_private.platform_operators o where o.account_id = operator_id) then
    raise exception 'only platform operators onboard clinics' using errcode = '42501';
  end if;
  insert into app_public.clinics (slug, name, timezone, plan)
  values (onboard_clinic.slug, onboard_clinic.name, onboard_clinic.timezone, onboard_clinic.plan)
  returning id into new_clinic;
  insert into app_public.clinic_settings (clinic_id) values (new_clinic);
  insert into app_private.accounts (email, password_hash)
  values (onboard_clinic.admin_email, app_private.unset_password_hash())
  on conflict ((lower(email))) do nothing;
  select a.id into admin_account from app_private.accounts a where lower(a.email) = lower(onboard_clinic.admin_email);
  insert into app_public.clinic_members (clinic_id, account_id, role, display_name, status)
  values (new_clinic, admin_account, 'clinic_admin', onboard_clinic.admin_display_name, 'invited');
  insert into app_private.invitations (token_hash, clinic_id, account_id, expires_at)
  values (onboard_clinic.invitation_hash, new_clinic, admin_account, now() + onboard_clinic.invitation_ttl);
  return new_clinic;
end;
$$;

-- What accepting an invitation needs to know: the account, and its hash when it already has a
-- password (the person proves it is theirs). No row when the token is unknown, used or expired.
create function app_hidden.invitation_account(token_hash bytea)
  returns table (account_id uuid, email text, password_hash text)
  language sql stable security definer
  set search_path = pg_catalog, pg_temp
begin atomic
  select a.id, a.email, nullif(a.password_hash, app_private.unset_password_hash())
  from app_private.invitations i
  join app_private.accounts a on a.id = i.account_id
  where i.token_hash = invitation_account.token_hash and i.accepted_at is null and i.expires_at > now();
end;

-- Uses the invitation once: sets the password of a new account (new_password_hash), activates
-- the membership, returns the clinic's slug. No row when the token is unknown, used or expired.
create function app_hidden.accept_invitation(token_hash bytea, new_password_hash text)
  returns table (clinic_slug text)
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
as $$
declare
  invitation app_private.invitations;
begin
  update app_private.invitations i set accepted_at = now()
  where i.token_hash = accept_invitation.token_hash and i.accepted_at is null and i.expires_at > now()
  returning * into invitation;
  if invitation.token_hash is null then
    return;
  end if;
  if accept_invitation.new_password_hash is not null then
    update app_private.accounts a set password_hash = accept_invitation.new_password_hash
    where a.id = invitation.account_id and a.password_hash = app_private.unset_password_hash();
  end if;
  update app_public.clinic_members m set status = 'active'
  where m.clinic_id = invitation.clinic_id and m.account_id = invitation.account_id and m.status = 'invited';
  return query select c.slug from app_public.clinics c where c.id = invitation.clinic_id;
end;
$$;

-- Platform view of clinics: metadata and counts, never patient data.
create function app_hidden.platform_clinic_overview()
  returns table (id uuid, slug text, name text, timezone text, status text, plan text, plan_status text,
                 created_at timestamptz, members bigint)
  language sql stable security definer
  set search_path = pg_catalog, pg_temp
begin atomic
  select c.id, c.slug, c.name, c.timezone, c.status, c.plan, c.plan_status, c.created_at,
         (select count(*) from app_public.clinic_members m where m.clinic_id = c.id and m.status <> 'deactivated')
  from app_public.clinics c
  where exists (select 1 from app_private.platform_operators o where o.account_id = app_public.current_user_id())
  order by c.created_at, c.slug;
end;

--! split: 0375-plan-limits
-- Plan limits on memberships: invited and active doctors and receptionists count; a deactivated
-- one frees a seat. Serialised per clinic so two concurrent invitations cannot both take the
-- last seat. (The patient and storage limits apply to the patients and files that later issues
-- add.)
create function app_private.tg_enforce_plan_limits() returns trigger
  language plpgsql security definer
  set search_path = pg_catalog, pg_temp
as $$
declare
  seat_limit integer;
begin
  if new.status = 'deactivated' or new.role not in ('doctor', 'receptionist') then
    return new;
  end if;
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended(new.clinic_id::text, 0));
  select case new.role when 'doctor' then p.max_doctors else p.max_receptionists end into seat_limit
  from app_public.clinics c join app_private.plans p on p.code = c.plan
  where c.id = new.clinic_id;
  if seat_limit is not null and seat_limit <= (
    select count(*) from app_public.clinic_members m
    where m.clinic_id = new.clinic_id and m.role = new.role and m.status <> 'deactivated' and m.id <> new.id
  ) then
    raise exception 'the clinic''s plan allows % %s', seat_limit, new.role using errcode = 'CBLIM';
  end if;
  return new;
end;
$$;
create trigger _150_enforce_plan_limits before insert or update of role, status on app_public.clinic_members
  for each row execute function app_private.tg_enforce_plan_limits();

--! split: 0380-staff
-- A clinic keeps at least one active admin: no update or delete may take the last one away.
-- (Two admins demoting each other at the same instant could both pass; admins are few and this
-- is a guard rail, not a lock.)
create function app_private.tg_keep_an_active_admin() returns trigger
  language plpgsql
  set search_path = pg_catalog, pg_temp
as $$
begin
  if old.role = 'clinic_admin' and old.status = 'active'
     and not exists (
       select 1 from app_public.clinic_members m
       where m.clinic_id = old.clinic_id and m.role = 'clinic_admin' and m.status = 'active'
     ) then
    raise exception 'a clinic keeps at least one active admin' using errcode = 'CBADM';
  end if;
  return null;
end;
$$;
create trigger _200_keep_an_active_admin after update or delete on app_public.clinic_members
  for each row execute function app_private.tg_keep_an_active_admin();

-- A clinic admin invites a person (by e-mail) into their clinic with a role: the account is
-- created without a usable password when new, the membership is 'invited', and the invitation
-- (hash given) lets the person in once.
create function app_hidden.invite_member(
  email text, role text, display_name text, invitation_hash bytea, invitation_ttl interval
) returns uuid
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  clinic uuid := app_public.current_clinic_id();
  invited_account uuid;
  member uuid;
begin
  if clinic is null or not app_public.current_role_is('clinic_admin') then
    raise exception 'only clinic admins invite members' using errcode = '42501';
  end if;
  insert into app_private.accounts (email, password_hash)
  values (invite_member.email, app_private.unset_password_hash())
  on conflict ((lower(email))) do nothing;
  select a.id into invited_account from app_private.accounts a where lower(a.email) = lower(invite_member.email);
  insert into app_public.clinic_members (clinic_id, account_id, role, display_name, status)
  values (clinic, invited_account, invite_member.role, invite_member.display_name, 'invited')
  returning id into member;
  insert into app_private.invitations (token_hash, clinic_id, account_id, expires_at)
  values (invite_member.invitation_hash, clinic, invited_account, now() + invite_member.invitation_ttl);
  return member;
end;
$$;
grant execute on function app_hidden.invite_member(text, text, text, bytea, interval) to app_user;

--! split: 0390-passwords
-- Messages waiting to be delivered (e-mail, SMS) by the notification jobs of a later issue. A
-- row is written in the same transaction as what it announces, so nothing is announced that
-- did not happen. Private: it holds tokens.
create table app_private.notification_outbox (
  id bigint generated always as identity primary key,
  kind text not null constraint notification_outbox_kind_format check (kind ~ '^[a-z_]+$'),
  recipient text not null,
  payload jsonb not null,
  created_at timestamptz not null default now(),
  sent_at timestamptz
);
create index notification_outbox_unsent_idx on app_private.notification_outbox (created_at) where sent_at is null;

-- Password reset tokens: single use, expiring, stored as SHA-256.
create table app_private.password_resets (
  token_hash bytea primary key constraint password_resets_token_hash_length check (octet_length(token_hash) = 32),
  account_id uuid not null references app_private.accounts (id),
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  used_at timestamptz
);
create index password_resets_account_idx on app_private.password_resets (account_id);

-- Starts a reset: when the e-mail has an account, a token (hash given) and an outbox message
-- carrying the token itself. Says nothing either way: the caller answers the same for any e-mail.
create function app_hidden.request_password_reset(email text, token_hash bytea, token text, ttl interval) returns void
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
as $$
declare
  account app_private.accounts;
begin
  select * into account from app_private.accounts a where lower(a.email) = lower(request_password_reset.email);
  if account.id is null then
    return;
  end if;
  insert into app_private.password_resets (token_hash, account_id, expires_at)
  values (request_password_reset.token_hash, account.id, now() + request_password_reset.ttl);
  insert into app_private.notification_outbox (kind, recipient, payload)
  values ('password_reset', account.email, jsonb_build_object('token', request_password_reset.token, 'expires_in', request_password_reset.ttl::text));
end;
$$;

-- Sets a new password for an account and ends all its sessions (every refresh token family).
create function app_private.set_password(account_id uuid, password_hash text) returns void
  language sql volatile
  set search_path = pg_catalog, pg_temp
begin atomic
  update app_private.accounts a set password_hash = set_password.password_hash where a.id = set_password.account_id;
  update app_private.refresh_tokens t set revoked_at = now() where t.account_id = set_password.account_id and t.revoked_at is null;
end;

-- Completes a reset: uses the token once; returns the account, or no row when the token is
-- unknown, used or expired.
create function app_hidden.reset_password(token_hash bytea, password_hash text) returns uuid
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
as $$
declare
  reset_account uuid;
begin
  update app_private.password_resets r set used_at = now()
  where r.token_hash = reset_password.token_hash and r.used_at is null and r.expires_at > now()
  returning r.account_id into reset_account;
  if reset_account is not null then
    perform app_private.set_password(reset_account, reset_password.password_hash);
  end if;
  return reset_account;
end;
$$;

-- A logged-in person changes their password (the application verified the current one).
create function app_hidden.change_password(password_hash text) returns void
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
as $$
begin
  if app_public.current_user_id() is null then
    raise exception 'no user in the context' using errcode = '42501';
  end if;
  perform app_private.set_password(app_public.current_user_id(), change_password.password_hash);
end;
$$;

-- The current password hash of the context's user, to verify before a change.
create function app_hidden.current_password_hash() returns text
  language sql stable security definer
  set search_path = pg_catalog, pg_temp
begin atomic
  select a.password_hash from app_private.accounts a where a.id = app_public.current_user_id();
end;

grant execute on function
  app_hidden.request_password_reset(text, bytea, text, interval),
  app_hidden.reset_password(bytea, text),
  app_hidden.change_password(text),
  app_hidden.current_password_hash()
to app_user;

--! split: 0398-blocked-access
-- What the API refuses although a token still verifies: suspended clinics, and memberships that
-- were deactivated after the token was issued. Every API process re-reads it every few seconds
-- (as app_platform: ids only, no patient data).
create function app_hidden.blocked_access()
  returns table (clinic_id uuid, account_id uuid)
  language sql stable security definer
  set search_path = pg_catalog, pg_temp
begin atomic
  select c.id, null::uuid from app_public.clinics c where c.status = 'suspended'
  union all
  select m.clinic_id, m.account_id from app_public.clinic_members m where m.status = 'deactivated';
end;
grant execute on function app_hidden.blocked_access() to app_platform;

grant execute on function
  app_hidden.bootstrap_platform_operator(text, text),
  app_hidden.onboard_clinic(text, text, text, text, text, text, bytea, interval),
  app_hidden.platform_clinic_overview()
to app_platform;
grant usage on schema app_hidden to app_platform;

grant usage on schema app_hidden to app_user;
grant execute on function
  app_hidden.is_platform_operator(uuid),
  app_hidden.invitation_account(bytea),
  app_hidden.accept_invitation(bytea, text),
  app_hidden.login_locked_until(text),
  app_hidden.login_failed(text),
  app_hidden.login_succeeded(text),
  app_hidden.record_auth_event(text, uuid, uuid, jsonb),
  app_hidden.login_account(text),
  app_hidden.account_clinics(uuid),
  app_hidden.store_refresh_token(bytea, uuid, uuid, interval, uuid),
  app_hidden.use_refresh_token(bytea),
  app_hidden.revoke_refresh_family(bytea)
to app_user;
