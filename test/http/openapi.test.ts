// The OpenAPI document is the clients' contract: it is valid OpenAPI 3.1, every operation declares
// every status it can answer (problems as application/problem+json, bodiless successes without
// content), paths are published without a trailing slash while the old URLs keep answering, and
// the check that holds every HTTP test's responses to the document (helpers/contract.ts) catches
// a response the document does not declare.
import { Validator } from '@seriousme/openapi-schema-validator';
import type { RouteShorthandOptions } from 'fastify';
import t, { type Test } from 'tap';
import { z } from 'zod';
import { buildApp } from '../../src/app.ts';
import { buildTestApp, TEST_FIELD_CIPHER, TEST_KEYS } from '../helpers/app.ts';
import { testClient } from '../helpers/client.ts';
import { checkResponsesAgainstDocument, compileDocumentSchema, documentAjv, type OpenApiDocument } from '../helpers/contract.ts';
import { createClinics, createTestDatabase } from '../helpers/db.ts';
import { createOperator } from '../helpers/people.ts';
import { temporaryStorageDir } from '../helpers/storage.ts';

interface Operation {
  security?: unknown[];
  responses: Record<string, { content?: Record<string, { schema: Record<string, unknown> }> }>;
}
type Document = OpenApiDocument & { paths: Record<string, Record<string, Operation>> };

