// The only file that reads process.env. Everything else receives a frozen Config.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { z } from 'zod';
import { passwordProblem } from './auth/password-policy.ts';
import { type DataEncryptionConfig, parseDataKeys } from './crypto/data-keys.ts';
import { DEFAULT_TRANSACTION_SETTINGS, type TransactionSettings } from './db/tenant.ts';
import { GRAPHQL_DEFAULTS, type GraphqlConfig } from './graphql/config.ts';

// Grafast (PostGraphile's engine) reads GRAPHILE_ENV once, when it is first imported: unset (and
// NODE_ENV unset), it warns on stderr and runs in production mode. It gets the app's environment
// (NODE_ENV, development when unset, as below) unless the operator set it. This runs as this
// module is evaluated, which is before PostGraphile's: src/app.ts imports this module before any
// module that imports PostGraphile (docs/operations.md, "GraphQL in production").
process.env.GRAPHILE_ENV ??= process.env.NODE_ENV ?? 'development';

const postgresUrl = z
  .string()
  .url()
  .refine((value) => /^postgres(ql)?:\/\//.test(value), 'must be a postgres:// or postgresql:// URL');

/** A timeout in milliseconds: at least 1 (0 would turn it off), at most an hour. */
/** FILE_MAX_BYTES unset: 20 MiB, a scanned multi-page document. */
export const DEFAULT_FILE_MAX_BYTES = 20 * 1024 * 1024;

const timeoutMs = (fallback: number) => z.coerce.number().int().min(1).max(3_600_000).default(fallback);

/** An origin exactly as browsers send it: scheme, host and port only (https://app.example.com). */
function isOrigin(text: string): boolean {
  try {
    const url = new URL(text);
    return ['http:', 'https:'].includes(url.protocol) && url.origin === text;
  } catch {
    return false;
  }
}

function isAddressOrCidr(text: string): boolean {
  const [address = '', prefix, ...rest] = text.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
}

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  // Behind a reverse proxy: which X-Forwarded-For hops to believe, so that lockouts, rate limits
  // and the audit log see the client's address, not the proxy's: a comma-separated list of the
  // proxies' addresses or CIDRs. The client is the nearest X-Forwarded-For hop that is not one
  // of them, so a client cannot name itself by writing the header. Unset: the socket's address.
  TRUST_PROXY: z
    .string()
    .trim()
    .transform((text, ctx) => {
      const proxies = text.split(',').map((p) => p.trim());
      if (proxies.every(isAddressOrCidr)) return proxies;
      ctx.addIssue({ code: 'custom', message: 'must be a comma-separated list of proxy addresses or CIDRs' });
      return z.NEVER;
    })
    .optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATA_DIR: z.string().min(1).default('.data'),
  // Uploaded files (blobs under <clinic_id>/<file_id>); unset: DATA_DIR/files.
  STORAGE_DIR: z.string().min(1).optional(),
  // The largest file one upload to `…/files` may carry, in bytes (413 beyond): 1 KiB to 1 GiB.
  FILE_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(1024 * 1024 * 1024)
    .default(DEFAULT_FILE_MAX_BYTES),
  // A superuser (or a role with CREATEROLE + CREATEDB) on a development server: setup creates roles, schemas, migrations.
  DATABASE_URL: postgresUrl.optional(),
  // Narrower URLs for production: the migration owner and the request-serving authenticator.
  DATABASE_OWNER_URL: postgresUrl.optional(),
  DATABASE_AUTHENTICATOR_URL: postgresUrl.optional(),
  // The notification listener's one connection (src/db/notifications.ts), when it must not take the
  // authenticator URL's path: a LISTEN lasts the session, so it goes to Postgres directly (or a
  // session-mode pool), never through a transaction-mode pooler. Unset: the authenticator URL.
  DATABASE_LISTEN_URL: postgresUrl.optional(),
  // graphile-worker's login (app_worker): its own queue schema, and tenant transactions as app_user
  // like a request's. Unset: derived from DATABASE_URL and DATABASE_ROLE_PASSWORD.
  DATABASE_WORKER_URL: postgresUrl.optional(),
  // Run graphile-worker inside `npm start` (src/worker/runner.ts); unset: on in development only.
  WORKER_IN_PROCESS: z.stringbool().optional(),
  // Jobs one worker process runs at once (each holds a queue connection and, while it works, a tenant one).
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
  // Password that setup gives the login roles and that derived URLs use (development convenience).
  DATABASE_ROLE_PASSWORD: z.string().min(8).optional(),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(100).default(8),
  // Every request transaction's statement, lock and idle-in-transaction timeouts (src/db/tenant.ts).
  DATABASE_STATEMENT_TIMEOUT_MS: timeoutMs(DEFAULT_TRANSACTION_SETTINGS.statementTimeoutMs),
  DATABASE_LOCK_TIMEOUT_MS: timeoutMs(DEFAULT_TRANSACTION_SETTINGS.lockTimeoutMs),
  DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: timeoutMs(DEFAULT_TRANSACTION_SETTINGS.idleInTransactionTimeoutMs),
  // `false` behind a transaction-mode pooler that does not track prepared statements (PgBouncer < 1.21).
  DATABASE_PREPARED_STATEMENTS: z.stringbool().default(DEFAULT_TRANSACTION_SETTINGS.preparedStatements),
  EMBEDDED_PG_PORT: z.coerce.number().int().min(1024).max(65535).default(54329),
  // Access tokens: EdDSA (Ed25519). The current signing key and its id; earlier public keys stay
  // valid for verification until the tokens they signed have expired (rotation).
  JWT_PRIVATE_KEY: z.string().includes('PRIVATE KEY', { message: 'must be a PEM private key' }).optional(),
  JWT_KEY_ID: z
    .string()
    .regex(/^[\w.-]{1,64}$/)
    .optional(),
  JWT_PREVIOUS_PUBLIC_KEYS: z
    .string()
    .transform((text, ctx) => {
      try {
        return z.record(z.string().regex(/^[\w.-]{1,64}$/), z.string().includes('PUBLIC KEY')).parse(JSON.parse(text));
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be a JSON object of key id → PEM public key' });
        return z.NEVER;
      }
    })
    .optional(),
  JWT_ACCESS_TOKEN_TTL_SECONDS: z.coerce.number().int().min(60).max(3600).default(900),
  // Field encryption (src/crypto/): `<keyId>:<base64 32-byte key>`, comma-separated; the first
  // encrypts, all decrypt (rotation). Every problem is listed; key material never is.
  DATA_ENCRYPTION_KEY: z
    .string()
    .transform((text, ctx) => {
      const { keys, problems } = parseDataKeys(text);
      for (const message of problems) ctx.addIssue({ code: 'custom', message });
      return problems.length > 0 ? z.NEVER : keys;
    })
    .optional(),
  // Calls per client address per minute on each route that takes a credential (the per-e-mail
  // and per-address lockouts are in SQL).
  LOGIN_ATTEMPTS_PER_MINUTE: z.coerce.number().int().min(1).max(10_000).default(30),
  // Where those counters live when several API processes serve; unset: in each process's memory.
  REDIS_URL: z
    .string()
    .url()
    .refine((value) => /^rediss?:\/\//.test(value), 'must be a redis:// or rediss:// URL')
    .optional(),
  // Browser origins allowed to call the API; unset: no CORS headers, browsers on other origins are refused.
  CORS_ORIGINS: z
    .string()
    .trim()
    .transform((text, ctx) => {
      const origins = text.split(',').map((o) => o.trim());
      if (origins.every(isOrigin)) return origins;
      ctx.addIssue({ code: 'custom', message: 'must be a comma-separated list of origins like https://app.example.com (scheme, host, port; no path)' });
      return z.NEVER;
    })
    .optional(),
  // Serve /docs and /openapi.json; unset: on outside production, off in production.
  API_DOCS: z.stringbool().optional(),
  // GraphQL (src/graphql/, docs/architecture.md "GraphQL"). Ruru, the GraphQL IDE, at /graphiql;
  // unset: on outside production, off in production.
  GRAPHIQL: z.stringbool().optional(),
  // Introspection queries (__schema, __type); unset: on outside production, off in production.
  GRAPHQL_INTROSPECTION: z.stringbool().optional(),
  // The limits every GraphQL document is held to before it runs (src/graphql/limits.ts).
  GRAPHQL_MAX_DEPTH: z.coerce.number().int().min(2).max(50).default(GRAPHQL_DEFAULTS.maxDepth),
  GRAPHQL_MAX_ALIASES: z.coerce.number().int().min(1).max(1000).default(GRAPHQL_DEFAULTS.maxAliases),
  GRAPHQL_MAX_ROOT_FIELDS: z.coerce.number().int().min(1).max(100).default(GRAPHQL_DEFAULTS.maxRootFields),
  GRAPHQL_MAX_DOCUMENT_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(1024 * 1024)
    .default(GRAPHQL_DEFAULTS.maxDocumentBytes),
  // Rows per page of a connection: `first`/`last` above the maximum are refused; without either, the default.
  GRAPHQL_MAX_PAGE_SIZE: z.coerce.number().int().min(1).max(1000).default(GRAPHQL_DEFAULTS.maxPageSize),
  GRAPHQL_DEFAULT_PAGE_SIZE: z.coerce.number().int().min(1).max(1000).default(GRAPHQL_DEFAULTS.defaultPageSize),
  // GraphQL operations per caller per minute (each operation of a request counts).
  GRAPHQL_OPERATIONS_PER_MINUTE: z.coerce.number().int().min(1).max(100_000).default(GRAPHQL_DEFAULTS.operationsPerMinute),
  // statement_timeout of a GraphQL request's transactions (lower than REST's: documents are the client's).
  GRAPHQL_STATEMENT_TIMEOUT_MS: timeoutMs(GRAPHQL_DEFAULTS.statementTimeoutMs),
  // Trusted documents: a folder of persisted operations (<sha256>.graphql); when set, only those run.
  GRAPHQL_TRUSTED_DOCUMENTS_DIR: z.string().min(1).optional(),
  // The first platform operator, created at start when there is none yet.
  PLATFORM_BOOTSTRAP_EMAIL: z.string().trim().max(254).email().optional(),
  PLATFORM_BOOTSTRAP_PASSWORD: z.string().optional(),
  // Notification delivery (src/notifications/, docs/operations.md "Notification delivery"): how
  // e-mail leaves (and SMS, while no SMS webhook is set). `log` prints every message, tokens
  // included, into the log: development only. Unset: log, except in production, where a process
  // that delivers (the worker) must name its transport.
  NOTIFY_TRANSPORT: z.enum(['log', 'file', 'smtp', 'webhook']).optional(),
  // The `file` transport's folder (one file per message); unset: DATA_DIR/outbox.
  NOTIFY_FILE_DIR: z.string().min(1).optional(),
  // How long one delivery (an SMTP conversation, a webhook call) may take before it counts as failed.
  NOTIFY_TIMEOUT_MS: timeoutMs(10_000),
  SMTP_URL: z
    .string()
    .url()
    .refine((value) => /^smtps?:\/\//.test(value), 'must be an smtp:// or smtps:// URL')
    .optional(),
  // The sender's address; the display name is the clinic's sender name (clinic settings).
  SMTP_FROM: z.string().trim().max(254).email().optional(),
  // An SMS gateway's webhook: set, every SMS goes there (JSON POST signed with the secret).
  SMS_WEBHOOK_URL: z
    .string()
    .url()
    .refine((value) => /^https?:\/\//.test(value), 'must be an http:// or https:// URL')
    // fetch refuses such a URL with an error quoting it; the gateway's secret is SMS_WEBHOOK_SECRET.
    .refine((value) => !/^https?:\/\/[^/?#]*@/.test(value), 'must not hold credentials (user:password@): the signature is SMS_WEBHOOK_SECRET')
    .optional(),
  SMS_WEBHOOK_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
});

export interface LoadOptions {
  /** The HTTP server needs a request-serving URL; ops commands (setup, migrate, audit) do not. */
  serving?: boolean;
  /** The worker process: it sends the outbox's messages (so does a serving process with WORKER_IN_PROCESS on). */
  delivering?: boolean;
}

/** Whether this process runs the worker, which sends messages with NOTIFY_TRANSPORT. */
function delivers(env: Record<string, string | undefined>, options: LoadOptions): boolean {
  const inProcess = z.stringbool().optional().safeParse(env.WORKER_IN_PROCESS);
  return Boolean(options.delivering || (options.serving && inProcess.success && inProcess.data));
}

/** Rules across variables; checked on the raw input so they are reported alongside field errors. */
function crossFieldProblems(env: Record<string, string | undefined>, options: LoadOptions): string[] {
  const problems: string[] = [];
  if (options.serving && env.NODE_ENV === 'production' && !env.DATABASE_AUTHENTICATOR_URL) {
    problems.push('DATABASE_AUTHENTICATOR_URL: required in production (embedded Postgres and derived role URLs are development conveniences)');
  }
  if (options.serving && env.NODE_ENV === 'production' && !(env.JWT_PRIVATE_KEY && env.JWT_KEY_ID)) {
    problems.push('JWT_PRIVATE_KEY, JWT_KEY_ID: required in production, or JWT_PRIVATE_KEY_FILE, JWT_KEY_ID_FILE (development generates a key under DATA_DIR)');
  }
  if (options.serving && env.NODE_ENV === 'production' && !env.DATA_ENCRYPTION_KEY) {
    problems.push('DATA_ENCRYPTION_KEY: required in production, or DATA_ENCRYPTION_KEY_FILE (development generates a key under DATA_DIR)');
  }
  if (Boolean(env.PLATFORM_BOOTSTRAP_EMAIL) !== Boolean(env.PLATFORM_BOOTSTRAP_PASSWORD)) {
    problems.push('PLATFORM_BOOTSTRAP_PASSWORD: PLATFORM_BOOTSTRAP_EMAIL and PLATFORM_BOOTSTRAP_PASSWORD go together');
  }
  const bootstrapProblem = env.PLATFORM_BOOTSTRAP_PASSWORD ? passwordProblem(env.PLATFORM_BOOTSTRAP_PASSWORD) : undefined;
  if (bootstrapProblem) problems.push(`PLATFORM_BOOTSTRAP_PASSWORD: ${bootstrapProblem}`);
  if (Boolean(env.JWT_PRIVATE_KEY) !== Boolean(env.JWT_KEY_ID)) {
    problems.push('JWT_KEY_ID: JWT_PRIVATE_KEY and JWT_KEY_ID go together');
  }
  if (env.NODE_ENV === 'production' && delivers(env, options) && (env.NOTIFY_TRANSPORT ?? 'log') === 'log') {
    problems.push('NOTIFY_TRANSPORT: required in production, file, smtp or webhook (log prints every message, tokens included, into the log)');
  }
  problems.push(...notificationProblems(env));
  if (options.serving && env.DATABASE_URL && !env.DATABASE_ROLE_PASSWORD && !env.DATABASE_AUTHENTICATOR_URL) {
    // A built-in password never reaches a real server's roles: with DATABASE_URL, the caller names one.
    problems.push('DATABASE_ROLE_PASSWORD: required with DATABASE_URL (setup gives it to the login roles)');
  }
  return problems;
}

/** The variables each notification transport needs, named together. */
function notificationProblems(env: Record<string, string | undefined>): string[] {
  const problems: string[] = [];
  if (env.NOTIFY_TRANSPORT === 'smtp' && !(env.SMTP_URL && env.SMTP_FROM)) {
    problems.push('SMTP_URL, SMTP_FROM: required with NOTIFY_TRANSPORT=smtp');
  }
  if (env.NOTIFY_TRANSPORT === 'webhook' && !env.SMS_WEBHOOK_URL) {
    problems.push('SMS_WEBHOOK_URL: required with NOTIFY_TRANSPORT=webhook');
  }
  if (Boolean(env.SMS_WEBHOOK_URL) !== Boolean(env.SMS_WEBHOOK_SECRET)) {
    problems.push('SMS_WEBHOOK_SECRET: SMS_WEBHOOK_URL and SMS_WEBHOOK_SECRET go together');
  }
  return problems;
}

export type Env = z.input<typeof envSchema>;

export interface DatabaseConfig {
  /** Superuser URL used by setup; undefined when the embedded cluster supplies it at start. */
  adminUrl: string | undefined;
  ownerUrl: string | undefined;
  authenticatorUrl: string | undefined;
  /** The notification listener's URL (app_authenticator, straight to Postgres); undefined: authenticatorUrl. */
  listenUrl: string | undefined;
  /** graphile-worker's login (app_worker); undefined: no worker can run. */
  workerUrl: string | undefined;
  /** Password for the login roles: DATABASE_ROLE_PASSWORD, a built-in one for the embedded cluster only. */
  rolePassword: string | undefined;
  poolSize: number;
  /** Timeouts and prepared statements of every request transaction. */
  transactions: TransactionSettings;
  embedded: { port: number; dataDir: string } | undefined;
}

export interface WorkerConfig {
  /** `npm start` runs the worker in its own process too. */
  inProcess: boolean;
  concurrency: number;
}

export interface JwtConfig {
  /** The current signing key; undefined in development, where one is generated under DATA_DIR. */
  signingKey: { keyId: string; privateKeyPem: string } | undefined;
  previousPublicKeys: Record<string, string>;
  accessTokenTtlSeconds: number;
  loginAttemptsPerMinute: number;
}

export interface NotificationsConfig {
  /** The transport of e-mail, and of SMS while no SMS webhook is configured. */
  transport: 'log' | 'file' | 'smtp' | 'webhook';
  fileDir: string;
  timeoutMs: number;
  smtp: { url: string; from: string } | undefined;
  smsWebhook: { url: string; secret: string } | undefined;
}

export interface Config {
  /** The first platform operator, created at start when none exists. */
  platformBootstrap: { email: string; password: string } | undefined;
  env: 'development' | 'test' | 'production';
  port: number;
  host: string;
  /** Fastify's trustProxy: the proxies whose X-Forwarded-For hops are believed (false: none). */
  trustProxy: false | string[];
  /** The shared store of the per-minute rate limits; undefined: in memory. */
  redisUrl: string | undefined;
  /** Origins allowed by CORS; empty: CORS off. */
  corsOrigins: string[];
  /** Serve /docs and /openapi.json; undefined: on outside production. */
  apiDocs: boolean | undefined;
  /** The GraphQL endpoint's switches and limits (src/graphql/). */
  graphql: GraphqlConfig;
  logLevel: string;
  dataDir: string;
  /** Where uploaded files live (src/storage/local-disk.ts). */
  storageDir: string;
  /** The largest file an upload to `…/files` may carry, in bytes (src/modules/files/). */
  fileMaxBytes: number;
  database: DatabaseConfig;
  /** graphile-worker (src/worker/). */
  worker: WorkerConfig;
  jwt: JwtConfig;
  /** Keys of the field encryption (src/crypto/data-keys.ts). */
  dataEncryption: DataEncryptionConfig;
  /** Notification delivery (src/notifications/). */
  notifications: NotificationsConfig;
}

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Only ever given to the roles of the embedded cluster, which listens on 127.0.0.1 only. */
const EMBEDDED_ROLE_PASSWORD = 'clinicbase-embedded-only';

export function loadConfig(source: Record<string, string | undefined> = process.env, options: LoadOptions = {}): Config {
  const fileProblems: string[] = [];
  const known = pickKnown(withFileVariables(source, fileProblems));
  const parsed = envSchema.safeParse(known);
  const problems = [
    ...fileProblems,
    ...(parsed.success ? [] : parsed.error.issues.map((issue) => `${issue.path.join('.') || '(env)'}: ${issue.message}`)),
    ...crossFieldProblems(known, options),
  ];
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);
  const env = parsed.data;
  const dataDir = path.resolve(env.DATA_DIR);
  const useEmbedded = !env.DATABASE_URL && !env.DATABASE_AUTHENTICATOR_URL;
  const rolePassword = env.DATABASE_ROLE_PASSWORD ?? (useEmbedded ? EMBEDDED_ROLE_PASSWORD : undefined);
  return Object.freeze({
    platformBootstrap:
      env.PLATFORM_BOOTSTRAP_EMAIL && env.PLATFORM_BOOTSTRAP_PASSWORD
        ? { email: env.PLATFORM_BOOTSTRAP_EMAIL, password: env.PLATFORM_BOOTSTRAP_PASSWORD }
        : undefined,
    env: env.NODE_ENV,
    port: env.PORT,
    host: env.HOST,
    trustProxy: env.TRUST_PROXY ?? false,
    redisUrl: env.REDIS_URL,
    corsOrigins: env.CORS_ORIGINS ?? [],
    apiDocs: env.API_DOCS,
    graphql: Object.freeze({
      graphiql: env.GRAPHIQL ?? env.NODE_ENV !== 'production',
      introspection: env.GRAPHQL_INTROSPECTION ?? env.NODE_ENV !== 'production',
      maxDepth: env.GRAPHQL_MAX_DEPTH,
      maxAliases: env.GRAPHQL_MAX_ALIASES,
      maxRootFields: env.GRAPHQL_MAX_ROOT_FIELDS,
      maxDocumentBytes: env.GRAPHQL_MAX_DOCUMENT_BYTES,
      maxPageSize: env.GRAPHQL_MAX_PAGE_SIZE,
      defaultPageSize: env.GRAPHQL_DEFAULT_PAGE_SIZE,
      operationsPerMinute: env.GRAPHQL_OPERATIONS_PER_MINUTE,
      statementTimeoutMs: env.GRAPHQL_STATEMENT_TIMEOUT_MS,
      trustedDocumentsDir: env.GRAPHQL_TRUSTED_DOCUMENTS_DIR ? path.resolve(env.GRAPHQL_TRUSTED_DOCUMENTS_DIR) : undefined,
    }),
    logLevel: env.LOG_LEVEL,
    dataDir,
    storageDir: env.STORAGE_DIR ? path.resolve(env.STORAGE_DIR) : path.join(dataDir, 'files'),
    fileMaxBytes: env.FILE_MAX_BYTES,
    database: Object.freeze({
      adminUrl: env.DATABASE_URL,
      ownerUrl: env.DATABASE_OWNER_URL ?? derivedRoleUrl(env.DATABASE_URL, 'app_owner', rolePassword),
      authenticatorUrl: env.DATABASE_AUTHENTICATOR_URL ?? derivedRoleUrl(env.DATABASE_URL, 'app_authenticator', rolePassword),
      listenUrl: env.DATABASE_LISTEN_URL,
      workerUrl: env.DATABASE_WORKER_URL ?? derivedRoleUrl(env.DATABASE_URL, 'app_worker', rolePassword),
      rolePassword,
      poolSize: env.DATABASE_POOL_SIZE,
      transactions: Object.freeze({
        statementTimeoutMs: env.DATABASE_STATEMENT_TIMEOUT_MS,
        lockTimeoutMs: env.DATABASE_LOCK_TIMEOUT_MS,
        idleInTransactionTimeoutMs: env.DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS,
        preparedStatements: env.DATABASE_PREPARED_STATEMENTS,
      }),
      embedded: useEmbedded ? { port: env.EMBEDDED_PG_PORT, dataDir: path.join(dataDir, 'pg') } : undefined,
    }),
    worker: Object.freeze({
      inProcess: env.WORKER_IN_PROCESS ?? env.NODE_ENV === 'development',
      concurrency: env.WORKER_CONCURRENCY,
    }),
    jwt: Object.freeze({
      signingKey: env.JWT_PRIVATE_KEY && env.JWT_KEY_ID ? { keyId: env.JWT_KEY_ID, privateKeyPem: env.JWT_PRIVATE_KEY } : undefined,
      previousPublicKeys: env.JWT_PREVIOUS_PUBLIC_KEYS ?? {},
      accessTokenTtlSeconds: env.JWT_ACCESS_TOKEN_TTL_SECONDS,
      loginAttemptsPerMinute: env.LOGIN_ATTEMPTS_PER_MINUTE,
    }),
    dataEncryption: Object.freeze({
      keys: env.DATA_ENCRYPTION_KEY ? Object.freeze(env.DATA_ENCRYPTION_KEY) : undefined,
      // Never in production: a key made up at start would encrypt data no other process can read.
      generatedKeyFile: env.NODE_ENV === 'production' ? undefined : path.join(dataDir, 'data-encryption-key'),
    }),
    notifications: Object.freeze({
      transport: env.NOTIFY_TRANSPORT ?? 'log',
      fileDir: env.NOTIFY_FILE_DIR ? path.resolve(env.NOTIFY_FILE_DIR) : path.join(dataDir, 'outbox'),
      timeoutMs: env.NOTIFY_TIMEOUT_MS,
      smtp: env.SMTP_URL && env.SMTP_FROM ? Object.freeze({ url: env.SMTP_URL, from: env.SMTP_FROM }) : undefined,
      smsWebhook: env.SMS_WEBHOOK_URL && env.SMS_WEBHOOK_SECRET ? Object.freeze({ url: env.SMS_WEBHOOK_URL, secret: env.SMS_WEBHOOK_SECRET }) : undefined,
    }),
  });
}

/** The same server and database as `url`, logged in as one of the application roles. */
export function roleUrl(url: string, role: string, password: string): string {
  const parsed = new URL(url);
  parsed.username = role;
  parsed.password = password;
  return parsed.toString();
}

function derivedRoleUrl(adminUrl: string | undefined, role: string, password: string | undefined): string | undefined {
  return adminUrl && password ? roleUrl(adminUrl, role, password) : undefined;
}

/** Secrets that may come from a file instead: X_FILE names it (the Docker secrets convention). */
const FILE_VARIABLES = ['JWT_PRIVATE_KEY', 'JWT_KEY_ID', 'DATA_ENCRYPTION_KEY', 'SMTP_URL', 'SMS_WEBHOOK_SECRET'] as const;

/** `source` with each X_FILE read into X (trailing whitespace dropped); both set, or a file unread, is a problem. */
function withFileVariables(source: Record<string, string | undefined>, problems: string[]): Record<string, string | undefined> {
  const resolved = { ...source };
  for (const name of FILE_VARIABLES) {
    const file = source[`${name}_FILE`];
    if (!file) continue;
    if (source[name]) {
      problems.push(`${name}_FILE: set ${name} or ${name}_FILE, not both`);
      continue;
    }
    try {
      resolved[name] = readFileSync(file, 'utf8').trimEnd();
    } catch (error) {
      problems.push(`${name}_FILE: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
    }
  }
  return resolved;
}

function pickKnown(source: Record<string, string | undefined>): Record<string, string | undefined> {
  const known: Record<string, string | undefined> = {};
  for (const key of Object.keys(envSchema.shape)) {
    const value = source[key];
    // An empty variable means "unset": shells and compose files produce them routinely.
    known[key] = value === '' ? undefined : value;
  }
  return known;
}
