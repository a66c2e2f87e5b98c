// One query each, no clinic filter: RLS scopes them to the caller's clinic.
import { sql } from 'kysely';
import type { TenantDb } from '../../db/tenant.ts';
import type { Settings, SettingsChange } from './schemas.ts';

const columns = [
  'currency', sql<number>`tax_rate::float8`.as('taxRate'), 'appointment_slot_minutes as appointmentSlotMinutes',
  'session_idle_minutes as sessionIdleMinutes', 'require_two_factor as requireTwoFactor', 'operating_hours as operatingHours',
  'retention_days as retentionDays', 'brand_primary_colour as brandPrimaryColour', 'brand_secondary_colour as brandSecondaryColour',
  'brand_logo_url as brandLogoUrl', 'updated_at as updatedAt',
] as const;

export function findSettings(db: TenantDb): Promise<Settings | undefined> {
  return db.selectFrom('app_public.clinic_settings').select(columns).executeTakeFirst() as Promise<Settings | undefined>;
}

export function updateSettings(db: TenantDb, change: SettingsChange): Promise<Settings | undefined> {
  return db
    .updateTable('app_public.clinic_settings')
    .set({
      ...(change.currency !== undefined && { currency: change.currency }),
      ...(change.taxRate !== undefined && { tax_rate: String(change.taxRate) }),
      ...(change.appointmentSlotMinutes !== undefined && { appointment_slot_minutes: change.appointmentSlotMinutes }),
      ...(change.sessionIdleMinutes !== undefined && { session_idle_minutes: change.sessionIdleMinutes }),
      ...(change.requireTwoFactor !== undefined && { require_two_factor: change.requireTwoFactor }),
      ...(change.operatingHours !== undefined && { operating_hours: JSON.stringify(change.operatingHours) }),
      ...(change.retentionDays !== undefined && { retention_days: change.retentionDays }),
      ...(change.brandPrimaryColour !== undefined && { brand_primary_colour: change.brandPrimaryColour }),
      ...(change.brandSecondaryColour !== undefined && { brand_secondary_colour: change.brandSecondaryColour }),
      ...(change.brandLogoUrl !== undefined && { brand_logo_url: change.brandLogoUrl }),
    })
    .returning(columns)
    .executeTakeFirst() as Promise<Settings | undefined>;
}
