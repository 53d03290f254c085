import { createHash, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/** A TCP echo server on 127.0.0.1 that honours half-close (echoes, then ends after the client ends). */
export function startEchoServer(): Promise<{ server: Server; port: number; sockets: Set<Socket> }> {
  return startServer((socket) => {
    socket.on('error', () => {});
    socket.pipe(socket);
  });
}

/** Close a server and every socket it still has. */
export async function stopServer(server: Server, sockets?: Set<Socket>): Promise<void> {
  for (const s of sockets ?? []) s.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/**
 * Ports for programs a test starts and tells where to listen. They come from
 * just below the kernel's ephemeral range, so no client socket and no `listen(0)`
 * can take one between the pick and the program's bind (a port from `listen(0)`
 * could be, and CI saw EADDRINUSE). Test files run one at a time (vitest.config.ts),
 * each in its own process: a random start and a monotonic counter keep one
 * file's ports distinct, and each is checked free (TCP and UDP) when picked.
 */
const PICK_SPAN = 12_000;
let pickBase: number | null | undefined;
let pickNext = 0;

function pickRange(): number | null {
  if (pickBase !== undefined) return pickBase;
  let low = 32_768;
  try {
    low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').split(/\s+/)[0]);
  } catch {
    // Not Linux: keep the IANA default.
  }
  pickBase = Number.isInteger(low) && low - PICK_SPAN >= 1024 ? low - PICK_SPAN : null;
  pickNext = Math.floor(Math.random() * PICK_SPAN);
  return pickBase;
}

async function bindable(port: number): Promise<boolean> {
  const tcp = createServer();
  const udp = createSocket('udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(port, '127.0.0.1', resolve);
    });
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(port, '127.0.0.1', resolve);
    });
    return true;
  } catch {
    return false;
  } finally {
    if (tcp.listening) await new Promise<void>((resolve) => tcp.close(() => resolve()));
    await new Promise<void>((resolve) => {
      try {
        udp.close(() => resolve());
      } catch {
        resolve(); // never bound
      }
    });
  }
}

async function ephemeralPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return address.port;
}

/** A port that nothing listens on (TCP or UDP), and that nothing else will pick. */
export async function closedPort(): Promise<number> {
  const base = pickRange();
  if (base === null) return ephemeralPort();
  for (let tries = 0; tries < 200; tries++) {
    const port = base + (pickNext++ % PICK_SPAN);
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port in ${base}..${base + PICK_SPAN - 1}`);
}

/**
 * Whether something listens on TCP `port` of 127.0.0.1 or any address, read from
 * /proc/net/tcp: for a child process (not ours) starting up, where a probe connection
 * would itself be a client of the program under test. Off Linux: always true.
 */
export function tcpListening(port: number): boolean {
  let table: string;
  try {
    table = readFileSync('/proc/net/tcp', 'utf8');
  } catch {
    return true;
  }
  const local = new Set(
    ['0100007F', '00000000'].map(
      (ip) => `${ip}:${port.toString(16).toUpperCase().padStart(4, '0')}`,
    ),
  );
  return table.split('\n').some((line) => {
    const fields = line.trim().split(/\s+/);
    return local.has(fields[1] ?? '') && fields[3] === '0A'; // 0A: LISTEN
  });
}

/** `n` distinct closed ports. */
export async function closedPorts(n: number): Promise<number[]> {
  const ports: number[] = [];
  const seen = new Set<number>();
  while (ports.length < n) {
    const port = await closedPort();
    // Only the ephemeral fallback can repeat a port.
    if (!seen.has(port)) {
      seen.add(port);
      ports.push(port);
    }
  }
  return ports;
}

/**
 * Write `total` bytes of pseudo-random data to `stream`, honouring backpressure,
 * then end it (unless `end` is false). Resolves with the sha256 of what was written.
 */
export async function writeRandom(stream: Duplex, total: number, end = true): Promise<string> {
  const hash = createHash('sha256');
  const block = randomBytes(256 * 1024);
  let sent = 0;
  let counter = 0;
  while (sent < total) {
    const chunk = Buffer.from(block.subarray(0, Math.min(block.length, total - sent)));
    // Vary every block so a proxy that repeats or drops a whole block is caught.
    if (chunk.length >= 4) chunk.writeUInt32LE(counter++ >>> 0, 0);
    hash.update(chunk);
    sent += chunk.length;
    if (!stream.write(chunk)) await once(stream, 'drain');
  }
  if (end) stream.end();
  return hash.digest('hex');
}

/** Read a stream to its end; resolves with the byte count and sha256. */
export function hashUntilEnd(stream: Duplex): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  return new Promise((resolve, reject) => {
    stream.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      hash.update(chunk);
    });
    stream.once('end', () => resolve({ bytes, sha256: hash.digest('hex') }));
    stream.once('error', reject);
    // Accepted streams start explicitly paused: a 'data' listener alone would not start them.
    stream.resume();
  });
}

/** Resolves when the stream emits 'close'; rejects after `ms`. */
export function closedWithin(stream: Duplex, ms: number): Promise<void> {
  if (stream.closed) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`stream still open after ${ms} ms`)), ms);
    stream.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** A TCP server on 127.0.0.1 running `handler` for each accepted socket (half-open allowed). */
export async function startServer(
  handler: (socket: Socket) => void,
): Promise<{ server: Server; port: number; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    handler(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return { server, port: address.port, sockets };
}

/** Collect everything a stream delivers until its end. */
export async function readAll(stream: Duplex): Promise<Buffer> {
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  stream.resume();
  await once(stream, 'end');
  return Buffer.concat(chunks);
}

/**
 * Resolves once the peer has closed on us: FIN ('end'), reset ('error') or a
 * full close, whichever comes first; rejects after `ms`. A half-open-capable
 * client stays open after a FIN, so 'close' alone would wait forever.
 */
export function peerClosedWithin(stream: Duplex, ms: number): Promise<void> {
  if (stream.closed || stream.readableEnded) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => reject(new Error(`peer did not close within ${ms} ms`)), ms);
    stream.once('end', done);
    stream.once('error', done);
    stream.once('close', done);
    stream.resume();
  });
}
