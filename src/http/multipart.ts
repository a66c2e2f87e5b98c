// multipart/form-data uploads: one file and a few text fields. A route declares its form in
// `schema.multipart` (src/plugins/multipart.ts): the OpenAPI document shows it as the request body,
// and the handler reads the request with the same declaration through `receiveUpload`, which
// streams the file through the upload pipeline (src/storage/upload.ts) and validates the fields
// with zod. Fastify does not validate a multipart body itself: it is a stream, read in the handler,
// after the guard has let the caller in.
//
//   const uploadForm = { fields: z.object({ patientId: z.uuid() }).strict(), file: 'file', maxBytes: 10 * 1024 * 1024 } satisfies MultipartForm;
//   app.post('/', { ...app.permission(…), schema: { params, multipart: uploadForm, response: { 201: … } } }, async (request, reply) => {
//     const { fields, file, fileName } = await receiveUpload(request, app.storage, uploadForm);
//     … insert the row and file.commit(key) in one transaction; file.discard() if it fails
//   });
import type { Multipart, MultipartFile } from '@fastify/multipart';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { AppError, type FieldError } from '../errors.ts';
import type { BlobStorage } from '../storage/blob-storage.ts';
import { type PendingUpload, stageUpload } from '../storage/upload.ts';
import { plainText } from './text.ts';

export interface MultipartForm<Fields extends z.ZodObject = z.ZodObject> {
  /** The text fields (a strict zod object of strings: every form value arrives as text). */
  fields: Fields;
  /** The name of the one file part. */
  file: string;
  /** The largest file accepted, in bytes (413 beyond). */
  maxBytes: number;
}

export interface ReceivedUpload<Fields> {
  fields: Fields;
  /** The staged file: commit it under the row's key in the row's transaction, or discard it. */
  file: PendingUpload;
  /** The client's name for the file, without any folder part: metadata only, never a path. */
  fileName: string;
}

/** A file name as metadata: what the files table keeps (1–255 characters, no control characters). */
const fileName = plainText.min(1).max(255);

/** The form as one schema, for the OpenAPI document: the fields and the file part. */
export function documentedForm(form: MultipartForm): z.ZodObject {
  return form.fields.extend({
    [form.file]: z.string().meta({
      format: 'binary',
      contentMediaType: 'application/octet-stream',
      description: `The file: a PDF, PNG, JPEG or UTF-8 plain text of at most ${form.maxBytes} bytes, recognised from its bytes (the part's content type and name are not believed).`,
    }),
  });
}

const fieldError = (path: string, message: string): AppError => new AppError('VALIDATION_FAILED', undefined, { errors: [{ path, message }] });

/**
 * Errors of the multipart parser itself are the client's body: busboy's plain errors (no boundary,
 * a malformed part header, data that ends early) are 400. Fastify-style errors (a limit: 413; not
 * multipart: 415) keep their status; src/plugins/errors.ts maps them.
 */
function parserFailure(error: unknown): unknown {
  if (error instanceof AppError || typeof (error as { statusCode?: unknown }).statusCode === 'number') return error;
  return new AppError('MALFORMED_BODY', 'The multipart body could not be parsed.', { cause: error });
}

/**
 * The parts of the request: one file at most (a second one is busboy's files limit, 413), limited
 * to `maxBytes` + 1 bytes so that the pipeline sees the byte too many and refuses it itself.
 */
async function* partsOf(request: FastifyRequest, maxBytes: number): AsyncGenerator<Multipart> {
  const parts = request.parts({ limits: { files: 1, fileSize: maxBytes + 1 } });
  while (true) {
    let step: IteratorResult<Multipart>;
    try {
      step = await parts.next();
    } catch (error) {
      throw parserFailure(error);
    }
    if (step.done) return;
    yield step.value;
  }
}

/**
 * The client's name for the file, or undefined when it is unusable as metadata. busboy has already
 * cut it to its last path segment (`preservePath` is off): old browsers sent the client's whole path.
 */
function clientFileName(part: MultipartFile): string | undefined {
  return fileName.safeParse(part.filename).success ? part.filename : undefined;
}

/** Refuses a file part: its stream is destroyed (busboy then stops parsing) before the error is thrown. */
function refusedFile(part: MultipartFile, message: string): AppError {
  part.file.destroy();
  return fieldError(`body.${part.fieldname}`, message);
}

/**
 * Reads the request's multipart body as `form` declares it: the file through the upload pipeline
 * (size limit, sha256, type from the bytes), the fields validated by zod. The fields may come before
 * or after the file. Refusals are AppErrors naming the field (`body.<name>`), and leave nothing
 * staged. Not multipart: 415; a second file or too many parts: 413; a part the form does not name: 400.
 */
export async function receiveUpload<Fields extends z.ZodObject>(
  request: FastifyRequest,
  storage: BlobStorage,
  form: MultipartForm<Fields>,
): Promise<ReceivedUpload<z.output<Fields>>> {
  const values: Record<string, unknown> = {};
  let upload: PendingUpload | undefined;
  let name = '';
  try {
    for await (const part of partsOf(request, form.maxBytes)) {
      if (part.type === 'field') {
        // busboy cuts a value at its size limit and says so: refuse rather than keep half.
        if (part.valueTruncated) throw fieldError(`body.${part.fieldname}`, 'is too long');
        // A repeated field becomes a list, which the field's schema refuses.
        values[part.fieldname] = Object.hasOwn(values, part.fieldname) ? [values[part.fieldname], part.value].flat() : part.value;
        continue;
      }
      if (part.fieldname !== form.file) throw refusedFile(part, 'is not a file field of this form');
      const given = clientFileName(part);
      if (given === undefined) throw refusedFile(part, 'must have a file name of 1–255 characters without control characters');
      name = given;
      upload = await stageUpload(storage, part.file, { maxBytes: form.maxBytes, errorPath: `body.${part.fieldname}` });
    }
    if (!upload) throw fieldError(`body.${form.file}`, 'is required');
    const parsed = form.fields.safeParse(values);
    if (!parsed.success) throw new AppError('VALIDATION_FAILED', undefined, { errors: fieldErrors(parsed.error) });
    return { fields: parsed.data, file: upload, fileName: name };
  } catch (error) {
    await upload?.discard();
    throw error;
  }
}

/** zod's issues named as Fastify's validation names them (src/plugins/errors.ts): `body.<path>`. */
function fieldErrors(error: z.ZodError): FieldError[] {
  return error.issues.map((issue) => ({ path: ['body', ...issue.path.map(String)].join('.'), message: issue.message }));
}
