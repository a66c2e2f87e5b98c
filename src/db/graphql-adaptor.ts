// PostGraphile's door to Postgres: a pg adaptor (the interface of @dataplan/pg's own) over the
// app's pool, so GraphQL runs on the connections, the context statement and the wire path that
// withTenant uses. The stock adaptor is not used because it sends BEGIN, the settings, each query
// and COMMIT as separate awaited round trips, and because it runs a session-level
// `set jit_optimize_above_cost` on every pooled connection it first sees: nothing here is ever
// set for longer than the transaction.
//
// Each withPgClient call (one batch of a GraphQL request) is one transaction on one pooled
// connection: BEGIN and the settings travel in the same protocol message as its first query
// (src/db/pg-wire.ts), its queries follow, COMMIT ends it. The settings are the request's
// contextSettings() (src/db/context-settings.ts): every one transaction-local, the role app_user.
import type { PgClient, PgClientQuery, PgClientResult, WithPgClient } from 'postgraphile/@dataplan/pg';
import type pg from 'pg';
import { CONTEXT_SETTINGS, CONTEXT_SQL } from './context-settings.ts';
import { queryWithPrefix, type Prefix, type PrefixStatement, type Statement } from './pg-wire.ts';

const BEGIN: PrefixStatement = { name: 'clinicbase_begin', text: 'begin' };
/** The same statement (and prepared name) as withTenant's context statement. */
const CONTEXT: PrefixStatement = { name: 'clinicbase_context', text: CONTEXT_SQL };
/** Settings that are not a request's context (the schema's introspection: `role` only). */
const OTHER_SETTINGS: PrefixStatement = {
  name: 'clinicbase_graphql_settings',
  text: 'select from (select pg_catalog.set_config(el->>0, el->>1, true) from pg_catalog.json_array_elements($1::json) el) as settings',
};
const CONTEXT_NAMES = Object.keys(CONTEXT_SETTINGS);

export interface TenantAdaptorOptions {
  pool: pg.Pool;
  /** Named prepared statements (TransactionSettings.preparedStatements). */
  preparedStatements: boolean;
}

/** The statement that sets `settings`, transaction-local, with its values. */
function settingsPrefix(settings: Record<string, string | undefined>): Prefix {
  const names = Object.keys(settings).filter((name) => settings[name] != null);
  const isContext = names.length === CONTEXT_NAMES.length && CONTEXT_NAMES.every((name) => settings[name] != null);
  if (isContext) return { statement: CONTEXT, values: CONTEXT_NAMES.map((name) => settings[name]!) };
  return { statement: OTHER_SETTINGS, values: [JSON.stringify(names.map((name) => [name, settings[name]]))] };
}

/** A withPgClient over `pool`: every call is one transaction with `pgSettings` set in it. */
export function tenantWithPgClient({ pool, preparedStatements }: TenantAdaptorOptions): WithPgClient {
  return async function withPgClient<T>(pgSettings: Record<string, string | undefined> | null, callback: (client: PgClient) => T | Promise<T>): Promise<T> {
    if (!pgSettings || Object.keys(pgSettings).length === 0) throw new Error('GraphQL refuses to query without transaction settings');
    const client = await pool.connect();
    let lost: Error | undefined;
    const onLost = (error: Error) => {
      lost ??= error;
    };
    client.on('error', onLost);
    const transaction = new SettingsTransaction(client, settingsPrefix(pgSettings), preparedStatements);
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
      client.release(lost ?? broken ?? false);
    }
  };
}

/** One transaction, opened with the first query that needs it. */
class SettingsTransaction {
  readonly #client: pg.PoolClient;
  readonly #settings: Prefix;
  readonly #preparedStatements: boolean;
  #begun = false;
  #savepoints = 0;

  constructor(client: pg.PoolClient, settings: Prefix, preparedStatements: boolean) {
    this.#client = client;
    this.#settings = settings;
    this.#preparedStatements = preparedStatements;
  }

  /** The PgClient PostGraphile queries through; `depth` counts its nested withTransaction calls. */
  client(depth: number): PgClient {
    return {
      query: <TData>(opts: PgClientQuery) => this.#query<TData>(opts),
      withTransaction: async <T>(callback: (client: PgClient) => Promise<T>): Promise<T> => {
        // The whole call is already a transaction: a nested one is a savepoint, so a failure
        // inside it that PostGraphile handles leaves the rest of the transaction usable.
        const savepoint = `tx${depth + 1}_${++this.#savepoints}`;
        await this.#query({ text: `savepoint ${savepoint}`, values: [] });
        try {
          const result = await callback(this.client(depth + 1));
          await this.#query({ text: `release savepoint ${savepoint}`, values: [] });
          return result;
        } catch (error) {
          await this.#query({ text: `rollback to savepoint ${savepoint}`, values: [] });
          throw error;
        }
      },
    } as PgClient;
  }

  async #query<TData>({ text, values, arrayMode, name }: PgClientQuery): Promise<PgClientResult<TData>> {
    const statement: Statement = {
      text,
      values: (values ?? []) as unknown[],
      ...(arrayMode ? { rowMode: 'array' as const } : {}),
      ...(this.#preparedStatements && name ? { name } : {}),
    };
    const prefix: Prefix[] = this.#begun ? [] : [{ statement: BEGIN, values: [] }, this.#settings];
    this.#begun = true;
    const { rows, rowCount } = await queryWithPrefix(this.#client, prefix, statement, this.#preparedStatements);
    return { rows: rows as TData[], rowCount: rowCount ?? null };
  }

  async commit(): Promise<void> {
    if (!this.#begun) return;
    const result = await this.#client.query('commit');
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
