import { randomBytes, randomInt } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';

// UDP test peers: an echo server (optionally tagging its answers, to tell backends
// apart) and a windowed blaster that accounts for every datagram.

export interface UdpEcho {
  readonly port: number;
  /** Datagrams received. */
  received: number;
  close(): Promise<void>;
}

/** Echoes every datagram back to its sender, prefixed by `tag` when given. */
export async function startUdpEcho(tag?: string): Promise<UdpEcho> {
  const socket = createSocket('udp4');
  const prefix = tag === undefined ? null : Buffer.from(tag);
  const echo: UdpEcho = {
    port: 0,
    received: 0,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
  socket.on('message', (data, rinfo) => {
    echo.received++;
    socket.send(prefix ? Buffer.concat([prefix, data]) : data, rinfo.port, rinfo.address);
  });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  (echo as { port: number }).port = socket.address().port;
  return echo;
}

export async function udpClient(): Promise<Socket> {
  const socket = createSocket('udp4');
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return socket;
}

export function closeSocket(socket: Socket): Promise<void> {
  return new Promise<void>((resolve) => socket.close(() => resolve()));
}

/** Send one datagram and wait for one answer (or null after `ms`). */
export async function udpRequest(
  socket: Socket,
  port: number,
  data: Buffer | string,
  ms = 1000,
): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.off('message', onMessage);
      resolve(null);
    }, ms);
    const onMessage = (msg: Buffer): void => {
      clearTimeout(timer);
      socket.off('message', onMessage);
      resolve(msg);
    };
    socket.on('message', onMessage);
    socket.send(data, port, '127.0.0.1');
  });
}

export interface BlastResult {
  readonly sent: number;
  readonly received: number;
  readonly mismatched: number;
  readonly duplicates: number;
  readonly lost: number;
}

/**
 * Send `count` datagrams of random sizes (4..maxSize bytes: a 4-byte sequence number,
 * then random bytes) to 127.0.0.1:`port` through `socket`, expecting each echoed back
 * unchanged. At most `window` datagrams are in flight, so no socket buffer on the path
 * ever holds more than window × maxSize bytes (64 × 1,400 ≈ 90 KB, under Linux's
 * default 208 KB receive buffer): loopback never drops for want of space, and any loss
 * is the relay's. Each in-flight datagram is kept and compared byte for byte with its
 * echo. Ends when all came back, or when nothing arrived for `stallMs` (the rest lost).
 */
export function blast(
  socket: Socket,
  port: number,
  count: number,
  options: {
    maxSize?: number;
    window?: number;
    stallMs?: number;
    /** What goes on the wire for a datagram (e.g. behind a SOCKS5 UDP header); default as is. */
    wrap?: (datagram: Buffer) => Buffer;
    /** The datagram inside an answer; null counts it as mismatched. Default as is. */
    unwrap?: (answer: Buffer) => Buffer | null;
  } = {},
): Promise<BlastResult> {
  const maxSize = options.maxSize ?? 1400;
  const window = options.window ?? 64;
  const stallMs = options.stallMs ?? 3000;
  const inflight = new Map<number, Buffer>();
  const done = new Set<number>();
  let next = 0;
  let received = 0;
  let mismatched = 0;
  let duplicates = 0;
  return new Promise((resolve) => {
    const finish = (): void => {
      clearInterval(watchdog);
      socket.off('message', onMessage);
      resolve({ sent: next, received, mismatched, duplicates, lost: next - received });
    };
    const sendOne = (): void => {
      const size = randomInt(4, maxSize + 1);
      const d = randomBytes(size);
      d.writeUInt32BE(next, 0);
      inflight.set(next, d);
      next++;
      socket.send(options.wrap?.(d) ?? d, port, '127.0.0.1');
    };
    let lastProgress = Date.now();
    const onMessage = (answer: Buffer): void => {
      lastProgress = Date.now();
      const msg = options.unwrap === undefined ? answer : options.unwrap(answer);
      if (msg === null || msg.length < 4) {
        mismatched++;
        return;
      }
      const seq = msg.readUInt32BE(0);
      const sent = inflight.get(seq);
      if (sent === undefined) {
        if (done.has(seq)) duplicates++;
        else mismatched++;
        return;
      }
      inflight.delete(seq);
      done.add(seq);
      received++;
      if (!sent.equals(msg)) mismatched++;
      if (next < count) sendOne();
      else if (inflight.size === 0) finish();
    };
    socket.on('message', onMessage);
    const watchdog = setInterval(() => {
      if (Date.now() - lastProgress > stallMs) finish();
    }, 100);
    for (let i = 0; i < Math.min(window, count); i++) sendOne();
  });
}
