// The tests read the one matrix the routes and docs use (src/auth/permissions.ts).
export { ALL_ROLES, PERMISSIONS, type Action as Command, type Allowed } from '../../src/auth/permissions.ts';
