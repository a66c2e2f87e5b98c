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
  'noShowGraceMinutes',
  'brandPrimaryColour',
  'brandSecondaryColour',
  'brandLogoUrl',
  'notificationSenderName',
  'language',
  'updatedAt',
] as const;

/** What the json column and the language hold (the database checks their shape and values). */
type Stored = { operatingHours: WeeklyHours; language: Settings['language'] };

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
      noShowGraceMinutes: change.noShowGraceMinutes,
      brandPrimaryColour: change.brandPrimaryColour,
      brandSecondaryColour: change.brandSecondaryColour,
      brandLogoUrl: change.brandLogoUrl,
      notificationSenderName: change.notificationSenderName,
      language: change.language,
    })
    .returning(columns)
    .$narrowType<Stored>()
    .executeTakeFirst();
}
