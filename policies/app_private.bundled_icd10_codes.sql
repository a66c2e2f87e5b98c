-- Generated from the database by `npm run policies:generate` after migrating; do not edit.
-- The source of truth is migrations/; this file is what Postgres enforces for the table.

-- app_private.bundled_icd10_codes: Common ICD-10 codes with their text (a curated subset of ICD-10-CM), the same for every clinic.

alter table app_private.bundled_icd10_codes disable row level security;
alter table app_private.bundled_icd10_codes no force row level security;

-- no grants: no application role can read or write this table directly
