// GraphQL at /graphql: PostGraphile 5 in the same Fastify server (grafserv's Fastify 5 adaptor),
// built from the one preset (src/graphql/preset.ts). Every request passes the clinic guard that
// REST routes pass, before any GraphQL is parsed: no verified clinic token, no GraphQL.
import { createHash } from 'node:crypto';
import type { FastifyContextConfig, FastifyInstance, FastifyRequest, preHandlerAsyncHookHandler, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import type { GraphQLSchema } from 'graphql';
import { postgraphile, type PostGraphileInstance } from 'postgraphile';
import { grafserv } from 'postgraphile/grafserv/fastify/v5';
import type { TransactionSettings } from '../db/tenant.ts';
import { AppError } from '../errors.ts';
import type { GraphqlConfig } from '../graphql/config.ts';
import type { AppEnv } from '../graphql/errors.ts';
import { graphqlRequestSchema, graphqlResponses } from '../graphql/http.ts';
import { GRAPHIQL_PATH, GRAPHQL_PATH, graphqlPreset } from '../graphql/preset.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** The PostGraphile instance: its schema (`getSchema()`), for the schema export and tests. */
    graphql: PostGraphileInstance;
  }
}

export interface GraphqlPluginOptions {
  graphql: GraphqlConfig;
  env: AppEnv;
  transactions: Partial<TransactionSettings>;
}

async function graphqlPlugin(app: FastifyInstance, options: GraphqlPluginOptions): Promise<void> {
  const preset = graphqlPreset({
    pool: app.pool,
    graphql: options.graphql,
    env: options.env,
    log: app.log,
    transactions: options.transactions,
    tenantOf: (requestContext) => (requestContext.fastifyv5?.request as FastifyRequest | undefined)?.tenant ?? null,
  });
  // postgraphile(preset) starts building the schema (introspection, then 0.6–0.8 s of CPU) at once.
  // Outside the tests it is created here, so that no request waits for it; in the tests, whose many
  // apps mostly never see GraphQL, on the first request to /graphql or call of getSchema(). grafserv
  // (created here, as pgl.createServ would) gets the schema when it is built.
  const schema = Promise.withResolvers<GraphQLSchema>();
  let pgl: PostGraphileInstance | undefined;
  const instance = () => {
    if (!pgl) {
      pgl = postgraphile(preset);
      Promise.resolve(pgl.getSchema()).then(schema.resolve, schema.reject);
    }
    return pgl;
  };
  if (options.env !== 'test') instance();
  app.decorate('graphql', {
    createServ: (server) => instance().createServ(server),
    getSchemaResult: () => instance().getSchemaResult(),
    getSchema: () => instance().getSchema(),
    getResolvedPreset: () => instance().getResolvedPreset(),
    release: () => pgl?.release(),
  } satisfies PostGraphileInstance);
  const serv = grafserv({ preset, schema: schema.promise });
  app.addHook('onClose', async () => {
    await serv.release();
    await pgl?.release();
  });
  const schemaBuilt: preHandlerAsyncHookHandler = async () => {
    await app.graphql.getSchema();
  };
  await app.register(async (scope) => {
    scope.addHook('onSend', async (request, reply, payload) => {
      // GraphQL answers carry clinic data: never kept by a browser or a shared cache.
      if (request.routeOptions.url === GRAPHQL_PATH) reply.header('cache-control', 'no-store');
      // Ruru's page runs inline scripts: allowed by their hashes, nothing else inline.
      if (request.routeOptions.url === GRAPHIQL_PATH && (typeof payload === 'string' || Buffer.isBuffer(payload))) {
        reply.header('content-security-policy', ruruPolicy(payload.toString()));
      }
      return payload;
    });
    // grafserv adds its routes with `route()` only (no websockets): each is declared on the way.
    const mount = { route: (route: RouteOptions) => scope.route(declared(app, route, options.graphql, schemaBuilt)) } as unknown as FastifyInstance;
    await serv.addTo(mount);
  });
}

/**
 * The content security policy of Ruru's page: the app's strict policy (src/plugins/security-headers.ts)
 * loosened only as far as the IDE needs: its own static files, the page's inline scripts by hash,
 * inline styles, web workers from blobs (its editor), requests to this origin only.
 */
export function ruruPolicy(html: string): string {
  const hashes = [...html.matchAll(/<script\b[^>]*>([\s\S]*?)<\/script>/g)]
    .map(([, body]) => body!)
    .filter((body) => body.trim() !== '')
    .map((body) => `'sha256-${createHash('sha256').update(body).digest('base64')}'`);
  return [
    "default-src 'none'",
    `script-src 'self' ${hashes.join(' ')}`.trim(),
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "worker-src 'self' blob:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/**
 * The per-minute limit of GraphQL operations, per caller: the token's account in the token's clinic
 * (the guard has run: it is counted after it, so a refused token counts nothing), else the address.
 * A request is one operation (a batch, a JSON array, is refused by the body schema), so counting
 * requests counts operations. Counted with the app's rate-limit store (Redis when REDIS_URL is set).
 */
function operationLimit(operationsPerMinute: number): FastifyContextConfig['rateLimit'] {
  return {
    max: operationsPerMinute,
    timeWindow: '1 minute',
    hook: 'preValidation',
    keyGenerator: (request) => (request.tenant ? `graphql:${request.tenant.clinicId}:${request.tenant.userId}` : `graphql:${request.ip}`),
    errorResponseBuilder: (_request, context) =>
      new AppError('RATE_LIMITED', `Too many GraphQL operations: at most ${context.max} a minute for each caller; retry in ${context.after}.`),
  };
}

/**
 * grafserv's route with what the app adds: on /graphql the clinic guard, then the schema built (what
 * starts the build in the tests: a request without a valid token never does), the operation limit
 * and the request schema; docs for both.
 */
function declared(app: FastifyInstance, route: RouteOptions, graphql: GraphqlConfig, schemaBuilt: preHandlerAsyncHookHandler): RouteOptions {
  // Ruru's page and its static files are not part of the API.
  if (route.url !== GRAPHQL_PATH || route.method !== 'POST') return { ...route, schema: { hide: true } };
  return {
    ...route,
    preValidation: [app.requireClinicToken, schemaBuilt],
    config: { ...route.config, rateLimit: operationLimit(graphql.operationsPerMinute) },
    schema: {
      summary: 'GraphQL: the clinic data model under the same token and policies as REST',
      description: 'PostGraphile over app_public; the token names the clinic. See docs/architecture.md ("GraphQL").',
      tags: ['graphql'],
      body: graphqlRequestSchema,
      response: graphqlResponses,
    },
  };
}

export default fp(graphqlPlugin, { name: 'graphql', dependencies: ['db', 'auth', 'errors'] });
