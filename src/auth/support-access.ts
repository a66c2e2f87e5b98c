// Support access as the guard and the token route see it: a platform operator's use of a clinic's
// grant, checked in force and audited in one call (app_hidden.use_support_access, 0430-support-access).
// The grants themselves (grant, list, revoke) are the support-access module's.
import { sql } from 'kysely';
import type { TenantDb } from '../db/tenant.ts';

/** Checks the grant is in force for this operator and audits the use; false: refused. */
export async function useSupportAccess(
  db: TenantDb,
  use: { grantId: string; clinicId: string; twoFactor: boolean; what: 'token_issued' | 'used'; details: Record<string, unknown> },
): Promise<boolean> {
  const { rows } = await sql<{ allowed: boolean }>`select app_hidden.use_support_access(${use.grantId}, ${use.clinicId}, ${use.twoFactor},
    ${use.what}, ${JSON.stringify(use.details)}::jsonb) as allowed`.execute(db);
  return rows[0]?.allowed === true;
}
