--! Previous: sha1:164b21134d2718ab7aa5305920be48fa4c8e4180
--! Hash: sha1:1084b9595853b6b42c21a0d0e26d364599202cfb
--! Message: hardening auth

--! split: 0470-role-changes
-- A changed role takes effect at once, like a deactivation: an access token carries the role it
-- was issued with, so every API process re-reads the memberships whose role changed within the
-- longest access-token lifetime (JWT_ACCESS_TOKEN_TTL_SECONDS ≤ 1 hour), with the role they have
-- now, and refuses a token that claims another role for that membership (401: the client
-- refreshes, and a refresh reads the role from the membership). Comparing roles rather than
-- times leaves no same-second gap. The trigger stamps the change whatever the client sends
-- (no grant on the column).
alter table app_public.clinic_members add column role_changed_at timestamptz;
comment on column app_public.clinic_members.role_changed_at is 'When the role last changed; NULL when it never did.';

create function app_private.tg_stamp_role_change() returns trigger
  language plpgsql
  set search_path = pg_catalog, pg_temp
as $$
begin
  new.role_changed_at := now();
  return new;
end;
$$;
create trigger _120_stamp_role_change before update of role on app_public.clinic_members
  for each row when (old.role is distinct from new.role) execute function app_private.tg_stamp_role_change();

-- Read with app_hidden.blocked_access() (as app_platform: ids and roles, no patient data).
create function app_hidden.changed_roles()
  returns table (clinic_id uuid, account_id uuid, role text)
  language sql stable security definer
  set search_path = pg_catalog, pg_temp
begin atomic
  select m.clinic_id, m.account_id, m.role from app_public.clinic_members m where m.role_changed_at > now() - interval '1 hour';
end;
grant execute on function app_hidden.changed_roles() to app_platform;

--! split: 0480-invitations-by-e-mail
-- An invitation's token reaches the invited e-mail only: inviting writes it to the notification
-- outbox in the same transaction (as a password reset does) and returns none, so the admin or
-- operator who invites never holds it. And only the invitation that created the account may set
-- its first password (sets_first_password): any other invitation, another clinic's above all,
-- needs the account's password, so no clinic chooses the password of a person that another
-- clinic invited. A person whose first invitation expired sets a password through a password
-- reset (which proves control of the e-mail too), then accepts with it.
alter table app_private.invitations add column sets_first_password boolean not null default false;
comment on column app_private.invitations.sets_first_password is 'The invitation created the account: only it may set the first password.';
-- Invitations from before: the earliest of an account that still has no password created it.
update app_private.invitations i set sets_first_password = true
where i.token_hash = (
    select j.token_hash from app_private.invitations j where j.account_id = i.account_id order by j.created_at, j.token_hash limit 1
  )
  and exists (select from app_private.accounts a where a.id = i.account_id and a.password_hash = app_private.unset_password_hash());

-- What invite_member and onboard_clinic share: the account (created without a usable password
-- when new), the invited membership, the invitation (hash given), and the outbox message that
-- carries the token to the e-mail. Granted to nobody; the callers check who is inviting.
create function app_private.invite_to_clinic(
  clinic_id uuid, email text, role text, display_name text, invitation_hash bytea, invitation_token text, invitation_ttl interval
) returns uuid
  language plpgsql volatile
  set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  invited app_private.accounts;
  new_account boolean;
  member uuid;
  expires timestamptz := now() + invite_to_clinic.invitation_ttl;
begin
  insert into app_private.accounts (email, password_hash)
  values (invite_to_clinic.email, app_private.unset_password_hash())
  on conflict ((lower(email))) do nothing
  returning * into invited;
  new_account := invited.id is not null;
  if not new_account then
    select * into invited from app_private.accounts a where lower(a.email) = lower(invite_to_clinic.email);
  end if;
  insert into app_public.clinic_members (clinic_id, account_id, role, display_name, status)
  values (invite_to_clinic.clinic_id, invited.id, invite_to_clinic.role, invite_to_clinic.display_name, 'invited')
  returning id into member;
  insert into app_private.invitations (token_hash, clinic_id, account_id, expires_at, sets_first_password)
  values (invite_to_clinic.invitation_hash, invite_to_clinic.clinic_id, invited.id, expires, new_account);
  insert into app_private.notification_outbox (kind, recipient, payload)
  select 'invitation', invited.email, jsonb_build_object(
    'token', invite_to_clinic.invitation_token, 'clinic_slug', c.slug, 'clinic_name', c.name, 'role', invite_to_clinic.role,
    'sets_password', new_account, 'expires_at', expires)
  from app_public.clinics c where c.id = invite_to_clinic.clinic_id;
  return member;
