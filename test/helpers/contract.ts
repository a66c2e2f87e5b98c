// The OpenAPI document is the clients' contract: every response an HTTP test receives through
// `app.inject` is held to the operation the app's own document (`app.swagger()`) publishes for it:
// the status must be declared, the content type must be one the status declares (or none, where
// it declares no body), and the body must match that content's schema. buildTestApp turns this on
// for every app it builds, so a route that answers something its document does not say fails
// the test that met it. Responses sent over a real socket (app.listen: an event stream, which
// inject cannot follow) are held to it too, when the connection closes; an event stream's body
// is checked event by event against the schema its route declares for one event (src/http/sse.ts),
// a download's bytes (a binary string in the document) only for being there.
//
// No maintained OpenAPI 3.1 response validator fits here: openapi-response-validator and
// jest-openapi stop at OpenAPI 3.0 (draft-04 schemas); openapi-backend validates application/json
// bodies only and lets an undeclared status or a problem+json body pass unchecked. So the
// document's own schemas are compiled with Ajv's JSON Schema 2020-12 dialect (the dialect of
// OpenAPI 3.1), strict, with its formats; the document itself is checked against the OpenAPI 3.1
// schema in test/http/openapi.test.ts.
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import formats from 'ajv-formats';
import type { FastifyInstance, InjectOptions } from 'fastify';
import type { ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { parseEventStream } from './sse.ts';

interface MediaType {
  schema: object;
}
interface ResponseObject {
  content?: Record<string, MediaType>;
}
interface Operation {
  responses: Record<string, ResponseObject>;
}
export interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, object> };
}

const COMPONENT_REF = /^#\/components\/schemas\/(.+)$/;
const componentUri = (name: string) => `urn:clinicbase:components:${name}`;

/** The schema with its `#/components/schemas/X` references pointing at the components Ajv knows by URI. */
function withComponentUris(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(withComponentUris);
  if (!schema || typeof schema !== 'object') return schema;
  return Object.fromEntries(
    Object.entries(schema).map(([key, value]) => {
      const component = key === '$ref' && typeof value === 'string' ? COMPONENT_REF.exec(value) : null;
      return [key, component ? componentUri(component[1]!) : withComponentUris(value)];
    }),
  );
}

/** Strict JSON Schema 2020-12 (OpenAPI 3.1's dialect) with formats, and the document's components. */
export function documentAjv(document: OpenApiDocument): Ajv2020 {
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  // ajv-formats is CommonJS: its function is the default export's default under Node's ESM.
  formats.default(ajv);
  // OpenAPI's own format for a body of raw bytes (a download): any string; the bytes are not JSON.
  ajv.addFormat('binary', true);
  for (const [name, schema] of Object.entries(document.components?.schemas ?? {})) {
    ajv.addSchema(withComponentUris(schema) as object, componentUri(name));
  }
  return ajv;
}

/** A schema of the document, compiled against the document's components. */
export function compileDocumentSchema(ajv: Ajv2020, schema: object): ValidateFunction {
  return ajv.compile(withComponentUris(schema) as object);
}

/** `/api/v1/clinics/:slug/departments/:id` → `/api/v1/clinics/{slug}/departments/{id}`, as the document writes it. */
const documentPath = (routeUrl: string) => routeUrl.replace(/:(\w+)/g, '{$1}');

/** A response as the check sees it, whichever way it was sent. */
interface Received {
  method: string;
  /** The route's URL pattern (`/api/v1/clinics/:slug/…`). */
  route: string;
  url: string;
  status: number;
  contentType: string | undefined;
  body: Buffer;
}

/** Media types whose body is a stream of events, each checked against the declared schema of one event. */
const EVENT_STREAM = 'text/event-stream';

/** A body of raw bytes (a download), declared `{ type: 'string', format: 'binary' }`: not JSON, held to being there. */
const isBytes = (schema: object) => (schema as { format?: unknown }).format === 'binary';

