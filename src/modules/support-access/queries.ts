// Support access: clinic admins grant, list and revoke (RLS: admins of the clinic only); the
// operator's side goes through SECURITY DEFINER functions that check the grant (0430).
import { sql } from 'kysely';
import type { z } from 'zod';
import type { TenantDb } from '../../db/tenant.ts';
import type { grant, operatorGrant } from './schemas.ts';

type Grant = z.infer<typeof grant>;
type OperatorGrant = z.infer<typeof operatorGrant>;

const columns = ['id', 'operatorAccountId', 'grantedBy', 'reason', 'expiresAt', 'revokedAt', 'revokedBy', 'createdAt'] as const;

/** The operator's account, when the e-mail is a platform operator's (clinic admins only). */
export async function operatorByEmail(db: TenantDb, email: string): Promise<string | undefined> {
  const row = await db.selectNoFrom(sql<string | null>`app_hidden.platform_operator_id(${email})`.as('id')).executeTakeFirst();
  return row?.id ?? undefined;
}

export function createGrant(db: TenantDb, input: { operatorAccountId: string; reason: string; hours: number }): Promise<Grant> {
  return db
    .insertInto('appPublic.supportAccessGrants')
    .values({
      operatorAccountId: input.operatorAccountId,
      reason: input.reason,
      expiresAt: sql<Date>`now() + make_interval(hours => ${input.hours})`,
    })
    .returning(columns)
    .executeTakeFirstOrThrow();
}

export function listGrants(db: TenantDb): Promise<Grant[]> {
  return db.selectFrom('appPublic.supportAccessGrants').select(columns).orderBy('createdAt', 'desc').limit(200).execute();
}

/** Revokes a grant in force (the trigger stamps who and when); undefined when there is none. */
export function revokeGrant(db: TenantDb, id: string): Promise<Grant | undefined> {
  return db
    .updateTable('appPublic.supportAccessGrants')
    .set({ revokedAt: sql<Date>`now()` })
    .where('id', '=', id)
    .where('expiresAt', '>', sql<Date>`now()`)
    .returning(columns)
    .executeTakeFirst();
}

/** The operator's grants of support access in force (app.user_id is the operator). */
export async function mySupportGrants(db: TenantDb): Promise<OperatorGrant[]> {
  return db.selectFrom(sql<OperatorGrant>`app_hidden.my_support_grants()`.as('g')).selectAll().execute();
}