end;
$$;

drop function app_hidden.invite_member(text, text, text, bytea, interval);
-- A clinic admin invites a person (by e-mail) into their clinic with a role.
create function app_hidden.invite_member(
  email text, role text, display_name text, invitation_hash bytea, invitation_token text, invitation_ttl interval
) returns uuid
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
as $$
begin
  if app_public.current_clinic_id() is null or not app_public.current_role_is('clinic_admin') then
    raise exception 'only clinic admins invite members' using errcode = '42501';
  end if;
  return app_private.invite_to_clinic(app_public.current_clinic_id(), invite_member.email, invite_member.role,
    invite_member.display_name, invite_member.invitation_hash, invite_member.invitation_token, invite_member.invitation_ttl);
end;
$$;
grant execute on function app_hidden.invite_member(text, text, text, bytea, text, interval) to app_user;

drop function app_hidden.onboard_clinic(text, text, text, text, text, text, bytea, interval);
-- A clinic and its first admin, in one transaction. Caller: a platform operator (app.user_id).
create function app_hidden.onboard_clinic(
  slug text, name text, timezone text, plan text, admin_email text, admin_display_name text,
  invitation_hash bytea, invitation_token text, invitation_ttl interval
) returns uuid
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
as $$
declare
  new_clinic uuid;
begin
  if not exists (select 1 from app_private.platform_operators o where o.account_id = app_public.current_user_id()) then
    raise exception 'only platform operators onboard clinics' using errcode = '42501';
  end if;
  insert into app_public.clinics (slug, name, timezone, plan)
  values (onboard_clinic.slug, onboard_clinic.name, onboard_clinic.timezone, onboard_clinic.plan)
  returning id into new_clinic;
  insert into app_public.clinic_settings (clinic_id) values (new_clinic);
  perform app_private.invite_to_clinic(new_clinic, onboard_clinic.admin_email, 'clinic_admin', onboard_clinic.admin_display_name,
    onboard_clinic.invitation_hash, onboard_clinic.invitation_token, onboard_clinic.invitation_ttl);
  return new_clinic;
end;
$$;
grant execute on function app_hidden.onboard_clinic(text, text, text, text, text, text, bytea, text, interval) to app_platform;

drop function app_hidden.invitation_account(bytea);
-- What accepting an invitation needs to know: the account, and whether this invitation sets its
-- first password (it created the account, which still has none); otherwise the person proves
-- the account's password. No row when the token is unknown, used or expired.
create function app_hidden.invitation_account(token_hash bytea)
  returns table (account_id uuid, email text, sets_password boolean)
  language sql stable security definer
  set search_path = pg_catalog, pg_temp
begin atomic
  select a.id, a.email, i.sets_first_password and a.password_hash = app_private.unset_password_hash()
  from app_private.invitations i
  join app_private.accounts a on a.id = i.account_id
  where i.token_hash = invitation_account.token_hash and i.accepted_at is null and i.expires_at > now();
end;
grant execute on function app_hidden.invitation_account(bytea) to app_user;

-- Uses the invitation once: activates the membership and returns the clinic's slug. With
-- new_password_hash it also sets the first password, which only the invitation that created
-- the account may, while the account has none: otherwise nothing is accepted. No row when the
-- token is unknown, used or expired, or may not set the password.
create or replace function app_hidden.accept_invitation(token_hash bytea, new_password_hash text)
  returns table (clinic_slug text)
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
as $$
declare
  invitation app_private.invitations;
