// What the GraphQL endpoint's HTTP route declares: the request body, checked before any GraphQL is
// parsed (a malformed request gets the problem a REST route would give, naming the field), and the
// responses, for the OpenAPI document. GraphQL's own errors (a document that does not validate, a
// refusal while it runs) are GraphQL responses: `errors[]` with `extensions.code`.
import { z } from 'zod';

const GRAPHQL_RESPONSE_MEDIA_TYPE = 'application/graphql-response+json';

const BATCH_REFUSAL = 'Batched requests are not accepted: send one operation per request (a JSON object, not an array).';

export const graphqlRequestSchema = z
  .object(
    {
      query: z.string().min(1).optional().describe('The GraphQL document (absent when a persisted document is named).'),
      operationName: z.string().max(100).nullish(),
      variables: z.record(z.string(), z.unknown()).nullish(),
      extensions: z.record(z.string(), z.unknown()).nullish(),
      documentId: z.string().max(200).optional().describe('A persisted (trusted) document, by id.'),
      id: z.string().max(200).optional().describe('A persisted (trusted) document, by id (older clients).'),
    },
    {
      // Batching is off: one operation per request, so each is checked and counted (rate limit) on its own.
      error: (issue) => (Array.isArray(issue.input) ? BATCH_REFUSAL : undefined),
    },
  )
  .refine((body) => body.query !== undefined || body.documentId !== undefined || body.id !== undefined, {
    message: 'query (or a persisted documentId) is required',
    path: ['query'],
  });

const graphqlError = z.looseObject({
  message: z.string(),
  locations: z.array(z.object({ line: z.int(), column: z.int() })).optional(),
  path: z.array(z.union([z.string(), z.int()])).optional(),
  extensions: z.looseObject({ code: z.string().optional() }).optional(),
});

const graphqlResponse = z.object({
  data: z.record(z.string(), z.unknown()).nullable().optional(),
  errors: z.array(graphqlError).optional(),
  extensions: z.record(z.string(), z.unknown()).optional(),
});

export const graphqlResponses = {
  200: {
    description: 'The operation ran: `data`, and `errors` for the fields that failed.',
    content: { [GRAPHQL_RESPONSE_MEDIA_TYPE]: { schema: graphqlResponse }, 'application/json': { schema: graphqlResponse } },
  },
  400: {
    description:
      'The document does not parse or validate (a limit included), or the request is malformed: `errors[]`. A request grafserv refuses before any document (trusted documents only, an unknown documentId) is answered in application/json.',
    content: { [GRAPHQL_RESPONSE_MEDIA_TYPE]: { schema: graphqlResponse }, 'application/json': { schema: graphqlResponse } },
  },
};
