-- Generated from the database by `npm run policies:generate` after migrating; do not edit.
-- The source of truth is migrations/; this file is what Postgres enforces for the table.

-- app_audit.audit_log: Append-only audit trail: who changed which row of which table, when, from where, in which request, before/after values of the changed columns; and security events.

alter table app_audit.audit_log enable row level security;
alter table app_audit.audit_log force row level security;

create policy append_by_owner on app_audit.audit_log
  for insert to app_owner
  with check (true);

create policy delete_for_retention_purge on app_audit.audit_log
  for delete to app_owner
  using (app_private.retention_purge_covers(clinic_id, occurred_at));

create policy read_for_export on app_audit.audit_log
  for select to app_owner
  using ((clinic_id = ( SELECT app_public.current_clinic_id() AS current_clinic_id)));

create policy read_for_retention_purge on app_audit.audit_log
  for select to app_owner
  using (app_private.retention_purge_covers(clinic_id, occurred_at));

-- no grants: no application role can read or write this table directly