/** The bodies `response.write`/`end` are given, collected as they are sent. */
function collectBody(response: ServerResponse): () => Buffer {
  const chunks: Buffer[] = [];
  const keep = (chunk: unknown) => {
    if (typeof chunk === 'string' || chunk instanceof Uint8Array) chunks.push(Buffer.from(chunk));
  };
  const { write, end } = response;
  response.write = function (this: ServerResponse, chunk: unknown, ...rest: unknown[]) {
    keep(chunk);
    return (write as (...all: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof response.write;
  response.end = function (this: ServerResponse, chunk?: unknown, ...rest: unknown[]) {
    keep(chunk);
    return (end as (...all: unknown[]) => ServerResponse).call(this, chunk, ...rest);
  } as typeof response.end;
  return () => Buffer.concat(chunks);
}

/**
 * Checks every response `app.inject(options)` returns, and every response the app sends over a
 * real socket (when its connection closes: an event stream ends then), against the app's document
 * and calls `report` with "METHOD URL → status: reason" for each one that does not conform. Responses of
 * routes the document does not publish (hidden ones: the docs, the JWKS; HEAD and CORS
 * preflights; URLs no route matches) are not part of the contract and are let through, and so
 * are those of routes a test adds after this call (scaffolding that probes the error handler,
 * not the API). Returns how many responses were checked.
 */
export function checkResponsesAgainstDocument(app: FastifyInstance, report: (mismatch: string) => void): { checked: () => number } {
  /** The route each request reached (inject's response carries its request object). */
  const routes = new WeakMap<object, { method: string; url: string | undefined }>();
  const scaffolding = new Set<string>();
  app.addHook('onRequest', async (request, reply) => {
    const route = { method: request.method, url: request.routeOptions.url };
    routes.set(request.raw, route);
    // Over a real socket (inject's requests have a mock one): checked once the connection closes.
    if (!(request.raw.socket instanceof Socket) || !route.url || scaffolding.has(`${route.method} ${route.url}`)) return;
    const response = reply.raw;
    const body = collectBody(response);
    response.once('close', () => {
      if (!response.headersSent) return;
      const contentType = response.getHeader('content-type');
      check({
        method: route.method,
        route: route.url!,
        url: request.url,
        status: response.statusCode,
        contentType: contentType === undefined ? undefined : String(contentType),
        body: body(),
      });
    });
  });
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) scaffolding.add(`${method} ${route.url}`);
  });

  let document: OpenApiDocument | undefined;
  let ajv: Ajv2020 | undefined;
  const validators = new Map<string, ValidateFunction>();
  let checked = 0;

  function validatorFor(key: string, schema: object): ValidateFunction {
    let validate = validators.get(key);
    if (!validate) {
      validate = compileDocumentSchema(ajv!, schema);
      validators.set(key, validate);
    }
    return validate;
  }

  function check(response: Received): void {
    if (scaffolding.has(`${response.method} ${response.route}`)) return;
    document ??= app.swagger() as unknown as OpenApiDocument;
    ajv ??= documentAjv(document);
    const path = documentPath(response.route);
    const operation = document.paths[path]?.[response.method.toLowerCase()];
    if (!operation) return;
    checked += 1;

    const status = String(response.status);
    const fail = (reason: string) => report(`${response.method} ${response.url} → ${status}: ${reason}`);
    const declared = operation.responses[status];
    if (!declared) {
      fail(`status not declared by ${response.method} ${path} (it declares ${Object.keys(operation.responses).join(', ')})`);
      return;
    }

    const { contentType } = response;
    const media = Object.keys(declared.content ?? {});
    if (media.length === 0) {
      if (contentType !== undefined || response.body.length > 0) {
        fail(`declared without a body, answered ${contentType ?? 'no content type'} with ${response.body.length} bytes`);
      }
      return;
    }
    const mediaType = String(contentType ?? '')
      .split(';')[0]!
      .trim()
      .toLowerCase();
    const content = declared.content![mediaType];
    if (!content) {
      fail(`content type ${contentType ?? '(none)'} not declared (it declares ${media.join(', ')})`);
      return;
    }

    if (isBytes(content.schema)) {
      if (response.body.length === 0) fail(`declared ${mediaType} bytes, answered an empty body`);
      return;
    }
    let validate: ValidateFunction;
    try {
      validate = validatorFor(`${response.method} ${path} ${status} ${mediaType}`, content.schema);
    } catch (error) {
      fail(`the document's ${mediaType} schema is not valid JSON Schema 2020-12: ${(error as Error).message}`);
      return;
    }
    const text = response.body.toString('utf8');
    if (mediaType === EVENT_STREAM) {
      for (const [index, { data, ...event }] of parseEventStream(text).events.entries()) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(data);
        } catch {
          fail(`event ${index} (${event.event}): data is not JSON: ${data.slice(0, 80)}`);
          continue;
        }
        if (!validate({ ...event, data: parsed })) {
          fail(`event ${index} (${event.event}) does not match the ${mediaType} schema: ${ajv.errorsText(validate.errors, { dataVar: 'event' })}`);
        }
      }
      return;
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      fail(`body is not JSON: ${text.slice(0, 80)}`);
      return;
    }
    if (!validate(body)) fail(`body does not match the ${mediaType} schema: ${ajv.errorsText(validate.errors, { dataVar: 'body' })}`);
  }

  const inject = app.inject.bind(app);
  // Only the promise form (one argument) is checked; the chain and callback forms pass through.
  app.inject = ((...args: unknown[]) => {
    if (args.length !== 1) return (inject as (...all: unknown[]) => unknown)(...args);
    return inject(args[0] as InjectOptions | string).then((response) => {
      const route = routes.get(response.raw.req);
      if (route?.url) {
        const contentType = response.headers['content-type'];
        check({
          method: route.method,
          route: route.url,
          url: response.raw.req.url ?? '',
          status: response.statusCode,
          contentType: contentType === undefined ? undefined : String(contentType),
          body: response.rawPayload,
        });
      }
      return response;
    });
  }) as typeof app.inject;

  return { checked: () => checked };
}
