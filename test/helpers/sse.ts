// Server-Sent Events as a client reads them, written from the WHATWG HTML "event stream"
// interpretation rules, independently of src/http/sse.ts: `parseEventStream` for a whole body (the
// contract check), and `openEventStream` for a live stream over a real socket (inject collects a
// response until it ends, and an event stream does not end).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';

export interface ReceivedEvent {
  /** `message` when the block names none. */
  event: string;
  /** The lines of `data:` fields, joined by a newline. */
  data: string;
  id?: string;
}

export interface ParsedStream {
  events: ReceivedEvent[];
  /** Comment lines (`: heartbeat`), without the colon and the one space after it. */
  comments: string[];
  /** The last `retry:` given. */
  retry: number | undefined;
}

/** Blocks are separated by a blank line; a block that is not finished yet (no blank line after it) is left out. */
export function parseEventStream(text: string): ParsedStream {
  const parsed: ParsedStream = { events: [], comments: [], retry: undefined };
  const blocks = text.replace(/\r\n?/g, '\n').split('\n\n');
  blocks.pop();
  for (const block of blocks) {
    let event = 'message';
    let id: string | undefined;
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) {
        parsed.comments.push(line.slice(1).replace(/^ /, ''));
        continue;
      }
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
      else if (field === 'id') id = value;
      else if (field === 'retry' && /^\d+$/.test(value)) parsed.retry = Number(value);
    }
    // A block without data dispatches no event.
    if (data.length > 0) parsed.events.push({ event, data: data.join('\n'), ...(id === undefined ? {} : { id }) });
  }
  return parsed;
}

export interface OpenStream {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Everything received so far, as text. */
  text(): string;
  parsed(): ParsedStream;
  /** Resolves when the stream holds `count` events (or `count` comments), rejects if it ends first. */
  events(count: number): Promise<ReceivedEvent[]>;
  comments(count: number): Promise<string[]>;
  /** Resolves when the server has ended the response or the connection (a paused client notices once it reads again). */
  ended: Promise<void>;
  /** A paused client starts reading. */
  resume(): void;
  /** Hangs up: the request is destroyed, as when a display is switched off. */
  close(): Promise<void>;
}

/** The app listening on a free port of 127.0.0.1 (once), and its base URL. */
export async function listening(app: FastifyInstance): Promise<string> {
  if (!app.server.listening) await app.listen({ port: 0, host: '127.0.0.1' });
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}

/**
 * GET `path` over a real socket; resolves once the status and headers are in. The body of an
 * answer that is not an event stream (a 401 problem) is read whole before it resolves.
 * `paused`: the client never reads the body (a client that has stopped reading).
 */
export async function openEventStream(app: FastifyInstance, path: string, headers: Record<string, string> = {}, { paused = false } = {}): Promise<OpenStream> {
  const base = await listening(app);
  const request = http.get(`${base}${path}`, { headers: { accept: 'text/event-stream', ...headers }, agent: false });
  const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
    request.once('response', resolve);
    request.once('error', reject);
  });
  request.on('error', () => {});
  let text = '';
  const waiters = new Set<() => void>();
  const ended = new Promise<void>((resolve) => {
    response.once('close', resolve);
    response.once('end', resolve);
  });
  void ended.then(() => {
    for (const waiter of waiters) waiter();
  });
  let isEnded = false;
  void ended.then(() => {
    isEnded = true;
  });
  const read = () => {
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => {
      text += chunk;
      for (const waiter of waiters) waiter();
    });
  };
  if (!paused) read();
  const until = <T>(take: () => T | undefined, what: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const check = () => {
        const value = take();
        if (value !== undefined) {
          waiters.delete(check);
          resolve(value);
        } else if (isEnded) {
          waiters.delete(check);
          reject(new Error(`the stream ended before ${what}; received: ${JSON.stringify(text)}`));
        }
      };
      waiters.add(check);
      check();
    });
  const stream: OpenStream = {
    status: response.statusCode ?? 0,
    headers: response.headers,
    text: () => text,
    parsed: () => parseEventStream(text),
    events: (count) =>
      until(() => {
        const { events } = parseEventStream(text);
        return events.length >= count ? events.slice(0, count) : undefined;
      }, `${count} events`),
    comments: (count) =>
      until(() => {
        const { comments } = parseEventStream(text);
        return comments.length >= count ? comments.slice(0, count) : undefined;
      }, `${count} comments`),
    ended,
    resume: () => {
      if (paused) read();
    },
    close: async () => {
      request.destroy();
      await ended;
    },
  };
  if (!String(response.headers['content-type']).startsWith('text/event-stream') && !paused) await ended;
  return stream;
}
