// The blob storage of uploaded files (src/storage/), opened at start under STORAGE_DIR: created
// private to the server's user if missing, staged files that a crash left behind swept, and a
// warning when the folder is open to other users. Routes reach it as `app.storage`.
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { BlobStorage } from '../storage/blob-storage.ts';
import { LocalDiskStorage } from '../storage/local-disk.ts';

declare module 'fastify' {
  interface FastifyInstance {
    storage: BlobStorage;
  }
}

export interface StoragePluginOptions {
  /** STORAGE_DIR (src/config.ts). */
  dir: string;
}

async function storagePlugin(app: FastifyInstance, options: StoragePluginOptions): Promise<void> {
  const storage = await LocalDiskStorage.open(options.dir);
  if (storage.rootMode & 0o077) {
    app.log.warn({ mode: storage.rootMode.toString(8) }, 'STORAGE_DIR is open to other users: patients’ files are in it (chmod 700)');
  }
  const swept = await storage.sweepStaged();
  if (swept > 0) app.log.info({ swept }, 'removed files that unfinished uploads left in STORAGE_DIR/.staging');
  app.decorate('storage', storage);
}

export default fp(storagePlugin, { name: 'storage' });
