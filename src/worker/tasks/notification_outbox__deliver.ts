// Delivers one outbox row (queued by the outbox's insert trigger, job key per row). Sends once:
// a row already sent is left alone, so a second run of the job (a retry, a resend, a duplicate)
// sends nothing. A transport failure is recorded on the row and rethrown, so graphile-worker
// retries with its backoff; the last attempt marks the row failed with the reason. A row that can
// never make a message (unknown kind, bad payload, its appointment gone or no longer booked) is
// failed at once, without retries. A suspended clinic's messages wait, put back every 15 minutes.
// At least once: a crash between the send and its record sends again (the SMTP Message-ID and the
// webhook's Idempotency-Key are the row's, for receivers to recognise the copy).
import { z } from 'zod';
import type { TenantDb, TransactionOptions } from '../../db/tenant.ts';
import { defineSystemTask, type JobRun, type WorkerDeps } from '../task.ts';
import { DeliveryError, UndeliverableError } from '../../notifications/errors.ts';
import type { OutboxMessage, RenderedMessage } from '../../notifications/message.ts';
import { markAttemptFailed, markSent, readAppointment, readForDelivery } from '../../notifications/outbox.ts';
import { APPOINTMENT_KINDS, renderMessage } from '../../notifications/render.ts';
import { createTransports, type Transports } from '../../notifications/transport.ts';

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

export const notificationOutboxDeliver = defineSystemTask({
  name: TASK,
  payload: z.object({ outboxId: z.number().int().positive() }),
  run: async ({ outboxId }, job) => {
    // The failure is thrown once its attempt is committed: graphile-worker then retries the job.
    const failure = await job.withSystem((db) => deliver(db, outboxId, job), deliveryTransaction(job.deps));
    if (failure) throw failure;
  },
});

/**
 * One transaction holds the row's lock from reading it to recording the outcome, across the send:
 * a second delivery of the row (a resend racing a retry) waits for it and then finds it sent, and
 * the reminders' withdrawal of a moved appointment's messages leaves a row being sent alone (it
 * skips locked rows). So the transaction may sit idle, and others wait for it, as long as a send.
 */
function deliveryTransaction(deps: WorkerDeps): TransactionOptions {
  // An SMTP send may take the timeout to connect, to be greeted and for a reply.
  const longestSend = 3 * deps.config.notifications.timeoutMs;
  return { idleInTransactionTimeoutMs: longestSend + 5000, lockTimeoutMs: longestSend + 5000 };
}

/** Sends the row unless sent; the transport's error once recorded on the row, else undefined. */
async function deliver(db: TenantDb, outboxId: number, job: JobRun): Promise<Error | undefined> {
  const message = await readForDelivery(db, outboxId);
  if (!message || message.status === 'sent') return undefined;
  if (message.clinicSuspended) {
    await holdBack(outboxId, job);
    return undefined;
  }
  const rendered = await renderOrFail(db, message);
  if (!rendered) return undefined;
  try {
    await transports(job.deps)[message.channel].send(rendered);
  } catch (error) {
    const reason = error instanceof DeliveryError ? error.reason : 'transport error';
    await markAttemptFailed(db, outboxId, reason, job.attempts >= job.maxAttempts);
    return error instanceof Error ? error : new DeliveryError(reason);
  }
  await markSent(db, outboxId);
  return undefined;
}

/** As the core holds a suspended clinic's tenant jobs: the same job, looked at again in 15 minutes. */
async function holdBack(outboxId: number, job: JobRun): Promise<void> {
  const runAt = new Date(job.deps.now().getTime() + SUSPENDED_RETRY_MS);
  await job.addJob(TASK, { outboxId }, { runAt, jobKey: job.key ?? undefined, maxAttempts: job.maxAttempts });
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
