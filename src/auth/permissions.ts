// The permission matrix, written once: which clinic roles may do what on each resource. Route
// guards read it for clear 403s; the SQL policies enforce the same table in the database, and
// the tests hold both to it (test/db/isolation.test.ts, test/http/). docs/permissions.md renders it.
import { CLINIC_ROLES, type ClinicRole } from '../db/tenant.ts';

export type Action = 'select' | 'insert' | 'update' | 'delete';
export type Allowed = readonly ClinicRole[];

export const ALL_ROLES: Allowed = CLINIC_ROLES;

export const PERMISSIONS: Record<string, Partial<Record<Action, Allowed>>> = {
  'app_public.departments': {
    select: ALL_ROLES,
    insert: ['clinic_admin'],
    update: ['clinic_admin'],
    delete: ['clinic_admin'],
  },
  'app_public.clinic_settings': {
    select: ALL_ROLES,
    update: ['clinic_admin'],
  },
  // Patients see the staff and themselves, never other patients (the SQL policy filters rows).
  'app_public.clinic_members': {
    select: ALL_ROLES,
    insert: ['clinic_admin'],
    update: ['clinic_admin'],
    delete: ['clinic_admin'],
  },
  // Break-glass support: only admins grant, see and revoke (revocation is the only update).
  'app_public.support_access_grants': {
    select: ['clinic_admin'],
    insert: ['clinic_admin'],
    update: ['clinic_admin'],
  },
};

export function isAllowed(resource: string, action: Action, role: ClinicRole | null): boolean {
  return role !== null && (PERMISSIONS[resource]?.[action] ?? []).includes(role);
}
