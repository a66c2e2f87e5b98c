// What a browser and a stranger see of the API: security headers on every answer (data, tokens,
// errors), nothing under /api/v1 stored by a cache, CORS only for configured origins, the API
// docs off in production unless asked for and under a strict policy when on, and routes outside
// the clinics that refuse a caller without a token before they look at the input.
import t from 'tap';
import { buildTestApp, TEST_KEYS } from '../helpers/app.ts';
import { testClient } from '../helpers/client.ts';
import { createClinics, createTestDatabase } from '../helpers/db.ts';
import { createPerson } from '../helpers/people.ts';

const PASSWORD = 'a long and correct password';

t.test('security headers on clinic data, on tokens and on errors', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const adminId = await createPerson(db, 'admin@example.test', PASSWORD, [[clinics.a, 'clinic_admin']]);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const client = testClient(app);
  const token = await client.clinicToken('clinic_admin', { id: clinics.a, slug: 'clinic-a' }, adminId);

  const responses = {
    'clinic data': await client.call('GET', '/api/v1/clinics/clinic-a/departments', token),
    'a token': await client.login('admin@example.test', PASSWORD, 'clinic-a'),
    'a refusal': await client.call('GET', '/api/v1/clinics/clinic-a/settings'),
    'an unknown route': await client.call('GET', '/api/v1/no-such-thing'),
    'a bad body': await client.post('/api/v1/auth/login', { email: 'not an e-mail' }),
  };
  t.same(
    Object.values(responses).map((r) => r.statusCode),
    [200, 200, 401, 404, 400],
  );
  for (const [what, response] of Object.entries(responses)) {
    t.equal(response.headers['x-content-type-options'], 'nosniff', `${what}: nosniff`);
    t.equal(response.headers['cache-control'], 'no-store', `${what}: no-store`);
    t.equal(response.headers['x-frame-options'], 'DENY', `${what}: never framed (X-Frame-Options)`);
    const csp = String(response.headers['content-security-policy']);
    t.match(csp, /default-src 'none'/, `${what}: loads nothing`);
    t.match(csp, /frame-ancestors 'none'/, `${what}: never framed (CSP)`);
    t.match(response.headers, HELMET_HEADERS, `${what}: every header of the policy, as configured`);
  }
});

/** What src/plugins/security-headers.ts configures helmet to send, header by header. */
const HELMET_HEADERS = {
  'content-security-policy': "default-src 'none';base-uri 'none';form-action 'none';frame-ancestors 'none'",
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'origin-agent-cluster': '?1',
  'referrer-policy': 'no-referrer',
  'strict-transport-security': 'max-age=31536000',
  'x-content-type-options': 'nosniff',
  'x-dns-prefetch-control': 'off',
  'x-download-options': 'noopen',
  'x-frame-options': 'DENY',
  'x-permitted-cross-domain-policies': 'none',
  'x-xss-protection': '0',
};

