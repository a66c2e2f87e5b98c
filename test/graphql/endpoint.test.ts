// The GraphQL endpoint as a server surface: where it is, where Ruru is (and is not), which headers its
// answers carry. What the schema exposes and what each limit refuses are tested in their own files.
import t from 'tap';
import { defaultGraphqlConfig } from '../../src/graphql/config.ts';
import { buildTestApp, TEST_KEYS } from '../helpers/app.ts';
import { testClient } from '../helpers/client.ts';
import { createClinics, createTestDatabase } from '../helpers/db.ts';
import { graphql } from '../helpers/graphql.ts';

t.test('Ruru at /graphiql: on outside production, off in production unless GRAPHIQL is set; never at /', async (t) => {
  const db = await createTestDatabase(t);
  const urls = ['/graphiql', '/ruru-static/ruru.js', '/'];
  const statuses = async (options: Parameters<typeof buildTestApp>[5]) => {
    const { app } = await buildTestApp(t, db.authenticatorUrl, TEST_KEYS, 1000, {}, options);
    return Promise.all(urls.map(async (url) => (await app.inject({ url })).statusCode));
  };
  t.same(await statuses({ env: 'development' }), [200, 200, 404], 'development: served at /graphiql, not at /');
  t.same(await statuses({ env: 'production' }), [404, 404, 404], 'production: not served');
  t.same(
    await statuses({ env: 'production', graphql: { ...defaultGraphqlConfig('production'), graphiql: true } }),
    [200, 200, 404],
    'production with GRAPHIQL=true: served',
  );
  t.same(
    await statuses({ env: 'development', graphql: { ...defaultGraphqlConfig('development'), graphiql: false } }),
    [404, 404, 404],
    'development with GRAPHIQL=false: not served',
  );
});

t.test("Ruru's page: its inline scripts run by their hashes, nothing else inline", async (t) => {
  const db = await createTestDatabase(t);
  const { app } = await buildTestApp(t, db.authenticatorUrl, TEST_KEYS, 1000, {}, { env: 'development' });
  const page = await app.inject({ url: '/graphiql' });
  t.match(page.headers['content-type'], /^text\/html/);
  const inlineScripts = [...page.body.matchAll(/<script\b[^>]*>([\s\S]*?)<\/script>/g)].filter(([, body]) => body!.trim() !== '');
  t.ok(inlineScripts.length >= 1, 'the page has inline scripts (else this test proves nothing)');
  const policy = String(page.headers['content-security-policy']);
  const scriptSrc = policy.split('; ').find((directive) => directive.startsWith('script-src '));
  t.equal(scriptSrc?.match(/'sha256-[A-Za-z0-9+/]+=*'/g)?.length, inlineScripts.length, 'one hash per inline script');
  t.notMatch(scriptSrc, /unsafe-inline|unsafe-eval|\*/, 'no inline script without its hash, no eval, no other origin');
  t.match(policy, "frame-ancestors 'none'");
  t.match(policy, "default-src 'none'");
});

t.test('a GraphQL answer is never cached, and names its request', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const token = await testClient(app).clinicToken('nurse', { id: clinics.a, slug: 'clinic-a' });
  const answer = await graphql(app, token, '{ __typename }', { 'x-request-id': 'graphql-endpoint-1' });
  t.equal(answer.status, 200);
  t.same(answer.data, { __typename: 'Query' });
  t.equal(answer.response.headers['cache-control'], 'no-store');
  t.equal(answer.response.headers['x-request-id'], 'graphql-endpoint-1');
  const refused = await graphql(app, undefined, '{ __typename }');
  t.equal(refused.status, 401, 'no token: refused before any GraphQL runs');
  t.equal(refused.response.headers['content-type'], 'application/problem+json; charset=utf-8');
});
