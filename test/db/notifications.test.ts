// The process's notification listener (src/db/notifications.ts) against a real Postgres: one
// listening backend whatever the number of subscribers, LISTEN once per channel and UNLISTEN when
// its last subscriber leaves, malformed payloads dropped, a lost connection made again (with
// backoff while the database refuses) with every channel listened to again and a resync told to
// the subscribers, and nothing left behind once it is closed, by itself or by the app's close.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import t, { type Test } from 'tap';
import { z } from 'zod';
import { createNotifications, type NotificationEvent, type Notifications, type NotificationsLog } from '../../src/db/notifications.ts';
import { buildTestApp, TEST_KEYS } from '../helpers/app.ts';
import { createTestDatabase, serverUrl, type TestDatabase } from '../helpers/db.ts';
import { eventually } from '../helpers/wait.ts';

const QUEUE = 'clinicbase_queue';
const queueNotification = z.strictObject({ clinicId: z.uuid(), doctorId: z.uuid(), visitId: z.uuid() });
type QueueNotification = z.infer<typeof queueNotification>;

interface LogLine {
  level: 'info' | 'warn' | 'error';
  msg: string;
  details: object;
}

/** A logger that keeps what it is told. */
function memoryLog(): NotificationsLog & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: LogLine['level']) => (details: object, msg: string) => void lines.push({ level, msg, details });
  return { lines, info: at('info'), warn: at('warn'), error: at('error') };
}

/** A subscriber's handler that keeps the events it is given, and waits for the nth. */
function recorder<T>() {
  const events: NotificationEvent<T>[] = [];
  const waiters = new Set<() => void>();
  return {
    events,
    handler: (event: NotificationEvent<T>) => {
      events.push(event);
      for (const wake of waiters) wake();
    },
    /** Resolves once `count` events have arrived. */
    received: (count: number) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (events.length < count) return;
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
        check();
      }),
  };
}

/** Notifications from one session, so that they arrive in the order they were sent. */
async function notifier(t: Test, db: TestDatabase): Promise<(channel: string, payload: string) => Promise<void>> {
  const client = new pg.Client({ connectionString: db.adminUrl });
  await client.connect();
  t.teardown(() => client.end());
  return async (channel, payload) => {
    await client.query('select pg_notify($1, $2)', [channel, payload]);
  };
}

/** The backends of the listener (by its application name) in the file's database. */
async function listenerBackends(db: TestDatabase): Promise<{ pid: number; usename: string }[]> {
  const { rows } = await db.admin.query(
    `select pid, usename from pg_stat_activity where datname = $1 and application_name = 'clinicbase-listener' order by pid`,
    [db.name],
  );
  return rows;
}

function listener(t: Test, url: string, log = memoryLog()): Notifications {
  const notifications = createNotifications({ url, log, reconnectDelayMs: 20, maxReconnectDelayMs: 200 });
  t.teardown(() => notifications.close());
  return notifications;
}

const ids = (): QueueNotification => ({ clinicId: randomUUID(), doctorId: randomUUID(), visitId: randomUUID() });

t.test('N subscribers share one listening backend, and each gets every notification of its channel', async (t) => {
  const db = await createTestDatabase(t);
  const notify = await notifier(t, db);
  const notifications = listener(t, db.authenticatorUrl);
  t.same(await listenerBackends(db), [], 'nothing connects before the first subscribe');

  const displays = Array.from({ length: 5 }, () => recorder<QueueNotification>());
  for (const display of displays) await notifications.subscribe(QUEUE, queueNotification, display.handler);
  const other = recorder<unknown>();
  await notifications.subscribe('other_channel', z.unknown(), other.handler);

  const backends = await listenerBackends(db);
  t.equal(backends.length, 1, 'six subscribers, one listening backend');
  t.equal(backends[0]!.usename, 'app_authenticator', 'logged in as app_authenticator');
  t.same(await notifications.listeningChannels(), [QUEUE, 'other_channel'], 'each channel listened to once on it');
  t.equal(notifications.subscriberCount(QUEUE), 5);
  t.equal(notifications.subscriberCount(), 6);

  const first = ids();
  const second = ids();
  await notify(QUEUE, JSON.stringify(first));
  await notify(QUEUE, JSON.stringify(second));
  await notify('other_channel', '{"marker":1}');
  await other.received(1);
  for (const [index, display] of displays.entries()) {
    await display.received(2);
    t.same(
      display.events,
      [
        { kind: 'notification', payload: first },
        { kind: 'notification', payload: second },
      ],
      `display ${index}: both queue notifications, in order, and nothing of the other channel`,
    );
  }
  t.same(other.events, [{ kind: 'notification', payload: { marker: 1 } }], 'the other channel: its own notification only');
});

