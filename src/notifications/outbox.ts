// The outbox as delivery reads and updates it: the worker-only functions of migrations/current.sql
// (section notify), called on the worker's tenant pool as app_user. Raw SQL: their results are not
// in the generated Kysely types.
import { sql } from 'kysely';
import type { TenantDb } from '../db/tenant.ts';
import type { AppointmentFacts, OutboxMessage } from './message.ts';

/**
 * Claims the row for `leaseMs` when it is pending (status 'sending': no other delivery takes it
 * meanwhile) and returns it with what its templates need, `claimed` saying whether it is ours to
 * send; undefined when it no longer exists. The claim holds once the transaction commits.
 */
export async function claimForDelivery(db: TenantDb, outboxId: number, leaseMs: number): Promise<OutboxMessage | undefined> {
  const { rows } = await sql<OutboxMessage & { id: string }>`select * from app_hidden.notification_claim(${outboxId}, ${leaseMs})`.execute(db);
  // bigint comes back as text: the id is a safe integer (identity from 1).
  return rows[0] && { ...rows[0], id: Number(rows[0].id) };
}

/** The appointment the message tells, in the message's own clinic; undefined when there is none. */
export async function readAppointment(db: TenantDb, outboxId: number): Promise<AppointmentFacts | undefined> {
  const { rows } = await sql<{ startsAt: Date; doctorName: string; status: string }>`
    select * from app_hidden.notification_appointment(${outboxId})`.execute(db);
  return rows[0];
}

export async function markSent(db: TenantDb, outboxId: number): Promise<void> {
  await sql`select app_hidden.notification_sent(${outboxId})`.execute(db);
}

/** One failed attempt with its reason; `final`: the row is failed for good (until an operator resends it). */
export async function markAttemptFailed(db: TenantDb, outboxId: number, reason: string, final: boolean): Promise<void> {
  await sql`select app_hidden.notification_attempt_failed(${outboxId}, ${reason}, ${final})`.execute(db);
}
