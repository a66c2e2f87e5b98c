// /api/v1/auth: log in (to one clinic, or list the person's clinics), refresh, log out, who am I,
// switch clinic.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { FastifyRequest } from 'fastify';
import { AppError } from '../../errors.ts';
import { credentialLimit } from '../../plugins/rate-limit.ts';
import {
  acceptInvitationBody,
  changePasswordBody,
  clinicChoice,
  loginBody,
  me,
  recoveryCodes,
  refreshBody,
  resetBody,
  resetRequestBody,
  session,
  switchBody,
  twoFactorChangeBody,
  twoFactorEnableBody,
  twoFactorSetup,
  twoFactorSetupBody,
} from './schemas.ts';
import { AuthService, type Caller } from './service.ts';

const caller = (request: FastifyRequest): Caller => ({ requestId: request.id, clientIp: request.ip });

export interface AuthRoutesOptions {
  accessTokenTtlSeconds: number;
}

export default async function authRoutes(fastify: FastifyInstance, options: AuthRoutesOptions): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const service = new AuthService(fastify, options.accessTokenTtlSeconds);
  const tags = ['auth'];
  const security = [{ bearer: [] }];

  app.post('/login', {
    config: credentialLimit,
    schema: { tags, body: loginBody, response: { 200: session.or(clinicChoice) } },
  }, async (request) => service.login(request.body, caller(request)));

  app.post('/refresh', {
    config: credentialLimit,
    schema: { tags, body: refreshBody, response: { 200: session } },
  }, async (request) => service.refresh(request.body.refreshToken, caller(request)));

  app.post('/logout', {
    config: credentialLimit,
    schema: { tags, body: refreshBody },
  }, async (request, reply) => {
    await service.logout(request.body.refreshToken, caller(request));
    return reply.code(204).send();
  });

  app.get('/me', {
    schema: { tags, security, response: { 200: me } },
    preValidation: app.authenticate,
  }, async (request) => {
    const claims = request.claims!;
    const membership = (await service.memberships(claims.sub, caller(request))).find((m) => m.clinicId === claims.clinic_id);
    // A membership deactivated after the token was issued: the token outlives it by minutes at most.
    if (!membership) throw new AppError('UNAUTHENTICATED', 'The membership of this token has ended.');
    return { accountId: claims.sub, membership };
  });

  app.post('/invitations/accept', {
    config: credentialLimit,
    schema: { tags, body: acceptInvitationBody, response: { 200: session } },
  }, async (request) => service.acceptInvitation(request.body.token, request.body.password, request.body.otp, caller(request)));

  app.post('/password/reset-request', { config: credentialLimit, schema: { tags, body: resetRequestBody } }, async (request, reply) => {
    await service.requestPasswordReset(request.body.email, caller(request));
    return reply.code(202).send();
  });

  app.post('/password/reset', { config: credentialLimit, schema: { tags, body: resetBody } }, async (request, reply) => {
    await service.resetPassword(request.body.token, request.body.password, caller(request));
    return reply.code(204).send();
  });

  app.post('/password', {
    config: credentialLimit,
    schema: { tags, security, body: changePasswordBody },
    preValidation: app.authenticate,
  }, async (request, reply) => {
    await service.changePassword(request.tenant!, caller(request), request.body.currentPassword, request.body.newPassword);
    return reply.code(204).send();
  });

  app.post('/switch', {
    schema: { tags, security, body: switchBody, response: { 200: session } },
    preValidation: app.authenticate,
  }, async (request) => {
    const claims = request.claims!;
    return service.switchClinic({ accountId: claims.sub, twoFactor: claims.amr.includes('otp') }, request.body.clinicSlug, caller(request));
  });

  // Two-factor authentication (TOTP). Each call proves the password (so a person can set it up
  // before a clinic that requires it lets them in); failures count towards the login lock.
  const twoFactorTags = ['two-factor'];
  app.post('/two-factor/setup', {
    config: credentialLimit,
    schema: { tags: twoFactorTags, body: twoFactorSetupBody, response: { 200: twoFactorSetup } },
  }, async (request) => service.startTwoFactorSetup(request.body.email, request.body.password, caller(request)));

  app.post('/two-factor/enable', {
    config: credentialLimit,
    schema: { tags: twoFactorTags, body: twoFactorEnableBody, response: { 200: recoveryCodes } },
  }, async (request) => service.enableTwoFactor(request.body.email, request.body.password, request.body.code, caller(request)));

  app.post('/two-factor/disable', {
    config: credentialLimit,
    schema: { tags: twoFactorTags, body: twoFactorChangeBody },
  }, async (request, reply) => {
    await service.disableTwoFactor(request.body.email, request.body.password, request.body.otp, caller(request));
    return reply.code(204).send();
  });

  app.post('/two-factor/recovery-codes', {
    config: credentialLimit,
    schema: { tags: twoFactorTags, body: twoFactorChangeBody, response: { 200: recoveryCodes } },
  }, async (request) => service.replaceRecoveryCodes(request.body.email, request.body.password, request.body.otp, caller(request)));
}
