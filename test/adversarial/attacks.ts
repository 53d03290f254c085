import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import type { Registry } from '../../src/fd/registry.js';
import type { StreamFD } from '../../src/fd/stream-fd.js';
import { controllerArgs, HTTP_TOKEN, RESP_PASSWORD, redisCli, VPROXY_BIN } from '../helpers/cli.js';
import { closedPort } from '../helpers/net.js';

// Attacks on a daemon process and the measurements around them (issue 10), for
// daemon-attacks.test.ts. Loopback only; every attack is bounded in count and time by
// its arguments. bench/lib/attacks.mjs is the bigger sibling that prints the table.

const HOST = '127.0.0.1';
export const MB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------ the daemon

export interface DaemonPorts {
  readonly resp: number;
  readonly http: number;
  readonly tcp: number;
  readonly ws: number;
  readonly tls: number;
  readonly kcp: number;
  readonly kcpKey: number;
  readonly socks5: number;
}

export interface Daemon {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly ports: DaemonPorts;
  output(): string;
  stop(): Promise<void>;
}

export const KCP_KEY = 'kcp-test-key';

/**
 * `node --max-old-space-size=256 dist/apps/vproxy.js` (a runaway heap dies instead of
 * taking the machine with it), without prompt, saving or loading, then through redis-cli:
 * tcp-lbs on tcp://, ws://, tls:// (with `cert`/`key`), kcp:// without and with a key,
 * and a socks5-server, all in front of `backendPort`.
 */
export async function startDaemon(
  backendPort: number,
  tlsFiles: { readonly cert: string; readonly key: string },
): Promise<Daemon> {
  const ports: DaemonPorts = {
    resp: await closedPort(),
    http: await closedPort(),
    tcp: await closedPort(),
    ws: await closedPort(),
    tls: await closedPort(),
    kcp: await closedPort(),
    kcpKey: await closedPort(),
    socks5: await closedPort(),
  };
  const dir = mkdtempSync(join(tmpdir(), 'vproxy-adv-'));
  const child = spawn(
    process.execPath,
    [
      '--max-old-space-size=256',
      VPROXY_BIN,
      '--no-stdio',
      '--no-save',
      '--no-load-last',
      '--config-dir',
      dir,
      ...controllerArgs(ports),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-8000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      // A daemon stuck on thousands of sockets must not hold the suite: SIGKILL after 5 s.
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      () => /started; type/.test(output),
      10_000,
      () => `daemon not ready:\n${output}`,
    );
    const setup = [
      'add server-group sg0 timeout 500 period 1000 up 1 down 1 method wrr check none',
      `add server s0 to server-group sg0 address ${HOST}:${backendPort} weight 10`,
      'add upstream ups0',
      'add server-group sg0 to upstream ups0 weight 10',
      `add tcp-lb lb-tcp address tcp://${HOST}:${ports.tcp} upstream ups0`,
      `add tcp-lb lb-ws address ws://${HOST}:${ports.ws} upstream ups0`,
      `add cert-key ck0 cert ${tlsFiles.cert} key ${tlsFiles.key}`,
      `add tcp-lb lb-tls address tls://${HOST}:${ports.tls} upstream ups0 cert-key ck0`,
      `add tcp-lb lb-kcp address kcp://${HOST}:${ports.kcp} upstream ups0`,
      `add tcp-lb lb-kcp-key address kcp://${HOST}:${ports.kcpKey}?key=${KCP_KEY} upstream ups0`,
      `add socks5-server s5 address ${HOST}:${ports.socks5} upstream ups0`,
    ];
    for (const line of setup) {
      const out = await redisCli(ports.resp, line);
      if (out.join('\n') !== 'OK') throw new Error(`${line} -> ${out.join('\n')}`);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  if (child.pid === undefined) throw new Error('daemon has no pid');
  return { child, pid: child.pid, ports, output: () => output, stop };
}

async function waitFor(pred: () => boolean, ms: number, why: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(why());
    await sleep(20);
  }
}

// ------------------------------------------------------------------ measuring it

/** Open descriptors of a process (NaN once it is gone). */
export function fdCount(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return Number.NaN;
  }
}

/** VmRSS in bytes (NaN once the process is gone). */
export function rssOf(pid: number): number {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
    return m?.[1] === undefined ? Number.NaN : Number(m[1]) * 1024;
  } catch {
    return Number.NaN;
  }
}

/** Peaks of a process's fds and RSS, sampled every 50 ms until stop(). */
export class Watch {
  readonly before: { readonly fds: number; readonly rss: number };
  peakFds: number;
  peakRss: number;
  readonly #pid: number;
  readonly #timer: NodeJS.Timeout;

