-- Generated from the database by `npm run policies:generate` after migrating; do not edit.
-- The source of truth is migrations/; this file is what Postgres enforces for the table.

alter table app_private.password_resets disable row level security;
alter table app_private.password_resets no force row level security;

-- no grants: no application role can read or write this table directly
