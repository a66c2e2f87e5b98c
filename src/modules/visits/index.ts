// Check-in, tokens and the doctors' queues. Receptionists and clinic admins check patients in;
// the state machine, the token numbers, the queue's order and who may call whom are the
// database's (migrations: visits triggers, doctor_queue, call_next_visit). Two plugins: `visits`
// and the queue under `doctors/{memberId}/queue` (the doctors prefix is shared with other modules).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { AppError } from '../../errors.ts';
import { toPage } from '../../http/pagination.ts';
import { clinicParams } from '../../http/params.ts';
import { eventStreamResponse } from '../../http/sse.ts';
import { callNextVisit, findVisit, insertVisit, isDoctor, listVisits, queuePlaceOf, readQueue, setStatus } from './queries.ts';
import { followQueue } from './queue-stream.ts';
import { checkInBody, doctorParams, listQuery, queue, queueNotification, visit, visitPage, visitParams, visitWithPlace, type Visit } from './schemas.ts';

const RESOURCE = 'app_public.visits';
const CHANNEL = 'clinicbase_queue';

/** The moves of the state machine, one route each: POST visits/{id}/<action>. */
const MOVES: Record<string, { to: Visit['status']; summary: string }> = {
  call: { to: 'called', summary: 'Call a waiting visit (also recalls a skipped one).' },
  skip: { to: 'waiting', summary: 'Skip a called visit: it waits again, behind the others.' },
  start: { to: 'in_consultation', summary: 'Start the consultation of a called visit.' },
  complete: { to: 'completed', summary: 'Complete a consultation (and its appointment).' },
  'no-show': { to: 'no_show', summary: 'Mark a waiting or called visit as a no-show.' },
  cancel: { to: 'cancelled', summary: 'Cancel a waiting visit.' },
};

export async function visitRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const tags = ['visits'];

  app.post(
    '/',
    {
      ...app.permission(RESOURCE, 'insert'),
      // 409: the appointment is not booked (INVALID_TRANSITION) or checked in already; 422: unknown
      // patient, appointment or doctor, or an appointment that is not today's with this patient and doctor.
      schema: {
        tags,
        summary: 'Check a patient in: a visit with the token of the day.',
        params: clinicParams,
        body: checkInBody,
        response: { 201: visit },
        problems: ['CONFLICT', 'INVALID_TRANSITION', 'CONSTRAINT_VIOLATION'],
      },
    },
    async (request, reply) => {
      const created = await app.withTenant(request.tenant!, (db) => insertVisit(db, request.body));
      return reply.code(201).send(created);
    },
  );

  app.get(
    '/',
    {
      ...app.permission(RESOURCE, 'select'),
      schema: { tags, summary: "A day's visits (today by default), by token.", params: clinicParams, querystring: listQuery, response: { 200: visitPage } },
    },
    async (request) => {
      const { limit } = request.query;
      const rows = await app.withTenant(request.tenant!, (db) => listVisits(db, request.query, limit + 1));
      return toPage(rows, limit, (v) => [v.tokenNumber]);
    },
  );

  app.get(
    '/:id',
    {
      ...app.permission(RESOURCE, 'select'),
      schema: { tags, summary: 'A visit, with its place in the queue while it waits.', params: visitParams, response: { 200: visitWithPlace } },
    },
    async (request) => {
      const found = await app.withTenant(request.tenant!, async (db) => {
        const row = await findVisit(db, request.params.id);
        return row && { ...row, queue: await queuePlaceOf(db, row.id) };
      });
      if (!found) throw new AppError('NOT_FOUND');
      return found;
    },
  );

  for (const [action, { to, summary }] of Object.entries(MOVES)) {
    app.post(
      `/:id/${action}`,
      {
        ...app.permission(RESOURCE, 'update'),
        schema: { tags, summary, params: visitParams, response: { 200: visit }, problems: ['INVALID_TRANSITION'] },
      },
      async (request) => {
        const moved = await app.withTenant(request.tenant!, (db) => setStatus(db, request.params.id, to));
        if (!moved) throw new AppError('NOT_FOUND');
        return moved;
      },
    );
  }
}

