// The one place that reaches into pg's internals: a query whose protocol message carries other
// statements before its own, so that withTenant's BEGIN and context statement travel in the same
// message (and the same round trip) as the statement they serve. pg has no public API for this.
//
// What it relies on (pg is pinned to an exact version in package.json for that reason, and
// test/db/pg-wire.test.ts fails when any of it changes: revisit this file then):
//  - a Client's `connection` (pg's Connection) with `parse`, `bind`, `execute` and its `stream`
//    (cork/uncork), which write one protocol message each;
//  - `connection.parsedStatements`: the named statements pg has parsed on that connection;
//  - `Query.prototype.submit(connection)`, which writes the query's own Parse/Bind/Describe/
//    Execute/Sync, and a Query whose callback receives one result per statement.
import pg from 'pg';

/** A statement written in front of a query: prepared once per connection under `name`, or parsed unnamed. */
export interface PrefixStatement {
  name: string;
  text: string;
}

export interface Prefix {
  statement: PrefixStatement;
  values: string[];
}

/** The query itself: named (prepared by pg once per connection) or unnamed. */
export interface Statement {
  name?: string;
  text: string;
  values: unknown[];
  /** 'array': rows as arrays of column values (PostGraphile's queries), not objects. */
  rowMode?: 'array';
}

/** The parts of pg's internal Connection that a query writes its messages with. */
interface WireConnection {
  stream: { cork?: () => void; uncork?: () => void };
  parsedStatements: Record<string, string>;
  parse(message: { name: string; text: string; types: unknown[] }): void;
  bind(message: { statement: string; values: string[] }): void;
  execute(message: Record<string, never>): void;
}

const wireOf = (client: pg.ClientBase) => (client as unknown as { connection: WireConnection }).connection;

/** The names of the statements pg has prepared on the client's connection. */
export function parsedStatementsOf(client: pg.ClientBase): Readonly<Record<string, string>> {
  return wireOf(client).parsedStatements;
}

/**
 * How many statements pg may keep prepared on one connection: Kysely's (withTenant) and
 * PostGraphile's come from bounded sets of shapes, but a connection lives as long as the process,
 * so past this many distinct texts the rest run unnamed rather than grow its memory and the
 * server's without end.
 */
export const PREPARED_PER_CONNECTION = 500;

/** `name`, when the statement may be prepared on the client's connection (it already is, or there is room); else undefined (unnamed). */
export function preparableName(client: pg.ClientBase, name: string): string | undefined {
  const prepared = parsedStatementsOf(client);
  return name in prepared || Object.keys(prepared).length < PREPARED_PER_CONNECTION ? name : undefined;
}

/** The prefix statements prepared on each connection (pg does not know about them). */
const preparedOn = new WeakMap<WireConnection, Set<string>>();

/** undefined_prepared_statement: the server lost them (a pooler switched server connections). */
const UNDEFINED_PREPARED_STATEMENT = '26000';

/**
 * Sends one protocol message: Parse?/Bind/Execute for each prefix statement, then the query's own
 * Parse?/Bind/Describe/Execute and one Sync. They run in order in one implicit transaction (or in
 * the one a BEGIN prefix opens), and an error in any of them skips the rest. Resolves with the
 * query's result. `prepared` false: each prefix statement is parsed unnamed in the message itself,
 * so the message needs nothing from earlier ones on the connection (a transaction-mode pooler may
 * hand each transaction to a different server connection).
 */
export function queryWithPrefix(client: pg.ClientBase, prefix: Prefix[], statement: Statement, prepared: boolean): Promise<pg.QueryResult> {
  const wire = wireOf(client);
  return new Promise((resolve, reject) => {
    const query = new pg.Query({
      ...statement,
      queryMode: 'extended',
      callback: (error: Error | null, results?: pg.QueryResult | pg.QueryResult[]) => {
        // Our prepared statements are gone (their Bind failed): prepare them again next time.
        if ((error as { code?: string } | null)?.code === UNDEFINED_PREPARED_STATEMENT) preparedOn.delete(wire);
        if (error) reject(error);
        else resolve((Array.isArray(results) ? results.at(-1) : results) as pg.QueryResult);
      },
    } as pg.QueryConfig);
    const submitOwn = query.submit.bind(query) as unknown as (connection: WireConnection) => Error | null;
    query.submit = ((connection: WireConnection) => {
      connection.stream.cork?.();
      try {
        for (const {
          statement: { name, text },
          values,
        } of prefix) {
          connection.bind({ statement: prepared ? prepare(connection, name, text) : parseUnnamed(connection, text), values });
          connection.execute({});
        }
        return submitOwn(connection);
      } finally {
        connection.stream.uncork?.();
      }
    }) as unknown as pg.Query['submit'];
    client.query(query as unknown as pg.QueryConfig);
  });
}

/** Parses `text` as `name` the first time the connection sees it; returns the name to bind. */
function prepare(connection: WireConnection, name: string, text: string): string {
  let prepared = preparedOn.get(connection);
  if (!prepared) {
    prepared = new Set();
    preparedOn.set(connection, prepared);
  }
  if (!prepared.has(name)) {
    connection.parse({ name, text, types: [] });
    prepared.add(name);
  }
  return name;
}

function parseUnnamed(connection: WireConnection, text: string): string {
  connection.parse({ name: '', text, types: [] });
  return '';
}
