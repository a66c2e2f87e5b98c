// The API process outlives its database connections. Failovers, restarts and connection reapers
// end backends under a running API: only the requests on a lost connection may fail (503, nothing
// half-written), the pool replaces the connection, and the process keeps serving. The server runs
// as a child process (`src/server.ts`, as `npm start` runs it), on a private cluster this test may
// restart without disturbing the other test files.
import { randomUUID } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import t from 'tap';
import { generateSigningKey, signingKeys } from '../src/auth/keys.ts';
import { formatDataKey, generateDataKey } from '../src/crypto/data-keys.ts';
import { freePort, startEmbeddedPostgres, type EmbeddedCluster } from '../src/db/embedded.ts';
import { setupDatabase, withDatabase } from '../src/db/setup.ts';
import { buildTestApp } from './helpers/app.ts';
import { TEST_ROLE_PASSWORD } from './helpers/env.ts';
import { roleUrl } from '../src/config.ts';

const SERVER = path.resolve(import.meta.dirname, '../src/server.ts');
const CLIENTS = 8;
const TERMINATION_ROUNDS = 8;
const TERMINATION_INTERVAL_MS = 400;

interface Server {
  child: ChildProcess;
  output: () => string;
}

async function startServer(env: Record<string, string>): Promise<Server> {
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('DATABASE_') && !k.startsWith('JWT_') && !k.startsWith('DATA_ENCRYPTION_')),
  );
  const child = spawn(process.execPath, [SERVER], { env: { ...inherited, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const deadline = Date.now() + 30_000;
  while (!output.includes('Server listening')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`server did not start:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, output: () => output };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('the API survives lost database connections', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'clinicbase-loss-'));
  const pgPort = await freePort();
  // Persistent (not ephemeral) so that the same data is there after a restart.
  const clusterOptions = { dataDir: path.join(dir, 'pg'), port: pgPort };
  let cluster: EmbeddedCluster = await startEmbeddedPostgres(clusterOptions);
  t.teardown(async () => {
    await cluster.stop().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  });
  const adminUrl = withDatabase(cluster.adminUrl, 'clinicbase');
  await setupDatabase({ adminUrl, rolePassword: TEST_ROLE_PASSWORD });
  const admin = new pg.Pool({ connectionString: adminUrl, max: 2 }).on('error', () => {});
  t.teardown(() => admin.end());
  const clinic = (await admin.query<{ id: string }>(`insert into app_public.clinics (slug, name) values ('clinic-a', 'Clinic A') returning id`)).rows[0]!.id;

  const key = generateSigningKey();
  const keys = signingKeys(key);
  const port = await freePort();
  const server = await startServer({
    NODE_ENV: 'production',
    PORT: String(port),
    DATABASE_AUTHENTICATOR_URL: roleUrl(adminUrl, 'app_authenticator', TEST_ROLE_PASSWORD),
    DATABASE_POOL_SIZE: '8',
    JWT_PRIVATE_KEY: key.privateKeyPem,
    JWT_KEY_ID: key.keyId,
    DATA_ENCRYPTION_KEY: formatDataKey(generateDataKey()),
  });
  t.teardown(() => server.child.kill('SIGKILL'));

  // Only used to sign tokens the server accepts (same key); its pool never serves a request.
  const { app: signer } = await buildTestApp(t, roleUrl(adminUrl, 'app_authenticator', TEST_ROLE_PASSWORD), keys);
  const token = await signer.signAccessToken({
    sub: randomUUID(),
    clinic_id: clinic,
    clinic_slug: 'clinic-a',
    role: 'clinic_admin',
    jti: randomUUID(),
    amr: ['pwd'],
  });
  const base = `http://127.0.0.1:${port}/api/v1/clinics/clinic-a/departments`;
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  /** The HTTP status, or 0 when nothing answered (the process is gone). */
  const statusOf = (response: Promise<Response>) =>
    response.then(
      (r) => r.status,
      () => 0,
    );
  const read = () => statusOf(fetch(`${base}?limit=5`, { headers }));
  let created = 0;
  const write = async () => {
    const code = `D${++created}`;
    const status = await statusOf(fetch(base, { method: 'POST', headers, body: JSON.stringify({ code, name: `Department ${code}` }) }));
    return { status, code };
  };

  /** Runs CLIENTS callers (mostly readers, one writer) until `done`; returns every status seen. */
  async function load(done: () => boolean): Promise<{ statuses: number[]; acknowledged: string[] }> {
    const statuses: number[] = [];
    const acknowledged: string[] = [];
    await Promise.all(
      Array.from({ length: CLIENTS }, async (_, i) => {
        while (!done() && alive()) {
          if (i === 0) {
            const { status, code } = await write();
            statuses.push(status);
            if (status === 201) acknowledged.push(code);
          } else {
            statuses.push(await read());
          }
        }
      }),
    );
    return { statuses, acknowledged };
  }
  /**
   * The first status that is not 503 within 5 s. A connection terminated just before may still sit
   * idle in the pool until its termination message is read: the request that draws it is one of
   * "the requests on it" and answers 503; the next is served.
   */
  const servesAgain = async () => {
    const deadline = Date.now() + 5_000;
    let status = await read();
    while (status === 503 && Date.now() < deadline) {
      await sleep(100);
      status = await read();
    }
    return status;
  };
  const alive = () => server.child.exitCode === null && server.child.signalCode === null;
  const unexpected = (statuses: number[], allowed: number[]) => statuses.filter((s) => !allowed.includes(s));

  t.equal(await read(), 200, 'serves before anything goes wrong');

  await t.test('every backend terminated repeatedly under concurrent load', async (t) => {
    let rounds = 0;
    const terminations = (async () => {
      for (; rounds < TERMINATION_ROUNDS; rounds++) {
        await sleep(TERMINATION_INTERVAL_MS);
        await admin.query(`select pg_terminate_backend(pid) from pg_stat_activity where usename = 'app_authenticator'`);
      }
    })();
    const result = await load(() => rounds >= TERMINATION_ROUNDS);
    await terminations;
    t.ok(alive(), `the process is alive after ${TERMINATION_ROUNDS} rounds of terminations`, { output: alive() ? '' : server.output().slice(-3000) });
    t.same(unexpected(result.statuses, [200, 201, 503]), [], 'every request answered 200/201 or 503, never a 500');
    t.ok(result.statuses.length > CLIENTS * TERMINATION_ROUNDS, `load kept flowing (${result.statuses.length} requests)`);
    t.equal(await servesAgain(), 200, 'serves again afterwards');
    // What was acknowledged is there, whole: the row and its audit entry.
    const { rows } = await admin.query<{ code: string; audited: boolean }>(
      `select d.code, exists (select 1 from app_audit.audit_log l where l.table_name = 'app_public.departments' and l.row_key ->> 'id' = d.id::text) as audited
       from app_public.departments d`,
    );
    const stored = new Map(rows.map((r) => [r.code, r.audited]));
    t.same(
      result.acknowledged.filter((code) => !stored.has(code)),
      [],
      'every 201 was committed',
    );
    t.same(
      rows.filter((r) => !r.audited).map((r) => r.code),
      [],
      'no department without its audit entry (nothing half-written)',
    );
  });

  await t.test('a Postgres restart while idle', async (t) => {
    await cluster.stop();
    const during = await fetch(`${base}?limit=5`, { headers });
    t.equal(during.status, 503, 'a request while the database is down answers 503');
    t.equal(during.headers.get('retry-after'), '1', 'with Retry-After');
    t.match(await during.json(), { code: 'SERVICE_UNAVAILABLE', status: 503 });
    cluster = await startEmbeddedPostgres(clusterOptions);
    t.ok(alive(), 'the process is alive');
    t.equal(await servesAgain(), 200, 'serves again once Postgres is back');
  });

  await t.test('a Postgres restart while busy', async (t) => {
    let restarted = false;
    const restart = (async () => {
      await sleep(300);
      await cluster.stop();
      cluster = await startEmbeddedPostgres(clusterOptions);
      await sleep(300);
      restarted = true;
    })();
    const result = await load(() => restarted);
    await restart;
    t.ok(alive(), 'the process is alive');
    t.same(unexpected(result.statuses, [200, 201, 503]), [], 'every request answered 200/201 or 503, never a 500');
    t.equal(await servesAgain(), 200, 'serves again afterwards');
  });

  t.notMatch(server.output(), /shutting down after an unexpected error/, 'the server never shut itself down');
  // Idle connections failed at each restart: each is one short line (code and message), not
  // the pg client object with its prepared SQL.
  const idleFailures = server
    .output()
    .split('\n')
    .filter((line) => line.includes('idle database connection failed'));
  t.ok(idleFailures.length > 0, 'idle connection failures were logged');
  t.same(
    idleFailures.filter((line) => line.length > 400 || !/"db":\{("code":"\w+",)?"message":"[^"]+"\}/.test(line)),
    [],
    'each is a short line: the code and message only',
  );
  t.same(
    idleFailures.filter((line) => /clinicbase_context|parsedStatements|select /.test(line)),
    [],
    'no SQL text in them',
  );
});
