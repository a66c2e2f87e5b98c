// Platform operators' queries: clinic metadata and counts through SECURITY DEFINER functions
// that check the caller is an operator (migrations, 0360/0370).
import { sql } from 'kysely';
import type { Invitation } from '../../auth/invitations.ts';
import type { TenantDb } from '../../db/tenant.ts';
import type { z } from 'zod';
import type { ClinicProfile, clinicOverview } from './schemas.ts';

type ClinicOverview = z.infer<typeof clinicOverview>;

/** Every clinic (or the one named) with its plan and member count (the overview) and its profile. */
export async function listClinics(db: TenantDb, only?: { slug: string }): Promise<ClinicOverview[]> {
  let query = db
    .selectFrom(sql<{ id: string; members: string }>`app_hidden.platform_clinic_overview()`.as('o'))
    .innerJoin('appPublic.clinics as c', 'c.id', 'o.id')
    .select([
      'c.id',
      'c.slug',
      'c.name',
      'c.timezone',
      'c.status',
      'c.plan',
      'c.planStatus',
      'c.address',
      'c.contactEmail',
      'c.contactPhone',
      'c.registrationNumber',
      'c.taxId',
      'c.createdAt',
      sql<number>`o.members::int`.as('members'),
    ])
    .orderBy('c.name')
    .orderBy('c.slug')
    // The database's checks hold these columns to the values the schema lists.
    .$narrowType<Pick<ClinicOverview, 'status' | 'plan' | 'planStatus'>>();
  if (only) query = query.where('c.slug', '=', only.slug);
  return query.execute();
}

export async function onboardClinic(
  db: TenantDb,
  input: { slug: string; name: string; timezone: string; plan: string; adminEmail: string; adminDisplayName: string; invitation: Invitation },
): Promise<string> {
  const { invitation } = input;
  const { rows } = await sql<{ id: string }>`select app_hidden.onboard_clinic(${input.slug}, ${input.name}, ${input.timezone}, ${input.plan},
    ${input.adminEmail}, ${input.adminDisplayName}, ${invitation.hash}, ${invitation.token}, ${invitation.ttl}::interval) as id`.execute(db);
  return rows[0]!.id;
}

export async function updateClinic(
  db: TenantDb,
  slug: string,
  change: ClinicProfile & { status?: 'active' | 'suspended'; plan?: string; planStatus?: string },
): Promise<boolean> {
  const result = await db
    .updateTable('appPublic.clinics')
    .set({
      status: change.status,
      plan: change.plan,
      planStatus: change.planStatus,
      name: change.name,
      timezone: change.timezone,
      address: change.address,
      contactEmail: change.contactEmail,
      contactPhone: change.contactPhone,
      registrationNumber: change.registrationNumber,
      taxId: change.taxId,
    })
    .where('slug', '=', slug)
    .executeTakeFirst();
  return result.numUpdatedRows === 1n;
}
