export const TEST_TEMPLATE = 'clinicbase_test_template';
export const TEST_ROLE_PASSWORD = 'clinicbase-test-only';
