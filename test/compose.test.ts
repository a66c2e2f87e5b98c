// docker-compose.yml's local trial, without a Docker engine: the one-shot services the api waits for
// run their commands as their containers would (each named volume becomes a temporary folder), then
// `node src/server.ts` starts with exactly the api service's environment, in production mode, and
// must answer /health/ready and stay up.
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { parse } from 'yaml';
import { roleUrl } from '../src/config.ts';
import { freePort } from '../src/db/embedded.ts';
import { createTestDatabase } from './helpers/db.ts';
import { TEST_ROLE_PASSWORD } from './helpers/env.ts';
import { startServer, stopServer } from './helpers/server.ts';
import { eventually } from './helpers/wait.ts';

interface Service {
  image?: string;
  command?: string[];
  environment?: Record<string, string | number>;
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
}

const ROOT = path.resolve(import.meta.dirname, '..');
const compose = parse(await readFile(path.join(ROOT, 'docker-compose.yml'), 'utf8')) as { services: Record<string, Service> };

/** What `docker compose up` puts in a value when the caller's environment sets nothing: `${X:-default}` → default. */
function interpolated(value: string | number): string {
  return String(value).replace(/\$\{\w+:-([^}]*)\}/g, (_, fallback: string) => fallback);
}

/** A service's named volumes: volume name → the path it is mounted at in the container. */
function mounts(service: Service): Map<string, string> {
  return new Map(
    (service.volumes ?? []).map((volume) => {
      const [name = '', target = ''] = volume.split(':');
      return [name, target];
    }),
  );
}

