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

/**
 * What a login may add: a one-time code, the address it comes from (inject's default is 127.0.0.1),
 * and the X-Forwarded-For header a proxy would add.
 */
export interface LoginOptions {
  otp?: string;
  remoteAddress?: string;
  forwardedFor?: string;
}

export interface TestClient {
  /** `method prefix+url`, with `Bearer token` when a token is given and the JSON payload when there is one. */
  call(method: Method, url: string, token?: string, payload?: object): Promise<LightMyRequestResponse>;
  /** `POST prefix+url` with the JSON payload, and `Bearer token` when a token is given: `call` in the order most POSTs read best. */
  post(url: string, payload?: object, token?: string): Promise<LightMyRequestResponse>;
  /** POST /api/v1/auth/login into `clinicSlug` (without one: the clinics to choose from). */
  login(email: string, password: string, clinicSlug?: string, options?: LoginOptions): Promise<LightMyRequestResponse>;
  /** POST /api/v1/platform/auth/login. */
  platformLogin(email: string, password: string, options?: Pick<LoginOptions, 'remoteAddress'>): Promise<LightMyRequestResponse>;
  /** An access token for `role` in `clinic` (password factor, a fresh jti), for `sub` (default: a random account id). */
  clinicToken(role: ClinicRole, clinic: ClinicRef, sub?: string): Promise<string>;
}

/** `prefix` goes before every `call` and `post` URL (a file that calls one resource); the logins ignore it. */
export function testClient(app: FastifyInstance, prefix = ''): TestClient {
  const call: TestClient['call'] = (method, url, token, payload) =>
    app.inject({ method, url: `${prefix}${url}`, headers: token ? { authorization: `Bearer ${token}` } : {}, ...(payload ? { payload } : {}) });
  // Only what is given, so that inject's defaults stand otherwise.
  const from = ({ remoteAddress, forwardedFor }: LoginOptions) => ({
    ...(remoteAddress ? { remoteAddress } : {}),
    ...(forwardedFor ? { headers: { 'x-forwarded-for': forwardedFor } } : {}),
  });
  return {
    call,
    post: (url, payload, token) => call('POST', url, token, payload),
    login: (email, password, clinicSlug, options = {}) =>
      app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        ...from(options),
        // JSON leaves out a clinicSlug that is undefined.
        payload: { email, password, clinicSlug, ...(options.otp ? { otp: options.otp } : {}) },
      }),
    platformLogin: (email, password, options = {}) =>
      app.inject({ method: 'POST', url: '/api/v1/platform/auth/login', ...from(options), payload: { email, password } }),
    clinicToken: (role, clinic, sub = randomUUID()) =>
      app.signAccessToken({ sub, clinic_id: clinic.id, clinic_slug: clinic.slug, role, jti: randomUUID(), amr: ['pwd'] }),
  };
}
