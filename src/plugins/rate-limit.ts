// Per-minute limits per client address on every route that takes a credential (a password, a
// one-time code, a refresh, invitation or reset token), on top of the lockouts in Postgres.
// Registered once for the whole app; a route opts in with `config: credentialLimit`.
//
// With REDIS_URL the counters live in Redis, so every API process counts together; without it
// they live in the process's memory. Redis is not a hard dependency: while it is unreachable the
// limit is skipped (fail open, with a warning in the log), because the per-e-mail and per-address
// lockouts in Postgres keep guarding the credentials and a login must not fail for want of a
// counter. A request never waits for Redis: commands fail at once while it is away.
import rateLimit from '@fastify/rate-limit';
import type { FastifyContextConfig, FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Redis } from 'ioredis';
import { AppError } from '../errors.ts';

export interface RateLimitOptions {
  /** Calls per client address per minute on each credential route. */
  credentialAttemptsPerMinute: number;
  /** redis:// or rediss:// URL of the shared store; unset: in memory. */
  redisUrl?: string;
  /** Prefix of the counters' keys in Redis (tests give each run its own). */
  nameSpace?: string;
}

/** Route config of every route that takes a credential: the plugin's limit applies (per route and address). */
export const credentialLimit: FastifyContextConfig = { rateLimit: {} };

const REDIS_COMMAND_TIMEOUT_MS = 500;

function sharedStore(app: FastifyInstance, url: string): Redis {
  const redis = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    connectTimeout: 2_000,
  });
  // One warning when the store goes away and one line when it is back, not one per retry.
  let reachable = true;
  redis.on('error', (error: Error & { code?: string }) => {
    if (reachable) {
      app.log.warn(
        { redis: { code: error.code, message: error.message } },
        'rate-limit store unreachable: per-minute limits are skipped until it is back (lockouts in Postgres still apply)',
      );
    }
    reachable = false;
  });
  redis.on('ready', () => {
    if (!reachable) app.log.info('rate-limit store reachable again');
    reachable = true;
  });
  return redis;
}

async function rateLimitPlugin(app: FastifyInstance, options: RateLimitOptions): Promise<void> {
  const redis = options.redisUrl ? sharedStore(app, options.redisUrl) : undefined;
  if (redis) {
    // Start with the store connected when it is there; when it is not, start anyway (it reconnects).
    await redis.connect().catch(() => undefined);
    app.addHook('onClose', async () => {
      await redis.quit().catch(() => redis.disconnect());
    });
  }
  await app.register(rateLimit, {
    global: false,
    max: options.credentialAttemptsPerMinute,
    timeWindow: '1 minute',
    ...(redis ? { redis, nameSpace: options.nameSpace ?? 'clinicbase-rate-limit:', skipOnError: true } : {}),
    errorResponseBuilder: (_request, context) => new AppError('RATE_LIMITED', `Too many attempts from this address; retry in ${context.after}.`),
  });
}

export default fp(rateLimitPlugin, { name: 'rate-limit', dependencies: ['errors'] });