begin
  select * into invitation from app_private.invitations i
  where i.token_hash = accept_invitation.token_hash and i.accepted_at is null and i.expires_at > now()
  for update;
  if not found then
    return;
  end if;
  if accept_invitation.new_password_hash is not null then
    if not invitation.sets_first_password then
      return;
    end if;
    perform from app_private.accounts a
    where a.id = invitation.account_id and a.password_hash = app_private.unset_password_hash()
    for update;
    if not found then
      return;
    end if;
    perform app_private.set_password(invitation.account_id, accept_invitation.new_password_hash);
  end if;
  update app_private.invitations i set accepted_at = now() where i.token_hash = invitation.token_hash;
  update app_public.clinic_members m set status = 'active'
  where m.clinic_id = invitation.clinic_id and m.account_id = invitation.account_id and m.status = 'invited';
  return query select c.slug from app_public.clinics c where c.id = invitation.clinic_id;
end;
$$;

--! split: 0490-login-failures
-- Lockouts that a stranger cannot turn against the owner (they replace 0340's per-e-mail lock
-- and 0460's per-address lock). Failed logins count in three ways, all keyed by the e-mail as
-- typed whether or not an account has it, so a lock says nothing about who has an account:
--  - per e-mail and client network: 5 within 15 minutes lock that pair for 15 minutes. The
--    guesser is locked, not the owner somewhere else.
--  - per e-mail, from everywhere: 50 within an hour lock the e-mail for 15 minutes, except for
--    networks that signed in to the account successfully within 90 days (login_networks): slow
--    guessing from many networks stops, and the owner at their usual places is not locked out.
--  - per client network, whatever the e-mails: 30 within 15 minutes lock the network for 15
--    minutes (generous: a clinic's staff often share one address).
-- A client network is the address for IPv4 and its /64 for IPv6, where one subscriber holds a
-- whole /64. Only a full success clears a count, and only its pair's.
create table app_private.login_failures (
  scope text not null constraint login_failures_scope_valid check (scope in ('email_network', 'email', 'network')),
  key text not null constraint login_failures_key_length check (char_length(key) <= 320),
  failures integer not null,
  window_started_at timestamptz not null default now(),
  locked_until timestamptz,
  primary key (scope, key)
);
comment on table app_private.login_failures is 'Failed logins per e-mail and network, per e-mail, and per network; counts and locks.';

-- Networks an account signed in from (at most 10 per account, the most recent). Personal data,
-- like the audit log's addresses; private.
create table app_private.login_networks (
  account_id uuid not null references app_private.accounts (id),
  network inet not null,
  last_signed_in_at timestamptz not null default now(),
  primary key (account_id, network)
);
comment on table app_private.login_networks is 'Where each account last signed in successfully: such networks are not locked by strangers'' failures.';

-- The counts of the old tables restart (they covered 15 minutes at most).
drop function app_hidden.login_locked_until(text), app_hidden.login_failed(text), app_hidden.login_succeeded(text);
drop table app_private.login_throttle, app_private.address_throttle;

-- The caller's network (app.client_ip of the context): the address, or its /64 for IPv6.
create function app_private.client_network() returns inet
  language sql stable
  set search_path = pg_catalog, pg_temp
begin atomic
  select case when pg_catalog.family(c.address) = 6 then pg_catalog.network(pg_catalog.set_masklen(c.address, 64))::inet else c.address end
  from (select nullif(pg_catalog.current_setting('app.client_ip', true), '')::inet as address) c;
end;

create function app_private.login_pair_key(email text) returns text
  language sql stable
  set search_path = pg_catalog, pg_temp
begin atomic
  select pg_catalog.lower(login_pair_key.email) || ' ' || coalesce(pg_catalog.abbrev(app_private.client_network()), 'unknown');
end;

-- The account with this e-mail signed in from the caller's network within 90 days.
create function app_private.signed_in_from_here(email text) returns boolean
  language sql stable
  set search_path = pg_catalog, pg_temp
begin atomic
  select exists (
    select from app_private.login_networks n join app_private.accounts a on a.id = n.account_id
    where pg_catalog.lower(a.email) = pg_catalog.lower(signed_in_from_here.email) and n.network = app_private.client_network()
      and n.last_signed_in_at > now() - interval '90 days'
  );
end;

-- When the caller's lock for this e-mail ends (NULL: not locked).
create function app_hidden.login_locked_until(email text) returns timestamptz
  language sql stable security definer
  set search_path = pg_catalog, pg_temp
begin atomic
  select max(f.locked_until) from app_private.login_failures f
  where f.locked_until > now() and (
    (f.scope = 'email_network' and f.key = app_private.login_pair_key(login_locked_until.email))
    or (f.scope = 'network' and f.key = pg_catalog.abbrev(app_private.client_network()))
    or (f.scope = 'email' and f.key = pg_catalog.lower(login_locked_until.email)
        and not app_private.signed_in_from_here(login_locked_until.email))
  );
end;

-- One failure on one count: reaching max_failures within the period locks for lock_for.
create function app_private.count_login_failure(scope text, key text, max_failures integer, period interval, lock_for interval)
  returns void
  language sql volatile
  set search_path = pg_catalog, pg_temp
begin atomic
  insert into app_private.login_failures as f (scope, key, failures)
  values (count_login_failure.scope, count_login_failure.key, 1)
  on conflict (scope, key) do update set
    failures = case when f.window_started_at < now() - count_login_failure.period then 1 else f.failures + 1 end,
    window_started_at = case when f.window_started_at < now() - count_login_failure.period then now() else f.window_started_at end,
    locked_until = case
      when f.window_started_at >= now() - count_login_failure.period and f.failures + 1 >= count_login_failure.max_failures
        then now() + count_login_failure.lock_for
      else f.locked_until
    end;
end;

-- Counts a failure; returns the end of the lock it put the caller under, if it did (callers
-- check the lock first, so a lock in force now was started by this failure or a concurrent one).
create function app_hidden.login_failed(email text) returns timestamptz
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
as $$
begin
  perform app_private.count_login_failure('email_network', app_private.login_pair_key(login_failed.email), 5, '15 minutes', '15 minutes');
  perform app_private.count_login_failure('email', pg_catalog.lower(login_failed.email), 50, '1 hour', '15 minutes');
  if app_private.client_network() is not null then
    perform app_private.count_login_failure('network', pg_catalog.abbrev(app_private.client_network()), 30, '15 minutes', '15 minutes');
  end if;
  return app_hidden.login_locked_until(login_failed.email);
end;
$$;

-- A full success: clears its pair's count, and remembers the network for the account.
create function app_hidden.login_succeeded(email text) returns void
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
as $$
declare
  signed_in uuid;
  here inet := app_private.client_network();
begin
  delete from app_private.login_failures f where f.scope = 'email_network' and f.key = app_private.login_pair_key(login_succeeded.email);
  select a.id into signed_in from app_private.accounts a where lower(a.email) = lower(login_succeeded.email);
  if signed_in is null or here is null then
    return;
  end if;
  insert into app_private.login_networks as n (account_id, network) values (signed_in, here)
  on conflict (account_id, network) do update set last_signed_in_at = now();
  delete from app_private.login_networks n
  where n.account_id = signed_in and n.network not in (
    select k.network from app_private.login_networks k where k.account_id = signed_in order by k.last_signed_in_at desc limit 10
  );
end;
$$;

grant execute on function
  app_hidden.login_locked_until(text),
  app_hidden.login_failed(text),
  app_hidden.login_succeeded(text)
to app_user;

-- A wrong current password on a password change counts like a failed login: the application
-- checks it as a login of the context's account, by its e-mail.
drop function app_hidden.current_password_hash();
create function app_hidden.current_account_email() returns text
  language sql stable security definer
  set search_path = pg_catalog, pg_temp
begin atomic
  select a.email from app_private.accounts a where a.id = app_public.current_user_id();
end;
grant execute on function app_hidden.current_account_email() to app_user;

--! split: 0495-password-resets
-- A new password (a reset, a change, an invitation's first) spends every reset token of the
-- account still pending: an older token sets nothing after a newer one was used, nor after the
-- person changed their password. Requesting a reset leaves earlier tokens valid: each went to
-- the same e-mail, a stranger can request resets for anyone's e-mail and must not break the
-- link the owner is about to follow, and every token expires after 30 minutes anyway.
create or replace function app_private.set_password(account_id uuid, password_hash text) returns void
  language sql volatile
  set search_path = pg_catalog, pg_temp
begin atomic
  update app_private.accounts a set password_hash = set_password.password_hash where a.id = set_password.account_id;
  update app_private.password_resets r set used_at = now() where r.account_id = set_password.account_id and r.used_at is null;
  select app_private.end_sessions(set_password.account_id);
end;