t.test('the api service of docker-compose.yml starts in production with its one-shot services', async (t) => {
  const { api } = compose.services;
  t.ok(api, 'there is an api service');
  const environment = Object.fromEntries(Object.entries(api!.environment ?? {}).map(([k, v]) => [k, interpolated(v)]));
  t.equal(environment.NODE_ENV, 'production', 'the api runs under the production rules');
  t.equal(environment.HOST, '0.0.0.0', 'the api listens beyond the container');
  t.notMatch(JSON.stringify(environment), /\$/, 'every value is resolved');
  t.same(
    Object.keys(environment).filter((k) => k.startsWith('DATABASE_')),
    ['DATABASE_AUTHENTICATOR_URL'],
    'no superuser or owner URL reaches the app',
  );
  t.match(environment.DATABASE_AUTHENTICATOR_URL, /^postgres:\/\/app_authenticator:[^@]+@db:5432\/clinicbase$/);

  const oneShots = Object.entries(api!.depends_on ?? {}).filter(([, d]) => d.condition === 'service_completed_successfully');
  t.same(oneShots.map(([name]) => name).sort(), ['data-key', 'keys', 'setup'], 'the api waits for the database setup, the signing key and the data key');

  // Each named volume is a temporary folder; paths inside the containers are rewritten to it.
  const volumes = new Map<string, string>();
  for (const service of [api!, ...oneShots.map(([name]) => compose.services[name]!)]) {
    for (const name of mounts(service).keys()) {
      if (name.startsWith('/') || name.startsWith('.') || volumes.has(name)) continue;
      volumes.set(name, await mkdtemp(path.join(os.tmpdir(), `clinicbase-compose-${name}-`)));
    }
  }
  t.teardown(() => Promise.all([...volumes.values()].map((dir) => rm(dir, { recursive: true, force: true }))));
  const onHost = (service: Service) => (value: string) => {
    for (const [name, target] of mounts(service)) {
      const dir = volumes.get(name);
      if (dir && (value === target || value.startsWith(`${target}/`))) return dir + value.slice(target.length);
    }
    return value;
  };

  // The one-shots run as their containers would. The test database stands in for `setup` (database,
  // roles, grants, migrations as superuser): test/run.ts set up its template with the same
  // setupDatabase that `node src/cli/db-setup.ts` runs.
  for (const [name] of oneShots) {
    if (name === 'setup') continue;
    const service = compose.services[name]!;
    t.equal(service.image, api!.image, `${name} runs from the api's image`);
    const [program, ...args] = service.command ?? [];
    t.equal(program, 'node', `${name} runs a node command`);
    const env = Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, interpolated(v)]));
    await promisify(execFile)(process.execPath, args.map(onHost(service)), { cwd: ROOT, env });
  }

  // The database URL names the test database: no `db` host here. Same role, same kind of setup.
  // PORT is a free one: the host's 3000 may be taken and test files run in parallel.
  const db = await createTestDatabase(t);
  const port = await freePort();
  // Paths into the api's volumes (the key files, STORAGE_DIR) point to the volumes' folders.
  const fileEnv = Object.fromEntries(Object.entries(environment).map(([k, v]) => [k, onHost(api!)(v)]));
  const server = await startServer({ ...fileEnv, DATABASE_AUTHENTICATOR_URL: db.authenticatorUrl, PORT: String(port) });
  t.teardown(() => server.child.kill('SIGKILL'));

  const ready = await fetch(`http://127.0.0.1:${port}/health/ready`);
  t.equal(ready.status, 200, '/health/ready is 200');
  const keyId = (await readFile(fileEnv.JWT_KEY_ID_FILE!, 'utf8')).trim();
  const jwks = (await (await fetch(`http://127.0.0.1:${port}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
  t.same(
    jwks.keys.map((k) => k.kid),
    [keyId],
    'the key the one-shot wrote signs the tokens',
  );
  const dataKeyFile = fileEnv.DATA_ENCRYPTION_KEY_FILE!;
  t.match(await readFile(dataKeyFile, 'utf8'), /^\d{4}-\d{2}-\d{2}-[0-9a-f]{8}:[A-Za-z0-9+/]{43}=\n$/, 'the data-key one-shot wrote one key line');
  t.equal((await stat(dataKeyFile)).mode & 0o777, 0o600, 'the data key is for its owner only');
  t.same(await readdir(fileEnv.STORAGE_DIR!), ['.staging'], 'the uploaded files go to the `files` volume, which the api opened at start');
  await new Promise((r) => setTimeout(r, 500));
  t.equal(server.child.exitCode, null, `the process stays up:\n${server.output()}`);
  t.equal(await stopServer(server.child), 0, 'SIGTERM exits cleanly');
});

t.test('the worker service of docker-compose.yml starts in production as app_worker and stops on SIGTERM', async (t) => {
  const { worker, api } = compose.services;
  t.ok(worker, 'there is a worker service');
  t.equal(worker!.image, api!.image, 'the worker runs from the api’s image');
  t.same(worker!.command, ['node', 'src/worker/main.ts'], 'it runs `npm run worker`’s program');
  t.same(Object.keys(worker!.depends_on ?? {}), ['setup'], 'it waits for the database setup');
  const environment = Object.fromEntries(Object.entries(worker!.environment ?? {}).map(([k, v]) => [k, interpolated(v)]));
  t.equal(environment.NODE_ENV, 'production');
  t.same(
    Object.keys(environment).filter((k) => k.startsWith('DATABASE_')),
    ['DATABASE_WORKER_URL'],
    'the worker gets its own login only',
  );
  t.match(environment.DATABASE_WORKER_URL, /^postgres:\/\/app_worker:[^@]+@db:5432\/clinicbase$/);
  t.equal(mounts(worker!).get('files'), environment.STORAGE_DIR, 'its STORAGE_DIR is the files volume the api uses');

  const db = await createTestDatabase(t);
  const storage = await mkdtemp(path.join(os.tmpdir(), 'clinicbase-compose-files-'));
  t.teardown(() => rm(storage, { recursive: true, force: true }));
  const child = spawn(process.execPath, [path.join(ROOT, 'src/worker/main.ts')], {
    env: { ...environment, DATABASE_WORKER_URL: roleUrl(db.adminUrl, 'app_worker', TEST_ROLE_PASSWORD), STORAGE_DIR: storage },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => child.kill('SIGKILL'));
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  t.ok(
    await eventually(
      () => output.includes('"msg":"worker started"') || child.exitCode !== null,
      (done) => done,
    ),
    'it prints that it started',
  );
  t.equal(child.exitCode, null, `it stays up:\n${output}`);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  t.equal(await exited, 0, `SIGTERM exits cleanly:\n${output}`);
});
