// The upload pipeline: one pass over the client's bytes that stages them in the blob storage while
// it counts them, hashes them (sha256) and decides their type from the bytes themselves
// (content-type.ts). It stops reading at the first byte past the limit (413) or the first byte that
// rules out every accepted type (415), and whatever the failure (those, the client going away
// midway, a disk error) the staged bytes are discarded before the error is thrown. What it returns
// is pending: the route records the metadata row in its transaction, commits the blob under the
// row's key inside that transaction, and discards it if the transaction fails:
//
//   const upload = await stageUpload(storage, stream, { maxBytes });
//   try {
//     return await app.withTenant(ctx, async (db) => {
//       const row = await insertFile(db, { …upload metadata });
//       await upload.commit(storageKey(row.clinicId, row.id));
//       return row;
//     });
//   } catch (error) {
//     await upload.discard();
//     throw error;
//   }
import { createHash } from 'node:crypto';
import { AppError } from '../errors.ts';
import type { BlobStorage, StorageKey } from './blob-storage.ts';
import { type AcceptedType, ContentSniffer } from './content-type.ts';

export interface UploadOptions {
  /** The largest upload accepted, in bytes; one byte more is a 413. */
  maxBytes: number;
  /** The field refusals name, as validation errors do (default `body.file`). */
  errorPath?: string;
}

export interface PendingUpload {
  /** Lower-case hex SHA-256 of the bytes. */
  readonly sha256: string;
  readonly sizeBytes: number;
  /** Sniffed from the bytes, never the client's claim. */
  readonly contentType: AcceptedType;
  /** Makes the blob durable under `key` (atomic; never replaces an existing blob). */
  commit(key: StorageKey): Promise<void>;
  /** Removes the blob, staged or committed: for every path where the row was not recorded. */
  discard(): Promise<void>;
}

/** An upload stream that a parser cut short at its own size limit (busboy's file streams). */
interface MaybeTruncated {
  truncated?: boolean;
}

/**
 * The source's chunks. A source that fails (the client went away, the multipart body broke off)
 * is the client's upload not arriving whole: 400, not a server error.
 */
async function* clientChunks(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  try {
    for await (const chunk of source) yield chunk;
  } catch (error) {
    throw error instanceof AppError ? error : new AppError('MALFORMED_BODY', 'The upload did not arrive whole.', { cause: error });
  }
}

const tooLarge = (maxBytes: number, path: string) =>
  new AppError('PAYLOAD_TOO_LARGE', `The file is larger than ${maxBytes} bytes.`, { errors: [{ path, message: `must be at most ${maxBytes} bytes` }] });

/**
 * Reads `source` (a @fastify/multipart file stream, or any byte stream) to its end into a staged
 * blob of `storage`. Throws AppError: PAYLOAD_TOO_LARGE past `maxBytes`, UNSUPPORTED_MEDIA_TYPE for
 * bytes that are not an accepted type, VALIDATION_FAILED for an empty file, MALFORMED_BODY when the
 * source fails; nothing is left staged after any of them.
 */
export async function stageUpload(storage: BlobStorage, source: AsyncIterable<Uint8Array>, options: UploadOptions): Promise<PendingUpload> {
  const { maxBytes, errorPath = 'body.file' } = options;
  const staged = await storage.stage();
  try {
    const hash = createHash('sha256');
    const sniffer = new ContentSniffer(errorPath);
    let sizeBytes = 0;
    for await (const chunk of clientChunks(source)) {
      sizeBytes += chunk.length;
      // Leaving the loop destroys the source: nothing more is read.
      if (sizeBytes > maxBytes) throw tooLarge(maxBytes, errorPath);
      await sniffer.push(chunk);
      hash.update(chunk);
      await staged.write(chunk);
    }
    if ((source as MaybeTruncated).truncated) throw tooLarge(maxBytes, errorPath);
    if (sizeBytes === 0) throw new AppError('VALIDATION_FAILED', undefined, { errors: [{ path: errorPath, message: 'must not be empty' }] });
    const contentType = await sniffer.finish();
    return {
      sha256: hash.digest('hex'),
      sizeBytes,
      contentType,
      commit: (key) => staged.commit(key),
      discard: () => staged.discard(),
    };
  } catch (error) {
    await staged.discard();
    throw error;
  }
}
