// The one door to tenant data. Every HTTP request, job and script that touches a tenant table
// goes through withTenant(): one transaction whose first statement sets the caller's identity
// with set_config(..., true) and switches to an unprivileged role, so Postgres row-level
// security decides every row, and everything set is gone when the transaction ends.
//
// Round trips: the context statement ("begin; select set_config(...)") is not sent on its own.
// It is written to the socket together with the first query of `fn` (pg pipeline mode), so a
// request with one query costs two round trips: [begin + context + query] and [commit].
import {
  CompiledQuery,
  DefaultQueryExecutor,
  Kysely,
  PostgresAdapter,
  PostgresQueryCompiler,
  SingleConnectionProvider,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type QueryResult,
} from 'kysely';
import pg from 'pg';
import type { DB } from './types.ts';

export const CLINIC_ROLES = ['clinic_admin', 'doctor', 'nurse', 'receptionist', 'lab_technician', 'patient'] as const;
export type ClinicRole = (typeof CLINIC_ROLES)[number];

/** Who is asking. Built from a verified token (HTTP), a job payload, or a script's arguments. */
export interface TenantContext {
  clinicId: string | null;
  userId: string | null;
  role: ClinicRole | null;
  requestId?: string | null;
}

/** The database role a transaction runs as: clinic members, or platform operators (clinic metadata only). */
export type DbRole = 'app_user' | 'app_platform';

export type TenantDb = Kysely<DB>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const REQUEST_ID = /^[\w.:-]{1,128}$/;

/**
 * The statement that opens the transaction and sets the context. It is a simple-protocol
 * message (no parameters, so BEGIN and the SELECT travel as one), hence every value is
 * validated against a strict pattern before it is quoted as a literal.
 */
export function contextStatement(ctx: TenantContext, dbRole: DbRole): string {
  const literal = (value: string | null | undefined, pattern: RegExp, name: string): string => {
    if (value == null) return "''";
    if (!pattern.test(value)) throw new TypeError(`invalid tenant context: ${name}`);
    return pg.escapeLiteral(value);
  };
  const role = ctx.role == null ? "''" : literal(ctx.role, /^[a-z_]+$/, 'role');
  if (ctx.role != null && !CLINIC_ROLES.includes(ctx.role)) throw new TypeError('invalid tenant context: role');
  return (
    'begin; select ' +
    `set_config('app.clinic_id', ${literal(ctx.clinicId, UUID, 'clinicId')}, true), ` +
    `set_config('app.user_id', ${literal(ctx.userId, UUID, 'userId')}, true), ` +
    `set_config('app.role', ${role}, true), ` +
    `set_config('app.request_id', ${literal(ctx.requestId, REQUEST_ID, 'requestId')}, true), ` +
    `set_config('role', '${dbRole}', true)`
  );
}

/**
 * Runs `fn` in one transaction as `dbRole` with the given context, commits when `fn` resolves,
 * rolls back when it throws. The connection goes back to the pool carrying nothing: all
 * settings and the role are transaction-local.
 */
export async function withContext<T>(
  pool: pg.Pool,
  dbRole: DbRole,
  ctx: TenantContext,
  fn: (db: TenantDb) => Promise<T>,
): Promise<T> {
  const setup = contextStatement(ctx, dbRole);
  const client = await pool.connect();
  const connection = new ContextConnection(client, setup);
  let broken: Error | undefined;
  try {
    const result = await fn(kyselyOn(connection));
    await connection.commit();
    return result;
  } catch (error) {
    broken = await connection.rollback();
    throw error;
  } finally {
    // A connection whose rollback failed is in an unknown state: destroy it rather than reuse it.
    client.release(broken ?? false);
  }
}

/** A clinic member's transaction (the common case). */
export function withTenant<T>(pool: pg.Pool, ctx: TenantContext, fn: (db: TenantDb) => Promise<T>): Promise<T> {
  return withContext(pool, 'app_user', ctx, fn);
}

class ContextConnection implements DatabaseConnection {
  readonly #client: pg.PoolClient;
  #pendingSetup: string | null;

  constructor(client: pg.PoolClient, setup: string) {
    this.#client = client;
    this.#pendingSetup = setup;
  }

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const result = await this.#send(compiled.sql, compiled.parameters as unknown[]);
    const affects = ['INSERT', 'UPDATE', 'DELETE', 'MERGE'].includes(result.command);
    return {
      rows: (result.rows ?? []) as R[],
      ...(affects && result.rowCount != null ? { numAffectedRows: BigInt(result.rowCount) } : {}),
    };
  }

  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming is not supported inside withTenant (pipelined connection)');
  }

  async commit(): Promise<void> {
    if (this.#pendingSetup !== null) return; // nothing was sent: no transaction to end
    const result = await this.#client.query('commit');
    // COMMIT answers ROLLBACK when an earlier statement failed and fn swallowed the error.
    if (result.command === 'ROLLBACK') throw new Error('transaction was aborted by an earlier error');
  }

  /** Returns the error to destroy the connection with when it cannot be rolled back. */
  async rollback(): Promise<Error | undefined> {
    if (this.#pendingSetup !== null) return undefined;
    try {
      await this.#client.query('rollback');
      return undefined;
    } catch (error) {
      return error instanceof Error ? error : new Error(String(error));
    }
  }

  async #send(sql: string, parameters: unknown[]): Promise<pg.QueryResult> {
    const setup = this.#pendingSetup;
    if (setup === null) return this.#client.query(sql, parameters);
    this.#pendingSetup = null;
    // Both go on the wire now; if the setup fails, the query fails too and we report the setup error.
    const [, result] = await Promise.all([this.#client.query(setup), this.#client.query(sql, parameters)]);
    return result;
  }
}

const adapter = new PostgresAdapter();
const compiler = new PostgresQueryCompiler();
const nestedTransactionRefused = async (): Promise<never> => {
  throw new Error('already inside a withTenant transaction: use the given db directly');
};
const boundDriver: Driver = {
  init: async () => {},
  acquireConnection: nestedTransactionRefused,
  beginTransaction: nestedTransactionRefused,
  commitTransaction: nestedTransactionRefused,
  rollbackTransaction: nestedTransactionRefused,
  releaseConnection: async () => {},
  destroy: async () => {},
};
const boundDialect: Dialect = {
  createAdapter: () => adapter,
  createDriver: () => boundDriver,
  createQueryCompiler: () => compiler,
  createIntrospector: () => {
    throw new Error('introspection is not available inside withTenant');
  },
};

function kyselyOn(connection: DatabaseConnection): TenantDb {
  return new Kysely<DB>({
    config: { dialect: boundDialect },
    dialect: boundDialect,
    driver: boundDriver,
    executor: new DefaultQueryExecutor(compiler, adapter, new SingleConnectionProvider(connection)),
  });
}
