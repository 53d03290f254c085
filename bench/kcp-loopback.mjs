// Loopback single-stream throughput of the kcp:// path against a plain TCP proxy, through
// real `vproxy simple` processes:
//
//   tcp:  client → vproxy simple (tcp → tcp) → sink
//   kcp:  client → vproxy simple (tcp → kcp) → vproxy simple (kcp → tcp) → sink
//
// The client and the sink live in this process; each proxy is its own process, so the CPU
// time per GB of each is read from /proc/PID/stat (utime + stime) around every transfer.
// Each cell is the median of BENCH_RUNS runs (default 3) moving BENCH_MB megabytes (200).
//
//   node bench/kcp-loopback.mjs
//   VPROXY_DIST=/tmp/kcp-perf-dist   compiled tree to run (default: dist). A tree built outside
//                                    the repo (tsc --outDir) needs a node_modules symlink to the
//                                    repo's and a package.json with {"type":"module"} in it.
//   BENCH_KCP_QUERY=mode=fast3       query of the kcp:// addresses; several separated by ';'
//                                    make one kcp row each (e.g. 'mode=fast3;mode=fast3&mtu=16384')
//   BENCH_CASES=tcp,kcp              which paths to run
//   BENCH_PROF=DIR                   run the proxies under --cpu-prof, profiles into DIR
//   BENCH_STDERR=1                   pass the proxies' stderr through
//   BENCH_KCP_STATS=1                proxies log at debug; each KCP session's end line
//                                    (kcp-session-end) is summed per case: new segments,
//                                    fast / timeout / spurious retransmissions (over all
//                                    RUNS transfers of the case: the session is pooled)
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, connect as netConnect } from 'node:net';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './lib/results.mjs';

const MB = 1024 * 1024;
const TOTAL = Number(process.env.BENCH_MB ?? 200) * MB;
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const HOST = '127.0.0.1';
const DIST = process.env.VPROXY_DIST
  ? resolve(process.env.VPROXY_DIST)
  : fileURLToPath(new URL('../dist/', import.meta.url));
const CLI = resolve(DIST, 'apps/vproxy.js');
const QUERIES = (process.env.BENCH_KCP_QUERY ?? 'mode=fast3').split(';');
const CASES = (process.env.BENCH_CASES ?? 'tcp,kcp').split(',');
const PROF = process.env.BENCH_PROF;
const KCP_STATS = process.env.BENCH_KCP_STATS === '1';
const RUN_TIMEOUT_MS = 180_000;
/** Clock ticks per second of /proc/PID/stat (USER_HZ: 100 on every Linux we run). */
const TICKS = 100;

// ---- processes ---------------------------------------------------------------------

/** Starts `vproxy simple`, resolves once it prints that it listens. */
async function startProxy(bind, backend) {
  const args = [];
  if (PROF) args.push('--cpu-prof', `--cpu-prof-dir=${PROF}`);
  args.push(CLI, 'simple', '--bind', bind, '--backend', backend);
  const env = KCP_STATS ? { ...process.env, VPROXY_LOG: 'debug' } : process.env;
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let err = '';
  child.kcpEnds = [];
  let line = '';
  child.stderr.on('data', (c) => {
    err += c;
    if (err.length > 1e6) err = err.slice(-1e5);
    if (process.env.BENCH_STDERR) process.stderr.write(c);
    if (!KCP_STATS) return;
    line += c;
    const lines = line.split('\n');
    line = lines.pop() ?? '';
    for (const l of lines) if (l.includes('kcp-session-end')) child.kcpEnds.push(kcpFields(l));
  });
  let out = '';
  await new Promise((ok, fail) => {
    const onData = (c) => {
      out += c;
      if (out.includes('listening on')) {
        child.stdout.off('data', onData);
        ok();
      }
    };
    child.stdout.on('data', onData);
    child.once('exit', (code) => fail(new Error(`vproxy simple exited (${code}): ${err}`)));
  });
  child.stdout.resume();
  return child;
}

