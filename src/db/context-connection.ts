// The connection behind withTenant's Kysely instance: decides, statement by statement, whether a
// statement runs alone or in the explicit transaction, and puts BEGIN and the context statement in
// the same protocol message as the first statement they serve (src/db/pg-wire.ts).
//  - A plain SELECT before any write runs as its own read-only implicit transaction:
//    [context, query, Sync]: one round trip, no BEGIN, no COMMIT. Under READ COMMITTED every
//    statement takes a fresh snapshot anyway, so this reads exactly what an explicit transaction
//    would; a write hidden in a function called by the SELECT is refused by the read-only mode
//    (25006) and the statement is re-run in the explicit transaction.
//  - The first write, raw SQL, or a SELECT that takes a lock (a locking clause such as
//    .forUpdate(), or an advisory transaction lock) opens the explicit transaction:
//    [BEGIN, context, query, Sync]. Every later statement runs inside it; withContext ends it.
//    A lock taken in an implicit transaction would be released as soon as the statement ended.
//  - Under repeatable read or serializable every statement, the first included, runs in the
//    explicit transaction, opened with that isolation level: its reads must share its snapshot.
//  - A transaction declared one statement (TransactionOptions.singleStatement) runs it as its own
//    implicit transaction, read-write unless the context is read-only: [context, query, Sync], one
//    round trip, whatever the statement does (a read that records itself: an insert in a CTE).
//    Postgres runs one statement atomically, so there is nothing for a COMMIT to add; a second
//    statement is refused before it is sent, as it could no longer join the first one's
//    transaction.
import {
  CamelCasePlugin,
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
import type pg from 'pg';
import { CONTEXT_SQL, type ContextValues } from './context-settings.ts';
import { preparableName, queryWithPrefix, type Prefix, type PrefixStatement, type Statement } from './pg-wire.ts';
import type { DB } from './types.ts';

export type TenantDb = Kysely<DB>;

/** Postgres' isolation levels (read uncommitted is read committed there). */
export type IsolationLevel = 'read committed' | 'repeatable read' | 'serializable';

/**
 * The statements a context message starts with, each prepared once per connection the first time
 * it is used: parsing and planning even a trivial statement on every request cost a third of a
 * primary-key read. The timeouts the context sets govern the statements after it in the same
 * message: Postgres arms statement_timeout afresh for each Execute.
 */
const CONTEXT: PrefixStatement = { name: 'clinicbase_context', text: CONTEXT_SQL };
const BEGIN: Record<IsolationLevel, PrefixStatement> = {
  'read committed': { name: 'clinicbase_begin', text: 'begin' },
  'repeatable read': { name: 'clinicbase_begin_repeatable_read', text: 'begin isolation level repeatable read' },
  serializable: { name: 'clinicbase_begin_serializable', text: 'begin isolation level serializable' },
};

/** Refuses an isolation level Postgres does not have (before a connection is taken). */
export function checkIsolationLevel(level: IsolationLevel): void {
  if (!Object.hasOwn(BEGIN, level)) throw new TypeError('invalid transaction options: isolationLevel');
}

export interface ConnectionOptions {
  /** The context statement's parameters (contextValues()). */
  context: ContextValues;
  /** A read-only context: a refused write is final, not a reason to re-run in a transaction. */
  readOnly: boolean;
  /** TransactionSettings.preparedStatements: off, every statement is parsed unnamed in its own message. */
  preparedStatements: boolean;
  isolationLevel: IsolationLevel;
  /** The transaction is one statement: it runs alone, read-write, and no other may follow. */
  singleStatement: boolean;
}

export class ContextConnection implements DatabaseConnection {
  readonly #client: pg.PoolClient;
  readonly #options: ConnectionOptions;
  readonly #begin: PrefixStatement;
  #inTransaction = false;
  #statementsRun = 0;
  /** Set when a prepared statement went stale (a migration changed its result type). */
  staleStatements = false;

  constructor(client: pg.PoolClient, options: ConnectionOptions) {
    this.#client = client;
    this.#options = options;
    this.#begin = BEGIN[options.isolationLevel];
  }

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const result = await this.#run(compiled);
    const affects = ['INSERT', 'UPDATE', 'DELETE', 'MERGE'].includes(result.command);
    return {
      rows: (result.rows ?? []) as R[],
      ...(affects && result.rowCount != null ? { numAffectedRows: BigInt(result.rowCount) } : {}),
    };
  }

  // biome-ignore lint/correctness/useYield: Kysely's driver interface asks for a generator; this one only refuses.
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming is not supported inside withTenant (pipelined connection)');
  }

  async commit(): Promise<void> {
    if (!this.#inTransaction) return;
    const result = await this.#client.query('commit');
    // COMMIT answers ROLLBACK when an earlier statement failed and fn swallowed the error.
    if (result.command === 'ROLLBACK') throw new Error('transaction was aborted by an earlier error');
  }

  /** Returns the error to destroy the connection with when it cannot be rolled back. */
  async rollback(): Promise<Error | undefined> {
    if (!this.#inTransaction) return undefined;
    try {
      await this.#client.query('rollback');
      return undefined;
    } catch (error) {
      return error instanceof Error ? error : new Error(String(error));
    }
  }

  async #run(compiled: CompiledQuery): Promise<pg.QueryResult> {
    const statement = this.#statement(compiled);
    this.#statementsRun++;
    // Always the extended protocol: one statement per message, so stacked statements are refused.
    if (this.#inTransaction) return this.#send([], statement);
    if (this.#options.singleStatement) {
      if (this.#statementsRun > 1) throw new Error('this transaction was declared a single statement (singleStatement): a second one cannot join it');
      return this.#alone(statement, this.#options.context.transaction);
    }
    if (this.#runsAlone(compiled)) {
      try {
        return await this.#alone(statement, this.#options.context.read);
      } catch (error) {
        if ((error as { code?: string }).code !== READ_ONLY_VIOLATION || this.#options.readOnly) throw error;
      }
    }
    this.#inTransaction = true;
    return this.#send(
      [
        { statement: this.#begin, values: [] },
        { statement: CONTEXT, values: this.#options.context.transaction },
      ],
      statement,
    );
  }

  /** The statement as its own implicit transaction, after the context statement with `context`'s values. */
  async #alone(statement: Statement, context: string[]): Promise<pg.QueryResult> {
    const send = (s: Statement) => this.#send([{ statement: CONTEXT, values: context }], s);
    try {
      return await send(statement);
    } catch (error) {
      // Nothing was done yet (the implicit transaction failed whole), so a statement whose
      // prepared plan went stale is simply re-sent unnamed.
      if ((error as { code?: string }).code === FEATURE_NOT_SUPPORTED && statement.name) return send({ text: statement.text, values: statement.values });
      throw error;
    }
  }

  /** A SELECT that takes no lock, under read committed: it may run as its own implicit transaction. */
  #runsAlone(compiled: CompiledQuery): boolean {
    return compiled.query.kind === 'SelectQueryNode' && this.#options.isolationLevel === 'read committed' && !TAKES_LOCKS.test(compiled.sql);
  }

  /**
   * Kysely's queries come from a bounded set of shapes, so each is prepared once per connection
   * (pg keeps the parse; Postgres caches the plan): a policy is planned once, not per request.
   * Past PREPARED_PER_CONNECTION (pg-wire.ts) distinct texts, the rest run unnamed; all of them do when
   * prepared statements are off.
   */
  #statement(compiled: CompiledQuery): Statement {
    const values = compiled.parameters as unknown[];
    if (!this.#options.preparedStatements) return { text: compiled.sql, values };
    const name = preparableName(this.#client, statementName(compiled.sql));
    return name ? { name, text: compiled.sql, values } : { text: compiled.sql, values };
  }

  async #send(prefix: Prefix[], statement: Statement): Promise<pg.QueryResult> {
    try {
      return await queryWithPrefix(this.#client, prefix, statement, this.#options.preparedStatements);
    } catch (error) {
      // The server's prepared statements no longer match what pg believes it prepared (a plan made
      // stale by a migration, statements gone or already there): destroy the connection at release
      // rather than guess which survived.
      const code = (error as { code?: string }).code;
      if ((code === FEATURE_NOT_SUPPORTED && statement.name) || code === UNDEFINED_PREPARED_STATEMENT || code === DUPLICATE_PREPARED_STATEMENT) {
        this.staleStatements = true;
      }
      throw error;
    }
  }
}

/**
 * A locking clause (FOR UPDATE, FOR NO KEY UPDATE, FOR SHARE, FOR KEY SHARE: Kysely's .forUpdate()
 * & co., in a subquery too) or an advisory transaction lock (pg_advisory_xact_lock and its try_ and
 * _shared forms). Matched on the compiled text: a false match only costs the explicit transaction.
 */
export const TAKES_LOCKS = /\bfor\s+(?:no\s+key\s+update|update|key\s+share|share)\b|advisory_xact_lock/i;

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
/** Raised as "cached plan must not change result type" after a migration altered a table. */
const FEATURE_NOT_SUPPORTED = '0A000';
const UNDEFINED_PREPARED_STATEMENT = '26000';
const DUPLICATE_PREPARED_STATEMENT = '42P05';

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

/**
 * TypeScript sees the database in camelCase (src/db/types.ts is generated so): the plugin turns
 * every identifier a query names, builder or `sql.ref`/`sql.table`, into snake_case, and every
 * result row's keys into camelCase, raw `sql` results included. The keys inside a json/jsonb value
 * are data, not column names, and come back as stored.
 */
export const camelCase = new CamelCasePlugin({ maintainNestedObjectKeys: true });

/** A Kysely instance whose every query runs on `connection`: transactions of its own are refused, and `db.connection()` gets this same one. */
export function kyselyOn(connection: DatabaseConnection): TenantDb {
  return new Kysely<DB>({
    config: { dialect: boundDialect, plugins: [camelCase] },
    dialect: boundDialect,
    driver: boundDriver,
    executor: new DefaultQueryExecutor(compiler, adapter, new SingleConnectionProvider(connection), [camelCase]),
  });
}
