// The blob storage on local disk, under STORAGE_DIR:
//
//   STORAGE_DIR/                      0700
//     .staging/<random uuid>.part     0600  blobs being written (same filesystem: commit is a link)
//     <clinic_id>/                    0700
//       <file_id>                     0600  committed blobs, never rewritten
//
// A blob is written into .staging and only linked under its key on commit, after its bytes are on
// disk (fsync of the file, then of the directory that gained the name), so a crash, an aborted
// upload or a failed transaction never leaves a half-written file under a real key. Staged files
// that a crash left behind are swept at start (`sweepStaged`).
import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { type FileHandle, link, lstat, mkdir, open, readdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { type BlobStorage, keyParts, type StagedBlob, type StorageKey, type StoredBlob } from './blob-storage.ts';

const STAGING = '.staging';
const PRIVATE_DIR = 0o700;
const PRIVATE_FILE = 0o600;
/** A staged file untouched this long belongs to no upload in progress (one that crashed). */
export const STALE_STAGED_MS = 60 * 60 * 1000;

const isMissing = (error: unknown) => (error as NodeJS.ErrnoException).code === 'ENOENT';

/** Makes a directory entry durable: the name a link, rename or unlink added or removed. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes all of `chunk` (a write may take fewer bytes than offered). */
async function writeAll(handle: FileHandle, chunk: Uint8Array): Promise<void> {
  for (let offset = 0; offset < chunk.length; ) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset);
    offset += bytesWritten;
  }
}

/** STORAGE_DIR cannot be created or entered: the server does not start without its files. */
export class StorageUnavailableError extends Error {
  constructor(root: string, cause: unknown) {
    const reason = (cause as NodeJS.ErrnoException).code ?? String(cause);
    super(`STORAGE_DIR ${root} cannot be created or opened (${reason}): set STORAGE_DIR to a folder the server's user may write.`, { cause });
    this.name = 'StorageUnavailableError';
  }
}

export class LocalDiskStorage implements BlobStorage {
  readonly root: string;
  /** The root's permission bits when opened (an operator may have made it; 0o700 when we did). */
  readonly rootMode: number;
  private readonly stagingDir: string;

  private constructor(root: string, rootMode: number) {
    this.root = root;
    this.rootMode = rootMode;
    this.stagingDir = path.join(root, STAGING);
  }

  /** Opens (creating, private to this user) the storage under `dir`. */
  static async open(dir: string): Promise<LocalDiskStorage> {
    const root = path.resolve(dir);
    try {
      await mkdir(path.join(root, STAGING), { recursive: true, mode: PRIVATE_DIR });
      return new LocalDiskStorage(root, (await stat(root)).mode & 0o777);
    } catch (error) {
      throw new StorageUnavailableError(root, error);
    }
  }

  /**
   * The path of a key's blob, and its directory. The key is checked again (two canonical UUIDs),
   * and the resolved path must be exactly `<root>/<clinic>/<file>`: defence in depth.
   */
  pathOf(key: StorageKey): { dir: string; file: string } {
    const { clinicId, fileId } = keyParts(key);
    const dir = path.resolve(this.root, clinicId);
    const file = path.resolve(dir, fileId);
    if (path.relative(this.root, file) !== path.join(clinicId, fileId)) throw new Error('A storage path left the storage root.');
    return { dir, file };
  }

  async stage(): Promise<StagedBlob> {
    const stagedPath = path.join(this.stagingDir, `${randomUUID()}.part`);
    // O_EXCL: a new file, never one that exists; O_NOFOLLOW: never through a planted link.
    const handle = await open(stagedPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, PRIVATE_FILE);
    return new LocalStagedBlob(this, stagedPath, handle);
  }

