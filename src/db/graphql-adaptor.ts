// PostGraphile's door to Postgres: a pg adaptor (the interface of @dataplan/pg's own) over the
// app's pool, so GraphQL runs on the connections, the context statement and the wire path that
// withTenant uses. The stock adaptor is not used because it sends BEGIN, the settings, each query
// and COMMIT as separate awaited round trips, and because it runs a session-level
// `set jit_optimize_above_cost` on every pooled connection it first sees: nothing here is ever
// set for longer than the transaction.
//
// Each withPgClient call (one batch of a GraphQL request, or one mutation: @dataplan/pg's
// executeMutation calls withPgClient without withTransaction, each mutation field in a call of its
// own) runs on one pooled connection with the request's contextSettings()
// (src/db/context-settings.ts): every setting transaction-local, the role app_user. Its statements
// run as withTenant's do (src/db/context-connection.ts):
//  - A read before anything else runs as its own read-only implicit transaction: [context, query,
//    Sync], one round trip, no BEGIN, no COMMIT. Under read committed every statement takes a fresh
//    snapshot anyway, so it reads what an explicit transaction would; a write hidden in a function
//    it calls is refused (25006) and the statement runs again in the explicit transaction, unless
//    the context itself is read-only (a support token): then the refusal is final. A read is a
//    SELECT that takes no lock and that PostGraphile named: it names its reads after their text
//    (pgSelect), and sends a mutation's statement unnamed (executeMutation), so a function exposed
//    as a mutation, `select … from fn(…)`, goes straight to the transaction instead of running
//    twice.
//  - Any other statement (a write, a SELECT that locks), or one inside withTransaction, opens the
//    explicit transaction: [BEGIN, context, query, Sync]; every later statement joins it, and the
//    call's end sends COMMIT (ROLLBACK when the callback failed). A mutation is atomic.
//  - withTransaction (a nested transaction) is a savepoint: SAVEPOINT, RELEASE and ROLLBACK TO
//    travel in front of the next statement (or the COMMIT), never as round trips of their own.
// PostGraphile names its statements (a hash of the text): each is prepared once per connection, up
// to half the cap withTenant's statements share (pg-wire.ts), so that documents a client makes up
// cannot take the places withTenant's bounded set of statements needs; all run unnamed when
// prepared statements are off (TransactionSettings.preparedStatements, behind PgBouncer < 1.21).
import type { PgClient, PgClientQuery, PgClientResult, WithPgClient } from 'postgraphile/@dataplan/pg';
import type pg from 'pg';
import { TAKES_LOCKS } from './context-connection.ts';
import { CONTEXT_SETTINGS, CONTEXT_SQL } from './context-settings.ts';
import { PREPARED_PER_CONNECTION, preparableName, queryWithPrefix, type Prefix, type PrefixStatement, type Statement } from './pg-wire.ts';

const BEGIN: PrefixStatement = { name: 'clinicbase_begin', text: 'begin' };
/** The same statement (and prepared name) as withTenant's context statement. */
const CONTEXT: PrefixStatement = { name: 'clinicbase_context', text: CONTEXT_SQL };
/** Settings that are not a request's context (the schema's introspection: `role` only). */
const OTHER_SETTINGS: PrefixStatement = {
  name: 'clinicbase_graphql_settings',
  text: 'select from (select pg_catalog.set_config(el->>0, el->>1, true) from pg_catalog.json_array_elements($1::json) el) as settings',
};
const CONTEXT_NAMES = Object.keys(CONTEXT_SETTINGS);
const COMMIT = 'commit';
/** A SELECT (PostGraphile's reads start so). */
const SELECT = /^\s*select\b/i;

/** read_only_sql_transaction: a write attempted in a read-only transaction. */
const READ_ONLY_VIOLATION = '25006';
/** The connection's prepared statements no longer match pg's belief: stale plan, lost or duplicate statement. */
const STALE_STATEMENTS = new Set(['0A000', '26000', '42P05']);
/** Connection exceptions, and the server ending the session (57P01 administrator command & co.). */
const SESSION_ENDING = /^(?:08|57P)/;

