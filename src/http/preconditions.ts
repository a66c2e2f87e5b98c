// Optimistic concurrency for drafts (consultations, prescriptions, test reports): a GET answers
// `ETag: "<version>"`; every write sends it back as `If-Match: "<version>"`. The database bumps
// `version` on each update (trigger `_110_bump_version`); a stale version is a VERSION_CONFLICT.
import type { FastifyRequest } from 'fastify';
import { AppError } from '../errors.ts';

/** The strong entity tag of a record's version: `"7"`. */
export function etagOf(version: number): string {
  return `"${version}"`;
}

/** The version an If-Match header names: missing → 428 PRECONDITION_REQUIRED; not one quoted version → 400. */
export function requireVersion(request: FastifyRequest): number {
  const header = request.headers['if-match'];
  if (header === undefined || header === '') {
    throw new AppError('PRECONDITION_REQUIRED', 'Send If-Match with the ETag of the record you read.');
  }
  const match = /^\s*"([1-9][0-9]{0,9})"\s*$/.exec(Array.isArray(header) ? header.join(',') : header);
  const version = match ? Number(match[1]) : Number.NaN;
  if (!Number.isSafeInteger(version) || version > 2147483647) {
    throw new AppError('VALIDATION_FAILED', 'If-Match must be one strong ETag, such as "3".', {
      errors: [{ path: 'headers.if-match', message: 'must be one strong ETag such as "3"' }],
    });
  }
  return version;
}
