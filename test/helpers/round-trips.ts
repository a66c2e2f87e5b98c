// Counts round trips on the wire: a TCP proxy in front of the test database that counts the
// messages after which the client waits for the server's answer (Sync in the extended protocol,
// Query in the simple one), and the statements run (Execute in the extended protocol, Query in the
// simple one: a simple Query of several statements counts as one). Code-independent: it sees what
// pg actually sends. npm run bench:graphql counts a server's statements per request with it too.
import net from 'node:net';
import type { Test } from 'tap';

export interface RoundTripCounter {
  /** The database URL through the proxy. */
  url: string;
  /** Round trips since the last call. */
  take(): number;
  /** Round trips and statements since the last call (of either). */
  takeBoth(): { roundTrips: number; statements: number };
}

export async function countRoundTrips(t: Test, databaseUrl: string): Promise<RoundTripCounter> {
  const { close, ...counter } = await wireCounter(databaseUrl);
  t.teardown(close);
  return counter;
}

/** The counting proxy on its own (a script's, outside a test): `close()` stops it. */
export async function wireCounter(databaseUrl: string): Promise<RoundTripCounter & { close(): Promise<void> }> {
  const target = new URL(databaseUrl);
  let count = 0;
  let statements = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => sockets.delete(socket));
    }
    const onMessage = (type: number) => {
      if (type === SYNC || type === QUERY) count++;
      if (type === EXECUTE || type === QUERY) statements++;
    };
    client.on('data', frontendMessages(onMessage));
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const close = () => {
    for (const socket of sockets) socket.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  };
  const url = new URL(databaseUrl);
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as net.AddressInfo).port);
  return {
    url: url.toString(),
    take: () => {
      const taken = count;
      count = 0;
      return taken;
    },
    takeBoth: () => {
      const taken = { roundTrips: count, statements };
      [count, statements] = [0, 0];
      return taken;
    },
    close,
  };
}

const SYNC = 'S'.charCodeAt(0);
const QUERY = 'Q'.charCodeAt(0);
const EXECUTE = 'E'.charCodeAt(0);

/** Splits what a client sends into messages: a startup packet (no type byte), then type + int32 length + body. */
function frontendMessages(onMessage: (type: number) => void): (chunk: Buffer) => void {
  let pending = Buffer.alloc(0);
  let started = false;
  return (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    for (;;) {
      if (!started) {
        if (pending.length < 4) return;
        const length = pending.readInt32BE(0);
        if (pending.length < length) return;
        pending = pending.subarray(length);
        started = true;
        continue;
      }
      if (pending.length < 5) return;
      const length = 1 + pending.readInt32BE(1);
      if (pending.length < length) return;
      onMessage(pending[0]!);
      pending = pending.subarray(length);
    }
  };
}
