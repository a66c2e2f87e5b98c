-- Generated from the database by `npm run policies:generate` after migrating; do not edit.
-- The source of truth is migrations/; this file is what Postgres enforces for the table.

-- app_private.address_throttle: Failed logins per client address; 30 within 15 minutes lock the address for 15 minutes.

alter table app_private.address_throttle disable row level security;
alter table app_private.address_throttle no force row level security;

-- no grants: no application role can read or write this table directly
