--! Previous: sha1:52fcca512a309c38ab908678a98d7ef5149c6572
--! Hash: sha1:164b21134d2718ab7aa5305920be48fa4c8e4180
--! Message: two factor, support access, clinic profile, plan quotas

--! split: 0400-clinic-profile
-- The clinic's registration profile (set by operators at onboarding and later), the logo of its
-- white-label branding (set by its admins), and staff office hours. Members read their own
-- clinic's row as before.
alter table app_public.clinics
  add column address text constraint clinics_address_length check (char_length(address) between 1 and 500),
  add column contact_email text
    constraint clinics_contact_email_format check (char_length(contact_email) <= 254 and contact_email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'),
  add column contact_phone text constraint clinics_contact_phone_format check (contact_phone ~ '^\+?[0-9][0-9 ()-]{4,31}$'),
  add column registration_number text
    constraint clinics_registration_number_length check (char_length(registration_number) between 1 and 64),
  add column tax_id text constraint clinics_tax_id_length check (char_length(tax_id) between 1 and 64);
grant update (address, contact_email, contact_phone, registration_number, tax_id) on app_public.clinics to app_platform;

alter table app_public.clinic_settings
  add column brand_logo_url text
    constraint clinic_settings_brand_logo_url_format check (char_length(brand_logo_url) <= 2048 and brand_logo_url ~ '^https://');
grant update (brand_logo_url) on app_public.clinic_settings to app_user;

-- A staff member's office hours, in the shape of the clinic's operating hours.
alter table app_public.clinic_members
  add column office_hours jsonb not null default '{}'
    constraint clinic_members_office_hours_valid check (jsonb_typeof(office_hours) = 'object');
grant insert (office_hours), update (office_hours) on app_public.clinic_members to app_user;
comment on column app_public.clinic_members.office_hours is 'Office hours per weekday, e.g. {"mon": [["09:00", "13:00"]]}.';

--! split: 0410-audit-events
-- One writer of event rows (the audit trigger writes row changes): who from the context, plus
-- what the caller says. Private: the public functions below decide which events exist.
create function app_private.write_audit_event(action text, account_id uuid, clinic_id uuid, details jsonb)
  returns void
  language sql volatile
  set search_path = pg_catalog, pg_temp
begin atomic
  insert into app_audit.audit_log (clinic_id, actor_user_id, actor_role, db_role, request_id, client_ip, action, details)
  values (
    write_audit_event.clinic_id, write_audit_event.account_id, nullif(current_setting('app.role', true), ''),
    session_user || '/' || current_setting('role'),
    nullif(current_setting('app.request_id', true), ''), nullif(current_setting('app.client_ip', true), '')::inet,
    write_audit_event.action, write_audit_event.details
  );
end;

create or replace function app_hidden.record_auth_event(action text, account_id uuid, clinic_id uuid, details jsonb default null)
  returns void
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
as $$
begin
  if record_auth_event.action not in (
    'auth.login.succeeded', 'auth.login.failed', 'auth.login.locked', 'auth.refresh.reused', 'auth.logout', 'auth.switch',
    'auth.password.changed', 'auth.password.reset',
    'auth.two_factor.enabled', 'auth.two_factor.disabled', 'auth.two_factor.recovery_codes_replaced',
    'auth.two_factor.recovery_code_used'
  ) then
    raise exception 'unknown auth event %', record_auth_event.action using errcode = '22023';
  end if;
  perform app_private.write_audit_event(record_auth_event.action, record_auth_event.account_id, record_auth_event.clinic_id,
    record_auth_event.details);
end;
$$;

--! split: 0420-two-factor
-- TOTP second factor (RFC 6238) with single-use recovery codes. The application computes codes
-- (it holds no secret of its own: it reads the account's through the functions below); the
-- database keeps the secret, the last time step used (a code works once) and the codes' SHA-256
-- (they are random, not chosen). Every function acts on the context's user only
-- (app.user_id), which the application sets once the password is verified: no caller can read or
-- change another account's second factor.
create table app_private.two_factor (
  account_id uuid primary key references app_private.accounts (id),
  secret text not null constraint two_factor_secret_format check (secret ~ '^[A-Z2-7]{32}$'),
  enabled_at timestamptz,
  last_used_step bigint,
  created_at timestamptz not null default now()
);
comment on table app_private.two_factor is 'TOTP secrets (base32, 160 bits); enabled_at is NULL while set-up is unconfirmed.';

create table app_private.recovery_codes (
  account_id uuid not null references app_private.accounts (id),
  code_hash bytea not null constraint recovery_codes_code_hash_length check (octet_length(code_hash) = 32),
  used_at timestamptz,
  primary key (account_id, code_hash)
);
comment on table app_private.recovery_codes is 'SHA-256 of single-use recovery codes, shown to their owner once.';

-- Ending every session of an account (a new password; the second factor turned on or off: a
-- session remembers whether its login passed one, and that must stay true of the account):
-- every refresh token is revoked at once, and access tokens issued before sessions_ended_at are
-- refused by every API process within seconds (app_hidden.ended_sessions()).
alter table app_private.accounts add column sessions_ended_at timestamptz;

create function app_private.end_sessions(account_id uuid) returns void
  language sql volatile
  set search_path = pg_catalog, pg_temp
begin atomic
  update app_private.refresh_tokens t set revoked_at = now() where t.account_id = end_sessions.account_id and t.revoked_at is null;
  update app_private.accounts a set sessions_ended_at = now() where a.id = end_sessions.account_id;
end;

-- As in 0390, and through end_sessions: a new password ends access tokens too.
create or replace function app_private.set_password(account_id uuid, password_hash text) returns void
  language sql volatile
  set search_path = pg_catalog, pg_temp
begin atomic
  update app_private.accounts a set password_hash = set_password.password_hash where a.id = set_password.account_id;
  select app_private.end_sessions(set_password.account_id);
end;

-- Sessions ended within the longest access-token lifetime (JWT_ACCESS_TOKEN_TTL_SECONDS ≤ 1 hour):
-- what the API refuses although a token still verifies, like app_hidden.blocked_access().
create function app_hidden.ended_sessions()
  returns table (account_id uuid, ended_at timestamptz)
  language sql stable security definer
  set search_path = pg_catalog, pg_temp
begin atomic
  select a.id, a.sessions_ended_at from app_private.accounts a where a.sessions_ended_at > now() - interval '1 hour';
end;
grant execute on function app_hidden.ended_sessions() to app_platform;
create index accounts_sessions_ended_at_idx on app_private.accounts (sessions_ended_at) where sessions_ended_at is not null;

-- The context user's secret and whether it is on (no row: no second factor).
create function app_hidden.my_two_factor()
  returns table (secret text, enabled boolean)
  language sql stable security definer
  set search_path = pg_catalog, pg_temp
begin atomic
  select t.secret, t.enabled_at is not null from app_private.two_factor t where t.account_id = app_public.current_user_id();
end;

-- Starts (or restarts) set-up with a new secret; false when the second factor is already on.
create function app_hidden.start_two_factor_setup(secret text) returns boolean
  language sql volatile security definer
  set search_path = pg_catalog, pg_temp
begin atomic
  with saved as (
    insert into app_private.two_factor as t (account_id, secret)
    select app_public.current_user_id(), start_two_factor_setup.secret where app_public.current_user_id() is not null
    on conflict (account_id) do update set secret = excluded.secret, created_at = now(), last_used_step = null
      where t.enabled_at is null
    returning 1
  )
  select exists (select from saved);
end;

-- Confirms set-up with the time step of a valid code and stores the recovery codes; false when
-- there is no pending set-up.
create function app_hidden.enable_two_factor(step bigint, recovery_code_hashes bytea[]) returns boolean
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
as $$
begin
  update app_private.two_factor t set enabled_at = now(), last_used_step = enable_two_factor.step
  where t.account_id = app_public.current_user_id() and t.enabled_at is null;
  if not found then
    return false;
  end if;
  perform app_hidden.replace_recovery_codes(enable_two_factor.recovery_code_hashes);
  perform app_private.end_sessions(app_public.current_user_id());
  return true;
end;
$$;

-- A code's time step is accepted once: a later step than any used before (no replay).
create function app_hidden.use_two_factor_step(step bigint) returns boolean
  language sql volatile security definer
  set search_path = pg_catalog, pg_temp
begin atomic
  with used as (
    update app_private.two_factor t set last_used_step = use_two_factor_step.step
    where t.account_id = app_public.current_user_id() and t.enabled_at is not null
      and (t.last_used_step is null or t.last_used_step < use_two_factor_step.step)
    returning 1
  )
  select exists (select from used);
end;

create function app_hidden.use_recovery_code(code_hash bytea) returns boolean
  language sql volatile security definer
  set search_path = pg_catalog, pg_temp
begin atomic
  with used as (
    update app_private.recovery_codes r set used_at = now()
    where r.account_id = app_public.current_user_id() and r.code_hash = use_recovery_code.code_hash and r.used_at is null
    returning 1
  )
  select exists (select from used);
end;

create function app_hidden.replace_recovery_codes(recovery_code_hashes bytea[]) returns void
  language sql volatile security definer
  set search_path = pg_catalog, pg_temp
begin atomic
  delete from app_private.recovery_codes r where r.account_id = app_public.current_user_id();
  insert into app_private.recovery_codes (account_id, code_hash)
  select app_public.current_user_id(), h from unnest(replace_recovery_codes.recovery_code_hashes) as h
  where app_public.current_user_id() is not null;
end;

create function app_hidden.disable_two_factor() returns void
  language sql volatile security definer
  set search_path = pg_catalog, pg_temp
begin atomic
  delete from app_private.recovery_codes r where r.account_id = app_public.current_user_id();
  delete from app_private.two_factor t where t.account_id = app_public.current_user_id();
  select app_private.end_sessions(app_public.current_user_id());
end;

create function app_hidden.clinic_requires_two_factor(clinic_id uuid) returns boolean
  language sql stable security definer
  set search_path = pg_catalog, pg_temp
begin atomic
  select coalesce((select s.require_two_factor from app_public.clinic_settings s where s.clinic_id = clinic_requires_two_factor.clinic_id), false);
end;

-- A session remembers whether its login passed the second factor; a clinic that requires one
-- stops refreshing the sessions that did not, from the moment it turns the setting on.
alter table app_private.refresh_tokens add column two_factor boolean not null default false;

drop function app_hidden.store_refresh_token(bytea, uuid, uuid, interval, uuid);
create function app_hidden.store_refresh_token(
  token_hash bytea, account_id uuid, clinic_id uuid, lifetime interval, two_factor boolean, family_id uuid default null
) returns void
  language sql volatile security definer
  set search_path = pg_catalog, pg_temp
begin atomic
  insert into app_private.refresh_tokens (token_hash, family_id, account_id, clinic_id, idle_expires_at, absolute_expires_at, two_factor)
  values (
    store_refresh_token.token_hash, coalesce(store_refresh_token.family_id, gen_random_uuid()),
    store_refresh_token.account_id, store_refresh_token.clinic_id,
    now() + make_interval(mins => coalesce(
      (select s.session_idle_minutes from app_public.clinic_settings s where s.clinic_id = store_refresh_token.clinic_id), 15)),
    now() + store_refresh_token.lifetime,
    store_refresh_token.two_factor
  );
end;

drop function app_hidden.use_refresh_token(bytea);
-- As in 0330, and: no row when the clinic requires a second factor the session's login lacked.
create function app_hidden.use_refresh_token(token_hash bytea)
  returns table (
    family_id uuid, account_id uuid, clinic_id uuid, clinic_slug text, role text, absolute_expires_at timestamptz,
    reused boolean, two_factor boolean
  )
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
    return query select presented.family_id, presented.account_id, presented.clinic_id, null::text, null::text, null::timestamptz,
      true, presented.two_factor;
    return;
  end if;
  if presented.revoked_at is not null or presented.idle_expires_at <= now() or presented.absolute_expires_at <= now()
    or (not presented.two_factor and app_hidden.clinic_requires_two_factor(presented.clinic_id)) then
    return;
  end if;
  update app_private.refresh_tokens t set rotated_at = now() where t.token_hash = presented.token_hash;
  return query
    select presented.family_id, presented.account_id, presented.clinic_id, c.slug, m.role, presented.absolute_expires_at,
      false, presented.two_factor
    from app_public.clinic_members m
    join app_public.clinics c on c.id = m.clinic_id
    where m.clinic_id = presented.clinic_id and m.account_id = presented.account_id
      and m.status = 'active' and c.status = 'active';
end;
$$;

grant execute on function
  app_hidden.my_two_factor(),
  app_hidden.start_two_factor_setup(text),
  app_hidden.enable_two_factor(bigint, bytea[]),
  app_hidden.use_two_factor_step(bigint),
  app_hidden.use_recovery_code(bytea),
  app_hidden.replace_recovery_codes(bytea[]),
  app_hidden.disable_two_factor(),
  app_hidden.clinic_requires_two_factor(uuid),
  app_hidden.store_refresh_token(bytea, uuid, uuid, interval, boolean, uuid),
  app_hidden.use_refresh_token(bytea)
to app_user;

--! split: 0430-support-access
-- Break-glass support, consented: a clinic admin grants one platform operator read access to
-- the clinic until a time of the admin's choosing (at most 7 days), and may revoke it sooner.
-- The operator's token for the clinic is read-only (transaction_read_only), and every request
-- made with it is checked against the grant and audited (app_hidden.use_support_access).
create table app_public.support_access_grants (
  clinic_id uuid not null default app_public.current_clinic_id() references app_public.clinics (id),
  id uuid not null default gen_random_uuid(),
  operator_account_id uuid not null references app_private.platform_operators (account_id),
  granted_by uuid not null default app_public.current_user_id() references app_private.accounts (id),
  reason text not null constraint support_access_grants_reason_length check (char_length(reason) between 1 and 500),
  expires_at timestamptz not null,
  revoked_at timestamptz,
  revoked_by uuid references app_private.accounts (id),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (clinic_id, id),
  constraint support_access_grants_expires_at_valid
    check (expires_at > created_at and expires_at <= created_at + interval '7 days'),
  constraint support_access_grants_revoked_by_valid check ((revoked_at is null) = (revoked_by is null))
);
create index support_access_grants_operator_idx on app_public.support_access_grants (clinic_id, operator_account_id);
alter table app_public.support_access_grants enable row level security;
alter table app_public.support_access_grants force row level security;

create policy tenant_isolation on app_public.support_access_grants as restrictive to app_user
  using (clinic_id = (select app_public.current_clinic_id()))
  with check (clinic_id = (select app_public.current_clinic_id()));
create policy select_admins on app_public.support_access_grants for select to app_user
  using ((select app_public.current_role_is('clinic_admin')));
create policy insert_admins on app_public.support_access_grants for insert to app_user
  with check ((select app_public.current_role_is('clinic_admin')) and granted_by = (select app_public.current_user_id())
    and revoked_at is null);
-- Revocation is the only change, and it is final: only an unrevoked grant can be updated, and
-- the trigger below stamps who revoked it and when.
create policy update_admins on app_public.support_access_grants for update to app_user
  using ((select app_public.current_role_is('clinic_admin')) and revoked_at is null)
  with check ((select app_public.current_role_is('clinic_admin')));
-- The operator's side reads grants through the SECURITY DEFINER functions below.
create policy read_by_definer_functions on app_public.support_access_grants for select to app_owner using (true);

grant select on app_public.support_access_grants to app_user;
grant insert (operator_account_id, reason, expires_at) on app_public.support_access_grants to app_user;
grant update (revoked_at) on app_public.support_access_grants to app_user;

-- Whatever time the client sends, a revocation takes effect now and names the context's user.
create function app_private.tg_stamp_revocation() returns trigger
  language plpgsql
  set search_path = pg_catalog, pg_temp
as $$
begin
  if new.revoked_at is not null then
    new.revoked_at := now();
    new.revoked_by := app_public.current_user_id();
  end if;
  return new;
end;
$$;

create trigger _100_updated_at before update on app_public.support_access_grants
  for each row execute function app_private.tg_set_updated_at();
create trigger _110_stamp_revocation before update of revoked_at on app_public.support_access_grants
  for each row execute function app_private.tg_stamp_revocation();
create trigger _900_audit after insert or update or delete on app_public.support_access_grants
  for each row execute function app_private.tg_audit_row('clinic_id', 'id');

comment on table app_public.support_access_grants is 'Consented, time-limited read access of a platform operator to the clinic (break-glass support).';

-- A clinic admin names the operator by e-mail; NULL when no operator has it.
create function app_hidden.platform_operator_id(email text) returns uuid
  language sql stable security definer
  set search_path = pg_catalog, pg_temp
begin atomic
  select o.account_id from app_private.platform_operators o join app_private.accounts a on a.id = o.account_id
  where lower(a.email) = lower(platform_operator_id.email)
    and app_public.current_clinic_id() is not null and app_public.current_role_is('clinic_admin');
end;

-- The context operator's grants that are in force, with their clinics (and whether the clinic
-- requires a second factor, which then applies to the operator's login too).
create function app_hidden.my_support_grants()
  returns table (
    grant_id uuid, clinic_id uuid, clinic_slug text, clinic_name text, reason text, expires_at timestamptz, requires_two_factor boolean
  )
  language sql stable security definer
  set search_path = pg_catalog, pg_temp
begin atomic
  select g.id, g.clinic_id, c.slug, c.name, g.reason, g.expires_at, app_hidden.clinic_requires_two_factor(g.clinic_id)
  from app_public.support_access_grants g join app_public.clinics c on c.id = g.clinic_id
  where g.operator_account_id = app_public.current_user_id() and g.revoked_at is null and g.expires_at > now()
    and c.status = 'active'
  order by g.expires_at;
end;

-- Checks that the context operator holds the grant in the clinic, in force, with a second factor
-- when the clinic requires one, and audits the use (`what`: the token's issue, or a request made
-- with it). False: refuse.
create function app_hidden.use_support_access(grant_id uuid, clinic_id uuid, two_factor boolean, what text, details jsonb)
  returns boolean
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
as $$
begin
  if use_support_access.what not in ('token_issued', 'used') then
    raise exception 'unknown support access event %', use_support_access.what using errcode = '22023';
  end if;
  if not exists (
    select from app_public.support_access_grants g join app_public.clinics c on c.id = g.clinic_id
    where g.id = use_support_access.grant_id and g.clinic_id = use_support_access.clinic_id
      and g.operator_account_id = app_public.current_user_id() and g.revoked_at is null and g.expires_at > now()
      and c.status = 'active' and (use_support_access.two_factor or not app_hidden.clinic_requires_two_factor(g.clinic_id))
  ) then
    return false;
  end if;
  perform app_private.write_audit_event('support.access.' || use_support_access.what, app_public.current_user_id(),
    use_support_access.clinic_id, jsonb_build_object('grant', use_support_access.grant_id) || coalesce(use_support_access.details, '{}'));
  return true;
end;
$$;

grant execute on function app_hidden.platform_operator_id(text) to app_user;
grant execute on function app_hidden.my_support_grants(), app_hidden.use_support_access(uuid, uuid, boolean, text, jsonb) to app_platform;

--! split: 0440-two-factor-reset
-- A person who lost both their device and their recovery codes: after checking who they are out
-- of band, an operator with the owner's rights turns their second factor off
-- (`npm run cli -- account:two-factor-off`). Granted to nobody. Returns the account, or NULL.
create function app_private.turn_off_two_factor(email text, reason text) returns uuid
  language plpgsql volatile
  set search_path = pg_catalog, pg_temp
as $$
declare
  account uuid;
begin
  select a.id into account from app_private.accounts a where lower(a.email) = lower(turn_off_two_factor.email);
  if account is null then
    return null;
  end if;
  delete from app_private.recovery_codes r where r.account_id = account;
  delete from app_private.two_factor t where t.account_id = account;
  perform app_private.end_sessions(account);
  perform app_private.write_audit_event('auth.two_factor.turned_off_by_operator', account, null,
    jsonb_build_object('reason', turn_off_two_factor.reason));
  return account;
end;
$$;

--! split: 0450-plan-quotas
-- Plan limits on what a clinic accumulates: a count of rows (max_patients) or a sum of sizes
-- (max_storage_mb). The patients and files tables of later issues attach it:
--   create trigger _150_enforce_plan_quota before insert on app_public.patients
--     for each row execute function app_private.tg_enforce_plan_quota('max_patients');
--   create trigger _150_enforce_plan_quota before insert or update of size_bytes on app_public.files
--     for each row execute function app_private.tg_enforce_plan_quota('max_storage_mb', 'size_bytes');
-- It counts every row of the clinic whatever the caller may see, as the owner: the table needs
-- the owner's `read_by_definer_functions` select policy. Serialised per clinic and table, so two
-- inserts cannot both take the last unit. NULL limit = unlimited.
create function app_private.tg_enforce_plan_quota() returns trigger
  language plpgsql security definer
  set search_path = pg_catalog, pg_temp
as $$
declare
  plan_column text := tg_argv[0];
  size_column text := tg_argv[1];
  quota bigint;
  used bigint;
  adding bigint := 1;
begin
  if plan_column is null or plan_column not in ('max_patients', 'max_storage_mb') then
    raise exception 'unknown plan limit %', plan_column using errcode = '22023';
  end if;
  -- Without the owner's read policy `using (true)`, forced RLS would hide rows and the quota
  -- would not bite.
  if not exists (
    select from pg_catalog.pg_policy p
    where p.polrelid = tg_relid and p.polcmd in ('r', '*') and p.polpermissive
      and 'app_owner'::regrole::oid = any (p.polroles) and pg_catalog.pg_get_expr(p.polqual, p.polrelid) = 'true'
  ) then
    raise exception '%.% has no read policy for app_owner: the plan quota cannot count its rows', tg_table_schema, tg_table_name
      using errcode = '55000';
  end if;
  execute format('select p.%I from app_public.clinics c join app_private.plans p on p.code = c.plan where c.id = $1', plan_column)
    into quota using new.clinic_id;
  if quota is null then
    return new;
  end if;
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended(new.clinic_id::text || '/' || tg_relid::text, 0));
  if size_column is null then
    execute format('select count(*) from %I.%I where clinic_id = $1', tg_table_schema, tg_table_name)
      into used using new.clinic_id;
  else
    quota := quota * 1024 * 1024;
    execute format('select coalesce(sum(%I), 0) from %I.%I where clinic_id = $1 and id <> $2', size_column, tg_table_schema, tg_table_name)
      into used using new.clinic_id, new.id;
    adding := coalesce((pg_catalog.to_jsonb(new) ->> size_column)::bigint, 0);
  end if;
  if used + adding > quota then
    raise exception 'the clinic''s plan allows % (%)', quota, plan_column using errcode = 'CBQTA';
  end if;
  return new;
end;
$$;

--! split: 0460-address-lockout
-- Lockout per client address too (app.client_ip of the login's context), shared by every API
-- process: 30 failed logins from one address within 15 minutes, whatever the e-mails, lock the
-- address for 15 minutes. Generous, because a clinic's staff often share one address; the
-- per-e-mail lock (5 failures) stays the tight one. A success does not clear the address.
create table app_private.address_throttle (
  address inet primary key,
  failures integer not null default 0,
  window_started_at timestamptz not null default now(),
  locked_until timestamptz
);
comment on table app_private.address_throttle is 'Failed logins per client address; 30 within 15 minutes lock the address for 15 minutes.';

create or replace function app_hidden.login_locked_until(email text) returns timestamptz
  language sql stable security definer
  set search_path = pg_catalog, pg_temp
begin atomic
  select max(lock.until) from (
    select t.locked_until as until from app_private.login_throttle t
    where t.email_key = lower(login_locked_until.email) and t.locked_until > now()
    union all
    select a.locked_until from app_private.address_throttle a
    where a.address = nullif(current_setting('app.client_ip', true), '')::inet and a.locked_until > now()
  ) lock;
end;

-- Records a failure against the e-mail and the address; returns the end of a lock this failure
-- started (either).
create or replace function app_hidden.login_failed(email text) returns timestamptz
  language sql volatile security definer
  set search_path = pg_catalog, pg_temp
begin atomic
  with by_email as (
    insert into app_private.login_throttle as t (email_key, failures)
    values (lower(login_failed.email), 1)
    on conflict (email_key) do update set
      failures = case when t.window_started_at < now() - interval '15 minutes' then 1 else t.failures + 1 end,
      window_started_at = case when t.window_started_at < now() - interval '15 minutes' then now() else t.window_started_at end,
      locked_until = case
        when t.window_started_at >= now() - interval '15 minutes' and t.failures + 1 >= 5 then now() + interval '15 minutes'
      end
    returning t.locked_until
  ), by_address as (
    insert into app_private.address_throttle as a (address, failures)
    select c.address, 1 from (select nullif(current_setting('app.client_ip', true), '')::inet as address) c where c.address is not null
    on conflict (address) do update set
      failures = case when a.window_started_at < now() - interval '15 minutes' then 1 else a.failures + 1 end,
      window_started_at = case when a.window_started_at < now() - interval '15 minutes' then now() else a.window_started_at end,
      locked_until = case
        when a.window_started_at >= now() - interval '15 minutes' and a.failures + 1 >= 30 then now() + interval '15 minutes'
        else a.locked_until
      end
    returning a.locked_until
  )
  select max(lock.until) from (
    select e.locked_until as until from by_email e
    union all
    select d.locked_until from by_address d where d.locked_until > now()
  ) lock;
end;
