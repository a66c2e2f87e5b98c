// Optimistic concurrency for drafts: GET answers `ETag: "<version>"`; every write names the version
// it read in `If-Match: "<version>"`. Missing: 428 PRECONDITION_REQUIRED; malformed: 400 naming the
// header; stale: the write matches no row and the route answers 409 VERSION_CONFLICT.
import type { FastifyRequest } from 'fastify';
import { AppError } from '../errors.ts';

/** The strong ETag of a record's version. */
export function etagOf(version: number): string {
  return `"${version}"`;
}

/** The version named by the request's If-Match header (one strong ETag of ours). */
export function requireVersion(request: FastifyRequest): number {
  const header = request.headers['if-match'];
  if (header === undefined || header === '') throw new AppError('PRECONDITION_REQUIRED', 'Send If-Match with the ETag of the version you read.');
  const match = /^"([1-9][0-9]{0,8})"$/.exec(Array.isArray(header) ? (header[0] ?? '') : header.trim());
  if (!match) {
    throw new AppError('VALIDATION_FAILED', undefined, { errors: [{ path: 'headers.if-match', message: 'must be one ETag of this API, e.g. "3"' }] });
  }
  return Number(match[1]);
}
