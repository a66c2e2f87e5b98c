// What a GraphQL error may tell the client: the codes and messages REST gives for the same failure
// (src/errors.ts's catalogue, fromDatabaseError for the database's refusals), and nothing else.
// A database error's text names tables and constraints and may quote a row's values; an unknown
// error may say anything: neither leaves the server. An unknown error is logged (without its text
// when it comes from the database, as REST logs it) and answered INTERNAL with the request id that
// finds it in the log. Outside production a database refusal also carries the SQLSTATE and the
// names of the objects involved (`extensions.debug`), never a value.
//
// Errors are mapped where grafast executes the operation (the middleware below: it knows the
// request), and grafserv's maskError maps whatever reaches the response another way.
import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import { isAsyncIterable, isSafeError } from 'grafast';
import { GraphQLError } from 'graphql';
import { AppError, ERROR_CATALOGUE, fromDatabaseError } from '../errors.ts';
import { loggable } from '../plugins/errors.ts';

export type AppEnv = 'development' | 'test' | 'production';

/** What errors are logged with: a request's logger, or the app's. */
export type ErrorLog = Pick<FastifyBaseLogger, 'error' | 'info'>;

/** Where a failure is logged and the id the client may quote. */
export interface ErrorCaller {
  requestId?: string;
  log: ErrorLog;
}

/** The database's names for what a refusal was about: for developers, outside production. */
function debugOf(cause: unknown): Record<string, unknown> | undefined {
  const { code, table, column, constraint } = cause as { code?: string; table?: string; column?: string; constraint?: string };
  return { sqlstate: code, table, column, constraint };
}

interface FieldAtFault {
  path: string;
  message: string;
}

/**
 * The message: the catalogue's title for a server failure; REST's detail when it is a sentence of its
 * own ('Support access is read-only.'); for a constraint, whose detail is worded to follow a field's
 * name ('is already taken'), the title and the fields: 'The request conflicts with existing data: code is already taken.'
 */
function messageOf(appError: AppError, fields: FieldAtFault[]): string {
  const { status, title } = ERROR_CATALOGUE[appError.code];
  if (status >= 500) return title;
  if (!/^[a-z]/.test(appError.message)) return appError.message;
  return fields.length > 0 ? `${title}: ${fields.map((field) => `${field.path} ${field.message}`).join('; ')}.` : `${title}.`;
}

/** The same refusal as REST's, in GraphQL's shape: message, `extensions.code`, the fields at fault. */
function fromAppError(error: GraphQLError, appError: AppError, env: AppEnv, caller: ErrorCaller): GraphQLError {
  const { status } = ERROR_CATALOGUE[appError.code];
  if (status >= 500) caller.log.error(loggable(appError.cause instanceof Error ? appError.cause : appError), 'graphql operation failed');
  else caller.log.info({ code: appError.code, status }, 'graphql operation refused');
  // REST writes `body.<field>`; a GraphQL client wrote the field in the mutation's input.
  const fields: FieldAtFault[] = appError.errors.map(({ path, message }) => ({ path: path.replace(/^body\./, ''), message }));
  const debug = env !== 'production' && appError.cause !== undefined ? debugOf(appError.cause) : undefined;
  return new GraphQLError(messageOf(appError, fields), {
    nodes: error.nodes,
    positions: error.positions,
    source: error.source,
    path: error.path,
    extensions: {
      code: appError.code,
      ...(fields.length > 0 ? { errors: fields } : {}),
      ...(status >= 500 && caller.requestId ? { requestId: caller.requestId } : {}),
      ...(debug ? { debug } : {}),
    },
  });
}

/** An error of the GraphQL layer itself (a document, a variable, a null where none may be): safe as it is. */
const isGraphqlOwn = (error: GraphQLError) => error.originalError === undefined || error.originalError instanceof GraphQLError;

/** The error as the client may see it. Idempotent: what this returns passes through it unchanged. */
export function publicError(error: GraphQLError, env: AppEnv, caller: ErrorCaller): GraphQLError {
  if (isGraphqlOwn(error)) return env === 'production' ? withoutSuggestions(error) : error;
  const cause = error.originalError!;
  if (isSafeError(cause)) {
    // Grafast's errors meant for the client (an invalid cursor): the client's input, so REST's code
    // for bad input unless the error names its own.
    return new GraphQLError(cause.message, {
      nodes: error.nodes,
      positions: error.positions,
      source: error.source,
      path: error.path,
      extensions: { code: 'VALIDATION_FAILED', ...cause.extensions },
    });
  }
  const appError = cause instanceof AppError ? cause : (fromDatabaseError(cause) ?? nothingDeleted(cause));
  return fromAppError(error, appError ?? new AppError('INTERNAL', undefined, { cause }), env, caller);
}

/**
 * PostGraphile's refusal of a delete that found no row: another clinic's, an unknown id, or one the
 * policies do not let the caller delete look the same, REST's 404 (its message is the collection's name).
 */
function nothingDeleted(cause: Error): AppError | undefined {
  return /^No values were deleted in collection /.test(cause.message) ? new AppError('NOT_FOUND', undefined, { cause }) : undefined;
}

/**
 * A document's own error without graphql-js' "Did you mean …?": with introspection off in
 * production, the suggestions would spell out the schema field by field to whoever guesses.
 */
function withoutSuggestions(error: GraphQLError): GraphQLError {
  const message = error.message.replace(/ Did you mean .*$/s, '');
  if (message === error.message) return error;
  return new GraphQLError(message, { nodes: error.nodes, positions: error.positions, source: error.source, path: error.path, extensions: error.extensions });
}

function callerOf(request: FastifyRequest | undefined, log: ErrorLog): ErrorCaller {
  return request ? { requestId: request.id, log: request.log } : { log };
}

/**
 * The plugin that maps every error of an operation's result, with the request's id and logger;
 * grafserv's maskError catches the rest (an error raised outside execution), with the app's logger.
 */
export function publicErrorsPlugin(env: AppEnv, log: ErrorLog): GraphileConfig.Plugin {
  return {
    name: 'ClinicbasePublicErrorsPlugin',
    version: '1.0.0',
    description: "GraphQL errors carry REST's codes and messages, and nothing from the database",
    grafast: {
      middleware: {
        async execute(next, event) {
          const result = await next();
          if (isAsyncIterable(result) || !result.errors) return result;
          const caller = callerOf(event.args.requestContext?.fastifyv5?.request as FastifyRequest | undefined, log);
          return { ...result, errors: result.errors.map((error) => publicError(error, env, caller)) };
        },
      },
    },
  };
}
