// Which problems (application/problem+json, src/plugins/errors.ts) each route can answer, and
// whether it takes a bearer token, derived in one place from what the route declares, so the
// OpenAPI document lists every status a client can meet without anyone writing 400s and 401s by
// hand in every route. Only what a route's own handler decides needs declaring: `schema.problems`,
// the catalogue codes it throws itself (a 409 on a duplicate, a 404 for an unknown token).
// test/helpers/contract.ts holds every response the HTTP tests receive to the document, so a
// status missing here fails a test.
import type { FastifyInstance, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { z } from 'zod';
import { ERROR_CATALOGUE, type ErrorCode } from '../errors.ts';
import type { Problem } from './errors.ts';

declare module 'fastify' {
  interface FastifySchema {
    /**
     * Catalogue codes the route's handler answers on its own, beyond those derived from its
     * declaration (input, authentication, rate limit, database): see src/plugins/problem-responses.ts.
     */
    problems?: readonly ErrorCode[];
  }
  interface FastifyInstance {
    /** What a route's declaration means for its OpenAPI operation (for src/plugins/api-docs.ts). */
    routeContract(route: RouteOptions): RouteContract;
  }
}

const errorCodes = Object.keys(ERROR_CATALOGUE) as [ErrorCode, ...ErrorCode[]];

/** The body of every error (RFC 9457 with the catalogue's `code`); the document's `Problem`. */
export const problemSchema = z.strictObject({
  type: z.string(),
  title: z.string(),
  status: z.int().min(400).max(599),
  code: z.enum(errorCodes),
  detail: z.string(),
  errors: z.array(z.strictObject({ path: z.string(), message: z.string() })),
  requestId: z.string(),
  candidates: z
    .array(z.strictObject({ id: z.uuid(), patientNumber: z.string(), fullName: z.string() }))
    .optional()
    .describe('POSSIBLE_DUPLICATE only: the existing records that look like the one sent.'),
  rule: z.string().optional().describe('INVALID_TRANSITION and RECORD_LOCKED: the rule that refused the change, a stable snake_case name.'),
  allergies: z
    .array(z.strictObject({ allergyId: z.uuid(), name: z.string(), itemPositions: z.array(z.int()) }))
    .optional()
    .describe("ALLERGY_ACKNOWLEDGEMENT_REQUIRED: the patient's allergies the medicines match (items by position, from 1); acknowledge each by allergyId."),
}) satisfies z.ZodType<Problem>;

/**
 * What Fastify itself answers, before any hook runs, to a request that arrives while the server is
 * shutting down (`return503OnClosing`): plain JSON, not a problem. Every operation can meet it.
 */
export const closingSchema = z.strictObject({ error: z.string(), message: z.string(), statusCode: z.literal(503) });

/** The document's component schemas these responses refer to. */
export const problemComponents = {
  Problem: jsonSchema(problemSchema),
  ServerClosing: jsonSchema(closingSchema),
};

function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'output' });
  return rest;
}

/** `clinic-token`: the clinic guard on a URL that names no clinic (GraphQL: the token's clinic is the one). */
type AuthKind = 'clinic' | 'clinic-token' | 'account' | 'operator';

export interface RouteContract {
  /** The bearer token the route requires (its guard's), or none. */
  security: { bearer: string[] }[] | undefined;
  /** The OpenAPI responses of the problems it can answer, by status. */
  problemResponses: Record<string, unknown>;
}

/** Methods whose body Fastify parses (a malformed, oversized or foreign one is refused before any hook of ours). */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Every /api route and GraphQL read or write the database (a lost connection, a timeout: 503 with Retry-After). */
const USES_DATABASE = /^\/(api\/|graphql$)/;

/** Input keys of a zod object schema (or a JSON schema's properties). */
function inputKeys(schema: unknown): string[] {
  if (!schema || typeof schema !== 'object') return [];
  const shape = (schema as { shape?: object }).shape ?? (schema as { properties?: object }).properties;
  return shape ? Object.keys(shape) : [];
}

/**
 * Validation can refuse the route's input: a body, a query string, or a path parameter other than a
 * clinic route's `slug` (the guard has already matched that to the token's clinic before validation).
 */
function validatesInput(route: RouteOptions, auth: AuthKind | undefined): boolean {
  const { schema } = route;
  if (!schema) return false;
  if (schema.body || schema.querystring || schema.multipart) return true;
  const checkedByGuard = auth === 'clinic' ? ['slug'] : [];
  return inputKeys(schema.params).some((key) => !checkedByGuard.includes(key));
}