/** Every operation and the statuses it declares, written out from the routes' code (not read from the plugin). */
const STATUSES: Record<string, string> = {
  'GET /health/live': '200 500 503',
  'GET /health/ready': '200 500 503',
  'GET /health/worker': '200 500 503',
  'POST /graphql': '200 400 401 403 413 415 429 500 503',
  'POST /api/v1/auth/login': '200 400 401 403 413 415 429 500 503',
  'POST /api/v1/auth/refresh': '200 400 401 413 415 429 500 503',
  'POST /api/v1/auth/logout': '204 400 413 415 429 500 503',
  'GET /api/v1/auth/me': '200 401 500 503',
  'POST /api/v1/auth/invitations/accept': '200 400 401 403 404 413 415 429 500 503',
  'POST /api/v1/auth/password/reset-request': '202 400 413 415 429 500 503',
  'POST /api/v1/auth/password/reset': '204 400 404 413 415 429 500 503',
  'POST /api/v1/auth/password': '204 400 401 413 415 429 500 503',
  'POST /api/v1/auth/switch': '200 400 401 403 404 413 415 500 503',
  'POST /api/v1/auth/two-factor/setup': '200 400 401 409 413 415 429 500 503',
  'POST /api/v1/auth/two-factor/enable': '200 400 401 409 413 415 429 500 503',
  'POST /api/v1/auth/two-factor/disable': '204 400 401 409 413 415 429 500 503',
  'POST /api/v1/auth/two-factor/recovery-codes': '200 400 401 409 413 415 429 500 503',
  'POST /api/v1/platform/auth/login': '200 400 401 413 415 429 500 503',
  'GET /api/v1/platform/clinics': '200 401 500 503',
  'POST /api/v1/platform/clinics': '201 400 401 409 413 415 422 500 503',
  'POST /api/v1/platform/clinics/{slug}/suspend': '204 400 401 404 413 415 500 503',
  'POST /api/v1/platform/clinics/{slug}/reactivate': '204 400 401 404 413 415 500 503',
  'PATCH /api/v1/platform/clinics/{slug}': '200 400 401 404 413 415 422 500 503',
  'PATCH /api/v1/platform/clinics/{slug}/plan': '204 400 401 404 413 415 500 503',
  'GET /api/v1/platform/support-access': '200 401 500 503',
  'POST /api/v1/platform/support-access/{grantId}/token': '200 400 401 403 404 413 415 500 503',
  'GET /api/v1/clinics/{slug}/appointments': '200 400 401 403 404 500 503',
  'POST /api/v1/clinics/{slug}/appointments': '201 400 401 403 404 409 413 415 422 500 503',
  'GET /api/v1/clinics/{slug}/appointments/{id}': '200 400 401 403 404 500 503',
  'PATCH /api/v1/clinics/{slug}/appointments/{id}': '200 400 401 403 404 409 413 415 422 500 503',
  'POST /api/v1/clinics/{slug}/appointments/{id}/cancel': '200 400 401 403 404 409 413 415 500 503',
  'POST /api/v1/clinics/{slug}/appointments/{id}/complete': '200 400 401 403 404 409 413 415 500 503',
  'POST /api/v1/clinics/{slug}/appointments/{id}/no-show': '200 400 401 403 404 409 413 415 500 503',
  'GET /api/v1/clinics/{slug}/doctors/{memberId}/availability': '200 400 401 403 404 500 503',
  'GET /api/v1/clinics/{slug}/doctors/{memberId}/time-off': '200 400 401 403 404 500 503',
  'POST /api/v1/clinics/{slug}/doctors/{memberId}/time-off': '201 400 401 403 404 413 415 422 500 503',
  'DELETE /api/v1/clinics/{slug}/time-off/{id}': '204 400 401 403 404 413 415 500 503',
  'POST /api/v1/clinics/{slug}/consultations': '201 400 401 403 404 409 413 415 422 500 503',
  'GET /api/v1/clinics/{slug}/consultations': '200 400 401 403 404 500 503',
  'GET /api/v1/clinics/{slug}/consultations/{id}': '200 400 401 403 404 500 503',
  'PATCH /api/v1/clinics/{slug}/consultations/{id}': '200 400 401 403 404 409 413 415 422 428 500 503',
  'POST /api/v1/clinics/{slug}/consultations/{id}/sign': '200 400 401 403 404 409 413 415 428 500 503',
  'POST /api/v1/clinics/{slug}/consultations/{id}/vitals': '201 400 401 403 404 409 413 415 422 500 503',
  'POST /api/v1/clinics/{slug}/consultations/{id}/diagnoses': '201 400 401 403 404 409 413 415 422 500 503',
  'PATCH /api/v1/clinics/{slug}/consultations/{id}/diagnoses/{diagnosisId}': '200 400 401 403 404 409 413 415 422 500 503',
  'POST /api/v1/clinics/{slug}/consultations/{id}/addenda': '201 400 401 403 404 409 413 415 500 503',
  'GET /api/v1/clinics/{slug}/icd10': '200 400 401 403 404 500 503',
  'POST /api/v1/clinics/{slug}/icd10': '201 400 401 403 404 409 413 415 500 503',
  'GET /api/v1/clinics/{slug}/departments': '200 400 401 403 404 500 503',
  'POST /api/v1/clinics/{slug}/departments': '201 400 401 403 404 409 413 415 500 503',
  'GET /api/v1/clinics/{slug}/departments/{id}': '200 400 401 403 404 500 503',
  'GET /api/v1/clinics/{slug}/members': '200 400 401 403 404 500 503',
  'POST /api/v1/clinics/{slug}/members/invitations': '201 400 401 403 404 409 413 415 500 503',
  'PATCH /api/v1/clinics/{slug}/members/{id}': '200 400 401 403 404 409 413 415 500 503',
  'GET /api/v1/clinics/{slug}/settings': '200 401 403 404 500 503',
  'PATCH /api/v1/clinics/{slug}/settings': '200 400 401 403 404 413 415 500 503',
  'GET /api/v1/clinics/{slug}/support-access': '200 401 403 404 500 503',
  'POST /api/v1/clinics/{slug}/support-access': '201 400 401 403 404 413 415 500 503',
  'POST /api/v1/clinics/{slug}/support-access/{id}/revoke': '200 400 401 403 404 413 415 500 503',
  'POST /api/v1/clinics/{slug}/prescriptions': '201 400 401 403 404 413 415 422 500 503',
  'GET /api/v1/clinics/{slug}/prescriptions': '200 400 401 403 404 500 503',
  'GET /api/v1/clinics/{slug}/prescriptions/{id}': '200 400 401 403 404 500 503',
  'PATCH /api/v1/clinics/{slug}/prescriptions/{id}': '200 400 401 403 404 409 413 415 428 500 503',
  'POST /api/v1/clinics/{slug}/prescriptions/{id}/issue': '200 400 401 403 404 409 413 415 422 428 500 503',
  'POST /api/v1/clinics/{slug}/prescriptions/{id}/complete': '200 400 401 403 404 409 413 415 428 500 503',
  'POST /api/v1/clinics/{slug}/prescriptions/{id}/cancel': '200 400 401 403 404 409 413 415 428 500 503',
  'GET /api/v1/clinics/{slug}/prescriptions/{id}/pdf': '200 400 401 403 404 409 500 503',
  'POST /api/v1/clinics/{slug}/visits': '201 400 401 403 404 409 413 415 422 500 503',
  'GET /api/v1/clinics/{slug}/test-requests': '200 400 401 403 404 500 503',
  'POST /api/v1/clinics/{slug}/test-requests': '201 400 401 403 404 413 415 422 500 503',
  'GET /api/v1/clinics/{slug}/test-requests/{id}': '200 400 401 403 404 500 503',
  'POST /api/v1/clinics/{slug}/test-requests/{id}/collect': '200 400 401 403 404 409 413 415 500 503',
  'POST /api/v1/clinics/{slug}/test-requests/{id}/start': '200 400 401 403 404 409 413 415 500 503',
  'POST /api/v1/clinics/{slug}/test-requests/{id}/cancel': '200 400 401 403 404 409 413 415 500 503',
  'GET /api/v1/clinics/{slug}/test-reports': '200 400 401 403 404 500 503',
  'POST /api/v1/clinics/{slug}/test-reports': '201 400 401 403 404 409 413 415 422 500 503',
  'GET /api/v1/clinics/{slug}/test-reports/{id}': '200 400 401 403 404 500 503',
  'PATCH /api/v1/clinics/{slug}/test-reports/{id}': '200 400 401 403 404 409 413 415 428 500 503',
  'POST /api/v1/clinics/{slug}/test-reports/{id}/release': '200 400 401 403 404 409 413 415 428 500 503',
  'POST /api/v1/clinics/{slug}/test-reports/{id}/file': '200 400 401 403 404 409 413 415 428 500 503',
  'GET /api/v1/clinics/{slug}/visits': '200 400 401 403 404 500 503',
  'GET /api/v1/clinics/{slug}/visits/{id}': '200 400 401 403 404 500 503',
  'POST /api/v1/clinics/{slug}/visits/{id}/call': '200 400 401 403 404 409 413 415 500 503',
  'POST /api/v1/clinics/{slug}/visits/{id}/skip': '200 400 401 403 404 409 413 415 500 503',
  'POST /api/v1/clinics/{slug}/visits/{id}/start': '200 400 401 403 404 409 413 415 500 503',
  'POST /api/v1/clinics/{slug}/visits/{id}/complete': '200 400 401 403 404 409 413 415 500 503',
  'POST /api/v1/clinics/{slug}/visits/{id}/no-show': '200 400 401 403 404 409 413 415 500 503',
  'POST /api/v1/clinics/{slug}/visits/{id}/cancel': '200 400 401 403 404 409 413 415 500 503',
  'GET /api/v1/clinics/{slug}/doctors/{memberId}/queue': '200 400 401 403 404 500 503',
  'POST /api/v1/clinics/{slug}/doctors/{memberId}/queue/next': '200 400 401 403 404 413 415 500 503',
  'GET /api/v1/clinics/{slug}/doctors/{memberId}/queue/stream': '200 400 401 403 404 500 503',
  'GET /api/v1/clinics/{slug}/files': '200 400 401 403 404 500 503',
  'POST /api/v1/clinics/{slug}/files': '201 400 401 403 404 409 413 415 422 500 503',
  'GET /api/v1/clinics/{slug}/files/{id}': '200 400 401 403 404 500 503',
  'GET /api/v1/clinics/{slug}/files/{id}/content': '200 400 401 403 404 500 503',
  'POST /api/v1/clinics/{slug}/follow-ups': '201 400 401 403 404 413 415 422 500 503',
  'GET /api/v1/clinics/{slug}/follow-ups': '200 400 401 403 404 500 503',
  'GET /api/v1/clinics/{slug}/follow-ups/{id}': '200 400 401 403 404 500 503',
  'POST /api/v1/clinics/{slug}/follow-ups/{id}/complete': '200 400 401 403 404 409 413 415 500 503',
  'POST /api/v1/clinics/{slug}/follow-ups/{id}/cancel': '200 400 401 403 404 409 413 415 500 503',
  'POST /api/v1/clinics/{slug}/follow-ups/{id}/miss': '200 400 401 403 404 409 413 415 500 503',
  'GET /api/v1/clinics/{slug}/patients': '200 400 401 403 404 500 503',
  'POST /api/v1/clinics/{slug}/patients': '201 400 401 403 404 409 413 415 422 500 503',
  'GET /api/v1/clinics/{slug}/patients/me': '200 401 403 404 500 503',
  'GET /api/v1/clinics/{slug}/patients/{id}': '200 400 401 403 404 500 503',
  'PATCH /api/v1/clinics/{slug}/patients/{id}': '200 400 401 403 404 409 413 415 422 500 503',
  'POST /api/v1/clinics/{slug}/patients/{id}/archive': '200 400 401 403 404 413 415 500 503',
  'POST /api/v1/clinics/{slug}/patients/{id}/merge': '200 400 401 403 404 409 413 415 422 500 503',
  'GET /api/v1/clinics/{slug}/patients/{id}/history': '200 400 401 403 404 500 503',
  'POST /api/v1/clinics/{slug}/patients/{id}/history': '201 400 401 403 404 413 415 500 503',
  'PATCH /api/v1/clinics/{slug}/patients/{id}/history/{entryId}': '200 400 401 403 404 413 415 422 500 503',
  'GET /api/v1/clinics/{slug}/patients/{id}/access-log': '200 400 401 403 404 500 503',
  'POST /api/v1/clinics/{slug}/exports': '202 400 401 403 404 413 415 500 503',
  'GET /api/v1/clinics/{slug}/exports': '200 400 401 403 404 500 503',
  'GET /api/v1/clinics/{slug}/exports/{id}': '200 400 401 403 404 500 503',
  'GET /api/v1/clinics/{slug}/exports/{id}/download': '200 400 401 403 404 409 500 503',
  'GET /api/v1/clinics/{slug}/patients/me/export': '200 401 403 404 500 503',
};

