import { z } from 'zod';
import type { MultipartForm } from '../../http/multipart.ts';
import { page, pageQuery } from '../../http/pagination.ts';
import { clinicParams } from '../../http/params.ts';
import { ACCEPTED_TYPES } from '../../storage/content-type.ts';

export const FILE_CATEGORIES = ['registration', 'report', 'other'] as const;

export const fileParams = clinicParams.extend({ id: z.uuid() }).strict();

/** The upload form: the patient, the category and one file of at most `maxBytes` (FILE_MAX_BYTES). */
export const uploadForm = (maxBytes: number) =>
  ({
    fields: z.object({ patientId: z.uuid(), category: z.enum(FILE_CATEGORIES) }).strict(),
    file: 'file',
    maxBytes,
  }) satisfies MultipartForm;

/** Newest first; the cursor is the last item's creation time (to the microsecond, as stored) and id. */
export const listQuery = pageQuery(z.tuple([z.iso.datetime({ offset: true }), z.uuid()]))
  .extend({ patientId: z.uuid() })
  .strict();

/** A file's metadata: never where or under which key its bytes are stored. */
export const fileMetadata = z.object({
  id: z.uuid(),
  patientId: z.uuid(),
  category: z.enum(FILE_CATEGORIES),
  originalName: z.string().describe('The name the uploader gave the file: metadata only.'),
  contentType: z.enum(ACCEPTED_TYPES).describe('Recognised from the bytes at upload, never taken from the client.'),
  sizeBytes: z.int(),
  sha256: z.string().describe('Lower-case hex SHA-256 of the bytes.'),
  uploadedBy: z.uuid().describe('The membership that uploaded it.'),
  createdAt: z.date(),
});

export const filePage = page(fileMetadata);

/** The download: the bytes, as the type recorded at upload, as an attachment. */
export const fileContent = {
  description: 'The bytes of the file, as an attachment (Content-Disposition) of the type recognised at upload.',
  content: Object.fromEntries(ACCEPTED_TYPES.map((type) => [type, { schema: z.string().meta({ format: 'binary' }) }])),
};

export type FileMetadata = z.infer<typeof fileMetadata>;
