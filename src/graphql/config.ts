// The GraphQL endpoint's switches and limits, as configured (GRAPHIQL, GRAPHQL_* in src/config.ts).
// Every limit holds before a document runs; docs/architecture.md ("GraphQL") says how to change them.

export interface GraphqlConfig {
  /** Serve Ruru, the GraphQL IDE, at /graphiql. */
  graphiql: boolean;
  /** Answer introspection queries (__schema, __type). */
  introspection: boolean;
  /** Deepest selection set nesting a document may have. */
  maxDepth: number;
  /** Aliased fields a document may have, in all. */
  maxAliases: number;
  /** Fields at the root of one operation (aliases included). */
  maxRootFields: number;
  /** The largest request body, in bytes. */
  maxDocumentBytes: number;
  /** The largest `first`/`last` of a connection. */
  maxPageSize: number;
  /** Rows of a connection asked for without `first` or `last`. */
  defaultPageSize: number;
  /** Operations per caller per minute. */
  operationsPerMinute: number;
  /** statement_timeout of the request's transactions. */
  statementTimeoutMs: number;
  /** Folder of persisted operations; set: only those run (trusted documents). */
  trustedDocumentsDir: string | undefined;
}

export const GRAPHQL_DEFAULTS = Object.freeze({
  maxDepth: 10,
  maxAliases: 20,
  maxRootFields: 10,
  maxDocumentBytes: 32 * 1024,
  maxPageSize: 100,
  defaultPageSize: 20,
  operationsPerMinute: 600,
  statementTimeoutMs: 3_000,
});

/** The configuration outside production when nothing is set (tests, buildApp without `graphql`). */
export function defaultGraphqlConfig(env: 'development' | 'test' | 'production'): GraphqlConfig {
  return { ...GRAPHQL_DEFAULTS, graphiql: env !== 'production', introspection: env !== 'production', trustedDocumentsDir: undefined };
}
