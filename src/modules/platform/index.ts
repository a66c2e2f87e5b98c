// /api/v1/platform: operators log in, list clinics with plans and counts, onboard a clinic with its
// first admin, edit its profile, suspend and reactivate, change plans. Never patient data.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { verifyCredentials } from '../../auth/credentials.ts';
import { newInvitation } from '../../auth/invitations.ts';
import { isPlatformOperator } from '../../auth/queries.ts';
import { withAnonymous } from '../../db/contexts.ts';
import { AppError } from '../../errors.ts';
import { clinicParams } from '../../http/params.ts';
import { noContent } from '../../http/responses.ts';
import { credentialLimit } from '../../plugins/rate-limit.ts';
import { listClinics, onboardClinic, updateClinic } from './queries.ts';
import { clinicOverview, onboardBody, onboarded, planBody, platformLoginBody, platformSession, profileChange } from './schemas.ts';

export interface PlatformRoutesOptions {
  accessTokenTtlSeconds: number;
}

export default async function platformRoutes(fastify: FastifyInstance, options: PlatformRoutesOptions): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const tags = ['platform'];
  // Authenticated before validation: a caller without a token learns nothing of a route's input.
  const operator = { preValidation: app.requirePlatformOperator };

  app.post(
    '/auth/login',
    {
      config: credentialLimit,
      schema: { tags, body: platformLoginBody, response: { 200: platformSession }, problems: ['UNAUTHENTICATED', 'ONE_TIME_CODE_REQUIRED'] },
    },
    async (request) => {
      const caller = { requestId: request.id, clientIp: request.ip };
      const verified = await verifyCredentials({ withTenant: app.withTenant }, request.body, caller, {
        otp: request.body.otp,
        admits: (id) => withAnonymous(app.withTenant, caller, (db) => isPlatformOperator(db, id)),
      });
      return { tokenType: 'Bearer' as const, accessToken: await app.signPlatformToken(verified), expiresIn: options.accessTokenTtlSeconds };
    },
  );

  app.get('/clinics', { ...operator, schema: { tags, response: { 200: clinicOverview.array() } } }, async (request) =>
    app.withPlatform(request.tenant!, (db) => listClinics(db)),
  );

  app.post(
    '/clinics',
    {
      ...operator,
      // A slug already taken (409); a time zone the database does not know (422).
      schema: { tags, body: onboardBody, response: { 201: onboarded }, problems: ['CONFLICT', 'CONSTRAINT_VIOLATION'] },
    },
    async (request, reply) => {
      const invitation = newInvitation();
      const { slug, plan, admin, ...profile } = request.body;
      // One transaction: the clinic, its settings, its first admin's invitation (whose token goes
      // to the admin's e-mail only, through the outbox), its profile.
      const clinic = await app.withPlatform(request.tenant!, async (db) => {
        await onboardClinic(db, {
          slug,
          name: profile.name,
          timezone: profile.timezone,
          plan,
          adminEmail: admin.email,
          adminDisplayName: admin.displayName,
          invitation,
        });
        await updateClinic(db, slug, profile);
        return (await listClinics(db, { slug }))[0]!;
      });
      return reply.code(201).send({ clinic, invitation: { expiresAt: invitation.expiresAt } });
    },
  );

  for (const [action, status] of [
    ['suspend', 'suspended'],
    ['reactivate', 'active'],
  ] as const) {
    app.post(`/clinics/:slug/${action}`, { ...operator, schema: { tags, params: clinicParams, response: { 204: noContent } } }, async (request, reply) => {
      const changed = await app.withPlatform(request.tenant!, (db) => updateClinic(db, request.params.slug, { status }));
      if (!changed) throw new AppError('NOT_FOUND');
      await app.refreshBlockedAccess();
      return reply.code(204).send();
    });
  }

  app.patch(
    '/clinics/:slug',
    {
      ...operator,
      schema: { tags, params: clinicParams, body: profileChange, response: { 200: clinicOverview }, problems: ['CONSTRAINT_VIOLATION'] },
    },
    async (request) => {
      const clinic = await app.withPlatform(request.tenant!, async (db) =>
        (await updateClinic(db, request.params.slug, request.body)) ? (await listClinics(db, request.params))[0] : undefined,
      );
      if (!clinic) throw new AppError('NOT_FOUND');
      return clinic;
    },
  );

  app.patch(
    '/clinics/:slug/plan',
    {
      ...operator,
      schema: { tags, params: clinicParams, body: planBody, response: { 204: noContent } },
    },
    async (request, reply) => {
      const changed = await app.withPlatform(request.tenant!, (db) => updateClinic(db, request.params.slug, request.body));
      if (!changed) throw new AppError('NOT_FOUND');
      return reply.code(204).send();
    },
  );
}
