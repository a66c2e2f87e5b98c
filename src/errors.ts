// One error catalogue: stable codes, their HTTP status and title. Clients branch on `code`.
// Every error leaves the API as RFC 9457 application/problem+json (see plugins/errors.ts).
import { ConnectionLostError } from './db/tenant.ts';

export const ERROR_CATALOGUE = {
  VALIDATION_FAILED: { status: 400, title: 'The request is invalid' },
  MALFORMED_BODY: { status: 400, title: 'The request body could not be parsed' },
  UNAUTHENTICATED: { status: 401, title: 'Authentication is required' },
  FORBIDDEN: { status: 403, title: 'This action is not allowed' },
  ONE_TIME_CODE_REQUIRED: { status: 401, title: 'A one-time code is required' },
  TWO_FACTOR_REQUIRED: { status: 403, title: 'This clinic requires two-factor authentication' },
  NOT_FOUND: { status: 404, title: 'Not found' },
  QUEUE_EMPTY: { status: 404, title: 'Nobody is waiting in this queue' },
  METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed' },
  CONFLICT: { status: 409, title: 'The request conflicts with existing data' },
  SLOT_TAKEN: { status: 409, title: 'The slot is already booked' },
  SLOT_UNAVAILABLE: { status: 409, title: 'The slot is not available' },
  INVALID_TRANSITION: { status: 409, title: 'This change of status is not allowed' },
  RECORD_LOCKED: { status: 409, title: 'The record is locked' },
  VERSION_CONFLICT: { status: 409, title: 'The record changed since it was read' },
  ALLERGY_ACKNOWLEDGEMENT_REQUIRED: { status: 409, title: "A medicine matches one of the patient's allergies" },
  POSSIBLE_DUPLICATE: { status: 409, title: 'The record may duplicate existing ones' },
  PAYLOAD_TOO_LARGE: { status: 413, title: 'The request body is too large' },
  PRECONDITION_REQUIRED: { status: 428, title: 'An If-Match header is required' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported content type' },
  CONSTRAINT_VIOLATION: { status: 422, title: 'The data breaks a rule' },
  RATE_LIMITED: { status: 429, title: 'Too many requests' },
  INTERNAL: { status: 500, title: 'Internal error' },
  SERVICE_UNAVAILABLE: { status: 503, title: 'Service temporarily unavailable' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export interface FieldError {
  /** Dotted path of the offending field, e.g. `body.name` or `params.slug`. */
  path: string;
  message: string;
}

/** A record the request may duplicate (POSSIBLE_DUPLICATE): enough to recognise it, no more. */
export interface DuplicateCandidate {
  id: string;
  patientNumber: string;
  fullName: string;
}

/** Members a problem carries beyond RFC 9457's and ours, for the codes that need them. */
export interface ProblemExtensions {
  /** POSSIBLE_DUPLICATE: the existing records that look like the one sent. */
  candidates?: DuplicateCandidate[];
  /**
   * INVALID_TRANSITION, RECORD_LOCKED: the rule the database applied, a stable snake_case name
   * (`consultation_signed_is_final`), from the CONSTRAINT of the trigger's RAISE.
   */
  rule?: string;
  /** ALLERGY_ACKNOWLEDGEMENT_REQUIRED: the allergies to acknowledge, each with the items (by position) that match it. */
  allergies?: AllergyConflict[];
}

/** An allergy of the patient that medicines of a prescription match (ALLERGY_ACKNOWLEDGEMENT_REQUIRED). */
export interface AllergyConflict {
  allergyId: string;
  name: string;
  itemPositions: number[];
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly errors: FieldError[];
  readonly headers: Record<string, string>;
  readonly extensions: ProblemExtensions;

  constructor(
    code: ErrorCode,
    detail?: string,
    options: { errors?: FieldError[]; headers?: Record<string, string>; extensions?: ProblemExtensions; cause?: unknown } = {},
  ) {
    super(detail ?? ERROR_CATALOGUE[code].title, { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = ERROR_CATALOGUE[code].status;
    this.errors = options.errors ?? [];
    this.headers = options.headers ?? {};
    this.extensions = options.extensions ?? {};
  }
}

/** Our own SQLSTATEs, raised by database functions and triggers (catalogue: migrations/README.md). */
const APP_SQLSTATES: Record<string, { code: ErrorCode; detail: string }> = {
  CBAUD: { code: 'FORBIDDEN', detail: 'The audit log is append-only.' },
  CBADM: { code: 'CONFLICT', detail: 'A clinic keeps at least one active admin.' },
  CBLIM: { code: 'CONFLICT', detail: "The clinic's plan allows no more members in this role." },
  CBQTA: { code: 'CONFLICT', detail: "The clinic's plan limit is reached (patients or storage)." },
  CBSLT: { code: 'SLOT_UNAVAILABLE', detail: "This time is not a free slot of the doctor's schedule." },
  CBSTA: { code: 'INVALID_TRANSITION', detail: 'This change of status is not allowed.' },
  CBALG: { code: 'ALLERGY_ACKNOWLEDGEMENT_REQUIRED', detail: "A medicine matches one of the patient's allergies that was not acknowledged." },
  CBLCK: { code: 'RECORD_LOCKED', detail: 'Signed, issued and released records do not change; a correction is a new entry.' },
  CBMRG: {
    code: 'CONFLICT',
    detail: 'These records cannot be merged: the same record, a record already merged (or merged into), or two records that both have a portal login.',
  },
};

/** Constraints whose violation has a code of its own, more precise than their SQLSTATE's. */
const CONSTRAINT_CODES: Record<string, { code: ErrorCode; detail: string }> = {
  // The double-booking guard: another active appointment of the doctor overlaps.
  appointments_starts_at_excl: { code: 'SLOT_TAKEN', detail: 'Another appointment holds this slot.' },
};

interface PgError {
  code: string;
  column?: string;
  constraint?: string;
  table?: string;
}

function isPgError(error: unknown): error is PgError {
  return (
    typeof error === 'object' &&
    error !== null &&
    typeof (error as { code?: unknown }).code === 'string' &&
    /^[0-9A-Z]{5}$/.test((error as { code: string }).code) &&
    'severity' in error
  );
}

/**
 * Maps a database error to an AppError. Details of the database message are never echoed: they
 * may quote values. Field names come from our constraint naming rule `<table>_<column>_<rule>`.
 */
export function fromDatabaseError(error: unknown): AppError | undefined {
  if (isConnectionFailure(error)) return serviceUnavailable(error);
  if (!isPgError(error)) return undefined;
  const field = fieldOf(error);
  const errors = field ? [{ path: field, message: messageFor(error.code) }] : [];
  const own = APP_SQLSTATES[error.code];
  if (own) return new AppError(own.code, own.detail, { errors, extensions: ruleOf(error), cause: error });
  const constraint = error.constraint ? CONSTRAINT_CODES[error.constraint] : undefined;
  if (constraint) return new AppError(constraint.code, constraint.detail, { errors, cause: error });
  switch (error.code) {
    case '42501': // insufficient privilege, including "new row violates row-level security policy"
      return new AppError('FORBIDDEN', undefined, { cause: error });
    case '25006': // a write in a read-only context (support access)
      return new AppError('FORBIDDEN', 'This session is read-only.', { cause: error });
    case '23505':
    case '23P01':
      return new AppError('CONFLICT', messageFor(error.code), { errors, cause: error });
    case '23503':
    case '23502':
    case '23514':
      return new AppError('CONSTRAINT_VIOLATION', messageFor(error.code), { errors, cause: error });
    case '40001':
    case '40P01':
    case '55P03': // lock_timeout
    case '57014': // statement_timeout (or a cancelled statement)
    case '25P03': // idle_in_transaction_session_timeout: the session ended and its transaction with it
      return serviceUnavailable(error);
    default:
      // Class 22, data exception: a value the database cannot take (a NUL byte 22021, a bad
      // escape 22P05, a malformed number or date 22P02/22003/22008, too long 22001). Validation
      // refuses such input first; this is the last line, so it is a 400 and never a 500.
      return error.code.startsWith('22') ? new AppError('VALIDATION_FAILED', messageFor(error.code), { errors, cause: error }) : undefined;
  }
}

const serviceUnavailable = (cause: unknown) => new AppError('SERVICE_UNAVAILABLE', 'Please retry.', { headers: { 'retry-after': '1' }, cause });

/** Node's socket errors when the database cannot be reached or the connection breaks. */
const SOCKET_FAILURES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND']);
/** Class 08 (connection exception), and the server ending sessions: shutdown, crash, cannot connect now. */
const SESSION_ENDED = /^(08...|57P0[1-3])$/;
/** How pg reports a connection it lost, or one it could not get in time. */
const PG_CONNECTION_MESSAGES = /Connection terminated|not queryable|Client was closed|timeout exceeded when trying to connect/;

/** The database could not be reached, or the connection broke: nothing was committed, retry later. */
export function isConnectionFailure(error: unknown): boolean {
  if (error instanceof ConnectionLostError) return true;
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (SOCKET_FAILURES.has(code) || SESSION_ENDED.test(code))) return true;
  return PG_CONNECTION_MESSAGES.test(error.message);
}

/**
 * The request-body field a database error is about, named as validation errors name it
 * (`body.<camelCaseField>`), so a client handles both kinds of 400/409/422 alike.
 */
function fieldOf(error: PgError): string | undefined {
  // `<table>_<what>_present` ("at least one of …", "exactly one of …") is about no one column: the body.
  if (!error.column && error.table && error.constraint?.startsWith(`${error.table}_`) && error.constraint.endsWith('_present')) return 'body';
  const column = columnOf(error);
  return column ? `body.${column.replace(/_([a-z0-9])/g, (_, letter: string) => letter.toUpperCase())}` : undefined;
}

function columnOf(error: PgError): string | undefined {
  if (error.column) return error.column;
  if (!error.constraint || !error.table) return undefined;
  const rest = error.constraint.startsWith(`${error.table}_`) ? error.constraint.slice(error.table.length + 1) : '';
  const column = rest.replace(/_(key|fkey|check|format|length|range|valid|excl)$/, '');
  // A primary key names no field a client wrote (ids come from the database).
  return column && column !== 'pkey' ? column : undefined;
}

/** A state machine's or lock's rule name, raised by the trigger as its CONSTRAINT (never a message, which may quote values). */
function ruleOf(error: PgError): ProblemExtensions {
  return error.constraint && /^[a-z][a-z0-9_]{0,62}$/.test(error.constraint) ? { rule: error.constraint } : {};
}

function messageFor(sqlstate: string): string {
  switch (sqlstate) {
    case '23505':
      return 'is already taken';
    case '23P01':
      return 'overlaps an existing entry';
    case '23503':
      return 'refers to something that does not exist';
    case '23502':
      return 'is required';
    case '23514':
      return 'is not allowed';
    case 'CBSLT':
      return 'is not a free slot';
    default:
      return 'has an invalid value';
  }
}
