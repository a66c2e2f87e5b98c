// Postgres LISTEN/NOTIFY for the whole process: ONE dedicated listening connection, whatever the
// number of subscribers (a waiting-room display each), with the fan-out to them in memory.
//
// The connection is not one of the request pool's: a LISTEN lasts for the session, and a pooled
// connection goes back to serve other requests (withTenant's transactions) after each one. It logs
// in as app_authenticator, the request pool's login role: LISTEN needs no privilege on any table
// or schema (any role that may connect to the database may listen on any channel), and this
// connection never sets a role or reads a row, so it needs nothing more. What a notification says
// is therefore no secret from any session of the database: payloads carry ids only, and a
// subscriber re-reads what they point at under its own tenant context (withTenant), where RLS
// decides (docs/architecture.md, Live queues).
//
// Behind a transaction-mode pooler a LISTEN would stay on whichever server connection served it:
// the listener must reach Postgres directly (docs/operations.md, Behind PgBouncer).
import pg from 'pg';

/** What a notification is, once its JSON payload has passed the subscriber's validation. */
export type NotificationEvent<T> =
  | { kind: 'notification'; payload: T }
  /**
   * The listening connection was lost and is back: notifications sent in between are gone, so the
   * subscriber re-reads whatever it shows. Sent once the channels are listened to again, so a
   * re-read started on it misses nothing.
   */
  | { kind: 'resync' };

/** A subscriber's validation of a parsed payload: returns it typed, or throws (a zod schema is one). */
export interface PayloadParser<T> {
  parse(value: unknown): T;
}

export type NotificationHandler<T> = (event: NotificationEvent<T>) => void | Promise<void>;

/** Leaves the channel; resolves once an UNLISTEN the departure called for is done. Never rejects. */
export type Unsubscribe = () => Promise<void>;

/** The logger calls the listener makes (pino's, Fastify's app.log). */
export interface NotificationsLog {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

export interface NotificationsOptions {
  url: string;
  log: NotificationsLog;
  /** Shown in pg_stat_activity, so operators tell the listener from the request pool. */
  applicationName?: string;
  /** Delay before the first reconnection attempt, doubled after each failure up to `maxReconnectDelayMs`. */
  reconnectDelayMs?: number;
  maxReconnectDelayMs?: number;
  connectionTimeoutMs?: number;
}

export interface Notifications {
  /**
   * Adds `handler` to `channel`'s subscribers and resolves once the channel is listened to, so a
   * read made after it cannot miss a notification. Rejects, subscribing nothing, when the
   * listening connection cannot be made (the database is down). Each payload is JSON-parsed, then
   * given to `parser`; one that fails either is dropped and logged, never given to the handler.
   * A handler's exception or rejection is logged and touches no other subscriber.
   */
  subscribe<T>(channel: string, parser: PayloadParser<T>, handler: NotificationHandler<T>): Promise<Unsubscribe>;
  /** Current subscribers of one channel, or of all. */
  subscriberCount(channel?: string): number;
  /** pg_listening_channels() of the listening connection (none while there is no connection). */
  listeningChannels(): Promise<string[]>;
  /** Ends the connection and every subscription; later subscribes are refused. */
  close(): Promise<void>;
}

export const NOTIFICATION_LISTENER_APPLICATION = 'clinicbase-listener';

/** Lower-case identifiers: the channel goes into LISTEN as a quoted identifier, exactly as NOTIFY names it. */
const CHANNEL_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

const DEFAULTS = { reconnectDelayMs: 250, maxReconnectDelayMs: 10_000, connectionTimeoutMs: 5_000 };

type ListenerOptions = NotificationsOptions & typeof DEFAULTS;

/** How long close() waits for the server to acknowledge the goodbye before it stops waiting. */
const CLOSE_WAIT_MS = 2_000;

interface Subscriber {
  parser: PayloadParser<unknown>;
  handler: NotificationHandler<unknown>;
  /** Subscribed while a connection was lost: owed a resync once the channels are listened to again. */
  stale: boolean;
  active: boolean;
}

/** The process's listener. Nothing connects until the first subscribe. */
export function createNotifications(options: NotificationsOptions): Notifications {
  return new NotificationListener({ ...DEFAULTS, ...options });
}

class NotificationListener implements Notifications {
  readonly #options: ListenerOptions;
  readonly #log: NotificationsLog;
  readonly #subscribers = new Map<string, Set<Subscriber>>();
  /** The connected client, and the channels LISTENed on it. */
  #client: pg.Client | undefined;
  readonly #listening = new Set<string>();
  /** A client between `new` and a finished connect (close() ends it too). */
  #connecting: pg.Client | undefined;
  /** LISTEN/UNLISTEN runs one reconciliation at a time, in order. */
  #chain: Promise<void> = Promise.resolve();
  #reconnectTimer: NodeJS.Timeout | undefined;
  #failedAttempts = 0;
  #closed = false;

