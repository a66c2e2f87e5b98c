// The one PostGraphile preset: what the GraphQL schema is built from and how a request reaches
// Postgres. The schema is app_public as app_user may use it: introspected as app_user, so GRANTs
// decide what exists, and smart tags in the tables' comments (migrations/README.md, "GraphQL
// exposure") decide the rest. Every request runs with the settings withTenant would give the
// same caller: contextSettings() of the TenantContext the clinic guard made from its token
// (src/plugins/graphql.ts).
import type { Pool } from '../db/pool.ts';
import { PgSimplifyInflectionPreset } from '@graphile/simplify-inflection';
import { PostGraphileAmberPreset } from 'postgraphile/presets/amber';
import { PostGraphileConnectionFilterPreset } from 'postgraphile-plugin-connection-filter';
import { contextSettings, type TenantContext, type TransactionSettings } from '../db/tenant.ts';
import type { GraphqlConfig } from './config.ts';
import { ExposurePreset } from './exposure.ts';
import { tenantWithPgClient } from '../db/graphql-adaptor.ts';
import { type AppEnv, type ErrorLog, publicError, publicErrorsPlugin } from './errors.ts';
import { limitsPlugin } from './limits.ts';
import { pageSizePlugin } from './pagination.ts';
import { supportReadOnlyPlugin } from './read-only.ts';
import { trustedDocumentsPreset } from './trusted-documents.ts';
import { ChartAccessPlugin } from './chart-access.ts';

export interface GraphqlPresetOptions {
  pool: Pool;
  graphql: GraphqlConfig;
  /** The app's environment: production errors carry nothing for developers (src/graphql/errors.ts); default production. */
  env?: AppEnv;
  /** Where an error that no request's logger takes is logged; default stderr (a preset built only to print the schema serves nothing). */
  log?: ErrorLog;
  /** The configured transaction settings; GraphQL's statement timeout replaces theirs. */
  transactions: Partial<TransactionSettings>;
  /** The caller of a request, as the clinic guard verified it (null: none, which the plugin refuses first). */
  tenantOf(requestContext: Partial<Grafast.RequestContext>): TenantContext | null;
}

export const GRAPHQL_PATH = '/graphql';
export const GRAPHIQL_PATH = '/graphiql';

const STDERR_LOG: ErrorLog = {
  error: (details: unknown, message?: string) => console.error(message, details),
  info: () => {},
};

export function graphqlPreset(options: GraphqlPresetOptions): GraphileConfig.Preset {
  const { pool, graphql, env = 'production', log = STDERR_LOG } = options;
  const preparedStatements = options.transactions.preparedStatements ?? true;
  const transactions = { ...options.transactions, statementTimeoutMs: graphql.statementTimeoutMs };
  const withPgClient = tenantWithPgClient({ pool, preparedStatements });
  return {
    extends: [
      PostGraphileAmberPreset,
      PgSimplifyInflectionPreset,
      PostGraphileConnectionFilterPreset,
      ExposurePreset,
      trustedDocumentsPreset(graphql.trustedDocumentsDir),
    ],
    // The abuse limits (docs/architecture.md, "GraphQL: limits"); the chart access log ("GraphQL: chart access").
    plugins: [limitsPlugin(graphql), pageSizePlugin(graphql), supportReadOnlyPlugin(options.tenantOf), publicErrorsPlugin(env, log), ChartAccessPlugin],
    // Relay 1's ways back to the root (`query: Query!` on Query and on every mutation payload, Query
    // as a Node) would let a document nest root fields below the root, where the root-field limit
    // does not count them.
    disablePlugins: ['QueryQueryPlugin', 'MutationPayloadQueryPlugin', 'RegisterQueryNodePlugin'],
    pgServices: [
      {
        name: 'main',
        schemas: ['app_public'],
        withPgClientKey: 'withPgClient',
        pgSettingsKey: 'pgSettings',
        pgSubscriberKey: 'pgSubscriber',
        pgSubscriber: null,
        // The schema shows what app_user may use, and nothing else: PostGraphile hides what the
        // introspecting role cannot use, so it introspects as app_user (docs/architecture.md, "GraphQL").
        pgSettingsForIntrospection: { role: 'app_user' },
        adaptor: { createWithPgClient: () => withPgClient, makePgService: unusedMakePgService },
        adaptorSettings: undefined,
        release: async () => {},
      },
    ] as unknown as GraphileConfig.Preset['pgServices'],
    grafserv: {
      graphqlPath: GRAPHQL_PATH,
      graphiql: graphql.graphiql,
      graphiqlPath: GRAPHIQL_PATH,
      graphiqlOnGraphQLGET: false,
      graphqlOverGET: false,
      websockets: false,
      watch: false,
      maxRequestLength: graphql.maxDocumentBytes,
      maskError: (error) => publicError(error, env, { log }),
    },
    grafast: {
      context(requestContext) {
        const tenant = options.tenantOf(requestContext);
        // The plugin refuses a request without a verified caller before it gets here; should one
        // slip through, it gets settings with no clinic, and every policy shows it nothing.
        const ctx = tenant ?? { clinicId: null, userId: null, role: null };
        return { pgSettings: contextSettings(ctx, 'app_user', transactions) };
      },
    },
  };
}

function unusedMakePgService(): never {
  throw new Error('the GraphQL service is built by graphqlPreset()');
}
