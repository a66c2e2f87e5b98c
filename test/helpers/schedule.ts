// Two clinics whose doctors can be booked: clinics A and B on the enterprise plan (no seat or
// patient limit in the way), one actor per role in each (actors.ts: doctors in all day), and the
// clinics open on Mondays 09:00–12:00 UTC in 30-minute slots. 2027-02-01 is such a Monday.
import { createActors } from './actors.ts';
import { createClinics, type TestDatabase } from './db.ts';

export const BOOKABLE_MONDAY = '2027-02-01';

/** `HH:MM` on BOOKABLE_MONDAY, as an ISO timestamp. */
export const onBookableMonday = (time: string): string => `${BOOKABLE_MONDAY}T${time}:00.000Z`;

export async function bookableClinics(db: TestDatabase): Promise<{ a: string; b: string }> {
  const clinics = await createClinics(db);
  await db.admin.query(`update app_public.clinics set plan = 'enterprise'`);
  await createActors(db, [clinics.a, clinics.b]);
  for (const clinic of [clinics.a, clinics.b]) {
    await db.admin.query(`insert into app_public.clinic_settings (clinic_id, appointment_slot_minutes, operating_hours) values ($1, 30, $2)`, [
      clinic,
      { mon: [['09:00', '12:00']] },
    ]);
  }
  return clinics;
}