  constructor(options: ListenerOptions) {
    this.#options = options;
    this.#log = options.log;
  }

  async subscribe<T>(channel: string, parser: PayloadParser<T>, handler: NotificationHandler<T>): Promise<Unsubscribe> {
    if (this.#closed) throw new Error('notifications: the listener is closed');
    if (!CHANNEL_NAME.test(channel)) throw new Error(`notifications: ${JSON.stringify(channel)} is not a channel name (${CHANNEL_NAME})`);
    const subscriber: Subscriber = { parser, handler: handler as NotificationHandler<unknown>, stale: false, active: true };
    const subscribers = this.#subscribers.get(channel) ?? new Set();
    this.#subscribers.set(channel, subscribers.add(subscriber));
    const leave = () => this.#leave(channel, subscriber);
    try {
      await this.#reconcile({ connect: true });
    } catch (error) {
      await leave();
      throw error;
    }
    return leave;
  }

  subscriberCount(channel?: string): number {
    if (channel !== undefined) return this.#subscribers.get(channel)?.size ?? 0;
    let count = 0;
    for (const subscribers of this.#subscribers.values()) count += subscribers.size;
    return count;
  }

  listeningChannels(): Promise<string[]> {
    // After the reconciliations under way, so the answer is the state they leave.
    return this.#enqueue(async () => {
      if (!this.#client) return [];
      const { rows } = await this.#client.query<{ channel: string }>('select pg_listening_channels() as channel order by 1');
      return rows.map((row) => row.channel);
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#reconnectTimer);
    for (const subscribers of this.#subscribers.values()) for (const subscriber of subscribers) subscriber.active = false;
    this.#subscribers.clear();
    const clients = [this.#client, this.#connecting].filter((client) => client !== undefined);
    this.#client = undefined;
    this.#connecting = undefined;
    this.#listening.clear();
    await Promise.all(clients.map((client) => endWithin(client, CLOSE_WAIT_MS, this.#log)));
  }

  async #leave(channel: string, subscriber: Subscriber): Promise<void> {
    if (!subscriber.active) return;
    subscriber.active = false;
    const subscribers = this.#subscribers.get(channel);
    subscribers?.delete(subscriber);
    if (subscribers?.size !== 0) return;
    this.#subscribers.delete(channel);
    // The last one out: UNLISTEN, on the connection there is (a new one listens to the channels
    // subscribed then). A failure here is the connection's, heard and logged by its listeners.
    await this.#reconcile({ connect: false }).catch(() => {});
  }

  #enqueue<T>(step: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(step);
    this.#chain = run.then(
      () => {},
      () => {},
    );
    return run;
  }

  /**
   * Makes the connection's channels the subscribed ones; without a connection, `connect` makes one
   * first when there is any channel to listen to.
   */
  #reconcile({ connect }: { connect: boolean }): Promise<void> {
    return this.#enqueue(async () => {
      if (this.#closed) throw new Error('notifications: the listener is closed');
      const wanted = [...this.#subscribers.keys()];
      if (!this.#client && (!connect || wanted.length === 0)) return;
      try {
        const client = this.#client ?? (await this.#connect());
        for (const channel of wanted.filter((name) => !this.#listening.has(name))) {
          await client.query(`listen ${pg.escapeIdentifier(channel)}`);
          this.#listening.add(channel);
        }
        for (const channel of [...this.#listening].filter((name) => !this.#subscribers.has(name))) {
          await client.query(`unlisten ${pg.escapeIdentifier(channel)}`);
          this.#listening.delete(channel);
        }
      } catch (error) {
        this.#scheduleReconnect();
        throw error;
      }
      clearTimeout(this.#reconnectTimer);
      this.#reconnectTimer = undefined;
      this.#failedAttempts = 0;
      this.#resyncStale();
    });
  }

  async #connect(): Promise<pg.Client> {
    const client = new pg.Client({
      connectionString: this.#options.url,
      application_name: this.#options.applicationName ?? NOTIFICATION_LISTENER_APPLICATION,
      connectionTimeoutMillis: this.#options.connectionTimeoutMs,
      // A listener only reads: without keepalives a connection silently cut (a NAT, a failover
      // without a reset) would never fail, and notifications would just stop coming.
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    });
    // Listened to before connect, always: an 'error' nobody hears ends the process.
    client.on('error', (error) => this.#lost(client, error));
    client.on('end', () => this.#lost(client));
    client.on('notification', (message) => this.#dispatch(message.channel, message.payload));
    this.#connecting = client;
    try {
      await client.connect();
    } catch (error) {
      this.#log.warn({ db: describe(error) }, 'notification listener: cannot connect');
      client.end().catch(() => {});
      throw error;
    } finally {
      if (this.#connecting === client) this.#connecting = undefined;
    }
    if (this.#closed) {
      await client.end().catch(() => {});
      throw new Error('notifications: the listener is closed');
    }
    this.#client = client;
    // A new session listens to nothing yet: every subscribed channel is LISTENed again.
    this.#listening.clear();
    return client;
  }

  /** The connection broke (terminated backend, restart, network): every subscriber is owed a resync. */
  #lost(client: pg.Client, error?: Error): void {
    if (client !== this.#client) return;
    this.#client = undefined;
    client.end().catch(() => {});
    if (this.#closed) return;
    this.#log.warn({ db: error ? describe(error) : { message: 'connection ended' } }, 'notification listener: connection lost, reconnecting');
    for (const subscribers of this.#subscribers.values()) for (const subscriber of subscribers) subscriber.stale = true;
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#reconnectTimer) return;
    const { reconnectDelayMs, maxReconnectDelayMs } = this.#options;
    const ceiling = Math.min(maxReconnectDelayMs, reconnectDelayMs * 2 ** this.#failedAttempts);
    this.#failedAttempts += 1;
    // Jitter, so that every process of a deployment does not come back in the same instant.
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      // Nobody left to listen for: stay disconnected until the next subscribe.
      if (this.subscriberCount() === 0) return;
      this.#reconcile({ connect: true }).catch(() => {});
    }, delay);
  }

  #resyncStale(): void {
    for (const subscribers of this.#subscribers.values()) {
      for (const subscriber of [...subscribers]) {
        if (!subscriber.stale) continue;
        subscriber.stale = false;
        this.#deliver(subscriber, { kind: 'resync' });
      }
    }
  }

  #dispatch(channel: string, payload: string | undefined): void {
    const subscribers = this.#subscribers.get(channel);
    if (!subscribers?.size) return;
    let value: unknown;
    try {
      value = JSON.parse(payload ?? '');
    } catch {
      // Neither the payload nor the parser's message is logged: a payload is never meant to hold more than ids.
      this.#log.warn({ channel, bytes: payload?.length ?? 0 }, 'notification listener: dropped a payload that is not JSON');
      return;
    }
    // Validated once per parser: subscribers sharing a schema share its verdict (and its one log line).
    const verdicts = new Map<PayloadParser<unknown>, { payload: unknown } | null>();
    for (const subscriber of [...subscribers]) {
      if (!subscriber.active) continue;
      let verdict = verdicts.get(subscriber.parser);
      if (verdict === undefined) {
        try {
          verdict = { payload: subscriber.parser.parse(value) };
        } catch {
          verdict = null;
          this.#log.warn({ channel, bytes: payload?.length ?? 0 }, 'notification listener: dropped a payload its subscriber does not accept');
        }
        verdicts.set(subscriber.parser, verdict);
      }
      if (verdict) this.#deliver(subscriber, { kind: 'notification', payload: verdict.payload });
    }
  }

  #deliver(subscriber: Subscriber, event: NotificationEvent<unknown>): void {
    const failed = (error: unknown) => this.#log.error({ err: error, kind: event.kind }, 'notification listener: a subscriber failed');
    try {
      const result = subscriber.handler(event);
      if (result instanceof Promise) result.catch(failed);
    } catch (error) {
      failed(error);
    }
  }
}

/** The code and message only: pg hangs the whole client on its errors. */
function describe(error: unknown): { code?: string; message: string } {
  const { code, message } = error as { code?: string; message?: string };
  return { ...(code ? { code } : {}), message: message ?? String(error) };
}

/** client.end(), waited for at most `ms`: a shutdown never hangs on a server that does not answer. */
async function endWithin(client: pg.Client, ms: number, log: NotificationsLog): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const ended = client.end().then(
    () => true,
    () => true,
  );
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const done = await Promise.race([ended, late]);
  clearTimeout(timer);
  if (!done) log.warn({}, 'notification listener: the connection did not close in time; not waiting for it');
}
