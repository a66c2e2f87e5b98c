// A doctor's schedule as the front desk and the portal see it: free slots (every member, patients
// included: they book from them) and time off (staff read it; clinic admins, receptionists and the
// doctor themselves manage it). Registered under the clinic's prefix: `doctors/{memberId}/…` and
// `time-off/{id}`. A member id that is not a doctor of the caller's clinic is 404, like an unknown one.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { AppError } from '../../errors.ts';
import { toPage } from '../../http/pagination.ts';
import { noContent } from '../../http/responses.ts';
import { deleteTimeOff, freeSlots, insertTimeOff, isDoctor, listTimeOff } from './queries.ts';
import { availability, availabilityQuery, doctorParams, timeOff, timeOffBody, timeOffListQuery, timeOffPage, timeOffParams } from './schemas.ts';

const TIME_OFF = 'app_public.doctor_time_off';
// Free slots come from the doctors' office hours, part of their membership, which every member reads.
const SCHEDULES = 'app_public.clinic_members';

export default async function doctorRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const tags = ['doctors'];

  app.get(
    '/doctors/:memberId/availability',
    {
      ...app.permission(SCHEDULES, 'select'),
      schema: { tags, params: doctorParams, querystring: availabilityQuery, response: { 200: availability }, problems: ['NOT_FOUND'] },
    },
    async (request) => {
      const { memberId } = request.params;
      const { from, to } = request.query;
      const slots = await app.withTenant(request.tenant!, async (db) => ((await isDoctor(db, memberId)) ? freeSlots(db, memberId, from, to) : undefined));
      if (!slots) throw new AppError('NOT_FOUND');
      return { doctorId: memberId, from, to, slots };
    },
  );

  app.get(
    '/doctors/:memberId/time-off',
    {
      ...app.permission(TIME_OFF, 'select'),
      schema: { tags, params: doctorParams, querystring: timeOffListQuery, response: { 200: timeOffPage }, problems: ['NOT_FOUND'] },
    },
    async (request) => {
      const { memberId } = request.params;
      const { limit } = request.query;
      const rows = await app.withTenant(request.tenant!, async (db) =>
        (await isDoctor(db, memberId)) ? listTimeOff(db, memberId, request.query, limit + 1) : undefined,
      );
      if (!rows) throw new AppError('NOT_FOUND');
      return toPage(rows, limit, (row) => [row.startsAt, row.id]);
    },
  );

  app.post(
    '/doctors/:memberId/time-off',
    {
      ...app.permission(TIME_OFF, 'insert'),
      // A doctor blocking another doctor's time: 403 (the policy); an end before the start: 422.
      schema: { tags, params: doctorParams, body: timeOffBody, response: { 201: timeOff }, problems: ['NOT_FOUND', 'CONSTRAINT_VIOLATION'] },
    },
    async (request, reply) => {
      const { memberId } = request.params;
      const created = await app.withTenant(request.tenant!, async (db) =>
        (await isDoctor(db, memberId)) ? insertTimeOff(db, memberId, request.body) : undefined,
      );
      if (!created) throw new AppError('NOT_FOUND');
      return reply.code(201).send(created);
    },
  );

  app.delete(
    '/time-off/:id',
    {
      ...app.permission(TIME_OFF, 'delete'),
      schema: { tags, params: timeOffParams, response: { 204: noContent }, problems: ['NOT_FOUND'] },
    },
    async (request, reply) => {
      const deleted = await app.withTenant(request.tenant!, (db) => deleteTimeOff(db, request.params.id));
      if (!deleted) throw new AppError('NOT_FOUND');
      return reply.code(204).send();
    },
  );
}
