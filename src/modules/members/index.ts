// A clinic's staff and patients' memberships: every member lists (RLS hides other patients from
// patients), clinic admins invite, change roles and profiles, and deactivate.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { newInvitation } from '../../auth/invitations.ts';
import { AppError } from '../../errors.ts';
import { toPage } from '../../http/pagination.ts';
import { clinicParams } from '../../http/params.ts';
import { findMember, inviteMember, listMembers, updateMember } from './queries.ts';
import { invited, inviteBody, listQuery, member, memberPage, memberParams, updateBody, type Member } from './schemas.ts';

const RESOURCE = 'app_public.clinic_members';

export default async function memberRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const tags = ['members'];

  app.get(
    '/',
    {
      ...app.permission(RESOURCE, 'select'),
      schema: { tags, params: clinicParams, querystring: listQuery, response: { 200: memberPage } },
    },
    async (request) => {
      const { limit, after } = request.query;
      const rows = await app.withTenant(request.tenant!, (db) => listMembers(db, limit + 1, after));
      return toPage(rows as Member[], limit, (m) => [m.displayName, m.id]);
    },
  );

  app.post(
    '/invitations',
    {
      ...app.permission(RESOURCE, 'insert'),
      // Already a member, a licence number taken, or the plan's limit for the role: 409.
      schema: { tags, params: clinicParams, body: inviteBody, response: { 201: invited }, problems: ['CONFLICT'] },
    },
    async (request, reply) => {
      // The token goes to the invited e-mail only (the outbox), never to the admin who invites.
      const invitation = newInvitation();
      const created = await app.withTenant(request.tenant!, async (db) => {
        const id = await inviteMember(db, { ...request.body, invitation });
        return findMember(db, id);
      });
      return reply.code(201).send({ member: created as Member, invitation: { expiresAt: invitation.expiresAt } });
    },
  );

  app.patch(
    '/:id',
    {
      ...app.permission(RESOURCE, 'update'),
      // The clinic's last active admin, a licence number taken, or the plan's limit for the role: 409.
      schema: { tags, params: memberParams, body: updateBody, response: { 200: member }, problems: ['CONFLICT'] },
    },
    async (request) => {
      const updated = await app.withTenant(request.tenant!, (db) => updateMember(db, request.params.id, request.body));
      if (!updated) throw new AppError('NOT_FOUND');
      // A deactivation or a role change ends the member's tokens here at once (elsewhere within seconds).
      if (request.body.status !== undefined || request.body.role !== undefined) await app.refreshBlockedAccess();
      return updated as Member;
    },
  );
}
