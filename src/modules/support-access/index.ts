// Break-glass support, consented. Clinic admins grant a platform operator time-limited read
// access, list the grants and revoke them (/api/v1/clinics/{slug}/support-access). The operator
// lists the grants they hold and takes a read-only token for the clinic
// (/api/v1/platform/support-access); every request made with it is checked and audited by the
// clinic guard (src/auth/guard.ts).
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { randomUUID } from 'node:crypto';
import { useSupportAccess } from '../../auth/support-access.ts';
import { AppError } from '../../errors.ts';
import { clinicParams } from '../../http/params.ts';
import { createGrant, listGrants, mySupportGrants, operatorByEmail, revokeGrant } from './queries.ts';
import { grant, grantBody, grantParams, operatorGrant, operatorGrantParams, supportSession } from './schemas.ts';

const RESOURCE = 'app_public.support_access_grants';
const tags = ['support-access'];

export async function clinicSupportAccessRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();

  app.get(
    '/',
    {
      ...app.permission(RESOURCE, 'select'),
      schema: { tags, params: clinicParams, response: { 200: grant.array() } },
    },
    async (request) => app.withTenant(request.tenant!, listGrants),
  );

  app.post(
    '/',
    {
      ...app.permission(RESOURCE, 'insert'),
      schema: { tags, params: clinicParams, body: grantBody, response: { 201: grant } },
    },
    async (request, reply) => {
      const { operatorEmail, reason, hours } = request.body;
      const created = await app.withTenant(request.tenant!, async (db) => {
        const operatorAccountId = await operatorByEmail(db, operatorEmail);
        if (!operatorAccountId) {
          throw new AppError('VALIDATION_FAILED', undefined, { errors: [{ path: 'body.operatorEmail', message: 'is not a platform operator' }] });
        }
        return createGrant(db, { operatorAccountId, reason, hours });
      });
      return reply.code(201).send(created);
    },
  );

  app.post(
    '/:id/revoke',
    {
      ...app.permission(RESOURCE, 'update'),
      schema: { tags, params: grantParams, response: { 200: grant } },
    },
    async (request) => {
      const revoked = await app.withTenant(request.tenant!, (db) => revokeGrant(db, request.params.id));
      if (!revoked) throw new AppError('NOT_FOUND', 'No grant in force has this id.');
      return revoked;
    },
  );
}

export interface OperatorSupportAccessOptions {
  accessTokenTtlSeconds: number;
}

export async function operatorSupportAccessRoutes(fastify: FastifyInstance, options: OperatorSupportAccessOptions): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const operator = { preValidation: app.requirePlatformOperator };

  app.get('/', { ...operator, schema: { tags, response: { 200: operatorGrant.array() } } }, async (request) =>
    app.withPlatform(request.tenant!, mySupportGrants),
  );

  /** A clinic-scoped token, read-only, that ends with the grant (or sooner, as every access token). */
  app.post(
    '/:grantId/token',
    {
      ...operator,
      schema: { tags, params: operatorGrantParams, response: { 200: supportSession }, problems: ['TWO_FACTOR_REQUIRED'] },
    },
    async (request) => {
      const amr = request.operatorClaims!.amr;
      const twoFactor = amr.includes('otp');
      const found = await app.withPlatform(request.tenant!, async (db) => {
        const held = (await mySupportGrants(db)).find((g) => g.grantId === request.params.grantId);
        if (held?.requiresTwoFactor && !twoFactor) {
          throw new AppError('TWO_FACTOR_REQUIRED', 'This clinic requires two-factor authentication: log in to the platform with a one-time code.');
        }
        const issued = held && (await useSupportAccess(db, { grantId: held.grantId, clinicId: held.clinicId, twoFactor, what: 'token_issued', details: {} }));
        return issued ? held : undefined;
      });
      if (!found) throw new AppError('NOT_FOUND', 'No grant in force has this id.');
      const expiresIn = Math.min(options.accessTokenTtlSeconds, Math.floor((found.expiresAt.getTime() - Date.now()) / 1000));
      if (expiresIn < 1) throw new AppError('NOT_FOUND', 'No grant in force has this id.');
      const accessToken = await app.signAccessToken(
        {
          sub: request.tenant!.userId!,
          clinic_id: found.clinicId,
          clinic_slug: found.clinicSlug,
          role: 'clinic_admin',
          jti: randomUUID(),
          amr,
          support_grant: found.grantId,
        },
        expiresIn,
      );
      return { tokenType: 'Bearer' as const, accessToken, expiresIn, clinicSlug: found.clinicSlug, readOnly: true as const };
    },
  );
}
