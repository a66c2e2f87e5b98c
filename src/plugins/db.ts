// The database plugin: one pool for the request-serving role and the caller-bound door to it, and
// the process's one listening connection for Postgres notifications.
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { createNotifications, type Notifications } from '../db/notifications.ts';
import { createPool, type Pool } from '../db/pool.ts';
import { withContext, type DbRole, type TenantContext, type TenantDb, type TransactionOptions, type TransactionSettings } from '../db/tenant.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** Pool of app_authenticator connections. Use withTenant/withPlatform, never raw queries on tenant tables. */
    pool: Pool;
    /** `options`: this transaction's isolation level or timeouts, over the configured ones. */
    withTenant<T>(ctx: TenantContext, fn: (db: TenantDb) => Promise<T>, options?: TransactionOptions): Promise<T>;
    withPlatform<T>(ctx: TenantContext, fn: (db: TenantDb) => Promise<T>, options?: TransactionOptions): Promise<T>;
    /**
     * LISTEN/NOTIFY over one connection of its own (src/db/notifications.ts), made at the first
     * subscribe: `subscribe(channel, parser, handler)` → unsubscribe. Payloads carry ids only;
     * what they name is re-read through withTenant.
     */
    notifications: Notifications;
  }
}

export interface DbPluginOptions {
  url: string;
  /** The notification listener's URL, when it must differ from `url` (a transaction-mode pooler in between); default `url`. */
  listenUrl?: string | undefined;
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
  // The request pool's login role (LISTEN needs no privilege, see notifications.ts), straight to
  // Postgres when the request pool goes through a transaction-mode pooler (DATABASE_LISTEN_URL).
  const notifications = createNotifications({ url: options.listenUrl ?? options.url, log: app.log.child({ component: 'notifications' }) });
  app.decorate('notifications', notifications);
  app.addHook('onClose', async () => {
    await Promise.all([pool.end(), notifications.close()]);
  });
}

export default fp(dbPlugin, { name: 'db' });
