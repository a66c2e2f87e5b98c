// buildApp() assembles an un-started Fastify instance; server.ts makes it listen. Tests drive
// the same instance with inject().
import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { SigningKeys } from './auth/keys.ts';
import { type Config, DEFAULT_FILE_MAX_BYTES } from './config.ts';
import type { FieldCipher } from './crypto/field-encryption.ts';
import type { TransactionSettings } from './db/tenant.ts';
import appointmentRoutes from './modules/appointments/index.ts';
import authRoutes from './modules/auth/index.ts';
import { consultationRoutes, icd10Routes } from './modules/consultations/index.ts';
import departmentRoutes from './modules/departments/index.ts';
import exportRoutes from './modules/exports/index.ts';
import doctorRoutes from './modules/doctors/index.ts';
import fileRoutes from './modules/files/index.ts';
import followUpRoutes from './modules/follow-ups/index.ts';
import memberRoutes from './modules/members/index.ts';
import { testReportRoutes, testRequestRoutes } from './modules/lab/index.ts';
import patientRoutes from './modules/patients/index.ts';
import platformRoutes from './modules/platform/index.ts';
import prescriptionRoutes from './modules/prescriptions/index.ts';
import settingsRoutes from './modules/settings/index.ts';
import { doctorQueueRoutes, visitRoutes } from './modules/visits/index.ts';
import { clinicSupportAccessRoutes, operatorSupportAccessRoutes } from './modules/support-access/index.ts';
import healthRoutes, { type HealthOptions } from './modules/health/index.ts';
import apiDocsPlugin from './plugins/api-docs.ts';
import authPlugin, { type AuthPluginOptions } from './plugins/auth.ts';
import corsPlugin from './plugins/cors.ts';
import dbPlugin from './plugins/db.ts';
import errorsPlugin from './plugins/errors.ts';
import graphqlPlugin from './plugins/graphql.ts';
import { defaultGraphqlConfig } from './graphql/config.ts';
import eventStreamsPlugin from './plugins/event-streams.ts';
import multipartPlugin from './plugins/multipart.ts';
import problemResponsesPlugin from './plugins/problem-responses.ts';
import rateLimitPlugin from './plugins/rate-limit.ts';
import securityHeadersPlugin from './plugins/security-headers.ts';
import storagePlugin from './plugins/storage.ts';

export interface AppConfig
  extends Pick<Config, 'env' | 'logLevel' | 'storageDir'>,
    Partial<Pick<Config, 'trustProxy' | 'redisUrl' | 'corsOrigins' | 'apiDocs' | 'fileMaxBytes' | 'graphql'>> {
  /** `transactions` unset: DEFAULT_TRANSACTION_SETTINGS (src/db/tenant.ts). */
  database: {
    authenticatorUrl: string;
    /** The notification listener's URL; unset: `authenticatorUrl` (src/plugins/db.ts). */
    listenUrl?: string | undefined;
    poolSize: number;
    transactions?: Partial<TransactionSettings>;
  };
  /** `loginAttemptsPerMinute`: calls per client address per minute on each credential route (plugins/rate-limit.ts). */
  auth: AuthPluginOptions & { loginAttemptsPerMinute: number };
  /** Encrypts and hashes sensitive fields (identification numbers) before they reach Postgres. */
  fieldCipher: FieldCipher;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The field cipher of AppConfig, for the modules that store encrypted columns. */
    fieldCipher: FieldCipher;
  }
}

/**
 * The AppConfig of a process configured from the environment (`npm start`, `npm run seed:demo`):
 * the Config, plus what was prepared from it before the app could be built.
 */
export function appConfigFrom(config: Config, prepared: { authenticatorUrl: string; keys: SigningKeys; fieldCipher: FieldCipher }): AppConfig {
  return {
    env: config.env,
    logLevel: config.logLevel,
    storageDir: config.storageDir,
    fileMaxBytes: config.fileMaxBytes,
    trustProxy: config.trustProxy,
    redisUrl: config.redisUrl,
    corsOrigins: config.corsOrigins,
    apiDocs: config.apiDocs,
    graphql: config.graphql,
    database: {
      authenticatorUrl: prepared.authenticatorUrl,
      listenUrl: config.database.listenUrl,
      poolSize: config.database.poolSize,
      transactions: config.database.transactions,
    },
    auth: {
      keys: prepared.keys,
      accessTokenTtlSeconds: config.jwt.accessTokenTtlSeconds,
      loginAttemptsPerMinute: config.jwt.loginAttemptsPerMinute,
    },
    fieldCipher: prepared.fieldCipher,
  };
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;

/**
 * Logs are JSON with the request id and without PHI: no bodies, no query strings (they may hold
 * names or phone numbers), no credentials.
 */
export function loggerOptions(level: string, stream?: NodeJS.WritableStream): FastifyServerOptions['logger'] {
  return {
    level,
    ...(stream ? { stream } : {}),
    redact: {
      // Defence in depth for objects someone logs on purpose: credentials and the usual PHI fields.
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        'res.headers["set-cookie"]',
        '*.password',
        '*.token',
        '*.accessToken',
        '*.refreshToken',
        '*.name',
        '*.firstName',
        '*.lastName',
        '*.email',
        '*.phone',
        '*.dateOfBirth',
        '*.address',
      ],
      censor: '[redacted]',
    },
    serializers: {
      req: (req) => ({ method: req.method, url: req.url.split('?')[0], remoteAddress: req.ip }),
    },
  };
}