t.test('a subscriber that leaves gets nothing more; the last one out UNLISTENs', async (t) => {
  const db = await createTestDatabase(t);
  const notify = await notifier(t, db);
  const notifications = listener(t, db.authenticatorUrl);
  const leaving = recorder<QueueNotification>();
  const staying = recorder<QueueNotification>();
  const leave = await notifications.subscribe(QUEUE, queueNotification, leaving.handler);
  const stay = await notifications.subscribe(QUEUE, queueNotification, staying.handler);

  await leave();
  t.equal(notifications.subscriberCount(QUEUE), 1, 'one subscriber left');
  t.same(await notifications.listeningChannels(), [QUEUE], 'still listened to for the other');
  const sent = ids();
  await notify(QUEUE, JSON.stringify(sent));
  await staying.received(1);
  t.same(staying.events, [{ kind: 'notification', payload: sent }], 'the one who stayed gets it');
  t.same(leaving.events, [], 'the one who left does not');

  await stay();
  t.equal(notifications.subscriberCount(QUEUE), 0, 'no subscriber left');
  t.same(await notifications.listeningChannels(), [], 'the channel is UNLISTENed');
  t.equal((await listenerBackends(db)).length, 1, 'the connection stays for the next subscriber');
  await stay();
  t.equal(notifications.subscriberCount(), 0, 'leaving twice changes nothing');

  const again = recorder<QueueNotification>();
  await notifications.subscribe(QUEUE, queueNotification, again.handler);
  t.same(await notifications.listeningChannels(), [QUEUE], 'a new subscriber listens again, on the same connection');
  t.equal((await listenerBackends(db)).length, 1, 'still one backend');
});

t.test('a terminated listening backend: reconnected, channels listened to again, resync told, later notifications arrive', async (t) => {
  const db = await createTestDatabase(t);
  const notify = await notifier(t, db);
  const log = memoryLog();
  const notifications = listener(t, db.authenticatorUrl, log);
  const displays = [recorder<QueueNotification>(), recorder<QueueNotification>()];
  for (const display of displays) await notifications.subscribe(QUEUE, queueNotification, display.handler);
  const other = recorder<unknown>();
  await notifications.subscribe('other_channel', z.unknown(), other.handler);
  const [before] = await listenerBackends(db);

  await db.admin.query('select pg_terminate_backend($1)', [before!.pid]);
  for (const display of displays) await display.received(1);
  await other.received(1);
  for (const [index, display] of displays.entries()) t.same(display.events, [{ kind: 'resync' }], `display ${index}: told to resync`);
  t.same(other.events, [{ kind: 'resync' }], 'the other channel’s subscriber too');

  const after = await listenerBackends(db);
  t.equal(after.length, 1, 'one listening backend again');
  t.not(after[0]!.pid, before!.pid, 'a new one');
  t.same(await notifications.listeningChannels(), [QUEUE, 'other_channel'], 'every channel listened to again');
  const sent = ids();
  await notify(QUEUE, JSON.stringify(sent));
  for (const [index, display] of displays.entries()) {
    await display.received(2);
    t.same(display.events, [{ kind: 'resync' }, { kind: 'notification', payload: sent }], `display ${index}: the later notification arrives`);
  }
  t.same(
    log.lines.filter((line) => line.level === 'warn').map((line) => line.msg),
    ['notification listener: connection lost, reconnecting'],
    'the loss is logged once',
  );
});

