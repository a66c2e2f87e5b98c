// Per-minute limits per client address on every route that takes a credential, platform login
// included; counted together by every API process that shares REDIS_URL; and skipped, not failed,
// while Redis is away (the lockouts in Postgres still guard the credentials).
import { randomUUID } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import t from 'tap';
import { Redis } from 'ioredis';
import { freePort } from '../../src/db/embedded.ts';
import { PROBLEM_CONTENT_TYPE } from '../../src/plugins/errors.ts';
import { buildTestApp, TEST_KEYS } from '../helpers/app.ts';
import { testClient } from '../helpers/client.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { createOperator } from '../helpers/people.ts';

const PASSWORD = 'operators keep the lights on';
const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

async function redisAnswers(url: string): Promise<boolean> {
  const redis = new Redis(url, { lazyConnect: true, enableOfflineQueue: false, retryStrategy: () => null, connectTimeout: 1_000 });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

t.test('platform login: the call after the limit from one address is a 429 with Retry-After', async (t) => {
  const db = await createTestDatabase(t);
  await createOperator(db, 'ops@example.test', PASSWORD);
  const { app } = await buildTestApp(t, db.authenticatorUrl, TEST_KEYS, 3);
  const client = testClient(app);
  const login = (remoteAddress: string) => client.platformLogin('ops@example.test', PASSWORD, { remoteAddress });

  const statuses: number[] = [];
  let last: LightMyRequestResponse | undefined;
  for (let i = 0; i < 4; i++) {
    last = await login('203.0.113.9');
    statuses.push(last.statusCode);
  }
  t.same(statuses, [200, 200, 200, 429], 'three logins a minute, even with the right password');
  t.equal(last!.headers['content-type'], PROBLEM_CONTENT_TYPE);
  t.match(last!.json(), { status: 429, code: 'RATE_LIMITED' });
  const retryAfter = Number(last!.headers['retry-after']);
  t.ok(retryAfter > 0 && retryAfter <= 60, `Retry-After within the minute (${retryAfter})`);
  t.equal((await login('198.51.100.30')).statusCode, 200, 'another address has its own count');
});

t.test('every route that takes a credential is limited per address', async (t) => {
  const db = await createTestDatabase(t);
  const { app } = await buildTestApp(t, db.authenticatorUrl, TEST_KEYS, 2);
  const { post } = testClient(app);
  // An empty body is refused (400, or 401 first where a token is required), yet it counts: the
  // limit runs before anything else, so guessing cannot go faster by sending junk.
  const routes: [url: string, refused: number][] = [
    ['/api/v1/auth/login', 400],
    ['/api/v1/auth/refresh', 400],
    ['/api/v1/auth/logout', 400],
    ['/api/v1/auth/invitations/accept', 400],
    ['/api/v1/auth/password/reset-request', 400],
    ['/api/v1/auth/password/reset', 400],
    ['/api/v1/auth/password', 401],
    ['/api/v1/auth/two-factor/setup', 400],
    ['/api/v1/auth/two-factor/enable', 400],
    ['/api/v1/auth/two-factor/disable', 400],
    ['/api/v1/auth/two-factor/recovery-codes', 400],
    ['/api/v1/platform/auth/login', 400],
  ];
  for (const [url, refused] of routes) {
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await post(url, {})).statusCode);
    t.same(statuses, [refused, refused, 429], `${url}: two a minute`);
  }
});

const redisUp = await redisAnswers(TEST_REDIS_URL);
const skip =
  !redisUp && !process.env.CI
    ? `Redis does not answer at ${TEST_REDIS_URL}: start redis-server or set TEST_REDIS_URL (CI runs this test and fails without it)`
    : false;

t.test('two API processes sharing REDIS_URL share the count', { skip }, async (t) => {
  if (!t.ok(redisUp, `Redis answers at ${TEST_REDIS_URL}`)) return;
  const db = await createTestDatabase(t);
  const nameSpace = `clinicbase-test-${randomUUID()}:`;
  const options = { redisUrl: TEST_REDIS_URL, rateLimitNameSpace: nameSpace };
  const { app: first } = await buildTestApp(t, db.authenticatorUrl, TEST_KEYS, 3, {}, options);
  const { app: second } = await buildTestApp(t, db.authenticatorUrl, TEST_KEYS, 3, {}, options);
  const attempt = (app: typeof first) => app.inject({ method: 'POST', url: '/api/v1/platform/auth/login', remoteAddress: '203.0.113.77', payload: {} });

  const statuses = [await attempt(first), await attempt(second), await attempt(first), await attempt(second)].map((r) => r.statusCode);
  t.same(statuses, [400, 400, 400, 429], 'three calls a minute across both processes, not three each');

  const redis = new Redis(TEST_REDIS_URL);
  t.teardown(() => redis.quit());
  const keys = await redis.keys(`${nameSpace}*`);
  t.equal(keys.length, 1, 'the counter lives in Redis under the configured prefix');
  t.equal(await redis.get(keys[0]!), '4');
  if (keys.length > 0) await redis.del(...keys);
});

t.test('while Redis is unreachable the limit is skipped, with a warning, and requests are served', async (t) => {
  const db = await createTestDatabase(t);
  const nowhere = `redis://127.0.0.1:${await freePort()}`;
  const { app, logs } = await buildTestApp(t, db.authenticatorUrl, TEST_KEYS, 2, {}, { redisUrl: nowhere });
  const statuses: number[] = [];
  const { post } = testClient(app);
  for (let i = 0; i < 3; i++) statuses.push((await post('/api/v1/platform/auth/login', {})).statusCode);
  t.same(statuses, [400, 400, 400], 'no 500 and no 429: the call goes on to validation');
  t.ok(
    logs().some((line) => line.level === 40 && /rate-limit store unreachable/.test(String(line.msg))),
    'a warning says the limit is skipped',
  );
});
