// Follow-ups (issue 11, point 6): a doctor asks for one in a consultation of their own, in N days or
// on a date; pending → completed | cancelled | missed, the database's state machine (CBSTA, rule
// follow_up_closed_is_final). Clinic admins, doctors and nurses read them, a patient their own
// (footnote 8: receptionists never; they book the appointment, which links the two: appointments).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { AppError } from '../../errors.ts';
import { toPage } from '../../http/pagination.ts';
import { clinicParams } from '../../http/params.ts';
import { type ChartReader, readRowsWithChartAccess } from '../../records/chart-access.ts';
import { findFollowUp, insertFollowUp, listFollowUps, setFollowUpStatus } from './queries.ts';
import { followUp, followUpInput, followUpPage, followUpParams, listQuery, type FollowUp } from './schemas.ts';

const RESOURCE = 'app_public.follow_ups';

const MOVES: Record<string, { to: FollowUp['status']; summary: string }> = {
  complete: { to: 'completed', summary: 'Complete a pending follow-up.' },
  cancel: { to: 'cancelled', summary: 'Cancel a pending follow-up.' },
  miss: { to: 'missed', summary: 'Mark a pending follow-up as missed.' },
};

export default async function followUpRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const tags = ['follow-ups'];
  // Follow-ups are chart data: every read records the patients whose follow-ups it returned.
  const reader = (request: FastifyRequest): ChartReader => ({ tenant: request.tenant!, supportGrantId: request.claims?.support_grant });

  app.post(
    '/',
    {
      ...app.permission(RESOURCE, 'insert'),
      // 404: the consultation is unknown, another clinic's, or not visible; 403 (the database): another
      // doctor's; 422: a due date before the clinic's today.
      schema: {
        tags,
        summary: 'Ask for a follow-up in a consultation of your own, in N days or on a date.',
        params: clinicParams,
        body: followUpInput,
        response: { 201: followUp },
        problems: ['NOT_FOUND', 'CONSTRAINT_VIOLATION'],
      },
    },
    async (request, reply) => {
      const created = await app.withTenant(request.tenant!, (db) => insertFollowUp(db, request.body));
      if (!created) throw new AppError('NOT_FOUND');
      return reply.code(201).send(created);
    },
  );

  app.get(
    '/',
    {
      ...app.permission(RESOURCE, 'select'),
      schema: {
        tags,
        summary: "Follow-ups, soonest due first: `?status=pending&doctorId=` is a doctor's worklist.",
        params: clinicParams,
        querystring: listQuery,
        response: { 200: followUpPage },
      },
    },
    async (request) => {
      const { limit } = request.query;
      const rows = await readRowsWithChartAccess(
        app,
        reader(request),
        (db) => listFollowUps(db, request.query, limit + 1),
        (f) => f.patientId,
        (found) => found.slice(0, limit),
      );
      return toPage(rows, limit, (f) => [f.dueDate, f.id]);
    },
  );

  app.get(
    '/:id',
    {
      ...app.permission(RESOURCE, 'select'),
      schema: { tags, summary: 'A follow-up.', params: followUpParams, response: { 200: followUp }, problems: ['NOT_FOUND'] },
    },
    async (request) => {
      const [found] = await readRowsWithChartAccess(
        app,
        reader(request),
        async (db) => {
          const row = await findFollowUp(db, request.params.id);
          return row ? [row] : [];
        },
        (f) => f.patientId,
      );
      if (!found) throw new AppError('NOT_FOUND');
      return found;
    },
  );

  for (const [action, { to, summary }] of Object.entries(MOVES)) {
    app.post(
      `/:id/${action}`,
      {
        ...app.permission(RESOURCE, 'update'),
        schema: { tags, summary, params: followUpParams, response: { 200: followUp }, problems: ['NOT_FOUND', 'INVALID_TRANSITION'] },
      },
      async (request) => {
        const moved = await app.withTenant(request.tenant!, (db) => setFollowUpStatus(db, request.params.id, to));
        if (!moved) throw new AppError('NOT_FOUND');
        return moved;
      },
    );
  }
}
