// Run as root, the embedded Postgres runs as the `postgres` user: a folder that user cannot enter
// (a clone in /root, mode 700) must stop the start before anything is spawned, with one line that
// names the folder and says what to do, never an unhandled `spawn … EACCES` event.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, rm, stat, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { firstBlockingFolder, freePort, startEmbeddedPostgres } from '../../src/db/embedded.ts';

const SERVER = path.resolve(import.meta.dirname, '../../src/server.ts');
const STRANGER = { uid: 65534, gid: 65534 };

/** base (755) / locked (mode) / inner (755): a tree with one folder that decides. */
async function tree(t: Test, lockedMode: number): Promise<{ base: string; locked: string; inner: string }> {
  const base = await mkdtemp(path.join(os.tmpdir(), 'clinicbase-reach-'));
  t.teardown(async () => {
    await chmod(path.join(base, 'locked'), 0o755).catch(() => {});
    await rm(base, { recursive: true, force: true });
  });
  const locked = path.join(base, 'locked');
  const inner = path.join(locked, 'inner');
  await mkdir(inner, { recursive: true });
  await chmod(base, 0o755);
  await chmod(inner, 0o755);
  await chmod(locked, lockedMode);
  return { base, locked, inner };
}

t.test('firstBlockingFolder judges each folder on the way by the bits that apply to the account', async (t) => {
  const { base, locked, inner } = await tree(t, 0o700);
  // Root enters everything, so as root the folder is given to an ordinary owner and group.
  if (process.getuid?.() === 0) await chown(locked, 4242, 4243);
  const owner = await stat(locked);
  t.same(await firstBlockingFolder(inner, STRANGER), { folder: locked, mode: 0o700 }, 'mode 700: a stranger stops at the locked folder');
  t.same(await firstBlockingFolder(locked, STRANGER), { folder: locked, mode: 0o700 }, 'the target itself counts');
  t.equal(await firstBlockingFolder(base, STRANGER), undefined, 'folders above the locked one let it through');
  t.equal(await firstBlockingFolder(inner, { uid: owner.uid, gid: 99_999 }), undefined, 'the owner enters its 700 folder');
  t.equal(await firstBlockingFolder(inner, { uid: 0, gid: 0 }), undefined, 'root enters everything');

  await chmod(locked, 0o710);
  t.equal(await firstBlockingFolder(inner, { uid: 65534, gid: owner.gid }), undefined, 'mode 710: the group enters');
  t.same(await firstBlockingFolder(inner, STRANGER), { folder: locked, mode: 0o710 }, 'mode 710: others do not');

  await chmod(locked, 0o071);
  t.same(
    await firstBlockingFolder(inner, { uid: owner.uid, gid: 99_999 }),
    { folder: locked, mode: 0o071 },
    'mode 071: only the owner bits apply to the owner',
  );
  t.equal(await firstBlockingFolder(inner, STRANGER), undefined, 'mode 071: others enter');

  await chmod(locked, 0o700);
  const link = path.join(base, 'link');
  await symlink(inner, link);
  t.same(await firstBlockingFolder(link, STRANGER), { folder: locked, mode: 0o700 }, 'a symbolic link is followed to the folders it leads through');
});

const notRoot = process.getuid?.() !== 0 && 'only as root does the embedded Postgres run as another user';

t.test('as root, a data folder the postgres user cannot reach stops the start before anything is spawned', { skip: notRoot }, async (t) => {
  const { locked } = await tree(t, 0o700);
  const dataDir = path.join(locked, 'app-data', 'pg');
  await t.rejects(startEmbeddedPostgres({ dataDir, port: await freePort() }), {
    name: 'EmbeddedPostgresError',
    message: `Embedded Postgres cannot start: as root it runs as the "postgres" user, who cannot enter ${locked} (mode 700), on the way to its data folder (${path.join(locked, 'app-data')}). Clone the project into a folder other users can enter, run as a normal user, or set DATABASE_URL (TEST_DATABASE_URL for npm test) to a Postgres server you own.`,
  });
  t.notOk(existsSync(dataDir), 'no cluster was initialised');
  t.equal((await stat(locked)).mode & 0o7777, 0o700, 'the folder that blocks is left as it was');
});

t.test('as root, npm start under such a folder exits 1 with that one line', { skip: notRoot }, async (t) => {
  const { locked } = await tree(t, 0o700);
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DATABASE_')));
  const env = {
    ...clean,
    NODE_ENV: 'development',
    DATA_DIR: path.join(locked, 'app-data'),
    PORT: String(await freePort()),
    EMBEDDED_PG_PORT: String(await freePort()),
  };
  const child = spawn(process.execPath, [SERVER], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  t.equal(code, 1, 'exit code 1');
  t.equal(stderr.trimEnd().split('\n').length, 1, `one line on stderr:\n${stderr}`);
  t.match(stderr, `who cannot enter ${locked} (mode 700)`);
  t.match(stderr, 'Clone the project into a folder other users can enter, run as a normal user, or set DATABASE_URL');
  t.notMatch(stderr, /Unhandled|EACCES|\n\s+at /, 'no stack, no unhandled event');
});

t.test('a server that stops while starting is a clear error, not a rejection without a reason', async (t) => {
  const { createServer } = await import('node:net');
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.teardown(() => taken.close());
  const port = (taken.address() as { port: number }).port;
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'clinicbase-taken-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  await t.rejects(startEmbeddedPostgres({ dataDir: path.join(dataDir, 'pg'), port, ephemeral: true }), {
    name: 'EmbeddedPostgresError',
    message: `Embedded Postgres stopped while starting (is port ${port} taken? EMBEDDED_PG_PORT picks another).`,
  });
});
