-- Generated from the database by `npm run policies:generate` after migrating; do not edit.
-- The source of truth is migrations/; this file is what Postgres enforces for the table.

-- app_private.login_networks: Where each account last signed in successfully: such networks are not locked by strangers' failures.

alter table app_private.login_networks disable row level security;
alter table app_private.login_networks no force row level security;

-- no grants: no application role can read or write this table directly
