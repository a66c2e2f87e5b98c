// The one door to tenant data. Every HTTP request, job and script that touches a tenant table
// goes through withTenant(): its statements run with the caller's identity set transaction-local
// (the settings of src/db/context-settings.ts: clinic, user, app role, request id, client address,
// the database role app_user, read-only mode and the timeouts), so Postgres row-level security
// decides every row, and everything set is gone when the transaction ends.
//
// The parts, by job:
//  - src/db/context-settings.ts: the settings table; validates a TenantContext; the context SQL and
//    the plain settings map (PostGraphile's pgSettings, the worker);
//  - src/db/context-connection.ts: which statements run alone and which in the explicit
//    transaction, and the Kysely instance bound to the connection;
//  - src/db/pg-wire.ts: the pg patch that writes BEGIN and the context in the same message as the
//    statement they serve (one round trip per read);
//  - this file: withContext/withTenant, the transaction's life on one pooled connection.
import type pg from 'pg';
import { checkIsolationLevel, ContextConnection, kyselyOn, type IsolationLevel, type TenantDb } from './context-connection.ts';
import { contextValues, transactionSettings, type DbRole, type TenantContext, type TransactionSettings } from './context-settings.ts';

export { CLINIC_ROLES, type ClinicRole } from '../auth/permissions.ts';
export {
  contextSettings,
  DEFAULT_TRANSACTION_SETTINGS,
  type ContextSettings,
  type DbRole,
  type TenantContext,
  type TransactionSettings,
} from './context-settings.ts';
export type { IsolationLevel, TenantDb } from './context-connection.ts';

/** How one withContext transaction runs: TransactionSettings (each defaults to DEFAULT_TRANSACTION_SETTINGS) and its isolation level. */
export interface TransactionOptions extends Partial<TransactionSettings> {
  /**
   * Default 'read committed'. 'repeatable read' or 'serializable' make the whole of `fn` one
   * explicit transaction from its first statement, opened with that level (a concurrent change
   * it conflicts with fails with 40001: the API answers 503, retry).
   */
  isolationLevel?: IsolationLevel;
  /**
   * `fn` runs exactly one statement: it is sent as its own implicit transaction, read-write unless
   * the context is read-only, with the context in the same message: one round trip, no BEGIN, no
   * COMMIT (a read that writes a record of itself, src/records/chart-access.ts). A second
   * statement throws before it is sent. Read committed only.
   */
  singleStatement?: boolean;
}

/**
 * Runs `fn` as `dbRole` with the given context. Its writes form one transaction, committed when
 * `fn` resolves and rolled back when it throws. The connection goes back to the pool carrying
 * nothing: all settings and the role are transaction-local. A lock (raw SQL, a locking clause such
 * as .forUpdate(), an advisory transaction lock) is held until then; see context-connection.ts.
 */
export async function withContext<T>(
  pool: pg.Pool,
  dbRole: DbRole,
  ctx: TenantContext,
  fn: (db: TenantDb) => Promise<T>,
  options: TransactionOptions = {},
): Promise<T> {
  const { isolationLevel = 'read committed', singleStatement = false, ...settings } = options;
  checkIsolationLevel(isolationLevel);
  if (singleStatement && isolationLevel !== 'read committed') throw new TypeError('invalid transaction options: singleStatement runs under read committed');
  const chosen = transactionSettings(settings);
  const context = contextValues(ctx, dbRole, chosen);
  const client = await pool.connect();
  // A checked-out client has no 'error' listener of the pool's: a connection lost while this
  // transaction holds it (a failover, a restart, a reaper's pg_terminate_backend) would be an
  // unhandled 'error' event, and an unhandled error ends the process. Hear it here instead: the
  // transaction fails with ConnectionLostError and the client is destroyed, not reused.
  let lost: Error | undefined;
  const onLost = (error: Error) => {
    lost ??= error;
  };
  client.on('error', onLost);
  const connection = new ContextConnection(client, {
    context,
    readOnly: ctx.readOnly === true,
    preparedStatements: chosen.preparedStatements,
    isolationLevel,
    singleStatement,
  });
  let broken: Error | undefined;
  try {
    const result = await fn(kyselyOn(connection));
    await connection.commit();
    return result;
  } catch (error) {
    broken = await connection.rollback();
    throw lost ? new ConnectionLostError(lost) : error;
  } finally {
    client.off('error', onLost);
    // A connection whose rollback failed is in an unknown state, and one holding stale prepared
    // statements would fail again: destroy it rather than reuse it.
    client.release(lost ?? broken ?? (connection.staleStatements ? new Error('stale prepared statements') : false));
  }
}

/**
 * The transaction's connection was lost before its COMMIT was acknowledged. Postgres rolls back
 * a transaction whose session ends, so nothing of it was written, unless the connection broke
 * while the COMMIT itself was in flight (then it may have committed, whole).
 */
export class ConnectionLostError extends Error {
  constructor(cause: Error) {
    super('the database connection was lost; the transaction did not commit', { cause });
    this.name = 'ConnectionLostError';
  }
}

/** A clinic member's transaction (the common case). */
export function withTenant<T>(pool: pg.Pool, ctx: TenantContext, fn: (db: TenantDb) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
  return withContext(pool, 'app_user', ctx, fn, options);
}
