// Which clinic roles may do what on each tenant table, as the SQL policies must enforce it.
// Issue "identity and access" grows this into docs/permissions.md; the tests read it from here.
import { CLINIC_ROLES, type ClinicRole } from '../../src/db/tenant.ts';

export type Command = 'select' | 'insert' | 'update' | 'delete';
export type Allowed = readonly ClinicRole[];

export const ALL_ROLES: Allowed = CLINIC_ROLES;

export const PERMISSIONS: Record<string, Partial<Record<Command, Allowed>>> = {
  'app_public.departments': {
    select: ALL_ROLES,
    insert: ['clinic_admin'],
    update: ['clinic_admin'],
    delete: ['clinic_admin'],
  },
};