type Settings = Record<string, string | undefined>;

/** GraphQL's share of the statements a connection keeps prepared; the other half stays withTenant's. */
const GRAPHQL_PREPARED_PER_CONNECTION = PREPARED_PER_CONNECTION / 2;
/** The statements GraphQL prepared on each connection. */
const preparedByGraphql = new WeakMap<pg.ClientBase, Set<string>>();

export interface TenantAdaptorOptions {
  pool: pg.Pool;
  /** Named prepared statements (TransactionSettings.preparedStatements). */
  preparedStatements: boolean;
}

/** The statement that sets `settings`, transaction-local, with its values. */
function settingsPrefix(settings: Settings): Prefix {
  const names = Object.keys(settings).filter((name) => settings[name] != null);
  const isContext = names.length === CONTEXT_NAMES.length && CONTEXT_NAMES.every((name) => settings[name] != null);
  if (isContext) return { statement: CONTEXT, values: CONTEXT_NAMES.map((name) => settings[name]!) };
  return { statement: OTHER_SETTINGS, values: [JSON.stringify(names.map((name) => [name, settings[name]]))] };
}

/** A withPgClient over `pool`: every call runs on one connection with `pgSettings` set in each of its transactions. */
export function tenantWithPgClient({ pool, preparedStatements }: TenantAdaptorOptions): WithPgClient {
  return async function withPgClient<T>(pgSettings: Settings | null, callback: (client: PgClient) => T | Promise<T>): Promise<T> {
    if (!pgSettings || Object.keys(pgSettings).length === 0) throw new Error('GraphQL refuses to query without transaction settings');
    const client = await pool.connect();
    let lost: Error | undefined;
    const onLost = (error: Error) => {
      lost ??= error;
    };
    client.on('error', onLost);
    const transaction = new SettingsTransaction(client, pgSettings, preparedStatements);
    let broken: Error | undefined;
    try {
      const result = await callback(transaction.client(0));
      await transaction.commit();
      return result;
    } catch (error) {
      broken = await transaction.rollback();
      throw error;
    } finally {
      client.off('error', onLost);
      client.release(lost ?? broken ?? transaction.unusable ?? false);
    }
  };
}

/** The statements of one withPgClient call: alone while they may, then one explicit transaction. */
class SettingsTransaction {
  readonly #client: pg.PoolClient;
  readonly #settings: Prefix;
  /** The settings of a statement run alone: the same, read-only. */
  readonly #readSettings: Prefix;
  readonly #readOnly: boolean;
  readonly #preparedStatements: boolean;
  #begun = false;
  /** Savepoint statements waiting for the next message (the next statement's, or COMMIT's). */
  #pending: Prefix[] = [];
  /**
   * Set when the connection must not go back to the pool: its session is ending (the server's error
   * can arrive before the socket closes, and a read run alone has no ROLLBACK to fail on), or its
   * prepared statements went out of step with pg's.
   */
  unusable: Error | undefined;

  constructor(client: pg.PoolClient, settings: Settings, preparedStatements: boolean) {
    this.#client = client;
    this.#settings = settingsPrefix(settings);
    this.#readSettings = settingsPrefix({ ...settings, transaction_read_only: 'on' });
    this.#readOnly = settings.transaction_read_only === 'on';
    this.#preparedStatements = preparedStatements;
  }

  /** The PgClient PostGraphile queries through; `depth` counts its nested withTransaction calls. */
  client(depth: number): PgClient {
    return {
      query: <TData>(opts: PgClientQuery) => this.#query<TData>(opts, depth),
      withTransaction: <T>(callback: (client: PgClient) => Promise<T>) => this.#savepoint(depth + 1, callback),
    } as PgClient;
  }

