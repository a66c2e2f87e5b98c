// GraphQL for the tests: POST /graphql through app.inject (so buildTestApp still holds every answer to
// the OpenAPI document), with a bearer token when one is given.
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';

export interface GraphqlError {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: string } & Record<string, unknown>;
}

export interface GraphqlResult<Data = Record<string, unknown>> {
  /** The HTTP response as received. */
  response: LightMyRequestResponse;
  status: number;
  data: Data | null | undefined;
  errors: GraphqlError[] | undefined;
}

export interface GraphqlRequest {
  query: string;
  variables?: Record<string, unknown>;
  operationName?: string;
}

/** POST /graphql with `request` (or a bare document) and `Bearer token`; the body parsed when it is JSON. */
export async function graphql<Data = Record<string, unknown>>(
  app: FastifyInstance,
  token: string | undefined,
  request: GraphqlRequest | string,
  headers: Record<string, string> = {},
): Promise<GraphqlResult<Data>> {
  const payload = typeof request === 'string' ? { query: request } : request;
  const response = await app.inject({
    method: 'POST',
    url: '/graphql',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    payload,
  });
  const json = /json/.test(String(response.headers['content-type'])) ? (response.json() as { data?: Data | null; errors?: GraphqlError[] }) : {};
  return { response, status: response.statusCode, data: json.data, errors: json.errors };
}

/** The `extensions.code` of each error, in order (what a client branches on). */
export const errorCodes = (result: GraphqlResult<unknown>): (string | undefined)[] => (result.errors ?? []).map((error) => error.extensions?.code);