/** Operations whose success is a download: the bytes, as one of the accepted types, not JSON. */
const DOWNLOADS: Record<string, string[]> = {
  'GET /api/v1/clinics/{slug}/files/{id}/content': ['application/pdf', 'image/jpeg', 'image/png', 'text/plain'],
  'GET /api/v1/clinics/{slug}/prescriptions/{id}/pdf': ['application/pdf'],
  'GET /api/v1/clinics/{slug}/exports/{id}/download': ['application/gzip'],
};

/** Operations whose success is an event stream (Server-Sent Events), not JSON. */
const EVENT_STREAMS = new Set(['GET /api/v1/clinics/{slug}/doctors/{memberId}/queue/stream']);

/** Operations that answer without a body, and the status they answer. */
const BODILESS: Record<string, string> = {
  'DELETE /api/v1/clinics/{slug}/time-off/{id}': '204',
  'POST /api/v1/auth/logout': '204',
  'POST /api/v1/auth/password/reset-request': '202',
  'POST /api/v1/auth/password/reset': '204',
  'POST /api/v1/auth/password': '204',
  'POST /api/v1/auth/two-factor/disable': '204',
  'POST /api/v1/platform/clinics/{slug}/suspend': '204',
  'POST /api/v1/platform/clinics/{slug}/reactivate': '204',
  'PATCH /api/v1/platform/clinics/{slug}/plan': '204',
};

