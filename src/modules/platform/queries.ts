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
    .selectFrom(sql<Record<string, unknown>>`app_hidden.platform_clinic_overview()`.as('o'))
    .innerJoin('app_public.clinics as c', (join) => join.on(sql<boolean>`c.id = o.id`))
    .select([
      'c.id', 'c.slug', 'c.name', 'c.timezone', sql<'active' | 'suspended'>`c.status`.as('status'),
      sql<ClinicOverview['plan']>`c.plan`.as('plan'), sql<ClinicOverview['planStatus']>`c.plan_status`.as('planStatus'),
      'c.address', 'c.contact_email as contactEmail', 'c.contact_phone as contactPhone',
      'c.registration_number as registrationNumber', 'c.tax_id as taxId',
      'c.created_at as createdAt', sql<number>`o.members::int`.as('members'),
    ])
    .orderBy('c.name')
    .orderBy('c.slug');
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
    .updateTable('app_public.clinics')
    .set({
      ...(change.status !== undefined && { status: change.status }),
      ...(change.plan !== undefined && { plan: change.plan }),
      ...(change.planStatus !== undefined && { plan_status: change.planStatus }),
      ...(change.name !== undefined && { name: change.name }),
      ...(change.timezone !== undefined && { timezone: change.timezone }),
      ...(change.address !== undefined && { address: change.address }),
      ...(change.contactEmail !== undefined && { contact_email: change.contactEmail }),
      ...(change.contactPhone !== undefined && { contact_phone: change.contactPhone }),
      ...(change.registrationNumber !== undefined && { registration_number: change.registrationNumber }),
      ...(change.taxId !== undefined && { tax_id: change.taxId }),
    })
    .where('slug', '=', slug)
    .executeTakeFirst();
  return result.numUpdatedRows === 1n;
}
