// The one error handler: every failure becomes RFC 9457 application/problem+json with a stable
// `code`, the field paths at fault and the request id. 5xx bodies never carry internals.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { AppError, ERROR_CATALOGUE, fromDatabaseError, type FieldError, type ProblemExtensions } from '../errors.ts';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

export interface Problem extends ProblemExtensions {
  type: string;
  title: string;
  status: number;
  code: string;
  detail: string;
  errors: FieldError[];
  requestId: string;
}

function toAppError(error: FastifyError | AppError | Error): AppError {
  if (error instanceof AppError) return error;
  const fromDb = fromDatabaseError(error);
  if (fromDb) return fromDb;
  const fastifyError = error as FastifyError;
  if (fastifyError.validation) {
    const context = fastifyError.validationContext ?? 'request';
    const errors = fastifyError.validation.map((issue) => ({
      path: [context, ...issue.instancePath.split('/').filter(Boolean)].join('.'),
      message: issue.message ?? 'is invalid',
    }));
    return new AppError('VALIDATION_FAILED', undefined, { errors, cause: error });
  }
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AppError('UNSUPPORTED_MEDIA_TYPE', undefined, { cause: error });
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AppError('PAYLOAD_TOO_LARGE', undefined, { cause: error });
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    // @fastify/multipart: a form field declared application/json that is not JSON (its own status is 406)
    case 'FST_INVALID_JSON_FIELD_ERROR':
      return new AppError('MALFORMED_BODY', undefined, { cause: error });
    // @fastify/multipart: a multipart route called with another body (its own status is 406)
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return new AppError('UNSUPPORTED_MEDIA_TYPE', 'The request body must be multipart/form-data.', { cause: error });
  }
  if (fastifyError.statusCode === 400) return new AppError('MALFORMED_BODY', undefined, { cause: error });
  // @fastify/multipart's limits: too many parts, files or fields, a file over its size.
  if (fastifyError.statusCode === 413) return new AppError('PAYLOAD_TOO_LARGE', undefined, { cause: error });
  if (fastifyError.statusCode === 429) return new AppError('RATE_LIMITED', undefined, { cause: error });
  return new AppError('INTERNAL', undefined, { cause: error });
}

export function sendProblem(request: FastifyRequest, reply: FastifyReply, error: AppError): FastifyReply {
  const problem: Problem = {
    type: `https://clinicbase.dev/problems/${error.code.toLowerCase().replaceAll('_', '-')}`,
    title: ERROR_CATALOGUE[error.code].title,
    status: error.status,
    code: error.code,
    detail: error.status >= 500 ? ERROR_CATALOGUE[error.code].title : error.message,
    errors: error.errors,
    requestId: request.id,
    ...error.extensions,
  };
  return reply.code(error.status).headers(error.headers).type(PROBLEM_CONTENT_TYPE).send(problem);
}

/**
 * What a failure may put in the logs. A database error's message and detail can quote the values
 * of a row (PHI): keep its code and the names of the objects involved, never the text.
 */
export function loggable(error: Error): Record<string, unknown> {
  const pgError = error as Error & { code?: string; severity?: string; table?: string; column?: string; constraint?: string; routine?: string };
  if (typeof pgError.severity !== 'string') return { err: error };
  const { code, severity, table, column, constraint, routine } = pgError;
  return { db: { code, severity, table, column, constraint, routine }, stack: error.stack?.split('\n').slice(1).join('\n') };
}

async function errorsPlugin(app: FastifyInstance): Promise<void> {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const appError = toAppError(error);
    if (appError.status >= 500) request.log.error(loggable(error), 'request failed');
    else request.log.info({ code: appError.code, status: appError.status }, 'request refused');
    return sendProblem(request, reply, appError);
  });
  app.setNotFoundHandler((request, reply) => sendProblem(request, reply, new AppError('NOT_FOUND')));
}

export default fp(errorsPlugin, { name: 'errors' });