const operations = (document: Document) =>
  Object.entries(document.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({ key: `${method.toUpperCase()} ${path}`, path, operation })),
  );

async function servedDocument(t: Test): Promise<Document> {
  const db = await createTestDatabase(t);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  return (await app.inject({ url: '/openapi.json' })).json() as Document;
}

t.test('the served document is valid OpenAPI 3.1, and every schema in it compiles as JSON Schema 2020-12', async (t) => {
  const document = await servedDocument(t);
  const validator = new Validator();
  const result = await validator.validate(structuredClone(document) as unknown as Parameters<Validator['validate']>[0]);
  t.same(result.errors ?? [], [], 'no errors against the OpenAPI 3.1 schema');
  t.ok(result.valid, 'valid');
  t.equal(validator.version, '3.1', 'as OpenAPI 3.1');

  const ajv = documentAjv(document);
  let compiled = 0;
  for (const { key, operation } of operations(document)) {
    for (const [status, response] of Object.entries(operation.responses)) {
      for (const [media, { schema }] of Object.entries(response.content ?? {})) {
        t.doesNotThrow(() => compileDocumentSchema(ajv, schema), `${key} ${status} ${media}: a strict JSON Schema 2020-12`);
        compiled += 1;
      }
    }
  }
  t.ok(compiled > 200, `${compiled} response schemas compiled`);
});

