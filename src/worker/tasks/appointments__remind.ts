// One appointment confirmation or reminder (docs/operations.md, Appointment reminders). Booking,
// moving and cancelling queue, replace and remove these jobs in the database (triggers on
// app_public.appointments); this only turns a due job into the patient's outbox row, in one tenant
// transaction, through app_hidden.write_appointment_reminder, which writes nothing unless the
// appointment is still booked at the start the job was queued for, and nothing twice.
import { sql } from 'kysely';
import { z } from 'zod';
import type { TenantDb } from '../../db/tenant.ts';
import { defineTenantTask } from '../task.ts';

export const REMINDER_WINDOWS = ['confirmation', '24h', '2h'] as const;
export type ReminderWindow = (typeof REMINDER_WINDOWS)[number];

export interface Reminder {
  appointmentId: string;
  window: ReminderWindow;
  /** The start the job was queued for, as the trigger wrote it (UTC). */
  startsAt: string;
}

/** The outbox row written for the reminder, or null when nothing was (slot no longer held, already written, patient not reachable). */
export async function writeAppointmentReminder(db: TenantDb, reminder: Reminder): Promise<string | null> {
  const { rows } = await sql<{ outboxId: string | null }>`
    select app_hidden.write_appointment_reminder(${reminder.appointmentId}, ${reminder.window}, ${reminder.startsAt}::timestamptz) as outbox_id
  `.execute(db);
  return rows[0]?.outboxId ?? null;
}

export const appointmentsRemind = defineTenantTask({
  name: 'appointments__remind',
  payload: z.object({
    clinicId: z.uuid(),
    appointmentId: z.uuid(),
    window: z.enum(REMINDER_WINDOWS),
    startsAt: z.iso.datetime(),
  }),
  run: async ({ appointmentId, window, startsAt }, job) => {
    const outboxId = await job.withTenant((db) => writeAppointmentReminder(db, { appointmentId, window, startsAt }));
    // Ids only: the log is as far from health data as the payload.
    job.deps.log(outboxId === null ? 'appointment reminder: nothing to send' : 'appointment reminder written', {
      jobId: job.id,
      appointmentId,
      window,
      outboxId,
    });
  },
});
