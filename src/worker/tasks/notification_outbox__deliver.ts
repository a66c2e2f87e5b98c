// Delivers one outbox row (queued by the outbox's insert trigger, job key per row). Sends once:
// a row already sent is left alone, so a second run of the job (a retry, a resend, a duplicate)
// sends nothing. A transport failure is recorded on the row and rethrown, so graphile-worker
// retries with its backoff; the last attempt marks the row failed with the reason. A row that can
// never make a message (unknown kind, bad payload, its appointment gone or no longer booked) is
// failed at once, without retries. A suspended clinic's messages wait, put back every 15 minutes.
// At least once: a crash between the send and its record sends again (the SMTP Message-ID and the
// webhook's Idempotency-Key are the row's, for receivers to recognise the copy).
import { z } from 'zod';
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
    const message = await job.withSystem((db) => readForDelivery(db, outboxId));
    if (!message || message.status === 'sent') return;
    if (message.clinicSuspended) return holdBack(outboxId, job);
    const rendered = await renderOrFail(message, job);
    if (!rendered) return;
    try {
      await transports(job.deps)[message.channel].send(rendered);
    } catch (error) {
      const reason = error instanceof DeliveryError ? error.reason : 'transport error';
      await job.withSystem((db) => markAttemptFailed(db, outboxId, reason, job.attempts >= job.maxAttempts));
      throw error;
    }
    await job.withSystem((db) => markSent(db, outboxId));
  },
});

/** As the core holds a suspended clinic's tenant jobs: the same job, looked at again in 15 minutes. */
async function holdBack(outboxId: number, job: JobRun): Promise<void> {
  const runAt = new Date(job.deps.now().getTime() + SUSPENDED_RETRY_MS);
  await job.addJob(TASK, { outboxId }, { runAt, jobKey: job.key ?? undefined, maxAttempts: job.maxAttempts });
}

/** The message to send, or undefined once a row that can never make one is marked failed (no retry). */
async function renderOrFail(message: OutboxMessage, job: JobRun): Promise<RenderedMessage | undefined> {
  try {
    const appointment = APPOINTMENT_KINDS.includes(message.kind) ? await job.withSystem((db) => readAppointment(db, message.id)) : undefined;
    return renderMessage(message, appointment);
  } catch (error) {
    if (!(error instanceof UndeliverableError)) throw error;
    await job.withSystem((db) => markAttemptFailed(db, message.id, error.reason, true));
    return undefined;
  }
}