t.test('every operation declares every status it can answer, errors as problem+json', async (t) => {
  const document = await servedDocument(t);
  const declared = Object.fromEntries(operations(document).map(({ key, operation }) => [key, Object.keys(operation.responses).sort().join(' ')]));
  t.same(declared, STATUSES, 'the statuses of every operation, as the table says');

  for (const { key, operation } of operations(document)) {
    for (const [status, response] of Object.entries(operation.responses)) {
      const media = Object.keys(response.content ?? {}).sort();
      if (BODILESS[key] === status) {
        t.same(media, [], `${key} ${status}: no body`);
      } else if (status === '503') {
        t.same(
          media,
          key === 'GET /health/live' ? ['application/json'] : ['application/json', 'application/problem+json'],
          `${key} 503: a problem, and Fastify's own answer while the server shuts down`,
        );
      } else if (key === 'POST /graphql' && (status === '200' || status === '400')) {
        // GraphQL's own answers (src/graphql/http.ts); a malformed request's 400 is a problem too.
        const graphql =
          status === '200'
            ? ['application/graphql-response+json', 'application/json']
            : ['application/graphql-response+json', 'application/json', 'application/problem+json'];
        t.same(media, graphql.sort(), `${key} ${status}: GraphQL's response`);
      } else if (Number(status) >= 400) {
        t.same(media, ['application/problem+json'], `${key} ${status}: a problem`);
        t.match(
          response.content!['application/problem+json']!.schema,
          { allOf: [{ $ref: '#/components/schemas/Problem' }] },
          `${key} ${status}: the Problem schema`,
        );
      } else if (EVENT_STREAMS.has(key)) {
        t.same(media, ['text/event-stream'], `${key} ${status}: an event stream`);
      } else if (DOWNLOADS[key]) {
        t.same(media, DOWNLOADS[key], `${key} ${status}: the file's bytes`);
        for (const type of media) t.same(response.content![type]!.schema, { type: 'string', format: 'binary' }, `${key} ${status} ${type}: bytes`);
      } else {
        t.same(media, ['application/json'], `${key} ${status}: JSON`);
      }
    }
  }
  const logout = document.paths['/api/v1/auth/logout']!.post!;
  t.same(
    Object.keys(logout.responses).filter((status) => status.startsWith('2')),
    ['204'],
    'logout declares the 204 it answers, not a 200',
  );
  t.same(
    document.components?.schemas?.Problem,
    {
      type: 'object',
      properties: {
        type: { type: 'string' },
        title: { type: 'string' },
        status: { type: 'integer', minimum: 400, maximum: 599 },
        code: {
          type: 'string',
          enum: [
            'VALIDATION_FAILED',
            'MALFORMED_BODY',
            'UNAUTHENTICATED',
            'FORBIDDEN',
            'ONE_TIME_CODE_REQUIRED',
            'TWO_FACTOR_REQUIRED',
            'NOT_FOUND',
            'QUEUE_EMPTY',
            'METHOD_NOT_ALLOWED',
            'CONFLICT',
            'SLOT_TAKEN',
            'SLOT_UNAVAILABLE',
            'INVALID_TRANSITION',
            'RECORD_LOCKED',
            'VERSION_CONFLICT',
            'ALLERGY_ACKNOWLEDGEMENT_REQUIRED',
            'POSSIBLE_DUPLICATE',
            'PAYLOAD_TOO_LARGE',
            'PRECONDITION_REQUIRED',
            'UNSUPPORTED_MEDIA_TYPE',
            'CONSTRAINT_VIOLATION',
            'RATE_LIMITED',
            'INTERNAL',
            'SERVICE_UNAVAILABLE',
          ],
        },
        detail: { type: 'string' },
        errors: {
          type: 'array',
          items: {
            type: 'object',
            properties: { path: { type: 'string' }, message: { type: 'string' } },
            required: ['path', 'message'],
            additionalProperties: false,
          },
        },
        requestId: { type: 'string' },
        candidates: {
          description: 'POSSIBLE_DUPLICATE only: the existing records that look like the one sent.',
          type: 'array',
          items: {
            type: 'object',
            properties: {
              id: {
                type: 'string',
                format: 'uuid',
                pattern:
                  '^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}|00000000-0000-0000-0000-000000000000|ffffffff-ffff-ffff-ffff-ffffffffffff)$',
              },
              patientNumber: { type: 'string' },
              fullName: { type: 'string' },
            },
            required: ['id', 'patientNumber', 'fullName'],
            additionalProperties: false,
          },
        },
        rule: {
          description: 'INVALID_TRANSITION and RECORD_LOCKED: the rule that refused the change, a stable snake_case name.',
          type: 'string',
        },
        allergies: {
          description:
            "ALLERGY_ACKNOWLEDGEMENT_REQUIRED: the patient's allergies the medicines match (items by position, from 1); acknowledge each by allergyId.",
          type: 'array',
          items: {
            type: 'object',
            properties: {
              allergyId: {
                type: 'string',
                format: 'uuid',
                pattern:
                  '^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}|00000000-0000-0000-0000-000000000000|ffffffff-ffff-ffff-ffff-ffffffffffff)$',
              },
              name: { type: 'string' },
              itemPositions: { type: 'array', items: { type: 'integer', minimum: -9007199254740991, maximum: 9007199254740991 } },
            },
            required: ['allergyId', 'name', 'itemPositions'],
            additionalProperties: false,
          },
        },
      },
      required: ['type', 'title', 'status', 'code', 'detail', 'errors', 'requestId'],
      additionalProperties: false,
    },
    'Problem: the body src/plugins/errors.ts sends',
  );
  const guarded = operations(document)
    .filter(({ operation }) => operation.security?.length)
    .map(({ key }) => key);
  t.same(
    guarded.sort(),
    [
      'GET /api/v1/auth/me',
      'POST /api/v1/auth/password',
      'POST /api/v1/auth/switch',
      'GET /api/v1/platform/clinics',
      'POST /api/v1/platform/clinics',
      'POST /api/v1/platform/clinics/{slug}/suspend',
      'POST /api/v1/platform/clinics/{slug}/reactivate',
      'PATCH /api/v1/platform/clinics/{slug}',
      'PATCH /api/v1/platform/clinics/{slug}/plan',
      'GET /api/v1/platform/support-access',
      'POST /api/v1/platform/support-access/{grantId}/token',
      'POST /graphql',
      ...Object.keys(STATUSES).filter((key) => key.includes('/api/v1/clinics/')),
    ].sort(),
    "the operations that take a bearer token (from the routes' guards)",
  );
});

