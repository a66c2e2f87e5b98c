// One query each, no clinic filter: RLS scopes them to the caller's clinic.
import { sql } from 'kysely';
import type { TenantDb } from '../../db/tenant.ts';
import type { WeeklyHours } from '../../http/params.ts';
import type { Settings, SettingsChange } from './schemas.ts';

const columns = [
  'currency',
  sql<number>`tax_rate::float8`.as('taxRate'),
  'appointmentSlotMinutes',
  'sessionIdleMinutes',
  'requireTwoFactor',
  'operatingHours',
  'retentionDays',
  // Raw until src/db/types.ts is regenerated with the column (db:commit of the upkeep section).
  sql<number>`no_show_grace_minutes`.as('noShowGraceMinutes'),
  'brandPrimaryColour',
  'brandSecondaryColour',
  'brandLogoUrl',
  'updatedAt',
] as const;

/** What the json column holds (the database checks its shape). */
type Stored = { operatingHours: WeeklyHours };

export function findSettings(db: TenantDb): Promise<Settings | undefined> {
  return db.selectFrom('appPublic.clinicSettings').select(columns).$narrowType<Stored>().executeTakeFirst();
}

/** Only the fields given change (Kysely leaves out a column whose value is undefined). */
export function updateSettings(db: TenantDb, change: SettingsChange): Promise<Settings | undefined> {
  return db
    .updateTable('appPublic.clinicSettings')
    .set({
      currency: change.currency,
      taxRate: change.taxRate,
      appointmentSlotMinutes: change.appointmentSlotMinutes,
      sessionIdleMinutes: change.sessionIdleMinutes,
      requireTwoFactor: change.requireTwoFactor,
      operatingHours: change.operatingHours && JSON.stringify(change.operatingHours),
      retentionDays: change.retentionDays,
      // Spread untyped until src/db/types.ts knows the column (as above).
      ...({ noShowGraceMinutes: change.noShowGraceMinutes } as object),
      brandPrimaryColour: change.brandPrimaryColour,
      brandSecondaryColour: change.brandSecondaryColour,
      brandLogoUrl: change.brandLogoUrl,
    })
    .returning(columns)
    .$narrowType<Stored>()
    .executeTakeFirst();
}
