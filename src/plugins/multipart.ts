// multipart/form-data for the routes that take a file (src/http/multipart.ts reads it). The limits
// here are the floor every multipart request meets; a route raises only the file size, through its
// form's `maxBytes`. Only a route that declares `schema.multipart` takes such a body: any other route
// refuses it with 415, as it did before this parser existed, so a JSON route never sees a form.
import multipart from '@fastify/multipart';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { AppError } from '../errors.ts';
import type { MultipartForm } from '../http/multipart.ts';

declare module 'fastify' {
  interface FastifySchema {
    /**
     * The route takes multipart/form-data: this form (src/http/multipart.ts). Documented as the
     * request body; read and validated in the handler by `receiveUpload`.
     */
    multipart?: MultipartForm;
  }
}

export const MULTIPART_LIMITS = {
  /** One file per request. */
  files: 1,
  /** A few text fields (ids, a category, a short note). */
  fields: 8,
  /** The fields and the file. */
  parts: 9,
  /** Bytes per field value. (busboy limits no field name in a multipart body: an unknown one is zod's 400.) */
  fieldSize: 1024,
  /** Headers per part (Content-Disposition, Content-Type). */
  headerPairs: 8,
  /** A route that reads a file without its own limit gets the JSON body limit (1 MiB). */
  fileSize: 1024 * 1024,
};

async function multipartPlugin(app: FastifyInstance): Promise<void> {
  await app.register(multipart, { limits: MULTIPART_LIMITS });
  // Before the guard, as the content-type parser's 415 came before it.
  app.addHook('preValidation', async (request) => {
    if (request.isMultipart() && !request.routeOptions.schema?.multipart) throw new AppError('UNSUPPORTED_MEDIA_TYPE');
  });
  // A refusal answered before the upload was read to its end (a 401, a 413 at the limit, a 415 at
  // the first bytes) leaves the rest of it unread on the connection, which then neither serves
  // another request nor closes. Close it after the answer, as proxies do for a 413.
  app.addHook('onSend', async (request, reply) => {
    if (request.isMultipart() && !request.raw.readableEnded) reply.header('connection', 'close');
  });
}

export default fp(multipartPlugin, { name: 'multipart' });