t.test('paths are published without a trailing slash; the old URLs still reach the same handler', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  await db.admin.query('insert into app_public.clinic_settings (clinic_id) values ($1)', [clinics.a]);
  const operatorId = await createOperator(db, 'operator@example.test', 'a long operator passphrase');
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const document = (await app.inject({ url: '/openapi.json' })).json() as Document;

  t.same(
    Object.keys(document.paths).filter((path) => path !== '/' && path.endsWith('/')),
    [],
    'no path ends with a slash',
  );
  const collections = [
    '/api/v1/clinics/{slug}/departments',
    '/api/v1/clinics/{slug}/members',
    '/api/v1/clinics/{slug}/settings',
    '/api/v1/clinics/{slug}/support-access',
    '/api/v1/platform/support-access',
  ];
  for (const path of collections) t.ok(document.paths[path], `${path} is published`);

  const client = testClient(app);
  const admin = await client.clinicToken('clinic_admin', { id: clinics.a, slug: 'clinic-a' });
  const operator = await app.signPlatformToken({ accountId: operatorId, twoFactor: false });
  const get = (url: string, token: string) => client.call('GET', url, token);
  for (const [url, token] of [
    ['/api/v1/clinics/clinic-a/departments', admin],
    ['/api/v1/clinics/clinic-a/members', admin],
    ['/api/v1/clinics/clinic-a/settings', admin],
    ['/api/v1/clinics/clinic-a/support-access', admin],
    ['/api/v1/platform/support-access', operator],
  ] as const) {
    const canonical = await get(url, token);
    const withSlash = await get(`${url}/`, token);
    t.equal(canonical.statusCode, 200, `GET ${url}: 200`);
    t.equal(withSlash.statusCode, 200, `GET ${url}/: 200 as well`);
    t.same(withSlash.json(), canonical.json(), `GET ${url}/ answers what GET ${url} answers`);
  }
  const created = await client.post('/api/v1/clinics/clinic-a/departments/', { code: 'LAB', name: 'Laboratory' }, admin);
  t.equal(created.statusCode, 201, 'POST to the old URL with the slash still creates');
  t.equal((await db.admin.query(`select count(*)::int as n from app_public.departments where code = 'LAB'`)).rows[0].n, 1, 'one department, written once');
});

