// A private PgBouncer for one test file: transaction pooling between the app and the test
// database, as deployments that outgrow direct connections run it. Started from the system's
// `pgbouncer` (Debian's package; CI installs it in .ci/run), stopped by its PID at teardown.
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Test } from 'tap';
import { roleUrl } from '../../src/config.ts';
import { freePort } from '../../src/db/embedded.ts';
import { TEST_ROLE_PASSWORD } from './env.ts';

/** The `pgbouncer` executable: on PATH, or in the sbin folders Debian installs it to (not on every user's PATH). */
export function findPgBouncer(): string | undefined {
  const folders = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/usr/local/sbin'].filter(Boolean);
  for (const folder of folders) {
    const candidate = path.join(folder, 'pgbouncer');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this folder
    }
  }
  return undefined;
}

export interface PgBouncerOptions {
  /** Server connections per database and user (`default_pool_size`). */
  serverConnections: number;
}

/**
 * Starts PgBouncer in transaction mode in front of the database `databaseUrl` names, for
 * app_authenticator (SCRAM, the test role password), on a free port of 127.0.0.1. Returns the
 * app_authenticator URL through it.
 */
export async function startPgBouncer(t: Test, executable: string, databaseUrl: string, options: PgBouncerOptions): Promise<string> {
  const server = new URL(databaseUrl);
  const database = decodeURIComponent(server.pathname.slice(1));
  const port = await freePort();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'clinicbase-pgbouncer-'));
  // PgBouncer refuses to run as root; as root it switches to `nobody`, who must read these files.
  await chmod(dir, 0o755);
  await writeFile(path.join(dir, 'userlist.txt'), `"app_authenticator" "${TEST_ROLE_PASSWORD}"\n`, { mode: 0o644 });
  await writeFile(
    path.join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `${database} = host=${server.hostname} port=${server.port || 5432} dbname=${database}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = scram-sha-256',
      `auth_file = ${path.join(dir, 'userlist.txt')}`,
      'pool_mode = transaction',
      `default_pool_size = ${options.serverConnections}`,
      'max_client_conn = 100',
      ...(process.getuid?.() === 0 ? ['user = nobody'] : []),
      '',
    ].join('\n'),
    { mode: 0o644 },
  );
  const child = spawn(executable, [path.join(dir, 'pgbouncer.ini')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let output = '';
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      process.kill(child.pid!, 'SIGTERM');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  });
  await untilListening(port, () => (child.exitCode === null ? undefined : `pgbouncer exited ${child.exitCode}:\n${output}`));
  const url = new URL(roleUrl(databaseUrl, 'app_authenticator', TEST_ROLE_PASSWORD));
  url.host = `127.0.0.1:${port}`;
  return url.toString();
}

async function untilListening(port: number, failure: () => string | undefined): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const problem = failure();
    if (problem) throw new Error(problem);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.end();
        resolve(true);
      }).on('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`pgbouncer did not listen on port ${port} within 10 s`);
    await sleep(50);
  }
}