  async put(key: StorageKey, content: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<number> {
    this.pathOf(key);
    const staged = await this.stage();
    try {
      let size = 0;
      for await (const chunk of content) {
        await staged.write(chunk);
        size += chunk.length;
      }
      await staged.commit(key);
      return size;
    } catch (error) {
      await staged.discard();
      throw error;
    }
  }

  async get(key: StorageKey): Promise<StoredBlob | undefined> {
    let handle: FileHandle;
    try {
      handle = await open(this.pathOf(key).file, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
    try {
      const info = await handle.stat();
      if (!info.isFile()) throw new Error('A storage key names something other than a file.');
      // The stream closes the handle when it ends or is destroyed.
      return { stream: handle.createReadStream(), sizeBytes: info.size };
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  async delete(key: StorageKey): Promise<boolean> {
    const { dir, file } = this.pathOf(key);
    try {
      await unlink(file);
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
    await syncDirectory(dir);
    return true;
  }

  /**
   * Removes staged files older than `olderThanMs` (by their last write): what crashed or killed
   * uploads left. Younger ones may be uploads in progress, in this process or another one sharing
   * the folder. Returns how many it removed.
   */
  async sweepStaged(olderThanMs = STALE_STAGED_MS, now = Date.now()): Promise<number> {
    let removed = 0;
    for (const name of await readdir(this.stagingDir)) {
      const staged = path.join(this.stagingDir, name);
      try {
        const info = await lstat(staged);
        if (info.isDirectory() || now - info.mtimeMs < olderThanMs) continue;
        await unlink(staged);
        removed += 1;
      } catch (error) {
        // Gone meanwhile: its upload finished or another process swept it.
        if (!isMissing(error)) throw error;
      }
    }
    return removed;
  }

  /**
   * For staged blobs' commit: links a staged file under `key` (never over an existing blob: link
   * fails with EEXIST where rename would replace), then makes the new name durable.
   */
  async linkStaged(stagedPath: string, key: StorageKey): Promise<string> {
    const { dir, file } = this.pathOf(key);
    const created = await mkdir(dir, { recursive: true, mode: PRIVATE_DIR });
    if (created) await syncDirectory(this.root);
    await link(stagedPath, file);
    await syncDirectory(dir);
    return file;
  }
}

class LocalStagedBlob implements StagedBlob {
  private state: 'open' | 'committed' | 'discarded' = 'open';
  /** Open while bytes may still be written; closed by commit or discard. */
  private handle: FileHandle | undefined;
  private committedPath: string | undefined;
  private readonly storage: LocalDiskStorage;
  private readonly stagedPath: string;

  constructor(storage: LocalDiskStorage, stagedPath: string, handle: FileHandle) {
    this.storage = storage;
    this.stagedPath = stagedPath;
    this.handle = handle;
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.state !== 'open' || !this.handle) throw new Error(`A ${this.state} blob cannot be written.`);
    await writeAll(this.handle, chunk);
  }

  async commit(key: StorageKey): Promise<void> {
    if (this.state !== 'open') throw new Error(`A ${this.state} blob cannot be committed.`);
    this.storage.pathOf(key);
    if (this.handle) {
      await this.handle.sync();
      await this.closeHandle();
    }
    this.committedPath = await this.storage.linkStaged(this.stagedPath, key);
    this.state = 'committed';
    // The blob has its name under the key; the staged name is no longer needed (a crash before
    // this unlink leaves a second name in .staging, which the sweep removes).
    await unlink(this.stagedPath);
  }

  async discard(): Promise<void> {
    if (this.state === 'discarded') return;
    const committed = this.committedPath;
    this.state = 'discarded';
    await this.closeHandle();
    await unlinkIfPresent(this.stagedPath);
    if (committed) {
      await unlinkIfPresent(committed);
      await syncDirectory(path.dirname(committed));
    }
  }

  private async closeHandle(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close();
  }
}

async function unlinkIfPresent(file: string): Promise<void> {
  try {
    await unlink(file);
  } catch (error) {
    if (!isMissing(error)) throw error;
  }
}
