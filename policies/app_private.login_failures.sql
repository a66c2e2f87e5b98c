-- Generated from the database by `npm run policies:generate` after migrating; do not edit.
-- The source of truth is migrations/; this file is what Postgres enforces for the table.

-- app_private.login_failures: Failed logins per e-mail and network, per e-mail, and per network; counts and locks.

alter table app_private.login_failures disable row level security;
alter table app_private.login_failures no force row level security;

-- no grants: no application role can read or write this table directly
