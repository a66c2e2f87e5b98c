// A clinic's departments: every member reads them, clinic admins create them.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { AppError } from '../../errors.ts';
import { findDepartment, insertDepartment, listDepartments } from './queries.ts';
import { toPage } from '../../http/pagination.ts';
import { clinicParams } from '../../http/params.ts';
import { department, departmentInput, departmentPage, departmentParams, listQuery } from './schemas.ts';

const RESOURCE = 'app_public.departments';

export default async function departmentRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const tags = ['departments'];

  app.get(
    '/',
    {
      ...app.permission(RESOURCE, 'select'),
      schema: { tags, params: clinicParams, querystring: listQuery, response: { 200: departmentPage } },
    },
    async (request) => {
      const { limit, after } = request.query;
      // One extra row tells whether there is a next page.
      const rows = await app.withTenant(request.tenant!, (db) => listDepartments(db, limit + 1, after));
      return toPage(rows, limit, (d) => [d.code, d.id]);
    },
  );

  app.get(
    '/:id',
    {
      ...app.permission(RESOURCE, 'select'),
      schema: { tags, params: departmentParams, response: { 200: department } },
    },
    async (request) => {
      const found = await app.withTenant(request.tenant!, (db) => findDepartment(db, request.params.id));
      if (!found) throw new AppError('NOT_FOUND');
      return found;
    },
  );

  app.post(
    '/',
    {
      ...app.permission(RESOURCE, 'insert'),
      // A code or name the clinic already has: 409.
      schema: { tags, params: clinicParams, body: departmentInput, response: { 201: department }, problems: ['CONFLICT'] },
    },
    async (request, reply) => {
      const created = await app.withTenant(request.tenant!, (db) => insertDepartment(db, request.body));
      return reply.code(201).send(created);
    },
  );
}
