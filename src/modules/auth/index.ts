// /api/v1/auth: log in (to one clinic, or list the person's clinics), refresh, log out, who am I,
// switch clinic; accept an invitation; reset and change a password; manage the second factor.
// The routes only translate HTTP to the plain functions of sessions.ts, invitations.ts,
// passwords.ts and two-factor.ts, which get their dependencies (AuthDeps) built here once.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { FastifyRequest } from 'fastify';
import type { Caller } from '../../db/contexts.ts';
import { AppError } from '../../errors.ts';
import { accepted, noContent } from '../../http/responses.ts';
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
import type { AuthDeps } from './deps.ts';
import { acceptInvitation } from './invitations.ts';
import { changePassword, requestPasswordReset, resetPassword } from './passwords.ts';
import { login, logout, memberships, refresh, switchClinic } from './sessions.ts';
import { disableTwoFactor, enableTwoFactor, replaceRecoveryCodes, startTwoFactorSetup } from './two-factor.ts';

const caller = (request: FastifyRequest): Caller => ({ requestId: request.id, clientIp: request.ip });

export interface AuthRoutesOptions {
  accessTokenTtlSeconds: number;
}

export default async function authRoutes(fastify: FastifyInstance, options: AuthRoutesOptions): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const deps: AuthDeps = {
    withTenant: fastify.withTenant,
    signAccessToken: (claims) => fastify.signAccessToken(claims),
    refreshBlockedAccess: () => fastify.refreshBlockedAccess(),
    accessTokenTtlSeconds: options.accessTokenTtlSeconds,
  };
  const tags = ['auth'];

  app.post(
    '/login',
    {
      config: credentialLimit,
      schema: {
        tags,
        body: loginBody,
        response: { 200: session.or(clinicChoice) },
        problems: ['UNAUTHENTICATED', 'ONE_TIME_CODE_REQUIRED', 'TWO_FACTOR_REQUIRED'],
      },
    },
    async (request) => login(deps, request.body, caller(request)),
  );

  app.post(
    '/refresh',
    {
      config: credentialLimit,
      schema: { tags, body: refreshBody, response: { 200: session }, problems: ['UNAUTHENTICATED'] },
    },
    async (request) => refresh(deps, request.body.refreshToken, caller(request)),
  );

  app.post(
    '/logout',
    {
      config: credentialLimit,
      schema: { tags, body: refreshBody, response: { 204: noContent } },
    },
    async (request, reply) => {
      await logout(deps, request.body.refreshToken, caller(request));
      return reply.code(204).send();
    },
  );

  app.get(
    '/me',
    {
      schema: { tags, response: { 200: me } },
      preValidation: app.authenticate,
    },
    async (request) => {
      const claims = request.claims!;
      const membership = (await memberships(deps, claims.sub, caller(request))).find((m) => m.clinicId === claims.clinic_id);
      // A membership deactivated after the token was issued: the token outlives it by minutes at most.
      if (!membership) throw new AppError('UNAUTHENTICATED', 'The membership of this token has ended.');
      return { accountId: claims.sub, membership };
    },
  );

  app.post(
    '/invitations/accept',
    {
      config: credentialLimit,
      schema: {
        tags,
        body: acceptInvitationBody,
        response: { 200: session },
        problems: ['NOT_FOUND', 'UNAUTHENTICATED', 'ONE_TIME_CODE_REQUIRED', 'TWO_FACTOR_REQUIRED'],
      },
    },
    async (request) => acceptInvitation(deps, request.body, caller(request)),
  );

  app.post(
    '/password/reset-request',
    { config: credentialLimit, schema: { tags, body: resetRequestBody, response: { 202: accepted } } },
    async (request, reply) => {
      await requestPasswordReset(deps, request.body.email, caller(request));
      return reply.code(202).send();
    },
  );

  app.post(
    '/password/reset',
    {
      config: credentialLimit,
      schema: { tags, body: resetBody, response: { 204: noContent }, problems: ['NOT_FOUND'] },
    },
    async (request, reply) => {
      await resetPassword(deps, request.body.token, request.body.password, caller(request));
      return reply.code(204).send();
    },
  );

  app.post(
    '/password',
    {
      config: credentialLimit,
      schema: { tags, body: changePasswordBody, response: { 204: noContent } },
      preValidation: app.authenticate,
    },
    async (request, reply) => {
      await changePassword(deps, request.tenant!, caller(request), request.body);
      return reply.code(204).send();
    },
  );

  app.post(
    '/switch',
    {
      schema: { tags, body: switchBody, response: { 200: session }, problems: ['NOT_FOUND', 'ONE_TIME_CODE_REQUIRED', 'TWO_FACTOR_REQUIRED'] },
      preValidation: app.authenticate,
    },
    async (request) => {
      const claims = request.claims!;
      return switchClinic(deps, { accountId: claims.sub, twoFactor: claims.amr.includes('otp') }, request.body.clinicSlug, caller(request));
    },
  );

  // Two-factor authentication (TOTP). Each call proves the password (so a person can set it up
  // before a clinic that requires it lets them in); failures count towards the login lock.
  const twoFactorTags = ['two-factor'];
  app.post(
    '/two-factor/setup',
    {
      config: credentialLimit,
      schema: { tags: twoFactorTags, body: twoFactorSetupBody, response: { 200: twoFactorSetup }, problems: ['UNAUTHENTICATED', 'CONFLICT'] },
    },
    async (request) => startTwoFactorSetup(deps, request.body, caller(request)),
  );

  app.post(
    '/two-factor/enable',
    {
      config: credentialLimit,
      schema: { tags: twoFactorTags, body: twoFactorEnableBody, response: { 200: recoveryCodes }, problems: ['UNAUTHENTICATED', 'CONFLICT'] },
    },
    async (request) => enableTwoFactor(deps, request.body, caller(request)),
  );

  app.post(
    '/two-factor/disable',
    {
      config: credentialLimit,
      schema: { tags: twoFactorTags, body: twoFactorChangeBody, response: { 204: noContent }, problems: ['UNAUTHENTICATED', 'CONFLICT'] },
    },
    async (request, reply) => {
      await disableTwoFactor(deps, request.body, caller(request));
      return reply.code(204).send();
    },
  );

  app.post(
    '/two-factor/recovery-codes',
    {
      config: credentialLimit,
      schema: { tags: twoFactorTags, body: twoFactorChangeBody, response: { 200: recoveryCodes }, problems: ['UNAUTHENTICATED', 'CONFLICT'] },
    },
    async (request) => replaceRecoveryCodes(deps, request.body, caller(request)),
  );
}
