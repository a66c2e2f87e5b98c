// Server-Sent Events over a real socket (inject collects a response until it ends; a stream does
// not end): the headers of a stream and of the API, events and heartbeats as a client parses them,
// the cleanup when the client hangs up, when the app closes and when the client stops reading, a
// stream that ends when a re-read finds its token expired, and the contract check holding a
// documented stream's events to the schema its route declares. The routes are scaffolding added
// by the tests, fed by Postgres notifications through app.notifications as the queue stream is.
import { randomUUID } from 'node:crypto';
import { Validator } from '@seriousme/openapi-schema-validator';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import t, { type Test } from 'tap';
import { z } from 'zod';
import { buildApp } from '../../src/app.ts';
import { clinicParams } from '../../src/http/params.ts';
import { eventStreamResponse, type EventStream, type EventStreamOptions } from '../../src/http/sse.ts';
import { buildTestApp, TEST_FIELD_CIPHER, TEST_KEYS } from '../helpers/app.ts';
import { testClient } from '../helpers/client.ts';
import { checkResponsesAgainstDocument, type OpenApiDocument } from '../helpers/contract.ts';
import { createClinics, createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { openEventStream } from '../helpers/sse.ts';
import { temporaryStorageDir } from '../helpers/storage.ts';
import { signWithTestKey } from '../helpers/tokens.ts';
import { eventually } from '../helpers/wait.ts';

const CHANNEL = 'probe_channel';
const probe = z.strictObject({ n: z.number().int() });
const STREAM_URL = '/api/v1/clinics/clinic-a/probe/stream';

/** Notifications from one session of the file's database. */
async function notifier(t: Test, db: TestDatabase): Promise<(payload: object) => Promise<void>> {
  const client = new pg.Client({ connectionString: db.adminUrl });
  await client.connect();
  t.teardown(() => client.end());
  return async (payload) => {
    await client.query('select pg_notify($1, $2)', [CHANNEL, JSON.stringify(payload)]);
  };
}

/**
 * A clinic route streaming as the queue stream will: subscribe (the listener is listening when it
 * resolves), open the stream, say hello, then for each notification check the caller again and
 * send it; a refusal ends the stream. Unsubscribes when the stream ends, however it ends.
 */
function addProbeStream(app: FastifyInstance, options: EventStreamOptions = {}): void {
  app.get(
    '/api/v1/clinics/:slug/probe/stream',
    {
      ...app.permission('app_public.departments', 'select'),
      schema: { params: clinicParams, response: { 200: eventStreamResponse('probe', { hello: z.object({ clinicId: z.uuid() }), probe }) } },
    },
    async (request, reply) => {
      let stream: EventStream | undefined;
      const unsubscribe = await app.notifications.subscribe(CHANNEL, probe, async (event) => {
        if (event.kind !== 'notification' || !stream) return;
        try {
          await app.reauthorize(request);
        } catch {
          await stream.close();
          return;
        }
        stream.send('probe', event.payload, String(event.payload.n));
      });
      stream = reply.eventStream(options);
      stream.onClose(() => void unsubscribe());
      stream.send('hello', { clinicId: request.tenant!.clinicId });
      return reply;
    },
  );
}

/** Nothing open any more: no stream, no subscriber, the channel no longer listened to. */
async function allCleanedUp(app: FastifyInstance) {
  return eventually(
    async () => ({
      streams: app.openEventStreams,
      subscribers: app.notifications.subscriberCount(CHANNEL),
      channels: await app.notifications.listeningChannels(),
    }),
    (state) => state.streams === 0 && state.subscribers === 0 && state.channels.length === 0,
  );
}

const CLEANED_UP = { streams: 0, subscribers: 0, channels: [] };

t.test('a stream over a real socket: the headers, events and heartbeats; the client hangs up and the cleanup runs', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const notify = await notifier(t, db);
  const origin = 'https://display.example.test';
  const { app } = await buildTestApp(t, db.authenticatorUrl, TEST_KEYS, 1000, {}, { corsOrigins: [origin] });
  addProbeStream(app, { heartbeatMs: 20 });
  const token = await testClient(app).clinicToken('receptionist', { id: clinics.a, slug: 'clinic-a' });

  const stream = await openEventStream(app, STREAM_URL, { authorization: `Bearer ${token}`, origin, 'x-request-id': 'display-1' });
  t.equal(stream.status, 200);
  t.match(
    stream.headers,
    {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
      connection: 'keep-alive',
      'transfer-encoding': 'chunked',
      'x-request-id': 'display-1',
      'access-control-allow-origin': origin,
      'content-security-policy': "default-src 'none';base-uri 'none';form-action 'none';frame-ancestors 'none'",
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
      'strict-transport-security': 'max-age=31536000',
      'referrer-policy': 'no-referrer',
    },
    'the stream headers, and the API’s own (security headers, no-store, request id, CORS)',
  );
  t.notOk(stream.headers['content-length'], 'no length: a stream');
  t.same(await stream.events(1), [{ event: 'hello', data: JSON.stringify({ clinicId: clinics.a }) }], 'the first event');
  t.equal(app.notifications.subscriberCount(CHANNEL), 1, 'one subscriber while it is open');
  t.equal(app.openEventStreams, 1, 'one open stream');

  await notify({ n: 1 });
  await notify({ n: 2 });
  t.same(
    (await stream.events(3)).slice(1),
    [
      { event: 'probe', data: '{"n":1}', id: '1' },
      { event: 'probe', data: '{"n":2}', id: '2' },
    ],
    'each notification as an event, with its id',
  );
  t.same(await stream.comments(2), ['heartbeat', 'heartbeat'], 'heartbeat comments keep it open');
  t.equal(stream.parsed().retry, 3000, 'the client is told to reconnect after 3 s');
  t.match(stream.text(), /^retry: 3000\n\n/, 'the first bytes are the retry field, which sends the headers at once');

  await stream.close();
  t.same(await allCleanedUp(app), CLEANED_UP, 'the client hung up: stream closed, unsubscribed, channel UNLISTENed');
});

