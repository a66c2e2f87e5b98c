// What the HTTP benchmarks share (scripts/bench-http.ts, scripts/bench-front-desk.ts): the real
// server started as production runs it with the bare baseline preloaded, its CPU time from /proc,
// a login through the API, autocannon driving a target saturated, open-loop pacing for latencies
// at a given rate, one-shot writes in a closed loop (each sent once), and a CPU profile of the
// server under one target's load. Never part of the application.
import autocannon from 'autocannon';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { roleUrl } from '../src/config.ts';
import { freePort } from '../src/db/embedded.ts';
import { type CpuProfile, formatSummary, summariseProfile } from './cpu-profile-summary.ts';

/** DATABASE_POOL_SIZE's default, for the API's pool and the bare route's alike. */
export const POOL_SIZE = 8;
/** The login roles' password in the benchmarks' throwaway clusters. */
export const PASSWORD = 'clinicbase-bench-only';
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BARE = pathToFileURL(path.join(ROOT, 'scripts/bench-http-bare.ts')).href;
/** The unit of /proc/<pid>/stat's CPU times. */
const CLOCK_TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));

export const log = (message: string) => console.error(`# ${message}`);

export interface Server {
  api: string;
  bare: string;
  /** The server process's CPU time so far (user + system, all threads), in seconds. */
  cpuSeconds(): Promise<number>;
  stop(): Promise<void>;
}

export interface ServerOptions {
  /** A checkout of this repository (ROOT, or BENCH_AGAINST's). */
  root: string;
  /** Superuser URL of the database the server serves. */
  databaseUrl: string;
  key: { privateKeyPem: string; keyId: string };
  /** DATA_ENCRYPTION_KEY (formatDataKey). */
  dataKey: string;
  logLevel: string;
  /** The bench-only role, exempt from RLS, the bare route connects as. */
  exemptRole: string;
  /** The script that builds and serves the app (default src/server.ts: the app as `npm start` serves it). */
  entry?: string;
  /** More of the server's environment (a limit a benchmark must raise to measure anything). */
  env?: Record<string, string>;
}

/**
 * `node --import scripts/bench-http-bare.ts src/server.ts` in `root` with a production
 * environment: the app exactly as `npm start` serves it, plus the bare route in the same process.
 * Only the variables below reach it (none of this shell's). Its log lines go to /dev/null.
 */
export async function startServer(options: ServerOptions): Promise<Server> {
  const [port, barePort] = [await freePort(), await freePort()];
  const env = {
    PATH: process.env.PATH ?? '',
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: String(port),
    LOG_LEVEL: options.logLevel,
    DATABASE_AUTHENTICATOR_URL: roleUrl(options.databaseUrl, 'app_authenticator', PASSWORD),
    DATABASE_POOL_SIZE: String(POOL_SIZE),
    JWT_PRIVATE_KEY: options.key.privateKeyPem,
    JWT_KEY_ID: options.key.keyId,
    DATA_ENCRYPTION_KEY: options.dataKey,
    // Longer than production's 900 s default only so that a long run keeps its one login.
    JWT_ACCESS_TOKEN_TTL_SECONDS: '3600',
    BENCH_BARE_PORT: String(barePort),
    BENCH_BARE_DATABASE_URL: roleUrl(options.databaseUrl, options.exemptRole, PASSWORD),
    ...options.env,
  };
  const child = spawn(process.execPath, ['--import', BARE, options.entry ?? 'src/server.ts'], {
    cwd: options.root,
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const server: Server = {
    api: `http://127.0.0.1:${port}`,
    bare: `http://127.0.0.1:${barePort}`,
    cpuSeconds: () => cpuSecondsOf(child.pid!),
    // SIGTERM: the server closes gracefully (close-with-grace) and exits.
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
  log(`server pid ${child.pid} (${options.root}, database ${new URL(options.databaseUrl).pathname.slice(1)}): api ${server.api}, bare ${server.bare}`);
  try {
    await Promise.race([
      untilReady(`${server.api}/health/ready`),
      exited.then(() => Promise.reject(new Error('the server exited while starting (its stderr is above)'))),
    ]);
  } catch (error) {
    await server.stop();
    throw error;
  }
  return server;
}

/** utime + stime of a process (proc(5): the 14th and 15th fields of /proc/<pid>/stat, after the command's closing parenthesis). */
async function cpuSecondsOf(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

async function untilReady(url: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const ok = await fetch(url).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} was not ready within 60 s`);
}

/** A real session: a member logs in to a clinic through the API, as a client would; the access token. */
export async function logIn(api: string, member: { email: string; password: string }, slug: string): Promise<string> {
  const response = await fetch(`${api}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: member.email, password: member.password, clinicSlug: slug }),
  });
  if (!response.ok) throw new Error(`login answered ${response.status}: ${await response.text()}`);
  return ((await response.json()) as { accessToken: string }).accessToken;
}