export interface BuildOptions {
  /** Where logs go (default stdout); tests read them to prove what is never logged. */
  logStream?: NodeJS.WritableStream;
  /** Prefix of the rate-limit counters in Redis (tests that share one Redis keep apart). */
  rateLimitNameSpace?: string;
  /** The in-process worker's figures for GET /health/worker (WORKER_IN_PROCESS; it starts after the app is built). */
  workerFigures?: HealthOptions['workerFigures'];
}

export async function buildApp(config: AppConfig, options: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: loggerOptions(config.logLevel, options.logStream),
    logController: new LogController({ requestIdLogLabel: 'requestId' }),
    // Accept a caller's correlation id when it is well-formed; otherwise mint one.
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    bodyLimit: 1024 * 1024,
    return503OnClosing: true,
    trustProxy: config.trustProxy ?? false,
    // One route per path: `/departments/` reaches the same handler as `/departments`, the one
    // URL the OpenAPI document publishes (a collection registered as `/` under its prefix would
    // otherwise be two routes, and the document would list the one with the slash).
    routerOptions: { ignoreTrailingSlash: true },
  });
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });

  await app.register(errorsPlugin);
  await app.register(securityHeadersPlugin);
  await app.register(corsPlugin, { origins: config.corsOrigins ?? [] });
  await app.register(apiDocsPlugin, { serve: config.apiDocs ?? config.env !== 'production' });
  await app.register(rateLimitPlugin, {
    credentialAttemptsPerMinute: config.auth.loginAttemptsPerMinute,
    redisUrl: config.redisUrl,
    nameSpace: options.rateLimitNameSpace,
  });
  await app.register(dbPlugin, {
    url: config.database.authenticatorUrl,
    listenUrl: config.database.listenUrl,
    poolSize: config.database.poolSize,
    transactions: config.database.transactions ?? {},
  });
  await app.register(authPlugin, config.auth);
  app.decorate('fieldCipher', config.fieldCipher);
  await app.register(eventStreamsPlugin);
  await app.register(multipartPlugin);
  await app.register(storagePlugin, { dir: config.storageDir });
  // Before every route it describes: it reads each route's declaration as the route is added.
  await app.register(problemResponsesPlugin);
  await app.register(healthRoutes, { workerFigures: options.workerFigures });
  await app.register(authRoutes, { prefix: '/api/v1/auth', accessTokenTtlSeconds: config.auth.accessTokenTtlSeconds });
  await app.register(platformRoutes, { prefix: '/api/v1/platform', accessTokenTtlSeconds: config.auth.accessTokenTtlSeconds });
  await app.register(consultationRoutes, { prefix: '/api/v1/clinics/:slug/consultations' });
  await app.register(departmentRoutes, { prefix: '/api/v1/clinics/:slug/departments' });
  await app.register(memberRoutes, { prefix: '/api/v1/clinics/:slug/members' });
  await app.register(settingsRoutes, { prefix: '/api/v1/clinics/:slug/settings' });
  await app.register(appointmentRoutes, { prefix: '/api/v1/clinics/:slug/appointments' });
  await app.register(doctorRoutes, { prefix: '/api/v1/clinics/:slug' });
  await app.register(fileRoutes, { prefix: '/api/v1/clinics/:slug/files', maxBytes: config.fileMaxBytes ?? DEFAULT_FILE_MAX_BYTES });
  await app.register(followUpRoutes, { prefix: '/api/v1/clinics/:slug/follow-ups' });
  await app.register(patientRoutes, { prefix: '/api/v1/clinics/:slug/patients' });
  await app.register(clinicSupportAccessRoutes, { prefix: '/api/v1/clinics/:slug/support-access' });
  await app.register(icd10Routes, { prefix: '/api/v1/clinics/:slug/icd10' });
  await app.register(visitRoutes, { prefix: '/api/v1/clinics/:slug/visits' });
  await app.register(testRequestRoutes, { prefix: '/api/v1/clinics/:slug/test-requests' });
  await app.register(testReportRoutes, { prefix: '/api/v1/clinics/:slug/test-reports', maxBytes: config.fileMaxBytes ?? DEFAULT_FILE_MAX_BYTES });
  await app.register(prescriptionRoutes, { prefix: '/api/v1/clinics/:slug/prescriptions' });
  await app.register(doctorQueueRoutes, { prefix: '/api/v1/clinics/:slug/doctors' });
  await app.register(exportRoutes, { prefix: '/api/v1/clinics/:slug' });
  await app.register(graphqlPlugin, {
    graphql: config.graphql ?? defaultGraphqlConfig(config.env),
    env: config.env,
    transactions: config.database.transactions ?? {},
  });
  await app.register(operatorSupportAccessRoutes, {
    prefix: '/api/v1/platform/support-access',
    accessTokenTtlSeconds: config.auth.accessTokenTtlSeconds,
  });
  return app;
}
