// Appointments: the front desk books for anyone, a portal patient for themselves, through the same
// routes. What a booking may be is the database's to say: one free slot of the doctor's schedule
// (CBSLT → SLOT_UNAVAILABLE), not taken (the exclusion constraint → SLOT_TAKEN), a transition the
// state machine allows (CBSTA → INVALID_TRANSITION), the patient's own (RLS → 403).
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { AppError } from '../../errors.ts';
import { toPage } from '../../http/pagination.ts';
import { clinicParams } from '../../http/params.ts';
import { bookAppointment, linkFollowUp, findAppointment, listAppointments, rescheduleAppointment, setAppointmentStatus, type Outcome } from './queries.ts';
import { appointment, appointmentPage, appointmentParams, bookBody, cancelBody, listQuery, rescheduleBody } from './schemas.ts';

const RESOURCE = 'app_public.appointments';
/** What a booking or a move can run into. */
const SLOT_PROBLEMS = ['SLOT_TAKEN', 'SLOT_UNAVAILABLE', 'CONSTRAINT_VIOLATION'] as const;

export default async function appointmentRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const tags = ['appointments'];

  app.get(
    '/',
    {
      ...app.permission(RESOURCE, 'select'),
      schema: { tags, params: clinicParams, querystring: listQuery, response: { 200: appointmentPage } },
    },
    async (request) => {
      const { limit } = request.query;
      const rows = await app.withTenant(request.tenant!, (db) => listAppointments(db, request.query, limit + 1));
      return toPage(rows, limit, (a) => [a.startsAt, a.id]);
    },
  );

  app.get(
    '/:id',
    {
      ...app.permission(RESOURCE, 'select'),
      schema: { tags, params: appointmentParams, response: { 200: appointment } },
    },
    async (request) => {
      const found = await app.withTenant(request.tenant!, (db) => findAppointment(db, request.params.id));
      if (!found) throw new AppError('NOT_FOUND');
      return found;
    },
  );

  app.post(
    '/',
    {
      ...app.permission(RESOURCE, 'insert'),
      schema: { tags, params: clinicParams, body: bookBody, response: { 201: appointment }, problems: SLOT_PROBLEMS },
    },
    async (request, reply) => {
      const { patientId, doctorId, startsAt, reason, followUpId } = request.body;
      // A portal patient books for their own record, which the database knows; staff say whose.
      if (!patientId && request.tenant!.role !== 'patient') {
        throw new AppError('VALIDATION_FAILED', undefined, { errors: [{ path: 'body.patientId', message: 'is required' }] });
      }
      const booked = await app.withTenant(request.tenant!, async (db) => {
        const made = await bookAppointment(db, { patientId, doctorId, startsAt, reason });
        // Not linkable (whatever the reason, the same answer): the booking is rolled back with it.
        if (followUpId !== undefined && !(await linkFollowUp(db, followUpId, made.id))) {
          throw new AppError('VALIDATION_FAILED', undefined, { errors: [{ path: 'body.followUpId', message: 'is not a pending follow-up of this patient' }] });
        }
        return made;
      });
      return reply.code(201).send(booked);
    },
  );

  app.patch(
    '/:id',
    {
      ...app.permission(RESOURCE, 'update'),
      schema: { tags, params: appointmentParams, body: rescheduleBody, response: { 200: appointment }, problems: [...SLOT_PROBLEMS, 'INVALID_TRANSITION'] },
    },
    async (request) => {
      const { startsAt, doctorId } = request.body;
      const moved = await app.withTenant(request.tenant!, (db) => rescheduleAppointment(db, request.params.id, startsAt, doctorId));
      if (!moved) throw new AppError('NOT_FOUND');
      return moved;
    },
  );

  app.post(
    '/:id/cancel',
    {
      ...app.permission(RESOURCE, 'update'),
      schema: { tags, params: appointmentParams, body: cancelBody, response: { 200: appointment }, problems: ['INVALID_TRANSITION'] },
    },
    async (request) => {
      const cancelled = await app.withTenant(request.tenant!, (db) => setAppointmentStatus(db, request.params.id, 'cancelled', request.body.reason));
      if (!cancelled) throw new AppError('NOT_FOUND');
      return cancelled;
    },
  );

  const outcome = (path: string, status: Exclude<Outcome, 'cancelled'>) =>
    app.post(
      `/:id/${path}`,
      {
        ...app.permission(RESOURCE, 'update'),
        schema: { tags, params: appointmentParams, response: { 200: appointment }, problems: ['INVALID_TRANSITION'] },
      },
      async (request) => {
        const changed = await app.withTenant(request.tenant!, (db) => setAppointmentStatus(db, request.params.id, status));
        if (!changed) throw new AppError('NOT_FOUND');
        return changed;
      },
    );
  outcome('complete', 'completed');
  outcome('no-show', 'no_show');
}
