--! Previous: sha1:0858781bae5faa589fb2bbcf4d79c86e2fb4cfb6
--! Hash: sha1:a0e287443d00410169f699cf64e9c5ef6d073628
--! Message: GraphQL: the chart tables' connections count nothing

-- The chart tables' connections count nothing: a `totalCount` (of a patient's allergies, of their
-- files) would tell what a chart holds without reading a row, so without the chart access log
-- (src/graphql/chart-access.ts records the reads of rows).
comment on table app_public.files is E'@unique id\n@behavior -insert -update -delete -totalCount\nA file attached to a patient: its metadata (the bytes are in storage under <clinic_id>/<id>).';
comment on table app_public.patient_history is E'@unique id\n@behavior -delete -nodeId:resource:update -nodeId:resource:delete -totalCount\nA patient''s allergies and current medication.';
