// Files attached to a patient: uploaded by the clinical and front-desk roles, read like the patient
// record. The metadata row is under RLS; the bytes are in the blob storage under
// `<clinic_id>/<file_id>`, a key made from the row, never from the request. Every read (the list,
// one file's metadata, its bytes) is recorded in the chart access log in the reading statement
// (src/records/chart-access.ts; a read under support access right after it).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { AppError } from '../../errors.ts';
import { receiveUpload } from '../../http/multipart.ts';
import { toPage } from '../../http/pagination.ts';
import { clinicParams } from '../../http/params.ts';
import { type ChartReader, readWithChartAccess } from '../../records/chart-access.ts';
import { storageKey } from '../../storage/blob-storage.ts';
import { attachmentDisposition } from '../../http/disposition.ts';
import { type FileRow, findFile, insertFile, listFiles } from './queries.ts';
import { type FileMetadata, fileContent, fileMetadata, filePage, fileParams, listQuery, uploadForm } from './schemas.ts';

const RESOURCE = 'app_public.files';

export interface FileRoutesOptions {
  /** The largest file one upload may carry, in bytes (FILE_MAX_BYTES). */
  maxBytes: number;
}

/** The row as the API shows it: no clinic, no key, the size as a number. */
function present({ clinicId: _clinicId, sizeBytes, ...row }: FileRow): FileMetadata {
  return { ...row, sizeBytes: Number(sizeBytes) } as FileMetadata;
}

/** A patient the caller cannot attach to is named like a reference to nothing (as the foreign key would). */
const unknownPatient = () =>
  new AppError('CONSTRAINT_VIOLATION', 'refers to something that does not exist', {
    errors: [{ path: 'body.patientId', message: 'refers to something that does not exist' }],
  });

export default async function fileRoutes(fastify: FastifyInstance, options: FileRoutesOptions): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const tags = ['files'];
  const form = uploadForm(options.maxBytes);
  const reader = (request: FastifyRequest): ChartReader => ({ tenant: request.tenant!, supportGrantId: request.claims?.support_grant });

  app.post(
    '/',
    {
      ...app.permission(RESOURCE, 'insert'),
      // CONFLICT: the plan's storage quota. CONSTRAINT_VIOLATION: a patient the caller cannot see.
      schema: { tags, params: clinicParams, multipart: form, response: { 201: fileMetadata }, problems: ['CONFLICT', 'CONSTRAINT_VIOLATION'] },
    },
    async (request, reply) => {
      // Refusals here (400, 413, 415) leave nothing staged.
      const { fields, file, fileName } = await receiveUpload(request, app.storage, form);
      try {
        const created = await app.withTenant(request.tenant!, async (db) => {
          const row = await insertFile(db, {
            patientId: fields.patientId,
            category: fields.category,
            originalName: fileName,
            contentType: file.contentType,
            sizeBytes: file.sizeBytes,
            sha256: file.sha256,
          });
          if (!row) throw unknownPatient();
          // Inside the transaction: the blob is kept only if the row commits (discarded below otherwise).
          await file.commit(storageKey(row.clinicId, row.id));
          return row;
        });
        return reply.code(201).send(present(created));
      } catch (error) {
        await file.discard();
        throw error;
      }
    },
  );

  app.get(
    '/',
    {
      ...app.permission(RESOURCE, 'select'),
      schema: { tags, params: clinicParams, querystring: listQuery, response: { 200: filePage } },
    },
    async (request) => {
      const { patientId, limit, after } = request.query;
      // One extra row tells whether there is a next page.
      const rows = await readWithChartAccess(app, reader(request), { action: 'read_files', patientId }, (q) =>
        listFiles(q, patientId, limit + 1, after as [string, string] | undefined),
      );
      const { items, nextCursor } = toPage(rows ?? [], limit, (row) => [row.position, row.id]);
      return { items: items.map(({ position: _position, ...row }) => present(row)), nextCursor };
    },
  );

  app.get(
    '/:id',
    {
      ...app.permission(RESOURCE, 'select'),
      schema: { tags, params: fileParams, response: { 200: fileMetadata } },
    },
    async (request) => {
      const { id } = request.params;
      const found = await readWithChartAccess(app, reader(request), { action: 'read_files', fileId: id }, (q) => findFile(q, id));
      if (!found) throw new AppError('NOT_FOUND');
      return present(found);
    },
  );

  app.get(
    '/:id/content',
    {
      ...app.permission(RESOURCE, 'select'),
      schema: { tags, params: fileParams, response: { 200: fileContent } },
    },
    async (request, reply) => {
      const { id } = request.params;
      // The row first, under the caller's policies: no row, no bytes (another clinic's file is unknown).
      const found = await readWithChartAccess(app, reader(request), { action: 'download_file', fileId: id }, (q) => findFile(q, id));
      if (!found) throw new AppError('NOT_FOUND');
      const blob = await app.storage.get(storageKey(found.clinicId, found.id));
      if (!blob) {
        // The row says the bytes exist: their absence is the server's fault (a lost or restored-apart volume).
        request.log.error({ fileId: found.id }, 'a file row without its blob');
        throw new AppError('INTERNAL');
      }
      return (
        reply
          .type(found.contentType === 'text/plain' ? 'text/plain; charset=utf-8' : found.contentType)
          .header('content-length', blob.sizeBytes)
          .header('content-disposition', attachmentDisposition(found.originalName))
          .header('cache-control', 'no-store')
          // The declared body is the bytes (documented as a binary string); Fastify streams them.
          .send(blob.stream as unknown as string)
      );
    },
  );
}