export async function doctorQueueRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const tags = ['visits'];

  /** The queue of a doctor of the caller's clinic; another clinic's doctor is unknown (404). Staff only (403, from the database). */
  const queueOf = (request: FastifyRequest, doctorId: string) =>
    app.withTenant(request.tenant!, async (db) => {
      const read = await readQueue(db, doctorId);
      if (!(await isDoctor(db, doctorId))) throw new AppError('NOT_FOUND');
      return read;
    });

  app.get(
    '/:memberId/queue',
    {
      ...app.permission(RESOURCE, 'select'),
      schema: { tags, summary: "A doctor's queue of today, with positions and estimated waits (staff).", params: doctorParams, response: { 200: queue } },
    },
    async (request) => queueOf(request, request.params.memberId),
  );

  app.post(
    '/:memberId/queue/next',
    {
      ...app.permission(RESOURCE, 'update'),
      schema: {
        tags,
        summary: "Call the next waiting visit of a doctor's queue (a doctor their own); 404 QUEUE_EMPTY when nobody waits.",
        params: doctorParams,
        response: { 200: visit },
        problems: ['QUEUE_EMPTY'],
      },
    },
    async (request) => {
      const { memberId } = request.params;
      return app.withTenant(request.tenant!, async (db) => {
        if (!(await isDoctor(db, memberId))) throw new AppError('NOT_FOUND');
        const called = await callNextVisit(db, memberId);
        if (!called) throw new AppError('QUEUE_EMPTY');
        return called;
      });
    },
  );

  app.get(
    '/:memberId/queue/stream',
    {
      ...app.permission(RESOURCE, 'select'),
      schema: {
        tags,
        summary: "A doctor's queue as Server-Sent Events: the queue on connect and after every change (a waiting-room display).",
        params: doctorParams,
        response: { 200: eventStreamResponse('The queue (`queue` events), on connect and after every change; ends when the token does.', { queue }) },
      },
    },
    async (request, reply) => {
      const { memberId } = request.params;
      const tenant = request.tenant!;
      const follower = followQueue(
        tenant.clinicId!,
        memberId,
        async () => {
          await app.reauthorize(request);
          return queueOf(request, memberId);
        },
        request.log,
      );
      // Listening before the first read: a change between the read and the stream is not lost.
      const unsubscribe = await app.notifications.subscribe(CHANNEL, queueNotification, (event) => follower.onNotification(event));
      let snapshot: Awaited<ReturnType<typeof queueOf>>;
      try {
        snapshot = await queueOf(request, memberId);
      } catch (error) {
        await unsubscribe();
        throw error;
      }
      const stream = reply.eventStream();
      stream.onClose(() => void unsubscribe());
      endAtExpiry(request, () => void stream.close(), stream.onClose.bind(stream));
      follower.attach(stream);
      stream.send('queue', snapshot);
      return reply;
    },
  );
}

/** The bearer token's expiry (the guard verified it), in epoch milliseconds. */
function tokenExpiry(request: FastifyRequest): number | undefined {
  const payload = request.headers.authorization?.split(' ')[1]?.split('.')[1];
  if (!payload) return undefined;
  const { exp } = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp?: unknown };
  return typeof exp === 'number' ? exp * 1000 : undefined;
}

/** Ends a long-lived response when its token expires, even if nothing changes meanwhile. */
function endAtExpiry(request: FastifyRequest, end: () => void, onClose: (cleanup: () => void) => void): void {
  const expiry = tokenExpiry(request);
  if (expiry === undefined) return;
  // setTimeout takes at most 2^31-1 ms; tokens last minutes.
  const timer = setTimeout(end, Math.min(Math.max(0, expiry - Date.now()), 2 ** 31 - 1));
  onClose(() => clearTimeout(timer));
}
