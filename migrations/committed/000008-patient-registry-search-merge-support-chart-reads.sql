--! Previous: sha1:4d4c04c2ba978219876583dea03ebef1e4c3ee6b
--! Hash: sha1:db4ad2be03c65861182b09d13dade9033a354246
--! Message: patient registry: search, merge, support chart reads

--! split: 0800-patient-registry-functions
-- The patient registry's functions: name search, merge, reads under support access, and the
-- policies they need. The tables are migration 000006's, their rules 000007's.

-- A merged record stays archived: its survivor holds everything that moved.
alter table app_public.patients
  add constraint patients_status_check check (merged_into_id is null or status = 'archived');

-- Definer functions that change patients (the merge, re-encryption by the CLI) act as app_owner:
-- forced RLS needs a policy of the owner's. They filter by clinic themselves.
create policy update_by_definer_functions on app_public.patients for update to app_owner
  using (true) with check (true);

-- Name search, typo-tolerant and ranked. Under RLS the trigram operators (not leakproof) are kept
-- above the policies' checks and cannot use the trigram index: the search would read every row of
-- the clinic. This function runs as the owner (whose read policy is `true`), filters by the
-- context's clinic itself, applies the read rule of select_staff_and_own (staff see all, a patient
-- only their record, anyone else nothing), and returns ids and ranks only: the caller reads the
-- rows again under its own policies. Word similarity (`<%`), so a surname alone finds the full
-- name; threshold 0.5 takes one typo in a short name. Ordered by rank, then id; the cursor is the
-- last (rank, id). The threshold is the function's own setting: pg_trgm must be loaded in this
-- session for Postgres to know the setting is anyone's to set (an unknown one would need a
-- superuser), hence the call just before.
select public.word_similarity('', '');
create function app_hidden.search_patients_by_name(search_text text, date_of_birth date, after_rank real, after_id uuid, max_rows integer)
  returns table (id uuid, rank real)
  language plpgsql stable security definer
  -- A page's worth (the default page and its look-ahead row): left at the default estimate of 1,000
  -- rows, the planner joined the ids back to patients by scanning the clinic's whole registry
  -- (search p95 332 ms against 45 ms with 100,000 patients; docs/performance.md).
  rows 21
  set search_path = pg_catalog, pg_temp
  set pg_trgm.word_similarity_threshold = 0.5
as $$
declare
  clinic uuid := app_public.current_clinic_id();
  own_record uuid;
begin
  if clinic is null or not app_public.current_role_is('clinic_admin', 'doctor', 'nurse', 'receptionist', 'patient') then
    raise exception 'searching patients is not allowed' using errcode = '42501';
  end if;
  if app_public.current_role_is('patient') then
    own_record := app_public.current_patient_id();
    if own_record is null then
      return;
    end if;
  end if;
  return query
    select p.id, public.word_similarity(search_text, p.full_name) as rank
    from app_public.patients p
    where p.clinic_id = clinic
      and search_text operator(public.<%) p.full_name
      and (search_patients_by_name.date_of_birth is null or p.date_of_birth = search_patients_by_name.date_of_birth)
      and (own_record is null or p.id = own_record)
      and (after_rank is null
        or public.word_similarity(search_text, p.full_name) < after_rank
        or (public.word_similarity(search_text, p.full_name) = after_rank and p.id > after_id))
    order by 2 desc, 1
    limit least(greatest(max_rows, 1), 101);
end;
$$;
grant execute on function app_hidden.search_patients_by_name(text, date, real, uuid, integer) to app_user;
comment on function app_hidden.search_patients_by_name(text, date, real, uuid, integer) is
  'Patients of the context clinic whose name is like the query (word similarity), best first, as the caller may read them: ids and ranks.';

-- Merging one patient into another moves every reference to the merged record: the merge
-- function acts as the owner on each table with a foreign key to patients, so each needs the
-- owner's read and update policies (the function refuses to run while one lacks them, rather than
-- leave references behind). Already there: both on appointments, the read policy on visits
-- (000007) and on files (its storage quota).
create policy read_by_definer_functions on app_public.patient_history for select to app_owner
  using (true);
create policy update_by_definer_functions on app_public.patient_history for update to app_owner
  using (true) with check (true);
create policy update_by_definer_functions on app_public.visits for update to app_owner
  using (true) with check (true);
create policy update_by_definer_functions on app_public.files for update to app_owner
  using (true) with check (true);

