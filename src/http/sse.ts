// Server-Sent Events from a Fastify route (a waiting-room display's live queue): the response is a
// stream the route writes events to for as long as the client stays, with
//  - the headers a stream needs through proxies (no buffering, no caching) on top of the API's own:
//    the stream is sent with reply.send(), not hijacked, so every onSend hook runs for it too
//    (`cache-control: no-store`, `x-request-id`, CORS) and helmet's headers are there already;
//  - a comment line every `heartbeatMs` (15 s), so that proxies and load balancers that close idle
//    connections keep it open, and a client notices a dead one;
//  - a bound on what one connection may hold in memory: a client that stops reading (a frozen
//    tab, a stalled network) is dropped once `maxBufferedBytes` wait for it, rather than every
//    event since being kept for it;
//  - cleanup callbacks (unsubscribe, timers) that run once, whichever way the stream ends: the
//    client goes away (its socket closes), it is dropped, the route closes it, or the app closes
//    (src/plugins/event-streams.ts ends every open stream before the server stops, so a shutdown
//    never waits on a display that would never hang up).
// Once the 200 and its headers are out, a failure can no longer be a problem+json answer: a route
// sends what it must read before it opens the stream, and ends the stream on a later failure.
import { PassThrough } from 'node:stream';
import type { FastifyBaseLogger, FastifyReply } from 'fastify';
import { z } from 'zod';

export const EVENT_STREAM_MEDIA_TYPE = 'text/event-stream';

export interface EventStreamOptions {
  /** Interval of the keep-alive comment. */
  heartbeatMs?: number;
  /** Bytes written but not yet taken by the client above which the client is dropped. */
  maxBufferedBytes?: number;
  /** The reconnection delay the client is told to use (the `retry:` field). */
  retryMs?: number;
}

export const EVENT_STREAM_DEFAULTS: Required<EventStreamOptions> = { heartbeatMs: 15_000, maxBufferedBytes: 256 * 1024, retryMs: 3_000 };

/** How long close() lets a client take what is still buffered before the connection is cut. */
const CLOSE_GRACE_MS = 1_000;

/** Event names and ids go into one line of the stream: no line breaks, nothing a client would misparse. */
const EVENT_NAME = /^[A-Za-z][\w.-]{0,63}$/;
const EVENT_ID = /^[\w.:-]{1,128}$/;

/**
 * One open event stream. `send` writes an event whose data is JSON; `onClose` registers cleanup
 * that runs once when the stream ends, however it ends (at once if it has ended already).
 */
export class EventStream {
  readonly #body = new PassThrough();
  readonly #reply: FastifyReply;
  readonly #log: FastifyBaseLogger;
  readonly #maxBufferedBytes: number;
  readonly #heartbeat: NodeJS.Timeout;
  readonly #gone: Promise<void>;
  #cleanups: (() => void)[] = [];
  #closed = false;

  /** Use reply.eventStream() (src/plugins/event-streams.ts), which also ends it when the app closes. */
  constructor(reply: FastifyReply, options: EventStreamOptions = {}) {
    const { heartbeatMs, maxBufferedBytes, retryMs } = { ...EVENT_STREAM_DEFAULTS, ...options };
    this.#reply = reply;
    this.#log = reply.log;
    this.#maxBufferedBytes = maxBufferedBytes;
    this.#gone = new Promise((resolve) => this.#body.once('close', resolve));
    this.#body.once('close', () => this.#cleanUp());
    // The client went away: Fastify destroys the body then too; this covers a body already ended.
    reply.raw.once('close', () => this.#body.destroy());
    reply
      .code(200)
      .header('content-type', `${EVENT_STREAM_MEDIA_TYPE}; charset=utf-8`)
      .header('cache-control', 'no-store')
      // nginx buffers responses unless told not to; a buffered event reaches no display.
      .header('x-accel-buffering', 'no')
      .header('connection', 'keep-alive');
    // The first bytes put the status and headers on the wire at once (a stream has no length to wait for).
    this.#write(`retry: ${retryMs}\n\n`);
    this.#heartbeat = setInterval(() => this.#write(': heartbeat\n\n'), heartbeatMs);
    reply.send(this.#body);
  }

  /** Takes no more events: ended, dropped, or its client gone (its cleanups may still be under way after close()). */
  get closed(): boolean {
    return this.#closed || this.#body.writableEnded;
  }

  /** Writes one event (`data` as JSON, on one line). False when the stream has ended (or just dropped its client). */
  send(event: string, data: unknown, id?: string): boolean {
    if (!EVENT_NAME.test(event)) throw new Error(`event stream: ${JSON.stringify(event)} is not an event name`);
    if (id !== undefined && !EVENT_ID.test(id)) throw new Error(`event stream: ${JSON.stringify(id)} is not an event id`);
    const json = JSON.stringify(data);
    if (json === undefined) throw new Error('event stream: the data of an event must be JSON');
    return this.#write(`${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${json}\n\n`);
  }

  onClose(cleanup: () => void): void {
    if (this.#closed) this.#run(cleanup);
    else this.#cleanups.push(cleanup);
  }

  /** Ends the stream: what is buffered goes out first, for a moment at most. Resolves once the cleanups have run. */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#body.end();
      const cut = setTimeout(() => this.#drop('it did not take the end of the stream in time'), CLOSE_GRACE_MS);
      void this.#gone.then(() => clearTimeout(cut));
    }
    return this.#gone;
  }

  #write(frame: string): boolean {
    if (this.closed) return false;
    const buffered = this.#body.writableLength + this.#body.readableLength + this.#reply.raw.writableLength;
    if (buffered + Buffer.byteLength(frame) > this.#maxBufferedBytes) {
      this.#drop(`${buffered} bytes are waiting for it`);
      return false;
    }
    this.#body.write(frame);
    return true;
  }

  /** Cuts the connection: a client that does not read is not waited for. */
  #drop(reason: string): void {
    if (this.#closed) return;
    this.#log.warn({ reason }, 'event stream: client dropped');
    this.#reply.raw.destroy();
    this.#body.destroy();
    this.#cleanUp();
  }

  #cleanUp(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartbeat);
    const cleanups = this.#cleanups;
    this.#cleanups = [];
    for (const cleanup of cleanups) this.#run(cleanup);
  }

  #run(cleanup: () => void): void {
    try {
      cleanup();
    } catch (error) {
      this.#log.error({ err: error }, 'event stream: a cleanup failed');
    }
  }
}

/**
 * The OpenAPI response of a route answering an event stream, for its `schema.response[200]`. The
 * `text/event-stream` schema is that of one event, `{ event, id?, data }` (data parsed from its
 * JSON), one variant per event name: what OpenAPI 3.2 calls the `itemSchema` of a sequential
 * media type, which 3.1 cannot say otherwise. Heartbeat comments and `retry:` lines carry no
 * event. test/helpers/contract.ts holds every event a test receives to it.
 */
export function eventStreamResponse(description: string, events: Record<string, z.ZodType>) {
  const variants = Object.entries(events).map(([event, data]) => z.strictObject({ event: z.literal(event), id: z.string().optional(), data }));
  if (variants.length === 0) throw new Error('eventStreamResponse: name at least one event');
  const schema = variants.length === 1 ? variants[0]! : z.union(variants);
  return { description, content: { [EVENT_STREAM_MEDIA_TYPE]: { schema } } };
}
