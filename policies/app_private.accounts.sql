-- Generated from the database by `npm run policies:generate` after migrating; do not edit.
-- The source of truth is migrations/; this file is what Postgres enforces for the table.

-- app_private.accounts: A person's login: e-mail and argon2id password hash. One per person, platform-wide.

alter table app_private.accounts disable row level security;
alter table app_private.accounts no force row level security;

-- no grants: no application role can read or write this table directly
