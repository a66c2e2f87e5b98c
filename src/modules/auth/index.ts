// /api/v1/auth: log in (to one clinic, or list the person's clinics), refresh, log out, who am I,
// switch clinic.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { AppError } from '../../errors.ts';
import { clinicChoice, loginBody, me, refreshBody, session, switchBody } from './schemas.ts';
import { AuthService } from './service.ts';

export interface AuthRoutesOptions {
  accessTokenTtlSeconds: number;
}

export default async function authRoutes(fastify: FastifyInstance, options: AuthRoutesOptions): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const service = new AuthService(fastify, options.accessTokenTtlSeconds);
  const tags = ['auth'];
  const security = [{ bearer: [] }];

  app.post('/login', {
    schema: { tags, body: loginBody, response: { 200: session.or(clinicChoice) } },
  }, async (request) => service.login(request.body, request.id));

  app.post('/refresh', {
    schema: { tags, body: refreshBody, response: { 200: session } },
  }, async (request) => service.refresh(request.body.refreshToken, request.id));

  app.post('/logout', {
    schema: { tags, body: refreshBody },
  }, async (request, reply) => {
    await service.logout(request.body.refreshToken, request.id);
    return reply.code(204).send();
  });

  app.get('/me', {
    schema: { tags, security, response: { 200: me } },
    preHandler: app.authenticate,
  }, async (request) => {
    const claims = request.claims!;
    const membership = (await service.memberships(claims.sub, request.id)).find((m) => m.clinicId === claims.clinic_id);
    // A membership deactivated after the token was issued: the token outlives it by minutes at most.
    if (!membership) throw new AppError('UNAUTHENTICATED', 'The membership of this token has ended.');
    return { accountId: claims.sub, membership };
  });

  app.post('/switch', {
    schema: { tags, security, body: switchBody, response: { 200: session } },
    preHandler: app.authenticate,
  }, async (request) => service.switchClinic(request.claims!.sub, request.body.clinicSlug, request.id));
}
