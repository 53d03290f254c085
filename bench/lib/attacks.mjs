// Attack and measurement helpers for bench/adversarial.mjs (issue 10): what a client
// without any password can do to a daemon's listeners, and how we watch the daemon
// (fds and RSS from /proc) and a legitimate client while it happens. Loopback only;
// every helper is bounded in count and time by its arguments.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { HOST, sleep } from './procs.mjs';

const MB = 1024 * 1024;

/** Open file descriptors of a process (each proxied connection costs the daemon 2). */
export function fdCount(pid) {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return Number.NaN; // the process is gone
  }
}

/** Resident set size in bytes, from /proc/PID/status (NaN once the process is gone). */
export function rssOf(pid) {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
    return m ? Number(m[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/**
 * Raise a process's descriptor limit (soft and hard) with prlimit. Works as root (CI, this
 * box); otherwise it changes nothing and says so: the 10,000-connection row then needs a
 * hard limit above 20,000 from the shell (`ulimit -Hn 65536`).
 */
export function raiseFdLimit(pid, limit = 65_536) {
  const r = spawnSync('prlimit', ['--pid', String(pid), `--nofile=${limit}:${limit}`], {
    stdio: 'ignore',
  });
  return r.status === 0;
}

/** The soft "Max open files" limit of a process, from /proc/PID/limits. */
export function fdLimitOf(pid) {
  const m = readFileSync(`/proc/${pid}/limits`, 'utf8').match(/^Max open files\s+(\d+)/m);
  return m ? Number(m[1]) : Number.NaN;
}

/** Samples a process's fds and RSS every `everyMs` and keeps the peaks. */
export class Watch {
  constructor(pid, everyMs = 50) {
    this.pid = pid;
    this.before = { fds: fdCount(pid), rss: rssOf(pid) };
    this.peak = { ...this.before };
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  sample() {
    const fds = fdCount(this.pid);
    const rss = rssOf(this.pid);
    if (fds > this.peak.fds) this.peak.fds = fds;
    if (rss > this.peak.rss) this.peak.rss = rss;
    return { fds, rss };
  }

  stop() {
    clearInterval(this.timer);
    this.sample();
  }

  /**
   * After the attack stopped: wait (at most `timeoutMs`) until fds are back within
   * `fdMargin` of the baseline, and note when RSS is within `rssMarginBytes` of it (V8
   * rarely hands memory back quickly, so RSS recovery is reported, not waited for alone).
   */
  async recover({ timeoutMs = 15_000, fdMargin = 3, rssMarginBytes = 24 * MB } = {}) {
    const t0 = Date.now();
    let fdMs = null;
    let rssMs = null;
    let now = this.sample();
    for (;;) {
      const elapsed = Date.now() - t0;
      if (fdMs === null && now.fds <= this.before.fds + fdMargin) fdMs = elapsed;
      if (rssMs === null && now.rss <= this.before.rss + rssMarginBytes) rssMs = elapsed;
      if ((fdMs !== null && rssMs !== null) || elapsed >= timeoutMs || Number.isNaN(now.fds)) break;
      // Once fds are back, give RSS at most 2 s more: a heap that stays big is the result.
      if (fdMs !== null && elapsed - fdMs > 2000) break;
      await sleep(100);
      now = this.sample();
    }
    this.after = now;
    return { fdMs, rssMs, waitedMs: Date.now() - t0 };
  }
}

// ---------------------------------------------------------------- legitimate clients

/**
 * Run `probe()` back to back (one at a time, each bounded by its own timeout) until
 * `stop()` returns true; resolves with latency percentiles and the success rate.
 */
export async function probeLoop(probe, stop, pauseMs = 20) {
  const ok = [];
  let failed = 0;
  const errors = new Map();
  while (!stop()) {
    const t0 = performance.now();
    try {
      await probe();
      ok.push(performance.now() - t0);
    } catch (err) {
      failed++;
      const key = String(err?.message ?? err).slice(0, 60);
      errors.set(key, (errors.get(key) ?? 0) + 1);
    }
    await sleep(pauseMs);
  }
  return latencyStats(ok, failed, errors);
}

export function latencyStats(ok, failed, errors = new Map()) {
  const sorted = [...ok].sort((a, b) => a - b);
  const pct = (p) =>
    sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
  return {
    attempts: ok.length + failed,
    ok: ok.length,
    p50: pct(0.5),
    p99: pct(0.99),
    errors: Object.fromEntries(errors),
  };
}

/**
 * One request/response on a fresh connection: write `request`, resolve once the reply
 * collected so far satisfies `done`; reject on close, error or `timeoutMs`.
 */
function exchange(socket, request, done, timeoutMs, connectEvent = 'connect') {
  return new Promise((resolve, reject) => {
    let got = '';
    const timer = setTimeout(() => finish(new Error('timeout')), timeoutMs);
    const finish = (err) => {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(got);
    };
    socket.on(connectEvent, () => socket.write(request));
    socket.on('data', (chunk) => {
      got += chunk.toString('latin1');
      if (done(got)) finish(null);
    });
    socket.on('error', (err) => finish(err));
    socket.on('close', () => finish(new Error(`closed after ${got.length} bytes`)));
  });
}

/** Echo through a tcp-lb on tcp:// (the backend is an echo server). */
export const tcpEchoProbe =
  (port, timeoutMs = 2000) =>
  () =>
    exchange(connect(port, HOST), 'ping\n', (s) => s === 'ping\n', timeoutMs);

/** Echo through a tcp-lb on tls:// (self-signed certificate: not verified here). */
export const tlsEchoProbe =
  (port, timeoutMs = 2000) =>
  () =>
    exchange(
      tlsConnect({ port, host: HOST, rejectUnauthorized: false }),
      'ping\n',
      (s) => s === 'ping\n',
      timeoutMs,
      'secureConnect',
    );

/** AUTH + PING on the RESP controller, as redis-cli would send them. */
export const respProbe =
  (port, password, timeoutMs = 2000) =>
  () =>
    exchange(
      connect(port, HOST),
      `*2\r\n$4\r\nAUTH\r\n$${password.length}\r\n${password}\r\n*1\r\n$4\r\nPING\r\n`,
      (s) => s === '+OK\r\n+PONG\r\n',
      timeoutMs,
    );

/** GET /healthz with the bearer token on the HTTP controller. */
export const httpProbe =
  (port, token, timeoutMs = 2000) =>
  () =>
    exchange(
      connect(port, HOST),
      `GET /healthz HTTP/1.1\r\nHost: ${HOST}:${port}\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`,
      (s) => /^HTTP\/1\.1 200 [\s\S]*\r\n\r\n[\s\S]*"ok"/.test(s),
      timeoutMs,
    );

/** SOCKS5 no-auth CONNECT to the echo backend through the socks5-server, then one echo. */
export function socks5Probe(port, target, timeoutMs = 2000) {
  const request = Buffer.concat([
    Buffer.from([5, 1, 0]),
    Buffer.from([5, 1, 0, 1, 127, 0, 0, 1, target >> 8, target & 0xff]),
    Buffer.from('ping\n'),
  ]);
  // Method choice (2 bytes) + reply for an IPv4 bound address (10 bytes) + the echo.
  return () =>
    exchange(
      connect(port, HOST),
      request,
      (s) => s.length >= 12 + 5 && s.endsWith('ping\n'),
      timeoutMs,
    );
}

/**
 * Echo through a listener reached with our own client transport (ws://, kcp://), from
 * dist/: `registry.connect` opens a stream, we write and wait for the echo.
 */
export function transportProbe(registry, address, timeoutMs = 3000) {
  return async () => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    let fd;
    try {
      fd = await registry.connect(address, { timeoutMs, signal: controller.signal });
      await new Promise((resolve, reject) => {
        let got = '';
        fd.on('data', (c) => {
          got += c.toString('latin1');
          if (got === 'ping\n') resolve();
        });
        fd.on('error', reject);
        fd.on('close', () => reject(new Error('closed before the echo')));
        controller.signal.addEventListener('abort', () => reject(new Error('timeout')));
        fd.write('ping\n');
      });
    } finally {
      clearTimeout(timer);
      fd?.destroy();
    }
  };
}

/**
 * A probe from a plain description, so a separate process can build it:
 * { kind: 'resp', port, password } | { kind: 'http', port, token } | { kind: 'tcp' | 'tls',
 * port } | { kind: 'socks5', port, target } | { kind: 'transport', address, registry } where
 * `registry` is the file URL of a dist/transports/default-registry.js.
 */
export async function makeProbe(spec) {
  switch (spec.kind) {
    case 'resp':
      return respProbe(spec.port, spec.password);
    case 'http':
      return httpProbe(spec.port, spec.token);
    case 'tcp':
      return tcpEchoProbe(spec.port);
    case 'tls':
      return tlsEchoProbe(spec.port);
    case 'socks5':
      return socks5Probe(spec.port, spec.target);
    case 'transport': {
      const { createDefaultRegistry } = await import(spec.registry);
      return transportProbe(createDefaultRegistry(), spec.address);
    }
    default:
      throw new Error(`no probe kind ${spec.kind}`);
  }
}

const SELF = fileURLToPath(import.meta.url);

/**
 * The legitimate client in a process of its own: the attack's sockets and loops share
 * this process's event loop, and the latency we report must be the daemon's, not ours.
 * It probes back to back until stop(), which resolves with its latency stats.
 */
export async function startLegitClient(spec) {
  const child = spawn(process.execPath, [SELF, 'legit-client', JSON.stringify(spec)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c) => {
    out += c;
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const deadline = Date.now() + 10_000;
  while (!out.includes('ready\n')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`legit client did not start: ${out}`);
    }
    await sleep(20);
  }
  return {
    async stop() {
      child.stdin.end(); // its cue to finish the probe in flight and report
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line === undefined) throw new Error(`legit client reported nothing: ${out}`);
      return JSON.parse(line);
    },
  };
}

async function legitClientMain(specText) {
  const probe = await makeProbe(JSON.parse(specText));
  let stop = false;
  process.stdin.on('end', () => {
    stop = true;
  });
  process.stdin.resume();
  process.stdout.write('ready\n');
  const stats = await probeLoop(probe, () => stop);
  process.stdout.write(`${JSON.stringify(stats)}\n`);
  process.exit(0); // pooled client sessions (kcp) may linger; the report is out
}

// ---------------------------------------------------------------- attacks

/**
 * Connect/close flood: `n` connections, `concurrency` at a time, each closed as soon as
 * it is established (our FIN; the server sees 'end'). Resolves with the count made,
 * failures and the elapsed time.
 */
export async function connectCloseFlood(port, n, { concurrency = 200, deadlineMs = 30_000 } = {}) {
  const t0 = Date.now();
  let started = 0;
  let made = 0;
  let failed = 0;
  const one = () =>
    new Promise((resolve) => {
      const s = connect(port, HOST);
      s.on('connect', () => {
        made++;
        s.end();
        s.destroy();
      });
      s.on('error', () => failed++);
      s.on('close', resolve);
    });
  const worker = async () => {
    while (started < n && Date.now() - t0 < deadlineMs) {
      started++;
      await one();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { made, failed, ms: Date.now() - t0 };
}

/**
 * Never-reading clients: `conns` connections each write `chunk` over and over and never
 * read a byte, for `durationMs` or until `abort()` returns true (e.g. the daemon's RSS
 * passed a cap). Writes honour our own socket's backpressure, so this process stays small;
 * what piles up is whatever the server buffers (its replies) without pausing its reader.
 */
export async function neverReading(port, chunk, { conns = 4, durationMs = 20_000, abort } = {}) {
  const t0 = Date.now();
  const sockets = [];
  let written = 0;
  let closedByPeer = 0;
  let done = false;
  const stopNow = () => done || Date.now() - t0 >= durationMs || (abort?.() ?? false);
  const pump = (s) =>
    new Promise((resolve) => {
      s.pause(); // never read: replies stay in the kernel, then in the server
      s.on('error', () => {});
      s.on('close', () => {
        if (!done) closedByPeer++;
        resolve();
      });
      const step = () => {
        for (let i = 0; i < 64; i++) {
          if (stopNow() || s.destroyed) return resolve();
          written += chunk.length;
          if (!s.write(chunk)) {
            // Wait for room, polling the stop condition: a server that stopped reading
            // never lets us drain.
            const wait = setInterval(() => {
              if (stopNow() || s.destroyed) {
                clearInterval(wait);
                resolve();
              }
            }, 100);
            s.once('drain', () => {
              clearInterval(wait);
              setImmediate(step);
            });
            return;
          }
        }
        setImmediate(step); // let timers (the RSS cap, the sampler) run
      };
      s.on('connect', step);
    });
  const runs = [];
  for (let i = 0; i < conns; i++) {
    const s = connect(port, HOST);
    sockets.push(s);
    runs.push(pump(s));
  }
  await Promise.all(runs);
  const aborted = abort?.() ?? false;
  done = true;
  for (const s of sockets) s.destroy();
  return { conns, writtenMB: written / MB, ms: Date.now() - t0, aborted, closedByPeer };
}

/**
 * Partial handshakes held open: `n` connections send `first`, then (slowloris) one more
 * byte of `trickle` every `trickleMs` — a handshake that never completes — or (half-open,
 * `trickle` null) nothing at all. We hold each until the server closes it or `capMs`
 * passes, then close the rest ourselves. Resolves with how many the server closed and when.
 */
export async function holdPartial(
  port,
  { n, first, trickle = null, trickleMs = 1000, capMs = 13_000, openConcurrency = 200 },
) {
  const t0 = Date.now();
  const closeTimes = [];
  const sockets = [];
  let refused = 0;
  let ticker = null;
  const open = () =>
    new Promise((resolve) => {
      const s = connect(port, HOST);
      const opened = Date.now();
      const state = { s, opened, sent: 0, closedByUs: false };
      s.on('error', () => {});
      s.on('connect', () => {
        s.write(first);
        sockets.push(state);
        resolve();
      });
      s.on('data', () => {}); // e.g. a 408 or an alert: read it, the close is what counts
      s.on('close', () => {
        if (!state.closedByUs && sockets.includes(state)) closeTimes.push(Date.now() - opened);
        if (!sockets.includes(state)) {
          refused++;
          resolve();
        }
      });
    });
  let index = 0;
  const worker = async () => {
    while (index < n && Date.now() - t0 < capMs) {
      index++;
      await open();
    }
  };
  const opening = Promise.all(Array.from({ length: openConcurrency }, worker));
  if (trickle !== null) {
    ticker = setInterval(() => {
      for (const st of sockets) {
        if (st.s.destroyed) continue;
        st.s.write(trickle.subarray(st.sent % trickle.length, (st.sent % trickle.length) + 1));
        st.sent++;
      }
    }, trickleMs);
  }
  await opening;
  const openedMs = Date.now() - t0;
  while (Date.now() - t0 < capMs && closeTimes.length < sockets.length) await sleep(100);
  if (ticker) clearInterval(ticker);
  const held = sockets.filter((st) => !st.s.destroyed).length;
  for (const st of sockets) {
    st.closedByUs = true;
    st.s.destroy();
  }
  const sorted = [...closeTimes].sort((a, b) => a - b);
  return {
    n: sockets.length,
    refused,
    openedMs,
    closedByServer: closeTimes.length,
    heldAtCap: held,
    closeMedianMs: sorted.length ? sorted[Math.floor(sorted.length / 2)] : null,
    closeMaxMs: sorted.length ? sorted[sorted.length - 1] : null,
    ms: Date.now() - t0,
  };
}

/**
 * Idle connections through a tcp-lb: `n` clients each get one echo back (so both legs,
 * client and backend, exist), then stay silent. Returns the sockets to close later.
 */
export async function openIdle(port, n, { concurrency = 500, deadlineMs = 60_000 } = {}) {
  const t0 = Date.now();
  const sockets = [];
  let failed = 0;
  let index = 0;
  const one = () =>
    new Promise((resolve) => {
      const s = connect(port, HOST);
      const timer = setTimeout(() => s.destroy(new Error('timeout')), 10_000);
      s.on('error', () => {});
      s.on('connect', () => s.write('x'));
      s.once('data', () => {
        clearTimeout(timer);
        sockets.push(s);
        resolve();
      });
      s.on('close', () => {
        clearTimeout(timer);
        if (!sockets.includes(s)) {
          failed++;
          resolve();
        }
      });
    });
  const worker = async () => {
    while (index < n && Date.now() - t0 < deadlineMs) {
      index++;
      await one();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { sockets, failed, ms: Date.now() - t0 };
}

/** A KCP segment header (24 bytes, little endian) + payload: what a client's first datagram looks like. */
export function kcpSessionStart(conv, payload = Buffer.alloc(16)) {
  const b = Buffer.alloc(24 + payload.length);
  b.writeUInt32LE(conv >>> 0, 0);
  b[4] = 81; // IKCP_CMD_PUSH
  b[5] = 0; // frg
  b.writeUInt16LE(1024, 6); // wnd
  b.writeUInt32LE(Date.now() >>> 0, 8); // ts
  b.writeUInt32LE(0, 12); // sn 0 ...
  b.writeUInt32LE(0, 16); // ... and una 0: the shape of a session start
  b.writeUInt32LE(payload.length, 20);
  payload.copy(b, 24);
  return b;
}

/**
 * Forged KCP session starts from `sources` UDP ports: every `everyMs`, each source sends
 * `perRound` datagrams — session-start shaped with fresh convs (`keyed` false) or random
 * bytes (`keyed` true: without the key nothing we make can be opened). Runs until `stop()`
 * returns true or `durationMs` passes.
 */
export async function kcpForge(
  port,
  { sources = 1000, perRound = 2, everyMs = 1000, durationMs = 10_000, keyed = false, stop },
) {
  const t0 = Date.now();
  const sockets = [];
  let sent = 0;
  let replies = 0;
  for (let i = 0; i < sources; i++) {
    const s = createSocket('udp4');
    s.on('error', () => {});
    s.on('message', () => replies++);
    await new Promise((resolve) => s.bind(0, HOST, resolve));
    sockets.push(s);
  }
  while (Date.now() - t0 < durationMs && !(stop?.() ?? false)) {
    for (const s of sockets) {
      for (let k = 0; k < perRound; k++) {
        const dgram = keyed
          ? randomBytes(24 + 16 + 40 + Math.floor(Math.random() * 64))
          : kcpSessionStart(randomBytes(4).readUInt32LE(0));
        s.send(dgram, port, HOST);
        sent++;
      }
    }
    await sleep(everyMs);
  }
  await Promise.all(sockets.map((s) => new Promise((resolve) => s.close(resolve))));
  return { sources, sent, replies, ms: Date.now() - t0 };
}

export const fmtMB = (bytes) => (Number.isNaN(bytes) ? 'gone' : (bytes / MB).toFixed(0));

if (process.argv[1] === SELF && process.argv[2] === 'legit-client') {
  await legitClientMain(process.argv[3]);
}
