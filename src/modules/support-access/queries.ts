// Support access: clinic admins grant, list and revoke (RLS: admins of the clinic only); the
// operator's side goes through SECURITY DEFINER functions that check the grant (0430).
import { sql } from 'kysely';
import type { z } from 'zod';
import type { TenantDb } from '../../db/tenant.ts';
import type { grant, operatorGrant } from './schemas.ts';

type Grant = z.infer<typeof grant>;
type OperatorGrant = z.infer<typeof operatorGrant>;

const columns = [
  'id', 'operator_account_id as operatorAccountId', 'granted_by as grantedBy', 'reason', 'expires_at as expiresAt',
  'revoked_at as revokedAt', 'revoked_by as revokedBy', 'created_at as createdAt',
] as const;

/** The operator's account, when the e-mail is a platform operator's (clinic admins only). */
export async function operatorByEmail(db: TenantDb, email: string): Promise<string | undefined> {
  const row = await db.selectNoFrom(sql<string | null>`app_hidden.platform_operator_id(${email})`.as('id')).executeTakeFirst();
  return row?.id ?? undefined;
}

export function createGrant(db: TenantDb, input: { operatorAccountId: string; reason: string; hours: number }): Promise<Grant> {
  return db
    .insertInto('app_public.support_access_grants')
    .values({
      operator_account_id: input.operatorAccountId,
      reason: input.reason,
      expires_at: sql<Date>`now() + make_interval(hours => ${input.hours})`,
    })
    .returning(columns)
    .executeTakeFirstOrThrow();
}

export function listGrants(db: TenantDb): Promise<Grant[]> {
  return db.selectFrom('app_public.support_access_grants').select(columns).orderBy('created_at', 'desc').limit(200).execute();
}

/** Revokes a grant in force (the trigger stamps who and when); undefined when there is none. */
export function revokeGrant(db: TenantDb, id: string): Promise<Grant | undefined> {
  return db
    .updateTable('app_public.support_access_grants')
    .set({ revoked_at: sql<Date>`now()` })
    .where('id', '=', id)
    .where('expires_at', '>', sql<Date>`now()`)
    .returning(columns)
    .executeTakeFirst();
}

/** The operator's grants of support access in force (app.user_id is the operator). */
export async function mySupportGrants(db: TenantDb): Promise<OperatorGrant[]> {
  return db
    .selectFrom(sql<Record<string, unknown>>`app_hidden.my_support_grants()`.as('g'))
    .select([
      sql<string>`grant_id`.as('grantId'), sql<string>`clinic_id`.as('clinicId'), sql<string>`clinic_slug`.as('clinicSlug'),
      sql<string>`clinic_name`.as('clinicName'), sql<string>`reason`.as('reason'), sql<Date>`expires_at`.as('expiresAt'),
      sql<boolean>`requires_two_factor`.as('requiresTwoFactor'),
    ])
    .execute();
}
