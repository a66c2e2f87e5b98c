-- Generated from the database by `npm run policies:generate` after migrating; do not edit.
-- The source of truth is migrations/; this file is what Postgres enforces for the table.

alter table app_private.notification_outbox disable row level security;
alter table app_private.notification_outbox no force row level security;

-- no grants: no application role can read or write this table directly
