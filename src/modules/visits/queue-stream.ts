// A waiting-room display's live queue (docs/architecture.md, The queue stream): notifications say
// only which clinic, doctor and visit changed; each one that concerns the stream's doctor makes the
// stream read the whole queue again under its own caller's tenant context, after checking that
// caller again, so RLS decides every row it sends. Bursts are coalesced: one re-read per window,
// at most one running and one waiting, and the last state is always sent.
import type { EventStream } from '../../http/sse.ts';
import type { NotificationEvent } from '../../db/notifications.ts';

/** How long the first notification of a burst waits for the rest of it. */
export const COALESCE_MS = 100;

export interface QueueFollower {
  /** The listener's handler: a notification about this clinic's doctor, or a resync, schedules a re-read. */
  onNotification(event: NotificationEvent<{ clinicId: string; doctorId: string }>): void;
  /** Re-reads go to this stream from now on (the notifications heard before it opened wait for it). */
  attach(stream: EventStream): void;
}

/**
 * `reread` checks the caller and reads the queue, or throws: the stream then ends (the client
 * reconnects and meets the refusal as a problem). The returned data is sent as a `queue` event.
 */
export function followQueue(
  clinicId: string,
  doctorId: string,
  reread: () => Promise<unknown>,
  log: { warn(details: object, message: string): void },
): QueueFollower {
  let stream: EventStream | undefined;
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let again = false;

  const schedule = () => {
    if (stream?.closed) return;
    if (running) {
      again = true;
      return;
    }
    timer ??= setTimeout(run, COALESCE_MS);
  };

  const run = async () => {
    timer = undefined;
    // Heard while the first snapshot was being read (it may have missed it): re-read once the stream is open.
    if (!stream) {
      again = true;
      return;
    }
    if (stream.closed) return;
    running = true;
    try {
      const snapshot = await reread();
      stream.send('queue', snapshot);
    } catch (error) {
      log.warn({ err: error }, 'queue stream: ended on a failed re-check or re-read');
      await stream.close();
    } finally {
      running = false;
    }
    if (again) {
      again = false;
      schedule();
    }
  };

  return {
    onNotification(event) {
      if (event.kind === 'resync' || (event.payload.clinicId === clinicId && event.payload.doctorId === doctorId)) schedule();
    },
    attach(opened) {
      stream = opened;
      opened.onClose(() => clearTimeout(timer));
      if (again) {
        again = false;
        schedule();
      }
    },
  };
}
