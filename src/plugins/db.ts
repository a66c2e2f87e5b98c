// The database plugin: one pool for the request-serving role and the caller-bound door to it.
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { createPool, type Pool } from '../db/pool.ts';
import { withContext, type DbRole, type TenantContext, type TenantDb, type TransactionOptions, type TransactionSettings } from '../db/tenant.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** Pool of app_authenticator connections. Use withTenant/withPlatform, never raw queries on tenant tables. */
    pool: Pool;
    /** `options`: this transaction's isolation level or timeouts, over the configured ones. */
    withTenant<T>(ctx: TenantContext, fn: (db: TenantDb) => Promise<T>, options?: TransactionOptions): Promise<T>;
    withPlatform<T>(ctx: TenantContext, fn: (db: TenantDb) => Promise<T>, options?: TransactionOptions): Promise<T>;
  }
}

export interface DbPluginOptions {
  url: string;
  poolSize: number;
  /** Timeouts and prepared statements of every transaction (config's DATABASE_* settings). */
  transactions: Partial<TransactionSettings>;
}

async function dbPlugin(app: FastifyInstance, options: DbPluginOptions): Promise<void> {
  const pool = createPool({
    url: options.url,
    size: options.poolSize,
    // The code and message only: pg-pool hangs the whole client (its prepared SQL, its buffers) on
    // the error, and a failover would log kilobytes per connection.
    onIdleError: (error) => app.log.warn({ db: { code: (error as { code?: string }).code, message: error.message } }, 'idle database connection failed'),
  });
  const run =
    (role: DbRole) =>
    <T>(ctx: TenantContext, fn: (db: TenantDb) => Promise<T>, own: TransactionOptions = {}) =>
      withContext(pool, role, ctx, fn, { ...options.transactions, ...own });
  app.decorate('pool', pool);
  app.decorate('withTenant', run('app_user'));
  app.decorate('withPlatform', run('app_platform'));
  app.addHook('onClose', async () => {
    await pool.end();
  });
}

export default fp(dbPlugin, { name: 'db' });