t.test('a stream is answered only once the guard lets the request through, as problem+json otherwise', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  addProbeStream(app);
  const client = testClient(app);
  const theirs = await client.clinicToken('receptionist', { id: clinics.b, slug: 'clinic-b' });

  for (const [what, headers, status] of [
    ['no token', {}, 401],
    ['another clinic’s token', { authorization: `Bearer ${theirs}` }, 404],
  ] as const) {
    const refused = await openEventStream(app, STREAM_URL, headers);
    t.equal(refused.status, status, `${what}: ${status}`);
    t.match(refused.headers, { 'content-type': 'application/problem+json; charset=utf-8', 'cache-control': 'no-store' }, `${what}: a problem, not a stream`);
  }
  t.equal(app.notifications.subscriberCount(), 0, 'nobody subscribed');
  t.same(await app.notifications.listeningChannels(), [], 'nothing listened to');
});

t.test('app.close ends the open streams, so a shutdown does not wait for displays to hang up', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const notify = await notifier(t, db);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  addProbeStream(app);
  const token = await testClient(app).clinicToken('receptionist', { id: clinics.a, slug: 'clinic-a' });
  const streams = [
    await openEventStream(app, STREAM_URL, { authorization: `Bearer ${token}` }),
    await openEventStream(app, STREAM_URL, { authorization: `Bearer ${token}` }),
  ];
  await notify({ n: 1 });
  for (const stream of streams) await stream.events(2);
  t.equal(app.notifications.subscriberCount(CHANNEL), 2, 'two subscribers');

  await app.close();
  for (const [index, stream] of streams.entries()) {
    await stream.ended;
    t.same(
      stream.parsed().events.map((event) => event.event),
      ['hello', 'probe'],
      `stream ${index}: ended by the server after what it had sent`,
    );
    t.match(stream.text(), /\n\n$/, `stream ${index}: on a whole event`);
  }
  t.equal(app.openEventStreams, 0, 'no stream open');
  t.equal(app.notifications.subscriberCount(), 0, 'no subscriber left');
});

t.test('a client that stops reading is dropped once the bound is reached, and cleaned up', async (t) => {
  const db = await createTestDatabase(t);
  const { app, logs } = await buildTestApp(t, db.authenticatorUrl);
  const opened: EventStream[] = [];
  let cleanups = 0;
  app.get('/probe/blobs', async (_request, reply) => {
    const stream = reply.eventStream({ maxBufferedBytes: 256 * 1024 });
    stream.onClose(() => {
      cleanups += 1;
    });
    opened.push(stream);
    return reply;
  });

  const reader = await openEventStream(app, '/probe/blobs', {}, { paused: true });
  t.equal(reader.status, 200, 'the stream is open');
  const stream = opened[0]!;
  const blob = 'x'.repeat(64 * 1024);
  let sent = 0;
  // The socket buffers of both ends take some megabytes first; then the stream's own bound. 64 MB
  // at most. One event per turn of the event loop, as notifications come, so the response is
  // written out in between.
  while (sent < 1000 && stream.send('blob', { blob })) {
    sent += 1;
    await new Promise((resolve) => setImmediate(resolve));
  }
  t.ok(sent < 1000, `dropped after ${sent} events of 64 KiB`);
  t.equal(stream.closed, true, 'the stream is closed');
  t.equal(stream.send('blob', { blob }), false, 'and takes nothing more');
  // Behind what the socket buffers still hold for it, the client finds the connection closed.
  reader.resume();
  await reader.ended;
  t.pass('the connection is cut');
  t.equal(
    await eventually(
      () => cleanups,
      (n) => n > 0,
    ),
    1,
    'its cleanup ran, once',
  );
  t.equal(app.openEventStreams, 0, 'no stream open');
  t.match(
    logs().filter((line) => line.msg === 'event stream: client dropped'),
    [{ level: 40, reason: /^\d+ bytes are waiting for it$/ }],
    'logged once, as a warning',
  );
});