t.test('the contract check reports a response the document does not declare', async (t) => {
  const db = await createTestDatabase(t);
  const app = await buildApp({
    env: 'test',
    logLevel: 'silent',
    storageDir: await temporaryStorageDir(t),
    database: { authenticatorUrl: db.authenticatorUrl, poolSize: 2 },
    auth: { keys: TEST_KEYS, accessTokenTtlSeconds: 300, loginAttemptsPerMinute: 1000 },
    fieldCipher: TEST_FIELD_CIPHER,
  });
  t.teardown(() => app.close());
  const declared: RouteShorthandOptions = { schema: { response: { 200: z.strictObject({ n: z.number() }) } } };
  app.get('/probe/conforming', declared, async () => ({ n: 1 }));
  app.get('/probe/undeclared-status', declared, async (_request, reply) => reply.code(418).send({ n: 1 }));
  app.get('/probe/wrong-content-type', declared, async (_request, reply) => reply.type('text/plain').send('n=1'));
  // A string payload skips the serializer: the body goes out as written.
  app.get('/probe/wrong-body', declared, async (_request, reply) => reply.type('application/json').send('{"n":"one"}'));
  const mismatches: string[] = [];
  const check = checkResponsesAgainstDocument(app, (mismatch) => mismatches.push(mismatch));
  app.get('/probe/added-by-a-test', declared, async (_request, reply) => reply.code(418).send({ n: 1 }));

  for (const url of ['/probe/conforming', '/probe/undeclared-status', '/probe/wrong-content-type', '/probe/wrong-body', '/probe/added-by-a-test', '/nowhere']) {
    await app.inject({ url });
  }
  await app.inject({ method: 'POST', url: '/api/v1/auth/logout', payload: { refreshToken: 'x'.repeat(32) } });
  await app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: { 'content-type': 'text/plain' }, payload: 'no' });

  t.equal(mismatches.length, 3, 'three responses break the document');
  t.match(mismatches[0], /^GET \/probe\/undeclared-status → 418: status not declared/, 'an undeclared status');
  t.match(mismatches[1], /^GET \/probe\/wrong-content-type → 200: content type text\/plain not declared/, 'an undeclared content type');
  t.match(mismatches[2], /^GET \/probe\/wrong-body → 200: body does not match the application\/json schema: body\/n must be number/, 'a body off its schema');
  t.equal(check.checked(), 6, 'the four probes of the app and the two logouts (204, 415) were checked; the route a test added and the unknown URL were not');
});

t.test('a declared refusal the tests elsewhere do not meet is reachable: a time zone the database refuses is a 422', async (t) => {
  const db = await createTestDatabase(t);
  const operatorId = await createOperator(db, 'operator@example.test', 'a long operator passphrase');
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const operator = await app.signPlatformToken({ accountId: operatorId, twoFactor: false });
  const client = testClient(app);
  const call = (method: 'POST' | 'PATCH', url: string, payload: object) => client.call(method, url, operator, payload);

  const onboarded = await call('POST', '/api/v1/platform/clinics', {
    slug: 'olympus',
    name: 'Olympus Clinic',
    timezone: 'Mars/Olympus_Mons',
    admin: { email: 'admin@olympus.test', displayName: 'Dr Admin' },
  });
  t.equal(onboarded.statusCode, 422, 'onboarding with a time zone Postgres does not know: 422');
  t.match(onboarded.json(), { code: 'CONSTRAINT_VIOLATION', errors: [{ path: 'timezone' }] });
  t.equal((await db.admin.query(`select count(*)::int as n from app_public.clinics where slug = 'olympus'`)).rows[0].n, 0, 'no clinic written');

  t.equal(
    (
      await call('POST', '/api/v1/platform/clinics', {
        slug: 'olympus',
        name: 'Olympus Clinic',
        admin: { email: 'admin@olympus.test', displayName: 'Dr Admin' },
      })
    ).statusCode,
    201,
    'control: the same clinic in UTC',
  );
  const changed = await call('PATCH', '/api/v1/platform/clinics/olympus', { timezone: 'Mars/Olympus_Mons' });
  t.equal(changed.statusCode, 422, 'changing it to such a time zone: 422');
  t.equal((await db.admin.query(`select timezone from app_public.clinics where slug = 'olympus'`)).rows[0].timezone, 'UTC', 'unchanged');
});
