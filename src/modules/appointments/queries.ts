// One statement each, no clinic filter: RLS scopes every statement, and the triggers on
// app_public.appointments decide what a booking or a change may be (slots, transitions, the
// portal's limits); the exclusion constraint refuses double bookings.
import { sql, type RawBuilder } from 'kysely';
import type { TenantDb } from '../../db/tenant.ts';
import type { Appointment, ListQuery } from './schemas.ts';

const columns = ['id', 'patientId', 'doctorId', 'startsAt', 'endsAt', 'status', 'reason', 'cancellationReason', 'bookedBy', 'createdAt', 'updatedAt'] as const;

/**
 * The end of the slot starting at `startsAt`: one appointment_slot_minutes later (15 for a clinic
 * without settings, as app_private.doctor_schedule counts). The trigger refuses any other end.
 */
const slotEnd = (startsAt: string): RawBuilder<Date> =>
  sql<Date>`${startsAt}::timestamptz + make_interval(mins => coalesce((select s.appointment_slot_minutes from app_public.clinic_settings s), 15))`;

export function listAppointments(db: TenantDb, query: ListQuery, limit: number): Promise<Appointment[]> {
  let q = db.selectFrom('appPublic.appointments').select(columns).orderBy('startsAt').orderBy('id').limit(limit);
  if (query.doctorId) q = q.where('doctorId', '=', query.doctorId);
  if (query.patientId) q = q.where('patientId', '=', query.patientId);
  if (query.status) q = q.where('status', '=', query.status);
  if (query.from) q = q.where('startsAt', '>=', new Date(query.from));
  if (query.to) q = q.where('startsAt', '<', new Date(query.to));
  const after = query.after;
  if (after) q = q.where((eb) => eb(eb.refTuple('startsAt', 'id'), '>', eb.tuple(new Date(after[0]), after[1])));
  return q.execute() as Promise<Appointment[]>;
}

export function findAppointment(db: TenantDb, id: string): Promise<Appointment | undefined> {
  return db.selectFrom('appPublic.appointments').select(columns).where('id', '=', id).executeTakeFirst() as Promise<Appointment | undefined>;
}

export interface Booking {
  /** Undefined: the caller's own patient record (the portal), from the database. */
  patientId: string | undefined;
  doctorId: string;
  startsAt: string;
  reason: string | undefined;
}

export function bookAppointment(db: TenantDb, booking: Booking): Promise<Appointment> {
  return db
    .insertInto('appPublic.appointments')
    .values({
      patientId: booking.patientId ?? sql<string>`app_public.current_patient_id()`,
      doctorId: booking.doctorId,
      startsAt: booking.startsAt,
      endsAt: slotEnd(booking.startsAt),
      reason: booking.reason ?? null,
    })
    .returning(columns)
    .executeTakeFirstOrThrow() as Promise<Appointment>;
}

/**
 * Links a pending follow-up of the appointment's patient to it (a definer function: the receptionist
 * cannot see follow-ups); false for an unknown, another clinic's or patient's, closed or linked one alike.
 */
export async function linkFollowUp(db: TenantDb, followUpId: string, appointmentId: string): Promise<boolean> {
  const { rows } = await sql<{ linked: boolean }>`select app_public.link_follow_up_appointment(${followUpId}, ${appointmentId}) as linked`.execute(db);
  return rows[0]?.linked === true;
}

/** Moves a booking to the slot at `startsAt` (of another doctor when given): one statement, the new slot or nothing. */
export function rescheduleAppointment(db: TenantDb, id: string, startsAt: string, doctorId: string | undefined): Promise<Appointment | undefined> {
  return db
    .updateTable('appPublic.appointments')
    .set({ startsAt, endsAt: slotEnd(startsAt), ...(doctorId ? { doctorId } : {}) })
    .where('id', '=', id)
    .returning(columns)
    .executeTakeFirst() as Promise<Appointment | undefined>;
}

export type Outcome = 'cancelled' | 'completed' | 'no_show';

export function setAppointmentStatus(db: TenantDb, id: string, status: Outcome, cancellationReason?: string): Promise<Appointment | undefined> {
  return db
    .updateTable('appPublic.appointments')
    .set({ status, ...(cancellationReason ? { cancellationReason } : {}) })
    .where('id', '=', id)
    .returning(columns)
    .executeTakeFirst() as Promise<Appointment | undefined>;
}
