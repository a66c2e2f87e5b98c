import pg from 'pg';

export interface PoolOptions {
  url: string;
  size: number;
  applicationName?: string;
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
  return new pg.Pool(config);
}