  constructor(pid: number) {
    this.#pid = pid;
    this.before = { fds: fdCount(pid), rss: rssOf(pid) };
    this.peakFds = this.before.fds;
    this.peakRss = this.before.rss;
    this.#timer = setInterval(() => this.sample(), 50);
  }

  sample(): { fds: number; rss: number } {
    const fds = fdCount(this.#pid);
    const rss = rssOf(this.#pid);
    if (fds > this.peakFds) this.peakFds = fds;
    if (rss > this.peakRss) this.peakRss = rss;
    return { fds, rss };
  }

  stop(): void {
    clearInterval(this.#timer);
    this.sample();
  }

  /** Wait (at most `ms`) until fds are within `margin` of the baseline; the count then. */
  async fdsSettled(ms: number, margin = 5): Promise<number> {
    const deadline = Date.now() + ms;
    let fds = fdCount(this.#pid);
    while (!(fds <= this.before.fds + margin) && Date.now() < deadline) {
      await sleep(100);
      fds = fdCount(this.#pid);
    }
    return fds;
  }
}

// ------------------------------------------------------------------ legitimate clients

export interface ProbeStats {
  readonly attempts: number;
  readonly ok: number;
  readonly p50: number | null;
  readonly p99: number | null;
  readonly errors: readonly string[];
}

/** `probe()` back to back, each bounded by its own timeout, until `done()`; at least once. */
export async function probeLoop(
  probe: () => Promise<void>,
  done: () => boolean,
): Promise<ProbeStats> {
  const ok: number[] = [];
  const errors: string[] = [];
  do {
    const t0 = performance.now();
    try {
      await probe();
      ok.push(performance.now() - t0);
    } catch (err) {
      errors.push((err as Error).message);
    }
    await sleep(20);
  } while (!done());
  ok.sort((a, b) => a - b);
  const pct = (p: number) => ok[Math.min(ok.length - 1, Math.floor(p * ok.length))] ?? null;
  return {
    attempts: ok.length + errors.length,
    ok: ok.length,
    p50: pct(0.5),
    p99: pct(0.99),
    errors,
  };
}

/** Write `request` on a fresh connection; resolve once the reply so far satisfies `done`. */
function exchange(
  socket: Socket,
  request: string | Buffer,
  done: (reply: string) => boolean,
  timeoutMs: number,
  ready: 'connect' | 'secureConnect' = 'connect',
): Promise<void> {
  return new Promise((resolve, reject) => {
    let got = '';
    const finish = (err: Error | null) => {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(() => finish(new Error(`timeout (${got.length} bytes)`)), timeoutMs);
    socket.on(ready, () => socket.write(request));
    socket.on('data', (chunk: Buffer) => {
      got += chunk.toString('latin1');
      if (done(got)) finish(null);
    });
    socket.on('error', (err) => finish(err));
    socket.on('close', () => finish(new Error(`closed after ${JSON.stringify(got)}`)));
  });
}

const PROBE_TIMEOUT_MS = 5000;

export const respProbe = (port: number) => () =>
  exchange(
    connect(port, HOST),
    `*2\r\n$4\r\nAUTH\r\n$${RESP_PASSWORD.length}\r\n${RESP_PASSWORD}\r\n*1\r\n$4\r\nPING\r\n`,
    (s) => s === '+OK\r\n+PONG\r\n',
    PROBE_TIMEOUT_MS,
  );

export const httpProbe = (port: number) => () =>
  exchange(
    connect(port, HOST),
    `GET /healthz HTTP/1.1\r\nHost: ${HOST}:${port}\r\nAuthorization: Bearer ${HTTP_TOKEN}\r\nConnection: close\r\n\r\n`,
    (s) => /^HTTP\/1\.1 200 [\s\S]*\r\n\r\n[\s\S]*"ok"/.test(s),
    PROBE_TIMEOUT_MS,
  );

/** A new connection through a tcp-lb on tcp:// and one echo. */
export const tcpEchoProbe = (port: number) => () =>
  exchange(connect(port, HOST), 'ping\n', (s) => s === 'ping\n', PROBE_TIMEOUT_MS);

/** The same through tls:// (our throwaway certificate is not verified here). */
export const tlsEchoProbe = (port: number) => () =>
  exchange(
    tlsConnect({ port, host: HOST, rejectUnauthorized: false }),
    'ping\n',
    (s) => s === 'ping\n',
    PROBE_TIMEOUT_MS,
    'secureConnect',
  );

/** SOCKS5 without auth: CONNECT to the echo backend, one echo. */
export function socks5Probe(port: number, target: number): () => Promise<void> {
  const request = Buffer.from([
    5,
    1,
    0,
    5,
    1,
    0,
    1,
    127,
    0,
    0,
    1,
    target >> 8,
    target & 0xff,
    ...Buffer.from('ping\n'),
  ]);
  // Method choice (2 bytes), the reply with an IPv4 address (10 bytes), then the echo.
  return () =>
    exchange(
      connect(port, HOST),
      request,
      (s) => s.length >= 17 && s.endsWith('ping\n'),
      PROBE_TIMEOUT_MS,
    );
}

/** One echo through a stream our own client transport opens (ws://, kcp://). */
export function transportProbe(registry: Registry, address: string): () => Promise<void> {
  return async () => {
    let fd: StreamFD | undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('timeout')), PROBE_TIMEOUT_MS);
      });
      const echo = (async () => {
        fd = await registry.connect(address, { timeoutMs: PROBE_TIMEOUT_MS });
        const stream = fd;
        await new Promise<void>((resolve, reject) => {
          let got = '';
          stream.on('data', (c: Buffer) => {
            got += c.toString('latin1');
            if (got === 'ping\n') resolve();
          });
          stream.on('error', reject);
          stream.on('close', () => reject(new Error('closed before the echo')));
          stream.write('ping\n');
        });
      })();
      echo.catch(() => {}); // a late rejection after the timeout won is not news
      await Promise.race([echo, timeout]);
    } finally {
      clearTimeout(timer);
      fd?.destroy();
    }
  };
}

// ------------------------------------------------------------------ attacks

/** `n` connections, `concurrency` at a time, each closed (FIN) as soon as it is up. */
export async function connectCloseFlood(
  port: number,
  n: number,
  concurrency = 100,
): Promise<{ made: number; failed: number }> {
  let started = 0;
  let made = 0;
  let failed = 0;
  const deadline = Date.now() + 20_000;
  const one = () =>
    new Promise<void>((resolve) => {
      const s = connect(port, HOST);
      s.on('connect', () => {
        made++;
        s.destroy();
      });
      s.on('error', () => failed++);
      s.on('close', () => resolve());
    });
  const worker = async () => {
    while (started < n && Date.now() < deadline) {
      started++;
      await one();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { made, failed };
}

/**
 * `conns` clients write `chunk` over and over for `durationMs` and never read (until
 * `abort()` says stop, e.g. the daemon's RSS passed a cap). Our writes honour our own
 * backpressure: what grows is whatever the server buffers without pausing its reader.
 * Resolves with how many connections the server closed on its own.
 */
export async function neverReading(
  port: number,
  chunk: Buffer,
  conns: number,
  durationMs: number,
  abort: () => boolean,
): Promise<{ closedByServer: number; writtenMB: number }> {
  const t0 = Date.now();
  let over = false;
  let closedByServer = 0;
  let written = 0;
  const stopNow = () => over || Date.now() - t0 >= durationMs || abort();
  const sockets: Socket[] = [];
  const pump = (s: Socket) =>
    new Promise<void>((resolve) => {
      s.pause();
      s.on('error', () => {});
      s.on('close', () => {
        if (!over) closedByServer++;
        resolve();
      });
      const step = () => {
        for (let i = 0; i < 64; i++) {
          if (stopNow() || s.destroyed) return resolve();
          written += chunk.length;
          if (!s.write(chunk)) {
            // A server that stopped reading never lets us drain: poll the stop condition.
            const poll = setInterval(() => {
              if (stopNow() || s.destroyed) {
                clearInterval(poll);
                resolve();
              }
            }, 100);
            s.once('drain', () => {
              clearInterval(poll);
              setImmediate(step);
            });
            return;
          }
        }
        setImmediate(step); // let the sampler and the cap check run
      };
      s.on('connect', step);
    });
  const runs: Promise<void>[] = [];
  for (let i = 0; i < conns; i++) {
    const s = connect(port, HOST);
    sockets.push(s);
    runs.push(pump(s));
  }
  await Promise.all(runs);
  over = true;
  for (const s of sockets) s.destroy();
  return { closedByServer, writtenMB: written / MB };
}

export interface HoldResult {
  readonly opened: number;
  readonly closedByServer: number;
  readonly maxCloseMs: number | null;
}

/**
 * `n` connections send `first` and then (slowloris) one byte of `trickle` a second, a
 * handshake that never completes, or (`trickle` null) nothing more. Each is held until
 * the server closes it or `capMs` passes; then we close the rest.
 */
export async function holdPartial(
  port: number,
  n: number,
  first: Buffer,
  trickle: Buffer | null,
  capMs: number,
): Promise<HoldResult> {
  const t0 = Date.now();
  const open: Socket[] = [];
  const closeTimes: number[] = [];
  let over = false;
  await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<void>((resolve) => {
          const s = connect(port, HOST);
          const opened = Date.now();
          s.on('error', () => {});
          s.on('data', () => {}); // a 408 or an alert may come first; the close is what counts
          s.on('connect', () => {
            s.write(first);
            open.push(s);
            resolve();
          });
          s.on('close', () => {
            if (!over && open.includes(s)) closeTimes.push(Date.now() - opened);
            resolve();
          });
        }),
    ),
  );
  let sent = 0;
  const ticker =
    trickle === null
      ? null
      : setInterval(() => {
          const at = sent++ % trickle.length;
          for (const s of open) if (!s.destroyed) s.write(trickle.subarray(at, at + 1));
        }, 1000);
  while (Date.now() - t0 < capMs && closeTimes.length < open.length) await sleep(100);
  over = true;
  if (ticker !== null) clearInterval(ticker);
  for (const s of open) s.destroy();
  return {
    opened: open.length,
    closedByServer: closeTimes.length,
    maxCloseMs: closeTimes.length === 0 ? null : Math.max(...closeTimes),
  };
}

/** Partial handshakes per listener kind: sent at once, then (slowloris) trickled. */
export const PARTIAL = {
  // AUTH whose 512-byte password never arrives in full.
  resp: { first: Buffer.from('*2\r\n$4\r\nAUTH\r\n$512\r\n'), trickle: Buffer.alloc(512, 'a') },
  http: {
    first: Buffer.from('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n'),
    trickle: Buffer.from('X-Slow: 1\r\n'),
  },
  // SOCKS version 5 announcing 255 methods; the method bytes trickle.
  socks5: { first: Buffer.from([0x05, 0xff]), trickle: Buffer.alloc(255, 0x80) },
  ws: {
    first: Buffer.from('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n'),
    trickle: Buffer.from('X-Slow: 1\r\n'),
  },
  // A TLS record header announcing a 512-byte ClientHello, and the handshake header.
  tls: {
    first: Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc]),
    trickle: Buffer.alloc(512, 0x03),
  },
} as const;

