import pg from 'pg';

/** pg's types for the code outside src/db/ that names a pool or a client without talking to pg itself. */
export type { Client, Pool } from 'pg';

export interface PoolOptions {
  url: string;
  size: number;
  applicationName?: string;
  /**
   * An idle connection that fails (server restart, failover, shutdown racing pool.end()) is
   * discarded by the pool; this hears about it. Without a listener the error would crash the process.
   */
  onIdleError?: (error: Error) => void;
}

/**
 * Pool for the request-serving role (app_authenticator). Pipeline mode lets withTenant() put its
 * context statement on the wire together with the first query. Small pools beat big ones on
 * small machines (docs/performance.md), and idle connections are kept rather than reconnected.
 */
export function createPool(options: PoolOptions): pg.Pool {
  const config: pg.PoolConfig & { pipeline: boolean } = {
    connectionString: options.url,
    max: options.size,
    idleTimeoutMillis: 0,
    connectionTimeoutMillis: 5_000,
    application_name: options.applicationName ?? 'clinicbase',
    pipeline: true,
  };
  const pool = new pg.Pool(config);
  pool.on('error', options.onIdleError ?? (() => {}));
  // pg-pool listens for a client's errors only while the client is idle, and withContext only
  // once it holds it. In between, a backend terminated in the same network read that completed
  // its handshake (a failover, a reaper) would raise an 'error' nobody hears, and that ends the
  // process. This listener is always there: such a client fails its next query (503) and the pool
  // drops it at release, as it drops every client that is no longer queryable.
  pool.on('connect', (client) => client.on('error', ignoreHeardElsewhere));
  return pool;
}

/** Errors are reported by the query that meets the broken connection; nothing to do here. */
function ignoreHeardElsewhere(): void {}