async function stopProxy(child) {
  if (child.exitCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGINT'); // a clean exit writes the --cpu-prof profile
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** The numeric fields of a text log line (`name=123`). */
function kcpFields(line) {
  const out = {};
  for (const m of line.matchAll(/ ([a-zA-Z]+)=(\d+)(?= |$)/g)) out[m[1]] = Number(m[2]);
  return out;
}

/** kcp-session-end lines of the case's proxies, summed (both directions' senders). */
function kcpTotals(procs) {
  const keys = [
    'segmentsSent',
    'retransmitFast',
    'retransmitTimeout',
    'retransmitDuplicate',
    'retransmitSpurious',
    'retransmitSpuriousTimeout',
  ];
  const sum = Object.fromEntries(keys.map((k) => [k, 0]));
  for (const p of procs) for (const e of p.kcpEnds ?? []) for (const k of keys) sum[k] += e[k] ?? 0;
  return sum;
}

/** User + system CPU seconds a process has used so far. */
function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS; // utime, stime (fields 14, 15)
}

async function freeTcpPort() {
  const s = createServer().listen(0, HOST);
  await once(s, 'listening');
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

async function freeUdpPort() {
  const s = createSocket('udp4');
  s.bind(0, HOST);
  await once(s, 'listening');
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

// ---- one transfer ------------------------------------------------------------------

/** A TCP sink: each connection's byte count; `arrived(n)` resolves when n bytes are in. */
async function startSink() {
  let waiter = null;
  const server = createServer((sock) => {
    let count = 0;
    sock.on('data', (c) => {
      count += c.length;
      if (waiter !== null && count >= waiter.bytes) {
        const w = waiter;
        waiter = null;
        w.resolve(count);
      }
    });
    sock.on('error', () => {});
  });
  server.listen(0, HOST);
  await once(server, 'listening');
  return {
    port: server.address().port,
    arrived: (bytes) =>
      new Promise((r) => {
        waiter = { bytes, resolve: r };
      }),
    close: () => new Promise((r) => server.close(r)),
  };
}

const block = Buffer.alloc(64 * 1024);
for (let i = 0; i < block.length; i += 4) {
  block.writeUInt32LE((Math.imul(i + 1, 2654435761) ^ (i >>> 3)) >>> 0, i);
}

/** Writes TOTAL bytes into a connection to `port`, honouring backpressure. */
function pump(port) {
  const sock = netConnect(port, HOST);
  sock.on('error', () => {});
  let left = TOTAL;
  const write = () => {
    while (left > 0) {
      const n = Math.min(block.length, left);
      left -= n;
      if (!sock.write(n === block.length ? block : block.subarray(0, n))) {
        sock.once('drain', write);
        return;
      }
    }
  };
  sock.once('connect', write);
  return sock;
}

async function transfer(entryPort, sink, procs) {
  const cpu0 = procs.map((p) => cpuSeconds(p.pid));
  const self0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const done = sink.arrived(TOTAL);
  const sock = pump(entryPort);
  let timer;
  const timeout = new Promise((_, fail) => {
    timer = setTimeout(() => fail(new Error('transfer timed out')), RUN_TIMEOUT_MS);
  });
  await Promise.race([done, timeout]);
  clearTimeout(timer);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const self = process.cpuUsage(self0);
  const gb = TOTAL / 1e9;
  const cpu = procs.map((p, i) => (cpuSeconds(p.pid) - cpu0[i]) / gb);
  sock.destroy();
  return { mbps: TOTAL / MB / seconds, cpu, selfCpu: (self.user + self.system) / 1e6 / gb };
}

// ---- cases -------------------------------------------------------------------------

async function runCase(name, query, sink) {
  const procs = [];
  let entry;
  if (name === 'tcp') {
    entry = await freeTcpPort();
    procs.push(await startProxy(`tcp://${HOST}:${entry}`, `tcp://${HOST}:${sink.port}`));
  } else {
    const kcpPort = await freeUdpPort();
    entry = await freeTcpPort();
    const kcp = `kcp://${HOST}:${kcpPort}?${query}`;
    procs.push(await startProxy(kcp, `tcp://${HOST}:${sink.port}`)); // server side first
    procs.unshift(await startProxy(`tcp://${HOST}:${entry}`, kcp));
  }
  const runs = [];
  try {
    for (let i = 0; i < RUNS; i++) runs.push(await transfer(entry, sink, procs));
  } finally {
    await Promise.all(procs.map(stopProxy));
  }
  if (KCP_STATS && name !== 'tcp') runs.kcp = kcpTotals(procs);
  return runs;
}

const sink = await startSink();
const rows = [];
const plan = CASES.flatMap((name) =>
  name === 'tcp' ? [[name, '']] : QUERIES.map((q) => [name, q]),
);
for (const [name, query] of plan) {
  const runs = await runCase(name, query, sink);
  const mbps = median(runs.map((r) => r.mbps));
  const cpu = runs[0].cpu.map((_, i) => median(runs.map((r) => r.cpu[i])));
  rows.push({
    path: name === 'tcp' ? 'tcp → tcp' : `tcp → kcp(${query}) → tcp`,
    mbps,
    runs: runs.map((r) => r.mbps.toFixed(0)).join(' / '),
    cpu,
    selfCpu: median(runs.map((r) => r.selfCpu)),
    kcp: runs.kcp,
  });
}
await sink.close();

const fmt = (x) => x.toFixed(2);
console.log(
  `\nloopback, one stream, ${TOTAL / MB} MB, median of ${RUNS} (dist: ${DIST})\n` +
    '| path | MB/s | Gbit/s | runs MB/s | CPU s/GB per proxy | CPU s/GB client+sink |\n' +
    '| --- | ---: | ---: | --- | --- | ---: |',
);
for (const r of rows) {
  console.log(
    `| ${r.path} | ${r.mbps.toFixed(0)} | ${fmt((r.mbps * MB * 8) / 1e9)} | ${r.runs} | ` +
      `${r.cpu.map(fmt).join(' + ')} | ${fmt(r.selfCpu)} |`,
  );
}
if (KCP_STATS) {
  console.log(
    `\nKCP senders of each case, both directions, all ${RUNS} transfers (kcp-session-end)\n` +
      '| path | new segments | fast retransmits | timeout retransmits | duplicate copies | found spurious (of them timeouts) |\n' +
      '| --- | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const r of rows.filter((x) => x.kcp)) {
    const k = r.kcp;
    console.log(
      `| ${r.path} | ${k.segmentsSent} | ${k.retransmitFast} | ${k.retransmitTimeout} | ` +
        `${k.retransmitDuplicate} | ${k.retransmitSpurious} (${k.retransmitSpuriousTimeout}) |`,
    );
  }
}