/** Idle connections through a tcp-lb: each gets one echo (both legs exist), then stays silent. */
export async function openIdle(port: number, n: number): Promise<Socket[]> {
  const sockets: Socket[] = [];
  const deadline = Date.now() + 30_000;
  let index = 0;
  const one = () =>
    new Promise<void>((resolve) => {
      const s = connect(port, HOST);
      s.on('error', () => {});
      s.on('connect', () => s.write('x'));
      s.once('data', () => {
        sockets.push(s);
        resolve();
      });
      s.on('close', () => resolve());
    });
  const worker = async () => {
    while (index < n && Date.now() < deadline) {
      index++;
      await one();
    }
  };
  await Promise.all(Array.from({ length: 100 }, worker));
  return sockets;
}

/** A KCP segment header (conv, PUSH, sn 0, una 0) + payload: the shape of a session start. */
export function kcpSessionStart(conv: number): Buffer {
  const payload = randomBytes(16);
  const b = Buffer.alloc(24 + payload.length);
  b.writeUInt32LE(conv >>> 0, 0);
  b[4] = 81; // IKCP_CMD_PUSH
  b.writeUInt16LE(1024, 6); // wnd
  b.writeUInt32LE(Date.now() >>> 0, 8); // ts
  b.writeUInt32LE(payload.length, 20); // sn (12) and una (16) stay 0
  payload.copy(b, 24);
  return b;
}

/**
 * Forged datagrams from `sources` UDP ports, `perRound` from each every 500 ms until
 * `done()`: session starts with fresh convs (keyless listener) or random bytes (keyed).
 */
export async function kcpForge(
  port: number,
  sources: number,
  perRound: number,
  keyed: boolean,
  done: () => boolean,
): Promise<number> {
  const sockets = await Promise.all(
    Array.from({ length: sources }, async () => {
      const s = createSocket('udp4');
      s.on('error', () => {});
      s.bind(0, HOST);
      await once(s, 'listening');
      return s;
    }),
  );
  let sent = 0;
  try {
    while (!done()) {
      for (const s of sockets) {
        for (let k = 0; k < perRound; k++) {
          s.send(
            keyed ? randomBytes(80) : kcpSessionStart(randomBytes(4).readUInt32LE(0)),
            port,
            HOST,
          );
          sent++;
        }
      }
      await sleep(500);
    }
  } finally {
    await Promise.all(sockets.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
  return sent;
}
