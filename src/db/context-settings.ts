// The transaction's identity, defined once: which settings a transaction carries and where each
// value comes from. Every path to the database sets exactly these, transaction-local
// (set_config(name, value, true)): withTenant writes them with the pipelined context statement
// (CONTEXT_SQL, generated from the table below); PostGraphile's pgSettings and the worker take
// the same settings as a plain map (contextSettings()). RLS policies read them through
// app_public.current_clinic_id() & co.
import { isIP } from 'node:net';
import { CLINIC_ROLES, type ClinicRole } from '../auth/permissions.ts';

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
 * How transactions run (DATABASE_* in src/config.ts). The timeouts are settings of the context,
 * transaction-local like it, so they hold behind a transaction-mode pooler too and one
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

/** What a setting's value is computed from. */
interface ContextSource {
  ctx: TenantContext;
  dbRole: DbRole;
  settings: TransactionSettings;
  /** The transaction is read-only: a read before any write (withTenant), or a read-only context. */
  readOnly: boolean;
}

/**
 * The settings, in the order the context statement sets them. `null` travels as '': the SQL
 * helpers read '' as NULL, so a context without a clinic sees nothing. Postgres itself refuses a
 * `role` the login role is not a member of (app_authenticator: app_user or app_platform only).
 */
export const CONTEXT_SETTINGS = {
  'app.clinic_id': ({ ctx }) => ctx.clinicId ?? '',
  'app.user_id': ({ ctx }) => ctx.userId ?? '',
  'app.role': ({ ctx }) => ctx.role ?? '',
  'app.request_id': ({ ctx }) => ctx.requestId ?? '',
  role: ({ dbRole }) => dbRole,
  transaction_read_only: ({ readOnly }) => (readOnly ? 'on' : 'off'),
  'app.client_ip': ({ ctx }) => ctx.clientIp ?? '',
  statement_timeout: ({ settings }) => String(settings.statementTimeoutMs),
  lock_timeout: ({ settings }) => String(settings.lockTimeoutMs),
  idle_in_transaction_session_timeout: ({ settings }) => String(settings.idleInTransactionTimeoutMs),
} as const satisfies Record<string, (source: ContextSource) => string>;

type ContextSettingName = keyof typeof CONTEXT_SETTINGS;
export type ContextSettings = Record<ContextSettingName, string>;

/**
 * The context statement: one set_config per setting, values as bind parameters in the table's
 * order (never inlined). Zero columns: its row carries nothing for the client to decode.
 */
export const CONTEXT_SQL =
  'select from (select ' +
  Object.keys(CONTEXT_SETTINGS)
    .map((name, i) => `pg_catalog.set_config('${name}', $${i + 1}, true)`)
    .join(', ') +
  ') as context';

/**
 * The settings of a transaction as `dbRole` with context `ctx`, as a plain map (PostGraphile's
 * pgSettings, a worker's transaction). The transaction is read-only when the context is.
 * Throws a TypeError before anything reaches the database when the context or settings are invalid.
 */
export function contextSettings(ctx: TenantContext, dbRole: DbRole, settings: Partial<TransactionSettings> = {}): ContextSettings {
  return settingsOf({ ctx: validContext(ctx), dbRole, settings: transactionSettings(settings), readOnly: ctx.readOnly === true });
}

/** CONTEXT_SQL's parameters, for a transaction that is read-only or not. */
export interface ContextValues {
  /** A read before any write: its own read-only implicit transaction. */
  read: string[];
  /** The explicit transaction (read-only only when the context is). */
  transaction: string[];
}

/** Validates the context and computes the context statement's parameters (`settings`: from transactionSettings()). */
export function contextValues(ctx: TenantContext, dbRole: DbRole, settings: TransactionSettings): ContextValues {
  const source = { ctx: validContext(ctx), dbRole, settings };
  return {
    read: Object.values(settingsOf({ ...source, readOnly: true })),
    transaction: Object.values(settingsOf({ ...source, readOnly: ctx.readOnly === true })),
  };
}

function settingsOf(source: ContextSource): ContextSettings {
  const settings = {} as ContextSettings;
  for (const [name, value] of Object.entries(CONTEXT_SETTINGS)) settings[name as ContextSettingName] = value(source);
  return settings;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const REQUEST_ID = /^[\w.:-]{1,128}$/;

function validContext(ctx: TenantContext): TenantContext {
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

/**
 * DEFAULT_TRANSACTION_SETTINGS overridden field by field. A timeout of 0 would turn it off:
 * anything but a positive whole number of milliseconds is refused.
 */
export function transactionSettings(settings: Partial<TransactionSettings>): TransactionSettings {
  const chosen = { ...DEFAULT_TRANSACTION_SETTINGS, ...settings };
  for (const name of ['statementTimeoutMs', 'lockTimeoutMs', 'idleInTransactionTimeoutMs'] as const) {
    if (!Number.isSafeInteger(chosen[name]) || chosen[name] < 1) throw new TypeError(`invalid transaction settings: ${name}`);
  }
  return chosen;
}
