// zod validates every input and shapes every output; the same schemas become the OpenAPI 3.1
// document at /openapi.json, browsable at /docs, with every problem each operation can answer
// (src/plugins/problem-responses.ts). In production the document and the page are not served
// unless API_DOCS=true: they map every route and field for whoever asks.
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { documentedForm } from '../http/multipart.ts';
import { problemComponents } from './problem-responses.ts';

export interface ApiDocsOptions {
  /** Serve /openapi.json and /docs. */
  serve: boolean;
}

/**
 * The docs page is the one HTML the app serves: swagger-ui's own scripts and styles from /docs
 * (it sets inline styles, hence 'unsafe-inline' for styles only), its icons as data: images, and
 * the document fetched from this origin. No inline script, no other origin, never in a frame.
 */
const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

type TransformInput = Parameters<typeof jsonSchemaTransform>[0];

/**
 * A multipart route's form (`schema.multipart`, src/plugins/multipart.ts) as its request body:
 * multipart/form-data with the fields and the file. Only the document sees it as `body`; Fastify
 * never validates it (the handler reads the stream).
 */
function withMultipartBody(document: TransformInput): TransformInput {
  const { multipart: form, ...schema } = document.schema ?? {};
  if (!form) return document;
  return { ...document, schema: { ...schema, body: documentedForm(form), consumes: ['multipart/form-data'] } };
}

type Responses = Record<string, { description?: string; content?: Record<string, unknown> }>;

/** The route's own responses and the problems it can answer; a status in both lists both bodies (GraphQL's 400). */
function mergeResponses(own: Responses, problems: Responses): Responses {
  const merged: Responses = { ...own, ...problems };
  for (const [status, response] of Object.entries(own)) {
    const problem = problems[status];
    if (!problem) continue;
    merged[status] = {
      ...problem,
      description: [response.description, problem.description].filter(Boolean).join('; '),
      content: { ...response.content, ...problem.content },
    };
  }
  return merged;
}

async function apiDocsPlugin(app: FastifyInstance, options: ApiDocsOptions): Promise<void> {
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'clinicbase API', version: '1' },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
        schemas: problemComponents,
      },
    },
    // The route's own schemas (zod → JSON Schema), then what its guard and declaration imply: the
    // bearer token it requires and the problems it can answer.
    transform: (document) => {
      const { schema = {}, url } = jsonSchemaTransform(withMultipartBody(document));
      if (schema.hide) return { schema, url };
      const { problems: _declared, security: _security, ...rest } = schema;
      const { security, problemResponses } = app.routeContract(document.route);
      const response = mergeResponses((rest.response ?? {}) as Responses, problemResponses as Responses);
      return { schema: { ...rest, ...(security ? { security } : {}), response }, url };
    },
  });
  if (!options.serve) return;
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: DOCS_CSP });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}

export default fp(apiDocsPlugin, { name: 'api-docs' });
