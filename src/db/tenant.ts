// The one door to tenant data. Every HTTP request, job and script that touches a tenant table
// goes through withTenant(): its statements run with the caller's identity set by
// set_config(..., true) of app.clinic_id, app.user_id, app.role, app.request_id, app.client_ip
// and the role (app_user), so Postgres row-level security decides every row, with the transaction's
// statement, lock and idle timeouts, and everything set is gone when the transaction ends.
//
// Round trips. The context statement never travels alone: it is written in the same protocol
// message as the statement it serves (see contextQuery()).
//  - A SELECT before any write runs as its own read-only implicit transaction:
//    [context, query, Sync]: one round trip, no BEGIN, no COMMIT. Under READ COMMITTED every
//    statement takes a fresh snapshot anyway, so this reads exactly what an explicit
//    transaction would; a write hidden in a function called by the SELECT is refused by the
//    read-only mode (25006) and the statement is re-run in an explicit transaction.
//  - The first write (or raw SQL) opens an explicit transaction: [BEGIN, context, query, Sync];
//    every later statement runs inside it, and COMMIT (or ROLLBACK) ends it.
import {
  DefaultQueryExecutor,
  Kysely,
  PostgresAdapter,
  PostgresQueryCompiler,
  SingleConnectionProvider,
  type CompiledQuery,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type QueryResult,
} from 'kysely';
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
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
  /** The caller's address, for the audit log. */
  clientIp?: string | null;
  /** Every transaction read-only (transaction_read_only): a write fails in the database (25006). */
  readOnly?: boolean;
}

/** The database role a transaction runs as: clinic members, or platform operators (clinic metadata only). */
export type DbRole = 'app_user' | 'app_platform';

/**
 * How withContext's transactions run (DATABASE_* in src/config.ts). The timeouts are set with the
 * context, transaction-local like it, so they hold behind a transaction-mode pooler too and one
 * transaction can be given its own.
 */
export interface TransactionSettings {
  /** statement_timeout: a statement running longer is cancelled (57014). */
  statementTimeoutMs: number;
  /** lock_timeout: a statement waiting longer for a lock gives up (55P03) instead of holding its connection. */
  lockTimeoutMs: number;
  /** idle_in_transaction_session_timeout: a transaction idle longer ends with its session (25P03), and its locks with it. */
  idleInTransactionTimeoutMs: number;
  /** Named prepared statements. Off behind a transaction-mode pooler that does not track them (PgBouncer < 1.21). */
  preparedStatements: boolean;
}

export const DEFAULT_TRANSACTION_SETTINGS: Readonly<TransactionSettings> = Object.freeze({
  statementTimeoutMs: 5_000,
  lockTimeoutMs: 2_000,
  idleInTransactionTimeoutMs: 10_000,
  preparedStatements: true,
});

export type TenantDb = Kysely<DB>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const REQUEST_ID = /^[\w.:-]{1,128}$/;

function validated(ctx: TenantContext): TenantContext {
  const check = (value: string | null | undefined, pattern: RegExp, name: string) => {
    if (value != null && !pattern.test(value)) throw new TypeError(`invalid tenant context: ${name}`);
  };
  check(ctx.clinicId, UUID, 'clinicId');
  check(ctx.userId, UUID, 'userId');
  check(ctx.requestId, REQUEST_ID, 'requestId');
  if (ctx.clientIp != null && isIP(ctx.clientIp) === 0) throw new TypeError('invalid tenant context: clientIp');
  if (ctx.role != null && !CLINIC_ROLES.includes(ctx.role)) throw new TypeError('invalid tenant context: role');
  return ctx;
}

/** A timeout of 0 would turn it off: refuse anything but a positive whole number of milliseconds. */
function validSettings(settings: TransactionSettings): TransactionSettings {
  for (const name of ['statementTimeoutMs', 'lockTimeoutMs', 'idleInTransactionTimeoutMs'] as const) {
    if (!Number.isSafeInteger(settings[name]) || settings[name] < 1) throw new TypeError(`invalid transaction settings: ${name}`);
  }
  return settings;
}

/**
 * Runs `fn` as `dbRole` with the given context. Its writes form one transaction, committed when
 * `fn` resolves and rolled back when it throws. The connection goes back to the pool carrying
 * nothing: all settings and the role are transaction-local. `settings` default to
 * DEFAULT_TRANSACTION_SETTINGS, field by field.
 */
