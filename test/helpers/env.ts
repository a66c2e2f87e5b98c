export const TEST_TEMPLATE = 'clinicbase_test_template';
export const TEST_ROLE_PASSWORD = 'clinicbase-test-only';
/** The committed migrations only, while migrations/current.sql holds work in progress (test/helpers/template.ts). */
export const TEST_COMMITTED_TEMPLATE = 'clinicbase_test_committed';
