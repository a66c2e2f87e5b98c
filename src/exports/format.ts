// The clinic export archive (docs/export-format.md): a gzip'd tar of `manifest.json`,
// `tables/<schema>.<table>.jsonl` and `files/<clinic_id>/<file_id>`. This file is the format, for
// the builder (build.ts) and the importer (restore.ts) alike: the manifest's shape, the paths,
// and the SHA-256 of a file as both compute it.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { z } from 'zod';

export const FORMAT = 'clinicbase-clinic-export';
export const FORMAT_VERSION = 1;
export const MANIFEST = 'manifest.json';

const sha256 = z.string().regex(/^[0-9a-f]{64}$/);
/** `app_public.patients`: a schema and a table, lower-case identifiers. */
const tableName = z.string().regex(/^app_[a-z]+\.[a-z_][a-z0-9_]*$/);

export const manifestSchema = z
  .object({
    format: z.literal(FORMAT),
    formatVersion: z.literal(FORMAT_VERSION),
    clinic: z.object({ id: z.uuid(), slug: z.string().min(1) }).strict(),
    exportedAt: z.iso.datetime(),
    schemaMigration: z.string().min(1).nullable(),
    tables: z.array(
      z
        .object({
          name: tableName,
          scope: z.enum(['clinic', 'tenant', 'audit', 'account']),
          file: z.string(),
          rows: z.int().nonnegative(),
          size: z.int().nonnegative(),
          sha256,
        })
        .strict(),
    ),
    files: z.array(z.object({ path: z.string(), size: z.int().nonnegative(), sha256 }).strict()),
  })
  .strict();

export type Manifest = z.infer<typeof manifestSchema>;
export type TableEntry = Manifest['tables'][number];
export type FileEntry = Manifest['files'][number];

/** Where a table's rows are in the archive. */
export const tableFile = (name: string) => `tables/${name}.jsonl`;
/** Where a stored file is in the archive: under its storage key. */
export const blobFile = (key: string) => `files/${key}`;

/** The lower-case hex SHA-256 and the size of a file on disk. */
export function digestFile(file: string): Promise<{ sha256: string; size: number }> {
  return digestStream(createReadStream(file));
}

/** The lower-case hex SHA-256 and the size of a stream's bytes, read to the end. */
export async function digestStream(stream: AsyncIterable<unknown>): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), size };
}