  /**
   * A nested transaction: a savepoint, so that a failure inside it that PostGraphile handles leaves
   * the rest of the transaction usable. Its statements go out in front of the next message; one that
   * nothing was sent after is simply dropped.
   */
  async #savepoint<T>(depth: number, callback: (client: PgClient) => Promise<T>): Promise<T> {
    const savepoint = savepointStatements(depth);
    const opened: Prefix = { statement: savepoint.open, values: [] };
    this.#pending.push(opened);
    const close = (statement: PrefixStatement) => {
      if (this.#pending.at(-1) === opened) this.#pending.pop();
      else this.#pending.push({ statement, values: [] });
    };
    try {
      const result = await callback(this.client(depth));
      close(savepoint.release);
      return result;
    } catch (error) {
      close(savepoint.rollback);
      throw error;
    }
  }

  async #query<TData>({ text, values, arrayMode, name }: PgClientQuery, depth: number): Promise<PgClientResult<TData>> {
    const statement: Statement = {
      text,
      values: (values ?? []) as unknown[],
      ...(arrayMode ? { rowMode: 'array' as const } : {}),
      ...this.#named(name),
    };
    const { rows, rowCount } = await this.#run(statement, depth === 0 && name !== undefined && isRead(text));
    return { rows: rows as TData[], rowCount: rowCount ?? null };
  }

  #named(name: string | undefined): { name?: string } {
    if (!this.#preparedStatements || !name) return {};
    let ours = preparedByGraphql.get(this.#client);
    if (!ours) {
      ours = new Set();
      preparedByGraphql.set(this.#client, ours);
    }
    if (!ours.has(name) && (ours.size >= GRAPHQL_PREPARED_PER_CONNECTION || !preparableName(this.#client, name))) return {};
    ours.add(name);
    return { name };
  }

  /** `read`: a read outside any nested transaction, which may run alone until the transaction is open. */
  async #run(statement: Statement, read: boolean): Promise<pg.QueryResult> {
    if (read && !this.#begun && this.#pending.length === 0) {
      try {
        return await this.#send([this.#readSettings], statement);
      } catch (error) {
        if ((error as { code?: string }).code !== READ_ONLY_VIOLATION || this.#readOnly) throw error;
      }
    }
    const prefix = this.#begun ? [] : [{ statement: BEGIN, values: [] }, this.#settings];
    this.#begun = true;
    return this.#send([...prefix, ...this.#pending.splice(0)], statement);
  }

  async #send(prefix: Prefix[], statement: Statement): Promise<pg.QueryResult> {
    try {
      return await queryWithPrefix(this.#client, prefix, statement, this.#preparedStatements);
    } catch (error) {
      const code = (error as { code?: string }).code;
      // No SQLSTATE: pg's own (connection terminated, not queryable), never a statement's.
      const ending = !code || SESSION_ENDING.test(code);
      if (ending || (STALE_STATEMENTS.has(code) && (code !== '0A000' || statement.name))) this.unusable = error as Error;
      throw error;
    }
  }

  async commit(): Promise<void> {
    if (!this.#begun) return;
    const result = await this.#send(this.#pending.splice(0), { text: COMMIT, values: [] });
    // COMMIT answers ROLLBACK when an earlier statement failed and its error was swallowed.
    if (result.command === 'ROLLBACK') throw new Error('transaction was aborted by an earlier error');
  }

  /** Returns the error to destroy the connection with when it cannot be rolled back. */
  async rollback(): Promise<Error | undefined> {
    if (!this.#begun) return undefined;
    try {
      await this.#client.query('rollback');
      return undefined;
    } catch (error) {
      return error instanceof Error ? error : new Error(String(error));
    }
  }
}

/** A read of PostGraphile's: a SELECT that takes no lock. */
function isRead(text: string): boolean {
  return SELECT.test(text) && !TAKES_LOCKS.test(text);
}

/** The savepoint of nesting level `depth`: one name per level (a level is never open twice at once), each statement prepared once per connection. */
function savepointStatements(depth: number): Record<'open' | 'release' | 'rollback', PrefixStatement> {
  const savepoint = `graphql_${depth}`;
  return {
    open: { name: `clinicbase_savepoint_${depth}`, text: `savepoint ${savepoint}` },
    release: { name: `clinicbase_release_${depth}`, text: `release savepoint ${savepoint}` },
    rollback: { name: `clinicbase_rollback_to_${depth}`, text: `rollback to savepoint ${savepoint}` },
  };
}