t.test('while the database refuses connections the listener keeps trying, and comes back when it accepts them', async (t) => {
  const db = await createTestDatabase(t);
  const notify = await notifier(t, db);
  const log = memoryLog();
  const notifications = listener(t, db.authenticatorUrl, log);
  const display = recorder<QueueNotification>();
  await notifications.subscribe(QUEUE, queueNotification, display.handler);
  const [before] = await listenerBackends(db);

  // As superuser, from the server's own database (a database cannot refuse its own sessions'
  // connections this way); the notifier's session stays open: nobody else may connect now.
  const admin = new pg.Client({ connectionString: serverUrl() });
  await admin.connect();
  t.teardown(() => admin.end());
  await admin.query(`alter database ${pg.escapeIdentifier(db.name)} with allow_connections false`);
  await admin.query('select pg_terminate_backend($1)', [before!.pid]);
  const refused = () => log.lines.filter((line) => line.msg === 'notification listener: cannot connect').length;
  await eventually(
    async () => refused(),
    (count) => count >= 3,
  );
  t.ok(refused() >= 3, 'three attempts (at least) refused, one after the other');
  t.same(display.events, [], 'no resync while there is no connection');
  const newcomer = await notifications
    .subscribe(QUEUE, queueNotification, () => {})
    .then(
      () => 'subscribed',
      (error: { code?: string }) => error.code,
    );
  t.equal(newcomer, '55000', 'a subscribe meanwhile is refused (database does not allow connections)…');
  t.equal(notifications.subscriberCount(QUEUE), 1, '…and leaves no subscriber behind');

  await admin.query(`alter database ${pg.escapeIdentifier(db.name)} with allow_connections true`);
  await display.received(1);
  t.same(display.events, [{ kind: 'resync' }], 'told to resync once it is back');
  const sent = ids();
  await notify(QUEUE, JSON.stringify(sent));
  await display.received(2);
  t.same(display.events[1], { kind: 'notification', payload: sent }, 'and notifications arrive again');
});

t.test('malformed payloads are dropped and logged; a failing subscriber harms no other', async (t) => {
  const db = await createTestDatabase(t);
  const notify = await notifier(t, db);
  const log = memoryLog();
  const notifications = listener(t, db.authenticatorUrl, log);
  const strict = recorder<QueueNotification>();
  const strictToo = recorder<QueueNotification>();
  const lenient = recorder<unknown>();
  await notifications.subscribe(QUEUE, queueNotification, strict.handler);
  await notifications.subscribe(QUEUE, queueNotification, strictToo.handler);
  await notifications.subscribe(QUEUE, z.unknown(), lenient.handler);
  await notifications.subscribe(QUEUE, z.unknown(), () => {
    throw new Error('a subscriber bug');
  });
  await notifications.subscribe(QUEUE, z.unknown(), async () => {
    throw new Error('an asynchronous subscriber bug');
  });

  const valid = ids();
  await notify(QUEUE, 'not json {');
  await notify(QUEUE, '');
  await notify(QUEUE, JSON.stringify({ clinicId: 'clinic-a', doctorId: 1 }));
  await notify(QUEUE, JSON.stringify(valid));
  await lenient.received(2);
  await strict.received(1);
  await strictToo.received(1);

  t.same(strict.events, [{ kind: 'notification', payload: valid }], 'the strict subscriber gets the valid payload only');
  t.same(strictToo.events, [{ kind: 'notification', payload: valid }], 'so does the other that shares its schema');
  t.same(
    lenient.events,
    [
      { kind: 'notification', payload: { clinicId: 'clinic-a', doctorId: 1 } },
      { kind: 'notification', payload: valid },
    ],
    'a subscriber whose validation accepts any JSON gets both JSON payloads, despite the failing subscribers',
  );
  const warnings = log.lines.filter((line) => line.level === 'warn');
  t.same(
    warnings.map((line) => [line.msg, line.details]),
    [
      ['notification listener: dropped a payload that is not JSON', { channel: QUEUE, bytes: 10 }],
      ['notification listener: dropped a payload that is not JSON', { channel: QUEUE, bytes: 0 }],
      ['notification listener: dropped a payload its subscriber does not accept', { channel: QUEUE, bytes: 36 }],
    ],
    'one line per dropped payload (once for the schema both strict subscribers share), without the payload',
  );
  const errors = log.lines.filter((line) => line.level === 'error');
  t.equal(errors.length, 4, 'the failing subscribers are logged, each time (two payloads each)');
  t.equal(notifications.subscriberCount(QUEUE), 5, 'and stay subscribed');
  t.same(await notifications.listeningChannels(), [QUEUE], 'the listener still listens');
});