t.test('CORS: off by default, the configured origins only', async (t) => {
  const db = await createTestDatabase(t);
  const origin = 'https://app.example.test';
  type App = Awaited<ReturnType<typeof buildTestApp>>['app'];
  const preflight = (target: App, from: string) =>
    target.inject({
      method: 'OPTIONS',
      url: '/api/v1/auth/login',
      headers: { origin: from, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
    });
  const simple = (target: App, from: string) => target.inject({ url: '/health/live', headers: { origin: from } });

  const { app: unset } = await buildTestApp(t, db.authenticatorUrl);
  t.notOk((await simple(unset, origin)).headers['access-control-allow-origin'], 'unset: no CORS header on a request');
  const unsetPreflight = await preflight(unset, origin);
  t.notOk(unsetPreflight.headers['access-control-allow-origin'], 'unset: no CORS header on a preflight');
  t.notOk(unsetPreflight.headers['access-control-allow-headers']);

  const { app: allowing } = await buildTestApp(t, db.authenticatorUrl, TEST_KEYS, 1000, {}, { corsOrigins: [origin, 'http://localhost:5173'] });
  const allowed = await preflight(allowing, origin);
  t.equal(allowed.statusCode, 204);
  t.equal(allowed.headers['access-control-allow-origin'], origin, 'an allowed origin may call');
  t.match(String(allowed.headers['access-control-allow-headers']).toLowerCase(), /authorization/, 'with Authorization');
  t.match(String(allowed.headers['access-control-allow-headers']).toLowerCase(), /content-type/, 'and Content-Type');
  t.match(String(allowed.headers['access-control-allow-methods']), /POST/);
  t.notOk(allowed.headers['access-control-allow-credentials'], 'no credentials mode: tokens travel in a header');
  const request = await simple(allowing, origin);
  t.equal(request.headers['access-control-allow-origin'], origin);
  t.match(String(request.headers.vary), /Origin/i, 'caches keep answers per origin');

  for (const stranger of ['https://evil.example.test', 'https://app.example.test.evil.test', 'null']) {
    t.notOk((await preflight(allowing, stranger)).headers['access-control-allow-origin'], `${stranger}: no preflight`);
    t.notOk((await simple(allowing, stranger)).headers['access-control-allow-origin'], `${stranger}: no CORS header`);
  }
});

t.test('the API docs: off in production unless API_DOCS is set', async (t) => {
  const db = await createTestDatabase(t);
  const urls = ['/openapi.json', '/docs', '/docs/json', '/docs/static/swagger-ui-bundle.js'];
  const statuses = async (options: Parameters<typeof buildTestApp>[5]) => {
    const { app } = await buildTestApp(t, db.authenticatorUrl, TEST_KEYS, 1000, {}, options);
    return Promise.all(urls.map(async (url) => (await app.inject({ url })).statusCode));
  };
  t.same(await statuses({ env: 'production' }), [404, 404, 404, 404], 'production: not served');
  t.same(await statuses({ env: 'production', apiDocs: true }), [200, 200, 200, 200], 'production with API_DOCS=true: served');
  t.same(await statuses({ env: 'development' }), [200, 200, 200, 200], 'development: served');
  t.same(await statuses({ env: 'development', apiDocs: false }), [404, 404, 404, 404], 'development with API_DOCS=false: not served');
});

t.test('the docs page has a strict policy and still loads everything it needs', async (t) => {
  const db = await createTestDatabase(t);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const page = await app.inject({ url: '/docs/' });
  t.equal(page.statusCode, 200);
  t.match(page.headers['content-type'], /^text\/html/);
  const csp = String(page.headers['content-security-policy']);
  for (const directive of ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"]) {
    t.ok(csp.split(/;\s*/).includes(directive), `CSP has ${directive}`);
  }
  t.notMatch(csp, /unsafe-eval/, 'no eval');
  t.notMatch(csp, /script-src[^;]*unsafe-inline/, 'no inline script');
  t.notMatch(page.body, /<script(?![^>]*\bsrc=)[^>]*>/, 'the page has no inline script for the policy to block');

  const assets = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => new URL(m[1]!, 'http://localhost/docs/').pathname);
  t.ok(assets.some((a) => a.endsWith('swagger-ui-bundle.js')) && assets.some((a) => a.endsWith('swagger-initializer.js')), 'the page names its scripts');
  for (const asset of assets) {
    const response = await app.inject({ url: asset });
    t.equal(response.statusCode, 200, `${asset} is served from /docs (script-src 'self')`);
    t.equal(response.headers['x-content-type-options'], 'nosniff');
  }
  const initializer = (await app.inject({ url: '/docs/static/swagger-initializer.js' })).body;
  t.match(initializer, /resolveUrl\('\.\/json'\)/, "the UI fetches the document from this origin (connect-src 'self')");
  t.equal((await app.inject({ url: '/docs/json' })).json().openapi, '3.1.0');
});

t.test('outside the clinics, routes that need a token refuse a caller without one before validating', async (t) => {
  const db = await createTestDatabase(t);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const document = (await app.inject({ url: '/openapi.json' })).json() as {
    paths: Record<string, Record<string, { security?: unknown[] }>>;
  };
  // Every operation the document says needs a bearer token, under /api/v1/auth and /api/v1/platform.
  const guarded = Object.entries(document.paths)
    .filter(([path]) => path.startsWith('/api/v1/auth/') || path.startsWith('/api/v1/platform/'))
    .flatMap(([path, operations]) =>
      Object.entries(operations)
        .filter(([, operation]) => operation.security?.length)
        .map(([method]) => `${method.toUpperCase()} ${path}`),
    )
    .sort();
  t.same(
    guarded,
    [
      'GET /api/v1/auth/me',
      'GET /api/v1/platform/clinics',
      'GET /api/v1/platform/support-access',
      'PATCH /api/v1/platform/clinics/{slug}',
      'PATCH /api/v1/platform/clinics/{slug}/plan',
      'POST /api/v1/auth/password',
      'POST /api/v1/auth/switch',
      'POST /api/v1/platform/clinics',
      'POST /api/v1/platform/clinics/{slug}/reactivate',
      'POST /api/v1/platform/clinics/{slug}/suspend',
      'POST /api/v1/platform/support-access/{grantId}/token',
    ],
    'the routes this test covers',
  );

  for (const operation of guarded) {
    const [method, path] = operation.split(' ') as ['GET' | 'POST' | 'PATCH', string];
    // Parameters and body that validation would refuse: the answer must still be 401.
    const url = path.replace('{slug}', 'NOT_A_SLUG').replace('{grantId}', 'not-a-uuid');
    const response = await app.inject({ method, url, ...(method === 'GET' ? {} : { payload: { unexpected: '\u0000' } }) });
    t.equal(response.statusCode, 401, `${operation}: 401 before validation`);
    t.match(response.json(), { code: 'UNAUTHENTICATED', errors: [] }, `${operation}: nothing about the input`);
  }
});