/** The codes a route can answer, from what it declares. */
function routeProblems(route: RouteOptions, auth: AuthKind | undefined): ErrorCode[] {
  const methods = [route.method].flat();
  const codes = new Set<ErrorCode>(route.schema?.problems ?? []);
  if (methods.some((method) => BODY_METHODS.has(method))) {
    codes.add('MALFORMED_BODY').add('PAYLOAD_TOO_LARGE').add('UNSUPPORTED_MEDIA_TYPE');
  }
  if (validatesInput(route, auth)) codes.add('VALIDATION_FAILED');
  // The guard (src/auth/guard.ts): a token that fails is a 401; a clinic route also refuses a role
  // without the permission or a suspended clinic (403) and a slug that is not the token's clinic (404).
  if (auth) codes.add('UNAUTHENTICATED');
  if (auth === 'clinic') codes.add('FORBIDDEN').add('NOT_FOUND');
  // A suspended clinic.
  if (auth === 'clinic-token') codes.add('FORBIDDEN');
  // A path parameter names something that may not exist.
  if (/\/:\w/.test(route.url)) codes.add('NOT_FOUND');
  if (route.config?.rateLimit) codes.add('RATE_LIMITED');
  if (USES_DATABASE.test(route.url)) codes.add('SERVICE_UNAVAILABLE');
  codes.add('INTERNAL');
  return [...codes];
}

const RETRY_AFTER = {
  'retry-after': { type: 'string', description: 'Seconds to wait before trying again (when the refusal has a known end).' },
};

/** The OpenAPI responses for a set of codes: one per status, its codes listed and pinned in the schema. */
function responsesFor(codes: ErrorCode[]): Record<string, unknown> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) {
    const { status } = ERROR_CATALOGUE[code];
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  // Every operation can meet Fastify's own 503 while the server shuts down.
  if (!byStatus.has(503)) byStatus.set(503, []);
  const responses: Record<string, unknown> = {};
  for (const [status, statusCodes] of [...byStatus].sort(([a], [b]) => a - b)) {
    const content: Record<string, { schema: unknown }> = {};
    if (statusCodes.length > 0) {
      content['application/problem+json'] = {
        schema: {
          type: 'object',
          allOf: [{ $ref: '#/components/schemas/Problem' }],
          properties: { status: { const: status }, code: { enum: statusCodes.sort() } },
        },
      };
    }
    if (status === 503) content['application/json'] = { schema: { $ref: '#/components/schemas/ServerClosing' } };
    const described = statusCodes.map((code) => `${code}: ${ERROR_CATALOGUE[code].title}`);
    if (status === 503) described.push('the server is shutting down (application/json, not a problem)');
    responses[String(status)] = {
      description: described.join('; '),
      content,
      ...(status === 429 || status === 503 ? { headers: RETRY_AFTER } : {}),
    };
  }
  return responses;
}

async function problemResponsesPlugin(app: FastifyInstance): Promise<void> {
  const hooks = (route: RouteOptions): unknown[] => [route.preValidation ?? []].flat();
  const authKind = (route: RouteOptions): AuthKind | undefined => {
    if (route.config?.permission) return 'clinic';
    if (hooks(route).includes(app.requireClinicToken)) return 'clinic-token';
    if (hooks(route).includes(app.authenticate)) return 'account';
    if (hooks(route).includes(app.requirePlatformOperator)) return 'operator';
    return undefined;
  };

  // Read as each route is added (its options are complete then; the prefix's trailing slash is not).
  const contracts = new WeakMap<RouteOptions, RouteContract>();
  app.addHook('onRoute', (route) => {
    if (route.schema?.hide || route.method === 'HEAD') return;
    const auth = authKind(route);
    contracts.set(route, {
      security: auth ? [{ bearer: [] }] : undefined,
      problemResponses: responsesFor(routeProblems(route, auth)),
    });
  });

  app.decorate('routeContract', (route: RouteOptions) => {
    const contract = contracts.get(route);
    if (!contract) throw new Error(`${route.method} ${route.url} was registered before the problem-responses plugin`);
    return contract;
  });
}

export default fp(problemResponsesPlugin, { name: 'problem-responses', dependencies: ['auth'] });