t.test('a stream whose token has expired ends at its next re-read, and sends nothing more', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const notify = await notifier(t, db);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  addProbeStream(app);
  // Signed as a login would, 298 s before now: it expires two seconds from now.
  const issuedAt = Date.now() - 298_000;
  const token = signWithTestKey(
    { sub: randomUUID(), clinic_id: clinics.a, clinic_slug: 'clinic-a', role: 'receptionist', jti: randomUUID(), amr: ['pwd'] },
    { now: issuedAt },
  );
  const stream = await openEventStream(app, STREAM_URL, { authorization: `Bearer ${token}` });
  await notify({ n: 1 });
  t.same(
    (await stream.events(2)).map((event) => event.event),
    ['hello', 'probe'],
    'while the token is valid, the re-read is made and sent',
  );

  // Past the token's exp (whole seconds after issue + 300 s).
  const expiresAt = (Math.floor(issuedAt / 1000) + 300) * 1000;
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt - Date.now() + 100)));
  await notify({ n: 2 });
  await stream.ended;
  t.same(
    stream.parsed().events.map((event) => event.event),
    ['hello', 'probe'],
    'the stream ends without sending the re-read',
  );
  t.same(await allCleanedUp(app), CLEANED_UP, 'and is cleaned up');
});

t.test('the OpenAPI document and the contract check: a documented stream’s events are held to the declared schema', async (t) => {
  const db = await createTestDatabase(t);
  const app = await buildApp({
    env: 'test',
    logLevel: 'silent',
    storageDir: await temporaryStorageDir(t),
    database: { authenticatorUrl: db.authenticatorUrl, poolSize: 2 },
    auth: { keys: TEST_KEYS, accessTokenTtlSeconds: 300, loginAttemptsPerMinute: 1000 },
    fieldCipher: TEST_FIELD_CIPHER,
  });
  t.teardown(() => app.close());
  const streams: EventStream[] = [];
  app.get('/probe/documented', { schema: { response: { 200: eventStreamResponse('Ticks, one a second.', { tick: probe }) } } }, async (_request, reply) => {
    streams.push(reply.eventStream({ heartbeatMs: 10 }));
    return reply;
  });
  const mismatches: string[] = [];
  const check = checkResponsesAgainstDocument(app, (mismatch) => mismatches.push(mismatch));
  await app.ready();

  const document = app.swagger() as unknown as OpenApiDocument;
  t.same(
    document.paths['/probe/documented']?.get?.responses['200'],
    {
      description: 'Ticks, one a second.',
      content: {
        'text/event-stream': {
          schema: {
            type: 'object',
            properties: {
              event: { type: 'string', enum: ['tick'] },
              id: { type: 'string' },
              data: {
                type: 'object',
                properties: { n: { type: 'integer', minimum: -9007199254740991, maximum: 9007199254740991 } },
                required: ['n'],
                additionalProperties: false,
              },
            },
            required: ['event', 'data'],
            additionalProperties: false,
          },
        },
      },
    },
    'the 200 is text/event-stream, its schema that of one event',
  );
  const validator = new Validator();
  const result = await validator.validate(structuredClone(document) as unknown as Parameters<Validator['validate']>[0]);
  t.same(result.errors ?? [], [], 'the document with it is valid OpenAPI 3.1');

  const conforming = await openEventStream(app, '/probe/documented');
  streams[0]!.send('tick', { n: 1 }, '1');
  streams[0]!.send('tick', { n: 2 });
  await conforming.events(2);
  await conforming.comments(1);
  await conforming.close();
  await eventually(
    () => check.checked(),
    (n) => n === 1,
  );
  t.same(mismatches, [], 'events of the declared names and data, heartbeats and the retry field: no mismatch');

  const breaking = await openEventStream(app, '/probe/documented');
  streams[1]!.send('tick', { n: 'three' });
  streams[1]!.send('tock', { n: 4 });
  streams[1]!.send('tick', { n: 5 });
  await breaking.events(3);
  await breaking.close();
  await eventually(
    () => check.checked(),
    (n) => n === 2,
  );
  t.equal(mismatches.length, 2, 'two events break the document');
  t.match(
    mismatches[0],
    /^GET \/probe\/documented → 200: event 0 \(tick\) does not match the text\/event-stream schema: event\/data\/n must be integer/,
    'data off its schema',
  );
  t.match(
    mismatches[1],
    /^GET \/probe\/documented → 200: event 1 \(tock\) does not match the text\/event-stream schema: event\/event must be equal to one of the allowed values/,
    'an event name the route does not declare',
  );
});