-- Whether app_owner has a permissive policy `true` for a command on a table ('r' select, 'w' update):
-- without one, forced RLS hides every row from a definer function and its statement does nothing.
create function app_private.owner_policy_allows(relation regclass, command "char")
  returns boolean
  language sql stable
  set search_path = pg_catalog, pg_temp
begin atomic
  select exists (
    select from pg_catalog.pg_policy p
    where p.polrelid = owner_policy_allows.relation and p.polcmd in (owner_policy_allows.command, '*') and p.polpermissive
      and pg_catalog.to_regrole('app_owner')::oid = any (p.polroles)
      and pg_catalog.pg_get_expr(p.polqual, p.polrelid) = 'true'
      and coalesce(pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid), 'true') = 'true'
  );
end;

-- Merges a duplicate record into its survivor, in the caller's transaction: every foreign key
-- that references app_public.patients, read from the catalog (a table added later is covered
-- without editing this function), is moved from the merged record to the survivor; then the
-- merged record is archived and points at the survivor (merged_into_id), and the survivor takes
-- its portal login if it has none. Except the chart access log: it is the record of what was
-- read, so its rows keep naming the record that was read, which stays readable. Refused: a record
-- merged into itself, a merged record merged again, a survivor that was itself merged (no
-- chains), and two records that both have a portal login (CBMRG). Records merged earlier into the
-- merged one follow it to the survivor (their merged_into_id is a reference like any other).
-- Clinic admins only; the clinic is the context's. Both rows are locked first, in id order, so
-- crossing merges wait for each other instead of deadlocking. Returns how many rows moved per
-- table.column, NULL when the merged record is not the clinic's; an unknown survivor is 23503.
-- Audited: every moved row and both patients by their triggers, the merge as the event
-- patients.merged.
create function app_hidden.merge_patients(merged_id uuid, survivor_id uuid)
  returns jsonb
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
as $$
declare
  clinic uuid := app_public.current_clinic_id();
  merged app_public.patients;
  survivor app_public.patients;
  reference record;
  moved jsonb := '{}';
  moved_rows bigint;
begin
  if clinic is null or not app_public.current_role_is('clinic_admin') or app_public.current_member_id() is null then
    raise exception 'only clinic admins merge patients' using errcode = '42501';
  end if;
  perform from app_public.patients p where p.clinic_id = clinic and p.id in (merged_id, survivor_id) order by p.id for update;
  select * into merged from app_public.patients p where p.clinic_id = clinic and p.id = merged_id;
  if not found then
    return null;
  end if;
  if merged_id = survivor_id then
    raise exception 'a patient cannot be merged into itself' using errcode = 'CBMRG';
  end if;
  select * into survivor from app_public.patients p where p.clinic_id = clinic and p.id = survivor_id;
  if not found then
    raise exception 'no such survivor' using errcode = '23503', table = 'patients', column = 'survivor_id';
  end if;
  if merged.merged_into_id is not null or survivor.merged_into_id is not null then
    raise exception 'an already merged record cannot be merged again or merged into' using errcode = 'CBMRG';
  end if;
  if merged.member_id is not null and survivor.member_id is not null then
    raise exception 'both records have a portal login' using errcode = 'CBMRG';
  end if;

  for reference in
    select c.conrelid::regclass as relation, c.conname,
      (select pg_catalog.array_agg(a.attname::text order by k.n) from pg_catalog.unnest(c.conkey) with ordinality k(attnum, n)
         join pg_catalog.pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.attnum) as own_columns,
      (select pg_catalog.array_agg(a.attname::text order by k.n) from pg_catalog.unnest(c.confkey) with ordinality k(attnum, n)
         join pg_catalog.pg_attribute a on a.attrelid = c.confrelid and a.attnum = k.attnum) as referenced_columns
    from pg_catalog.pg_constraint c
    where c.contype = 'f' and c.confrelid = 'app_public.patients'::regclass
      and c.conrelid <> 'app_public.patient_access_log'::regclass
    order by c.conrelid::regclass::text, c.conname
  loop
    -- Tenant references are (clinic_id, x) → (clinic_id, id); anything else is not understood.
    if reference.referenced_columns <> array['clinic_id', 'id'] or reference.own_columns[1] <> 'clinic_id' then
      raise exception 'cannot merge patients: % (%) is not a (clinic_id, x) reference', reference.conname, reference.relation
        using errcode = '55000';
    end if;
    if not (app_private.owner_policy_allows(reference.relation, 'r') and app_private.owner_policy_allows(reference.relation, 'w')) then
      raise exception 'cannot merge patients: % has no read and update policies for app_owner', reference.relation using errcode = '55000';
    end if;
    execute pg_catalog.format('update %s set %I = $1 where clinic_id = $2 and %I = $3',
        reference.relation, reference.own_columns[2], reference.own_columns[2])
      using survivor_id, clinic, merged_id;
    get diagnostics moved_rows = row_count;
    if moved_rows > 0 then
      moved := moved || pg_catalog.jsonb_build_object(reference.relation::text || '.' || reference.own_columns[2], moved_rows);
    end if;
  end loop;

  update app_public.patients p set status = 'archived', merged_into_id = survivor_id, member_id = null
  where p.clinic_id = clinic and p.id = merged_id;
  update app_public.patients p set member_id = coalesce(p.member_id, merged.member_id)
  where p.clinic_id = clinic and p.id = survivor_id;
  perform app_private.write_audit_event('patients.merged', app_public.current_user_id(), clinic,
    pg_catalog.jsonb_build_object('merged', merged_id, 'survivor', survivor_id, 'moved', moved));
  return moved;