t.test('a subscribe that cannot connect is refused and leaves nothing; bad channel names are refused', async (t) => {
  const db = await createTestDatabase(t);
  // A database that does not exist, with credentials that are right: refused alike under password
  // and trust authentication (a wrong password is accepted where pg_hba trusts loopback, as CI's
  // Postgres 15 does).
  const nowhere = new URL(db.adminUrl);
  nowhere.pathname = '/clinicbase_no_such_database';
  const notifications = listener(t, nowhere.toString());
  const refused = await notifications
    .subscribe(QUEUE, queueNotification, () => {})
    .then(
      () => 'subscribed',
      (error: { code?: string }) => error.code,
    );
  t.equal(refused, '3D000', 'the connection error is the subscriber’s');
  t.equal(notifications.subscriberCount(), 0, 'no subscriber kept');
  for (const channel of ['Queue', 'queue; drop table x', '', 'a'.repeat(64)]) {
    await t.rejects(
      notifications.subscribe(channel, z.unknown(), () => {}),
      /is not a channel name/,
      `${JSON.stringify(channel).slice(0, 20)} refused`,
    );
  }
});

t.test('close ends the listening connection; later subscribes are refused', async (t) => {
  const db = await createTestDatabase(t);
  const notifications = listener(t, db.authenticatorUrl);
  await notifications.subscribe(QUEUE, queueNotification, () => {});
  t.equal((await listenerBackends(db)).length, 1, 'connected');
  await notifications.close();
  t.same(
    await eventually(
      () => listenerBackends(db),
      (rows) => rows.length === 0,
    ),
    [],
    'the backend is gone',
  );
  t.equal(notifications.subscriberCount(), 0, 'no subscriber left');
  t.same(await notifications.listeningChannels(), [], 'nothing listened to');
  await t.rejects(
    notifications.subscribe(QUEUE, queueNotification, () => {}),
    /the listener is closed/,
    'a subscribe after close is refused',
  );
  await notifications.close();
  t.pass('closing twice is harmless');
});

t.test('the app: app.notifications starts at the first subscribe, apart from the request pool, and app.close ends it', async (t) => {
  const db = await createTestDatabase(t);
  const notify = await notifier(t, db);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  await app.ready();
  t.same(await listenerBackends(db), [], 'no listening connection before a subscriber');
  const display = recorder<QueueNotification>();
  const pooled = app.pool.totalCount;
  await app.notifications.subscribe(QUEUE, queueNotification, display.handler);
  t.equal((await listenerBackends(db)).length, 1, 'one listening connection');
  t.equal(app.pool.totalCount, pooled, 'not taken from the request pool');
  const sent = ids();
  await notify(QUEUE, JSON.stringify(sent));
  await display.received(1);
  t.same(display.events, [{ kind: 'notification', payload: sent }], 'delivered through the app’s listener');

  await app.close();
  t.same(
    await eventually(
      () => listenerBackends(db),
      (rows) => rows.length === 0,
    ),
    [],
    'app.close ends it',
  );
  t.equal(app.notifications.subscriberCount(), 0, 'with its subscribers');
});

t.test('the app listens through DATABASE_LISTEN_URL when it is given', async (t) => {
  const db = await createTestDatabase(t);
  // Another login than the request pool's, only to tell the two apart here.
  const { app } = await buildTestApp(t, db.authenticatorUrl, TEST_KEYS, 1000, { listenUrl: db.ownerUrl });
  await app.notifications.subscribe(QUEUE, queueNotification, () => {});
  t.same(
    (await listenerBackends(db)).map((backend) => backend.usename),
    ['app_owner'],
    'the listener logged in through the URL it was given',
  );
});
