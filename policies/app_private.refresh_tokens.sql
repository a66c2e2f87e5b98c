-- Generated from the database by `npm run policies:generate` after migrating; do not edit.
-- The source of truth is migrations/; this file is what Postgres enforces for the table.

-- app_private.refresh_tokens: Hashed refresh tokens, one family per login; rotated on use, the family revoked on reuse.

alter table app_private.refresh_tokens disable row level security;
alter table app_private.refresh_tokens no force row level security;

-- no grants: no application role can read or write this table directly
