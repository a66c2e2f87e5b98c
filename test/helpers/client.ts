// One HTTP client for the tests, instead of a copy in each file: requests through app.inject (so
// buildTestApp still holds every answer to the OpenAPI document), a bearer header when a token is
// given, the two logins, and clinic access tokens signed by the app as a password login issues them.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import type { ClinicRole } from '../../src/db/tenant.ts';

export type Method = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';

/** The clinic a token is for: its id and its slug. */
export interface ClinicRef {
  id: string;
  slug: string;
}

export interface TestClient {
  /** `method prefix+url`, with `Bearer token` when a token is given and the JSON payload when there is one. */
  call(method: Method, url: string, token?: string, payload?: object): Promise<LightMyRequestResponse>;
  /** POST /api/v1/auth/login into `clinicSlug`. */
  login(email: string, password: string, clinicSlug: string): Promise<LightMyRequestResponse>;
  /** POST /api/v1/platform/auth/login. */
  platformLogin(email: string, password: string): Promise<LightMyRequestResponse>;
  /** An access token for `role` in `clinic` (password factor, a fresh jti), for `sub` (default: a random account id). */
  clinicToken(role: ClinicRole, clinic: ClinicRef, sub?: string): Promise<string>;
}

/** `prefix` goes before every `call` URL (a file that calls one resource); the logins ignore it. */
export function testClient(app: FastifyInstance, prefix = ''): TestClient {
  return {
    call: (method, url, token, payload) =>
      app.inject({ method, url: `${prefix}${url}`, headers: token ? { authorization: `Bearer ${token}` } : {}, ...(payload ? { payload } : {}) }),
    login: (email, password, clinicSlug) => app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password, clinicSlug } }),
    platformLogin: (email, password) => app.inject({ method: 'POST', url: '/api/v1/platform/auth/login', payload: { email, password } }),
    clinicToken: (role, clinic, sub = randomUUID()) =>
      app.signAccessToken({ sub, clinic_id: clinic.id, clinic_slug: clinic.slug, role, jti: randomUUID(), amr: ['pwd'] }),
  };
}