/** One thing to drive: the server it runs on, and the requests it cycles through. */
export interface Target {
  name: string;
  server: Server;
  origin: string;
  /** `body`: the JSON text a POST sends. */
  requests: { method: 'GET' | 'POST'; path: string; headers?: Record<string, string>; body?: string }[];
}

/** Requests per second, and the server's CPU microseconds per request. */
export interface Load {
  rate: number;
  cpuMicros: number;
}

export interface Driving {
  seconds: number;
  connections: number;
}

/**
 * Drives `target` for `seconds` with `connections` keep-alive connections; `rate`: paced at that many
 * requests per second over all connections (autocannon's overallRate) instead of as fast as it answers.
 * Any answer but 2xx, an error or a timeout fails the run: a fast 401 would measure nothing.
 */
export async function drive(target: Target, driving: Driving, rate?: number): Promise<autocannon.Result> {
  const result = await autocannon({
    url: target.origin,
    connections: driving.connections,
    duration: driving.seconds,
    requests: target.requests,
    ...(rate ? { overallRate: rate } : {}),
  });
  if (result.non2xx || result.errors || result.timeouts) {
    throw new Error(`${target.name}: ${result.non2xx} answers not 2xx, ${result.errors} errors, ${result.timeouts} timeouts`);
  }
  return result;
}

/** Saturated: as many requests as the server answers, with the server's CPU time per request. */
export async function saturate(target: Target, driving: Driving): Promise<Load> {
  const cpuBefore = await target.server.cpuSeconds();
  const result = await drive(target, driving);
  const cpu = (await target.server.cpuSeconds()) - cpuBefore;
  return { rate: result.requests.average, cpuMicros: (cpu * 1e6) / result.requests.total };
}

/** Both targets saturated back to back, the first going first in odd rounds and second in even ones. */
export async function inTurn(round: number, first: Target, second: Target, driving: Driving): Promise<[Load, Load]> {
  if (round % 2 === 1) {
    const a = await saturate(first, driving);
    return [a, await saturate(second, driving)];
  }
  const b = await saturate(second, driving);
  return [await saturate(first, driving), b];
}

/**
 * `rate` requests per second for `seconds`, evenly spaced whatever the answers (open loop), over up
 * to `connections` keep-alive connections; a request that finds them all busy waits for one, and that
 * wait is in its latency, which counts from when the request was due.
 */
export async function paced(target: Target, driving: Driving, rate: number): Promise<{ p50: number; p99: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: driving.connections });
  const latencies: number[] = [];
  const answers: Promise<void>[] = [];
  const total = Math.round(rate * driving.seconds);
  const start = performance.now();
  for (let sent = 0; sent < total; ) {
    for (; sent < total && start + (sent * 1000) / rate <= performance.now(); sent++) {
      const due = start + (sent * 1000) / rate;
      const request = target.requests[sent % target.requests.length]!;
      answers.push(
        send(agent, request.method, target.origin + request.path, request.headers, request.body).then(() => void latencies.push(performance.now() - due)),
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await Promise.all(answers);
  agent.destroy();
  return { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99) };
}

/** A write that can be sent once: opening a consultation of a visit, issuing a draft prescription. */
export interface OneShot {
  method: 'POST';
  path: string;
  headers?: Record<string, string>;
  /** JSON text. */
  body?: string;
  /** The status that counts as done (201 for a creation, 200 for a state move). */
  expected: number;
}

/** Requests per second, the server's CPU microseconds per request, and the latencies of a closed loop. */
export interface OneShotLoad extends Load {
  p50: number;
  p99: number;
}

/**
 * Each of `requests` sent exactly once, as fast as the server answers, over `connections` keep-alive
 * connections (a closed loop: each connection sends its next request when its last is answered).
 * autocannon cannot do this: every one of its connections walks the whole request list, so a
 * write that succeeds once (a visit opened, a prescription issued) would be sent 16 times. Any
 * other answer fails the run.
 */
export async function consume(server: Server, origin: string, requests: OneShot[], connections: number): Promise<OneShotLoad> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const latencies: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < requests.length) {
      const request = requests[next++]!;
      const sent = performance.now();
      await send(agent, request.method, origin + request.path, request.headers, request.body ?? '{}', request.expected);
      latencies.push(performance.now() - sent);
    }
  };
  const cpuBefore = await server.cpuSeconds();
  const start = performance.now();
  try {
    await Promise.all(Array.from({ length: Math.min(connections, requests.length) }, worker));
  } finally {
    agent.destroy();
  }
  const seconds = (performance.now() - start) / 1000;
  const cpu = (await server.cpuSeconds()) - cpuBefore;
  return {
    rate: requests.length / seconds,
    cpuMicros: (cpu * 1e6) / requests.length,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
  };
}

