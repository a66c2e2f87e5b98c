-- Generated from the database by `npm run policies:generate` after migrating; do not edit.
-- The source of truth is migrations/; this file is what Postgres enforces for the table.

-- app_private.two_factor: TOTP secrets (base32, 160 bits); enabled_at is NULL while set-up is unconfirmed.

alter table app_private.two_factor disable row level security;
alter table app_private.two_factor no force row level security;

-- no grants: no application role can read or write this table directly
