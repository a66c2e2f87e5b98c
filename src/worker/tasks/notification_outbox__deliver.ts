// Delivers one outbox row (queued by the outbox's insert trigger, job key per row), with no
// transaction open across the send:
//  1. one short transaction claims the row (status 'sending' under a lease longer than the send's
//     deadline) and renders it; a row not ours to send (sent, failed, being sent by another run of
//     the job, gone) is left alone, so a retry, a resend or a duplicate job sends nothing twice;
//  2. the transport sends within one overall deadline (NOTIFY_TIMEOUT_MS), no transaction open;
//  3. a second short transaction records the outcome: sent, or a failed attempt with its reason
//     (rethrown, so graphile-worker retries with its backoff; the last attempt marks the row failed).
// A row that can never make a message (unknown kind, bad payload, its appointment gone or no longer
// booked) is failed at once, without retries. A suspended clinic's messages wait, put back every 15
// minutes, flagged for the reactivation to resume at once.
// At least once: a worker that dies between the send and its record leaves the row 'sending' until
// its lease ends; the job's next attempt then sends again (the SMTP Message-ID and the webhook's
// Idempotency-Key are the row's, for receivers to recognise the copy).
import { z } from 'zod';
import type { TenantDb } from '../../db/tenant.ts';
import { DeliveryError, UndeliverableError } from '../../notifications/errors.ts';
import type { OutboxMessage, RenderedMessage } from '../../notifications/message.ts';
import { claimForDelivery, markAttemptFailed, markSent, readAppointment } from '../../notifications/outbox.ts';
import { APPOINTMENT_KINDS, renderMessage } from '../../notifications/render.ts';
import { createTransports, sendWithin, type Transports } from '../../notifications/transport.ts';
import { defineSystemTask, HELD_FOR_SUSPENSION, type JobRun, type WorkerDeps } from '../task.ts';

/** One set of transports per worker (its configuration), made on first use. */
const transportsOf = new WeakMap<WorkerDeps, Transports>();

function transports(deps: WorkerDeps): Transports {
  let made = transportsOf.get(deps);
  if (!made) {
    made = createTransports(deps.config.notifications, deps.log);
    transportsOf.set(deps, made);
  }
  return made;
}

const TASK = 'notification_outbox__deliver';
const SUSPENDED_RETRY_MS = 15 * 60 * 1000;
/** A claim outlives the send's deadline by this much: time to record the outcome. */
const LEASE_MARGIN_MS = 60_000;

export const notificationOutboxDeliver = defineSystemTask({
  name: TASK,
  payload: z.object({ outboxId: z.number().int().positive() }),
  run: async ({ outboxId }, job) => {
    const { timeoutMs } = job.deps.config.notifications;
    const claimed = await job.withSystem((db) => claimAndRender(db, outboxId, job, timeoutMs + LEASE_MARGIN_MS));
    if (!claimed) return;
    const failure = await sendOutcome(job.deps, claimed, timeoutMs);
    await job.withSystem((db) => (failure ? markAttemptFailed(db, outboxId, failure.reason, job.attempts >= job.maxAttempts) : markSent(db, outboxId)));
    // Thrown once its attempt is committed: graphile-worker then retries the job.
    if (failure) throw failure;
  },
});

/** The claimed row's message; undefined when there is nothing to send now. */
async function claimAndRender(db: TenantDb, outboxId: number, job: JobRun, leaseMs: number): Promise<RenderedMessage | undefined> {
  const message = await claimForDelivery(db, outboxId, leaseMs);
  if (message?.claimed) return renderOrFail(db, message);
  // Sent, failed or gone: nothing left to do.
  if (!message || (message.status !== 'pending' && message.status !== 'sending')) return undefined;
  if (message.clinicSuspended) {
    await lookAgain(outboxId, job, new Date(job.deps.now().getTime() + SUSPENDED_RETRY_MS), [HELD_FOR_SUSPENSION]);
  } else if (message.sendingUntil) {
    // Another delivery holds it (a duplicate job, or this job's attempt whose record was lost): if
    // that one never records its outcome, the row must not stay 'sending' with no job to finish it.
    await lookAgain(outboxId, job, message.sendingUntil);
  }
  return undefined;
}

/** The transport's error as a DeliveryError, or undefined once the message is handed over. */
async function sendOutcome(deps: WorkerDeps, message: RenderedMessage, timeoutMs: number): Promise<DeliveryError | undefined> {
  try {
    await sendWithin(transports(deps)[message.channel], message, timeoutMs);
    return undefined;
  } catch (error) {
    // Only a DeliveryError's reason is ours; another error's message may quote a URL or an address.
    return error instanceof DeliveryError ? error : new DeliveryError('transport error', { cause: error });
  }
}

/**
 * The same job again at `runAt` (as the core holds a suspended clinic's tenant jobs): flagged
 * HELD_FOR_SUSPENSION, the clinic's reactivation makes it due at once.
 */
async function lookAgain(outboxId: number, job: JobRun, runAt: Date, flags?: string[]): Promise<void> {
  await job.addJob(TASK, { outboxId }, { runAt, jobKey: job.key ?? undefined, maxAttempts: job.maxAttempts, flags });
}

/** The message to send, or undefined once a row that can never make one is marked failed (no retry). */
async function renderOrFail(db: TenantDb, message: OutboxMessage): Promise<RenderedMessage | undefined> {
  try {
    const appointment = APPOINTMENT_KINDS.includes(message.kind) ? await readAppointment(db, message.id) : undefined;
    return renderMessage(message, appointment);
  } catch (error) {
    if (!(error instanceof UndeliverableError)) throw error;
    await markAttemptFailed(db, message.id, error.reason, true);
    return undefined;
  }
}