export async function withContext<T>(
  pool: pg.Pool,
  dbRole: DbRole,
  ctx: TenantContext,
  fn: (db: TenantDb) => Promise<T>,
  settings: Partial<TransactionSettings> = {},
): Promise<T> {
  const chosen = validSettings({ ...DEFAULT_TRANSACTION_SETTINGS, ...settings });
  const context = contextValues(validated(ctx), dbRole, chosen);
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
  const connection = new ContextConnection(client, context, ctx.readOnly === true, chosen.preparedStatements);
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
export function withTenant<T>(
  pool: pg.Pool,
  ctx: TenantContext,
  fn: (db: TenantDb) => Promise<T>,
  settings: Partial<TransactionSettings> = {},
): Promise<T> {
  return withContext(pool, 'app_user', ctx, fn, settings);
}

/**
 * The two statements a context message starts with, prepared once per connection: parsing and
 * planning even a trivial statement on every request cost a third of a primary-key read.
 */
const STATEMENTS = {
  begin: { name: 'clinicbase_begin', text: 'begin' },
  // Zero columns: its row carries nothing for the client to decode. Postgres itself refuses a
  // role the login role is not a member of (app_authenticator: app_user or app_platform only).
  // The timeouts it sets govern the statements after it in the same message: Postgres arms
  // statement_timeout afresh for each Execute.
  context: {
    name: 'clinicbase_context',
    text:
      'select from (select ' +
      "pg_catalog.set_config('app.clinic_id', $1, true), pg_catalog.set_config('app.user_id', $2, true), " +
      "pg_catalog.set_config('app.role', $3, true), pg_catalog.set_config('app.request_id', $4, true), " +
      "pg_catalog.set_config('role', $5, true), pg_catalog.set_config('transaction_read_only', $6, true), " +
      "pg_catalog.set_config('app.client_ip', $7, true), pg_catalog.set_config('statement_timeout', $8, true), " +
      "pg_catalog.set_config('lock_timeout', $9, true), " +
      "pg_catalog.set_config('idle_in_transaction_session_timeout', $10, true)) as context",
  },
} as const;
const preparedOn = new WeakSet<object>();

type ContextValues = string[];

function contextValues(ctx: TenantContext, dbRole: DbRole, settings: TransactionSettings): (readOnly: boolean) => ContextValues {
  const head = [ctx.clinicId ?? '', ctx.userId ?? '', ctx.role ?? '', ctx.requestId ?? '', dbRole];
  const tail = [ctx.clientIp ?? '', ...[settings.statementTimeoutMs, settings.lockTimeoutMs, settings.idleInTransactionTimeoutMs].map(String)];
  return (readOnly) => [...head, readOnly || ctx.readOnly === true ? 'on' : 'off', ...tail];
}

/** The parts of pg's internal Connection that a query writes its messages with. */
interface WireConnection {
  stream: { cork?: () => void; uncork?: () => void };
  parse(message: { name: string; text: string; types: unknown[] }): void;
  bind(message: { statement: string; values: ContextValues }): void;
  execute(message: Record<string, never>): void;
}

interface Prefix {
  statement: keyof typeof STATEMENTS;
  values: ContextValues;
}

/**
 * A pg query whose protocol message carries other statements before its own: Parse/Bind/Execute
 * for each prefix statement, then the query's Parse/Bind/Describe/Execute and one Sync. They
 * run in order in one implicit transaction (or in the one the BEGIN prefix opens), and an error
 * in any of them skips the rest. The callback receives one result per statement.
 * Unprepared, each prefix statement is parsed unnamed in the message itself, so the message
 * needs nothing from earlier ones on the connection: a transaction-mode pooler may hand each
 * transaction to a different server connection.
 */
function contextQuery(
  prefix: Prefix[],
  statement: Statement,
  prepared: boolean,
  callback: (error: Error | null, results?: unknown) => void,
): pg.Query {
  const query = new pg.Query({ ...statement, queryMode: 'extended', callback } as pg.QueryConfig);
  const submitOwn = query.submit.bind(query) as unknown as (connection: pg.Connection) => Error | null;
  query.submit = ((connection: pg.Connection) => {
    const wire = connection as unknown as WireConnection;
    wire.stream.cork?.();
    try {
      if (prepared && !preparedOn.has(connection)) {
        for (const { name, text } of Object.values(STATEMENTS)) wire.parse({ name, text, types: [] });
        preparedOn.add(connection);
      }
      for (const { statement, values } of prefix) {
        const { name, text } = STATEMENTS[statement];
        if (!prepared) wire.parse({ name: '', text, types: [] });
        wire.bind({ statement: prepared ? name : '', values });
        wire.execute({});
      }
      return submitOwn(connection);
    } finally {
      wire.stream.uncork?.();
    }
  }) as pg.Query['submit'];
  return query;
}

type State = 'idle' | 'transaction';

class ContextConnection implements DatabaseConnection {
  readonly #client: pg.PoolClient;
  readonly #context: (readOnly: boolean) => ContextValues;
  /** A read-only context: a refused write is final, not a reason to re-run in a transaction. */
  readonly #alwaysReadOnly: boolean;
  /** TransactionSettings.preparedStatements: off, every statement is parsed unnamed in its own message. */
  readonly #prepared: boolean;
  #state: State = 'idle';
  /** Set when a prepared statement went stale (a migration changed its result type). */
  staleStatements = false;

  constructor(client: pg.PoolClient, context: (readOnly: boolean) => ContextValues, alwaysReadOnly: boolean, prepared: boolean) {
    this.#client = client;
    this.#context = context;
    this.#alwaysReadOnly = alwaysReadOnly;
    this.#prepared = prepared;
  }

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const result = await this.#run(compiled);
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
    if (this.#state !== 'transaction') return;
    const result = await this.#client.query('commit');
    // COMMIT answers ROLLBACK when an earlier statement failed and fn swallowed the error.
    if (result.command === 'ROLLBACK') throw new Error('transaction was aborted by an earlier error');
  }

  /** Returns the error to destroy the connection with when it cannot be rolled back. */
  async rollback(): Promise<Error | undefined> {
    if (this.#state !== 'transaction') return undefined;
    try {
      await this.#client.query('rollback');
      return undefined;
    } catch (error) {
      return error instanceof Error ? error : new Error(String(error));
    }
  }

  async #run(compiled: CompiledQuery): Promise<pg.QueryResult> {
    const statement = this.#statement(compiled);
    // Always the extended protocol: one statement per message, so stacked statements are refused.
    if (this.#state === 'transaction') return this.#send([], statement);
    if (compiled.query.kind === 'SelectQueryNode') {
      const read = (s: Statement) => this.#send([{ statement: 'context', values: this.#context(true) }], s);
      try {
        return await read(statement);
      } catch (error) {
        const code = (error as { code?: string }).code;
        // Nothing was done yet, so a read whose prepared plan went stale is simply re-sent unnamed.
        if (code === FEATURE_NOT_SUPPORTED && statement.name) return read({ text: statement.text, values: statement.values });
        if (code !== READ_ONLY_VIOLATION || this.#alwaysReadOnly) throw error;
      }
    }
    this.#state = 'transaction';
    return this.#send([{ statement: 'begin', values: [] }, { statement: 'context', values: this.#context(false) }], statement);
  }

  /**
   * Kysely's queries come from a bounded set of shapes, so each is prepared once per connection
   * (pg keeps the parse; Postgres caches the plan): a policy is planned once, not per request.
   * Past PREPARED_PER_CONNECTION distinct texts, the rest run unnamed; all of them do when
   * prepared statements are off.
   */
  #statement(compiled: CompiledQuery): Statement {
    const values = compiled.parameters as unknown[];
    if (!this.#prepared) return { text: compiled.sql, values };
    const prepared = (this.#client as unknown as { connection: { parsedStatements: Record<string, string> } }).connection.parsedStatements;
    const name = statementName(compiled.sql);
    if (name in prepared || Object.keys(prepared).length < PREPARED_PER_CONNECTION) return { name, text: compiled.sql, values };
    return { text: compiled.sql, values };
  }

  #send(prefix: Prefix[], statement: Statement): Promise<pg.QueryResult> {
    return new Promise((resolve, reject) => {
      const connection = (this.#client as unknown as { connection: object }).connection;
      const query = contextQuery(prefix, statement, this.#prepared, (error, results) => {
        // The prepared statements are gone (their Parse failed): prepare them again next time.
        const code = (error as { code?: string } | null)?.code;
        if (code === UNDEFINED_PREPARED_STATEMENT) preparedOn.delete(connection);
        if (code === FEATURE_NOT_SUPPORTED && statement.name) this.staleStatements = true;
        if (error) reject(error);
        else resolve((Array.isArray(results) ? results.at(-1) : results) as pg.QueryResult);
      });
      this.#client.query(query as unknown as pg.QueryConfig);
    });
  }
}

interface Statement {
  name?: string;
  text: string;
  values: unknown[];
}

const PREPARED_PER_CONNECTION = 500;
const statementNames = new Map<string, string>();

function statementName(sql: string): string {
  let name = statementNames.get(sql);
  if (name === undefined) {
    name = `cb_${createHash('sha1').update(sql).digest('base64url').slice(0, 22)}`;
    if (statementNames.size < 10_000) statementNames.set(sql, name);
  }
  return name;
}

/** read_only_sql_transaction: a write attempted in a read-only transaction. */
const READ_ONLY_VIOLATION = '25006';
const UNDEFINED_PREPARED_STATEMENT = '26000';
/** Raised as "cached plan must not change result type" after a migration altered a table. */
const FEATURE_NOT_SUPPORTED = '0A000';

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
