-- Generated from the database by `npm run policies:generate` after migrating; do not edit.
-- The source of truth is migrations/; this file is what Postgres enforces for the table.

-- app_private.clinic_counters: The last number handed out per clinic, counter and period (gap-free numbering).

alter table app_private.clinic_counters disable row level security;
alter table app_private.clinic_counters no force row level security;

-- no grants: no application role can read or write this table directly
