-- Generated from the database by `npm run policies:generate` after migrating; do not edit.
-- The source of truth is migrations/; this file is what Postgres enforces for the table.

-- app_private.recovery_codes: SHA-256 of single-use recovery codes, shown to their owner once.

alter table app_private.recovery_codes disable row level security;
alter table app_private.recovery_codes no force row level security;

-- no grants: no application role can read or write this table directly
