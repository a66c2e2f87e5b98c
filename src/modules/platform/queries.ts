// Platform operators' queries: clinic metadata and counts through SECURITY DEFINER functions
// that check the caller is an operator (migrations, 0360/0370).
import { sql } from 'kysely';
import type { TenantDb } from '../../db/tenant.ts';
import type { z } from 'zod';
import type { clinicOverview } from './schemas.ts';

type ClinicOverview = z.infer<typeof clinicOverview>;

export async function listClinics(db: TenantDb): Promise<ClinicOverview[]> {
  const rows = await db
    .selectFrom(sql<Record<string, unknown>>`app_hidden.platform_clinic_overview()`.as('c'))
    .select([
      sql<string>`id`.as('id'), sql<string>`slug`.as('slug'), sql<string>`name`.as('name'),
      sql<string>`timezone`.as('timezone'), sql<'active' | 'suspended'>`status`.as('status'),
      sql<ClinicOverview['plan']>`plan`.as('plan'), sql<ClinicOverview['planStatus']>`plan_status`.as('planStatus'),
      sql<Date>`created_at`.as('createdAt'), sql<number>`members::int`.as('members'),
    ])
    .execute();
  return rows;
}

export async function onboardClinic(
  db: TenantDb,
  input: { slug: string; name: string; timezone: string; plan: string; adminEmail: string; adminDisplayName: string; invitationHash: Buffer; invitationTtl: string },
): Promise<string> {
  const { rows } = await sql<{ id: string }>`select app_hidden.onboard_clinic(${input.slug}, ${input.name}, ${input.timezone}, ${input.plan},
    ${input.adminEmail}, ${input.adminDisplayName}, ${input.invitationHash}, ${input.invitationTtl}::interval) as id`.execute(db);
  return rows[0]!.id;
}

export async function updateClinic(
  db: TenantDb,
  slug: string,
  change: { status?: 'active' | 'suspended'; plan?: string; planStatus?: string },
): Promise<boolean> {
  const result = await db
    .updateTable('app_public.clinics')
    .set({
      ...(change.status !== undefined && { status: change.status }),
      ...(change.plan !== undefined && { plan: change.plan }),
      ...(change.planStatus !== undefined && { plan_status: change.planStatus }),
    })
    .where('slug', '=', slug)
    .executeTakeFirst();
  return result.numUpdatedRows === 1n;
}

export async function bootstrapOperator(db: TenantDb, email: string, passwordHash: string): Promise<boolean> {
  const { rows } = await sql<{ created: boolean }>`select app_hidden.bootstrap_platform_operator(${email}, ${passwordHash}) as created`.execute(db);
  return rows[0]?.created === true;
}
