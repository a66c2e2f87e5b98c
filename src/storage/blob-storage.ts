// The storage interface: blobs (the bytes of uploaded files) under keys the server makes from two
// ids, `<clinic_id>/<file_id>`. Nothing a client sends (a file name, a path, a content type) ever
// becomes part of a key, so nothing a client sends ever reaches the filesystem. The metadata row
// (name, type, size, sha256) lives in Postgres under RLS; the blob store only keeps bytes.
// `local-disk.ts` is the implementation; an object store would implement the same interface.
import type { Readable } from 'node:stream';

declare const storageKeyBrand: unique symbol;

/** `<clinic_id>/<file_id>`, both canonical lower-case UUIDs: made by `storageKey()` only. */
export type StorageKey = string & { readonly [storageKeyBrand]: true };

/** A UUID as Postgres prints it: lower-case hex in 8-4-4-4-12 groups, nothing else. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export class InvalidStorageKeyError extends Error {
  constructor() {
    // The offending value is not echoed: a key is never a client's input, so a bad one is a bug.
    super('A storage key is <clinic_id>/<file_id>: two lower-case UUIDs.');
    this.name = 'InvalidStorageKeyError';
  }
}

/** The key of a clinic's file. Throws InvalidStorageKeyError unless both are canonical UUIDs. */
export function storageKey(clinicId: string, fileId: string): StorageKey {
  if (!UUID.test(clinicId) || !UUID.test(fileId)) throw new InvalidStorageKeyError();
  return `${clinicId}/${fileId}` as StorageKey;
}

/**
 * The two parts of a key, checked again: a key is a branded string, and a cast could make one from
 * anything. Throws InvalidStorageKeyError for anything but `<uuid>/<uuid>` (so no `..`, no second
 * `/`, no `\`, no NUL, no upper case, no surrounding space).
 */
export function keyParts(key: StorageKey): { clinicId: string; fileId: string } {
  const [clinicId = '', fileId = '', ...rest] = String(key).split('/');
  if (rest.length > 0 || !UUID.test(clinicId) || !UUID.test(fileId)) throw new InvalidStorageKeyError();
  return { clinicId, fileId };
}

/** A stored blob: read the stream to the end or destroy it (it holds an open file). */
export interface StoredBlob {
  stream: Readable;
  sizeBytes: number;
}

/**
 * A blob being written: nothing appears under any key until `commit`. Written through `write`, it
 * is moved under its key whole by `commit`, or forgotten by `discard`.
 */
export interface StagedBlob {
  write(chunk: Uint8Array): Promise<void>;
  /**
   * Makes the blob durable under `key`, atomically: a reader sees all of it or nothing. Never
   * replaces a blob: a key that already holds one throws (the file ids are new UUIDs).
   */
  commit(key: StorageKey): Promise<void>;
  /**
   * Removes what this blob left behind: the staged bytes, or, after `commit`, the blob under its
   * key (the transaction that was to record it failed). Idempotent; call it on every failure path.
   */
  discard(): Promise<void>;
}

export interface BlobStorage {
  /** A new staged blob (the upload pipeline writes into one while it checks the bytes). */
  stage(): Promise<StagedBlob>;
  /** Stores `content` under `key` (staged, then committed); its size in bytes. */
  put(key: StorageKey, content: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<number>;
  /** The blob under `key`, or undefined when there is none. */
  get(key: StorageKey): Promise<StoredBlob | undefined>;
  /** Removes the blob under `key`; false when there was none. */
  delete(key: StorageKey): Promise<boolean>;
}