end;
$$;
grant execute on function app_hidden.merge_patients(uuid, uuid) to app_user;
comment on function app_hidden.merge_patients(uuid, uuid) is
  'Merges a duplicate patient record into its survivor: every reference moves, the merged record is archived and points at the survivor.';

--! split: 0810-chart-access-under-support
-- Reads under a support grant. A support token's transactions are read-only (the database refuses
-- every write), so its reads cannot be logged in their own transaction: the API records them
-- after the read and before it answers, through record_support_chart_access as app_platform, and
-- sends nothing when that fails. Such a row names the grant instead of a membership (the operator
-- is no member), so the clinic admin and the patient see support reads in the same log.
alter table app_public.patient_access_log
  alter column member_id drop not null,
  add column support_grant_id uuid,
  add constraint patient_access_log_support_grant_id_fkey foreign key (clinic_id, support_grant_id)
    references app_public.support_access_grants (clinic_id, id),
  -- A member's read or a support read: exactly one of them.
  add constraint patient_access_log_member_id_valid check ((member_id is null) <> (support_grant_id is null));
create policy insert_support_reads_by_definer_functions on app_public.patient_access_log for insert to app_owner
  with check (member_id is null and support_grant_id is not null);
comment on column app_public.patient_access_log.member_id is 'The membership that read; NULL for a read under support access.';
comment on column app_public.patient_access_log.support_grant_id is 'The support access grant a platform operator read under; NULL for a member''s read.';

-- Records a read made under a support grant, as the member reads are recorded: the row is taken
-- from the patient (a record or file list read) or from the file (its metadata or a download, which
-- alone names the file) in the grant's clinic, so a read of nothing records nothing. The caller is the grant's operator (app_platform,
-- app.user_id) and the grant must be in force for that clinic (unrevoked, unexpired): else false,
-- and the API answers 401 without the data.
create function app_hidden.record_support_chart_access(grant_id uuid, clinic_id uuid, action text, patient_id uuid, file_id uuid)
  returns boolean
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
as $$
declare
  clinic uuid := record_support_chart_access.clinic_id;
begin
  if not exists (
    select from app_public.support_access_grants g
    where g.clinic_id = clinic and g.id = record_support_chart_access.grant_id
      and g.operator_account_id = app_public.current_user_id() and g.revoked_at is null and g.expires_at > now()
  ) then
    return false;
  end if;
  if record_support_chart_access.file_id is null then
    insert into app_public.patient_access_log (clinic_id, patient_id, action, member_id, support_grant_id)
    select clinic, p.id, record_support_chart_access.action, null, record_support_chart_access.grant_id
    from app_public.patients p where p.clinic_id = clinic and p.id = record_support_chart_access.patient_id;
  else
    insert into app_public.patient_access_log (clinic_id, patient_id, file_id, action, member_id, support_grant_id)
    select clinic, f.patient_id, case when record_support_chart_access.action = 'download_file' then f.id end,
      record_support_chart_access.action, null, record_support_chart_access.grant_id
    from app_public.files f where f.clinic_id = clinic and f.id = record_support_chart_access.file_id;
  end if;
  return true;
end;
$$;
grant execute on function app_hidden.record_support_chart_access(uuid, uuid, text, uuid, uuid) to app_platform;
comment on function app_hidden.record_support_chart_access(uuid, uuid, text, uuid, uuid) is
  'Records in the chart access log a read made under a support access grant (the API calls it after the read-only read).';
