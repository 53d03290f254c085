import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { StreamFD } from '../../../src/fd/stream-fd.js';
import { closedPort } from '../../helpers/net.js';

/** Deterministic pseudo-random bytes (cheap, incompressible enough to exercise snappy's raw path). */
export function pattern(n: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  // Every other 4 KiB text: compression has something to do too.
  for (let at = 0; at + 4096 <= n; at += 8192) out.fill(0x61 + (at % 26), at, at + 4096);
  return out;
}

export function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** A free loopback UDP port, outside the ephemeral range (see closedPort). */
export const freeUdpPort = closedPort;

/** A free loopback TCP port, outside the ephemeral range (see closedPort). */
export const freeTcpPort = closedPort;

/**
 * The target: for each connection, sends `size` bytes of pattern(size, 2) while hashing
 * what arrives; ends only once it has both sent and received `size` bytes (kcptun closes
 * both directions when either ends, so nobody half-closes early).
 */
export async function exchangeTarget(
  size: number,
): Promise<{ server: net.Server; port: number; received: Promise<string>[] }> {
  const received: Promise<string>[] = [];
  const data = pattern(size, 2);
  const server = net.createServer((s) => {
    s.on('error', () => {});
    received.push(
      new Promise<string>((resolve) => {
        const h = createHash('sha256');
        let got = 0;
        s.on('data', (d: Buffer) => {
          h.update(d);
          got += d.length;
          if (got >= size) {
            resolve(h.digest('hex'));
            s.end();
          }
        });
      }),
    );
    s.write(data);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as net.AddressInfo).port, received };
}

/**
 * The client side: sends pattern(size, 1), returns the sha256 of the `size` bytes it read.
 * The socket is closed only once `delivered` (the target's hash of what it got) settles:
 * kcptun drops what is still in flight upstream when the client closes.
 */
export async function exchangeClient(
  socket: net.Socket | StreamFD,
  size: number,
  timeoutMs: number,
  delivered: () => Promise<string> | undefined,
): Promise<{ got: string; sent: string }> {
  const h = createHash('sha256');
  let got = 0;
  const done = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`exchange: ${got} of ${size} bytes after ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.on('data', (d: Buffer) => {
      h.update(d);
      got += d.length;
      if (got >= size) {
        clearTimeout(timer);
        resolve(h.digest('hex'));
      }
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
  socket.write(pattern(size, 1));
  const deadline = Date.now() + timeoutMs;
  try {
    const got = await done;
    let sent: string | undefined;
    while (sent === undefined && Date.now() < deadline) {
      const p = delivered();
      if (p !== undefined) sent = await withTimeout(p, deadline - Date.now());
      else await sleep(10);
    }
    return { got, sent: sent ?? 'nothing delivered' };
  } finally {
    socket.destroy();
  }
}

function withTimeout(p: Promise<string>, ms: number): Promise<string> {
  return Promise.race([p, sleep(Math.max(0, ms)).then(() => 'timeout waiting for the target')]);
}

export async function tcpConnect(port: number): Promise<net.Socket> {
  const s = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    s.once('connect', resolve);
    s.once('error', reject);
  });
  return s;
}

/** Spawns a kcptun binary; the returned stop() kills it and waits for its exit. */
export function spawnKcptun(
  path: string,
  args: string[],
): { child: ChildProcess; stop: () => Promise<void> } {
  const child = spawn(path, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr?.on('data', (d: Buffer) => {
    if (log.length < 20000) log += d.toString();
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    child,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await Promise.race([exited, sleep(2000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

/**
 * A Debian kcptun peer on loopback: a client (`-l 127.0.0.1:LISTEN -r TO`) or a
 * server (`-l 127.0.0.1:LISTEN -t TO`) with `--key`, `--crypt`, an optional
 * `--mode`, more flags, and `--quiet`.
 */
export function kcptunPeer(
  path: string,
  role: 'client' | 'server',
  listen: number,
  to: string,
  o: { key: string; crypt: string; mode?: string; extra?: readonly string[] },
): { child: ChildProcess; stop: () => Promise<void> } {
  return spawnKcptun(path, [
    '-l',
    `127.0.0.1:${listen}`,
    role === 'client' ? '-r' : '-t',
    to,
    '--key',
    o.key,
    '--crypt',
    o.crypt,
    ...(o.mode === undefined ? [] : ['--mode', o.mode]),
    ...(o.extra ?? []),
    '--quiet',
  ]);
}

/** Bidirectional pipe of a local socket and a tunnel stream; each side closes the other. */
export function splice(a: net.Socket | StreamFD, b: net.Socket | StreamFD): void {
  a.on('error', () => b.destroy());
  b.on('error', () => a.destroy());
  a.pipe(b);
  b.pipe(a);
  a.on('close', () => b.destroy());
  b.on('close', () => a.destroy());
}
