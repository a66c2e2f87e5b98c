// One statement each, no clinic filter: RLS scopes them, and app_public.doctor_free_slots filters by
// the context's clinic itself.
import { sql } from 'kysely';
import type { TenantDb } from '../../db/tenant.ts';
import type { Slot, TimeOff, TimeOffBody, TimeOffListQuery } from './schemas.ts';

const timeOffColumns = ['id', 'doctorId', 'startsAt', 'endsAt', 'reason', 'createdAt', 'updatedAt'] as const;

/** Whether the id is a doctor's membership the caller can see (another clinic's: no). */
export async function isDoctor(db: TenantDb, memberId: string): Promise<boolean> {
  const found = await db.selectFrom('appPublic.clinicMembers').select('id').where('id', '=', memberId).where('role', '=', 'doctor').executeTakeFirst();
  return found !== undefined;
}

export function freeSlots(db: TenantDb, doctorId: string, from: string, to: string): Promise<Slot[]> {
  return sql<Slot>`select starts_at, ends_at from app_public.doctor_free_slots(${doctorId}, ${from}::date, ${to}::date)`.execute(db).then((r) => r.rows);
}

export function listTimeOff(db: TenantDb, doctorId: string, query: TimeOffListQuery, limit: number): Promise<TimeOff[]> {
  let q = db.selectFrom('appPublic.doctorTimeOff').select(timeOffColumns).where('doctorId', '=', doctorId).orderBy('startsAt').orderBy('id').limit(limit);
  if (query.from) q = q.where('endsAt', '>', new Date(query.from));
  if (query.to) q = q.where('startsAt', '<', new Date(query.to));
  const after = query.after;
  if (after) q = q.where((eb) => eb(eb.refTuple('startsAt', 'id'), '>', eb.tuple(new Date(after[0]), after[1])));
  return q.execute();
}

export function insertTimeOff(db: TenantDb, doctorId: string, input: TimeOffBody): Promise<TimeOff> {
  return db
    .insertInto('appPublic.doctorTimeOff')
    .values({ doctorId, startsAt: input.startsAt, endsAt: input.endsAt, reason: input.reason ?? null })
    .returning(timeOffColumns)
    .executeTakeFirstOrThrow();
}

export async function deleteTimeOff(db: TenantDb, id: string): Promise<boolean> {
  const result = await db.deleteFrom('appPublic.doctorTimeOff').where('id', '=', id).executeTakeFirst();
  return Number(result.numDeletedRows) === 1;
}