/** The q-quantile of a sample (nearest rank), to 0.1. */
export function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return Number(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(1));
}

/**
 * One request whose answer is read to its end: its body. `body`: sent as JSON (a string: as it is,
 * already JSON text). An answer other than `expected` (200 unless said) fails the run.
 */
export function send(
  agent: http.Agent,
  method: 'GET' | 'POST',
  url: string,
  headers: Record<string, string> = {},
  body?: unknown,
  expected = 200,
): Promise<string> {
  const payload = body === undefined || typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      {
        method,
        agent,
        headers: payload === undefined ? headers : { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.once('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (response.statusCode === expected) resolve(text);
          else reject(new Error(`${method} ${url} answered ${response.statusCode}: ${text.slice(0, 500)}`));
        });
      },
    );
    request.once('error', reject);
    request.end(payload);
  });
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/**
 * One target alone, the server's CPU profiler on for the timed rounds only (switched through the
 * bare port: scripts/bench-http-bare.ts); prints the summary and where the profile was written.
 */
export async function profile(target: Target, driving: Driving, rounds: number, logLevel: string): Promise<void> {
  log(`profiling: warming up, then ${rounds} × ${driving.seconds}s of the ${target.name} target alone, ${driving.connections} connections`);
  await drive(target, { ...driving, seconds: 1 });
  const profiler = async (what: 'start' | 'stop') => {
    const response = await fetch(`${target.server.bare}/bench/profile/${what}`, { method: 'POST' });
    if (!response.ok) throw new Error(`profiler ${what} answered ${response.status}`);
    return response;
  };
  await profiler('start');
  let answered = 0;
  for (let round = 1; round <= rounds; round++) {
    const { requests } = await drive(target, driving);
    answered += requests.total;
    log(`round ${round}: ${target.name} ${Math.round(requests.average)}/s`);
  }
  const recorded = (await (await profiler('stop')).json()) as CpuProfile;
  const summary = summariseProfile(recorded);
  const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'clinicbase-bench-profile-')), `${target.name}.cpuprofile`);
  await writeFile(file, JSON.stringify(recorded));
  console.log(`${formatSummary(summary)}

${answered} requests answered: ${Math.round((summary.busyMs * 1000) / answered)} µs of the main thread's busy time each.
${rounds} × ${driving.seconds}s of the ${target.name} target, ${driving.connections} connections, LOG_LEVEL=${logLevel}, load average ${os
    .loadavg()
    .map((v) => v.toFixed(2))
    .join(', ')}.
Profile: ${file} (Chrome DevTools' Performance panel opens it; \`node scripts/cpu-profile-summary.ts ${file} 30\` lists more).`);
}

/** A Markdown table row. */
export const row = (cells: string[]) => `| ${cells.join(' | ')} |`;

/** A report's column: its title, its value in a round, how the value is written. */
export type Column<R> = [string, (r: R) => number, (v: number) => string];

/** BENCH_AGAINST's columns beside the `name` target's: the other checkout's rate and CPU, and the two ratios. */
export function againstColumns<R>(name: string, own: (r: R) => Load, against: (r: R) => Load): Column<R>[] {
  const count = (v: number) => Math.round(v).toLocaleString('en');
  const ratio = (v: number) => v.toFixed(2);
  return [
    ['against req/s', (r) => against(r).rate, count],
    ['against CPU µs/req', (r) => against(r).cpuMicros, count],
    [`${name} / against req/s`, (r) => own(r).rate / against(r).rate, ratio],
    [`against / ${name} CPU`, (r) => against(r).cpuMicros / own(r).cpuMicros, ratio],
  ];
}
