// Loopback TCP throughput: iperf3 direct vs. through `vproxy simple` vs. through HAProxy
// (mode tcp, nbthread 1), for 1 and 8 parallel streams. Each cell is the median of
// BENCH_RUNS runs (default 3) of BENCH_SECONDS seconds (default 10) of
// `iperf3 -c 127.0.0.1 -p PORT -t S -P N -J`, reading end.sum_received.bits_per_second.
//
// Needs iperf3 and haproxy on PATH (Debian: apt-get install -y iperf3 haproxy).
// Run: npm run bench:throughput    (builds, then runs this file)
// Quick smoke run: BENCH_SECONDS=2 BENCH_RUNS=1 node bench/throughput.mjs
import { execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const STREAMS = [1, 8];
const HOST = '127.0.0.1';
const VPROXY = fileURLToPath(new URL('../dist/apps/vproxy.js', import.meta.url));

const children = new Set(); // long-running servers
const clients = new Set(); // iperf3 client processes in flight
let interrupted = false;
let tmpDir;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (msg) => process.stderr.write(`${msg}\n`);

function requireTool(cmd, args, pkg) {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  if (r.error) throw new Error(`${cmd} not found on PATH; install it: apt-get install -y ${pkg}`);
}

/** An ephemeral port: bind port 0, read the number, release it. */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Start a long-running child; keep the tail of its output for error reports. */
function startChild(name, cmd, args) {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const child = { name, proc, output: '', exit: null, stopping: false };
  const keep = (chunk) => {
    child.output = (child.output + chunk).slice(-4000);
  };
  proc.stdout.setEncoding('utf8').on('data', keep);
  proc.stderr.setEncoding('utf8').on('data', keep);
  proc.on('error', (err) => keep(`spawn error: ${err.message}\n`));
  proc.on('exit', (code, signal) => {
    child.exit = { code, signal };
    children.delete(child);
    if (!child.stopping) log(`!! ${name} exited unexpectedly (${describeExit(child)})`);
  });
  children.add(child);
  return child;
}

const describeExit = (c) => (c.exit.signal ? `signal ${c.exit.signal}` : `code ${c.exit.code}`);
const childReport = (c) => `${c.name} (${describeExit(c)}), last output:\n${c.output.trim()}`;

/** Is something in LISTEN state on HOST:port? Read /proc so no probe connection is made. */
function isListening(port) {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .some((line) => {
      const f = line.trim().split(/\s+/);
      return f[1] === local && f[3] === '0A';
    });
}

async function waitListening(child, port, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!isListening(port)) {
    if (child.exit) throw new Error(`failed to start: ${childReport(child)}`);
    if (Date.now() > deadline) throw new Error(`${child.name} not listening on ${port}`);
    await sleep(50);
  }
}

async function stopChild(child) {
  if (!child || child.exit) return;
  child.stopping = true;
  const exited = new Promise((resolve) => child.proc.once('exit', resolve));
  child.proc.kill('SIGTERM');
  const timer = setTimeout(() => child.proc.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

function iperf3Client(port, streams) {
  const args = ['-c', HOST, '-p', String(port), '-t', String(SECONDS), '-P', String(streams), '-J'];
  const opts = { timeout: (SECONDS + 30) * 1000, maxBuffer: 64 << 20 };
  return new Promise((resolve) => {
    const proc = execFile('iperf3', args, opts, (err, out) => {
      clients.delete(proc);
      try {
        resolve(JSON.parse(out));
      } catch {
        resolve({ error: err ? err.message : 'unparseable iperf3 output' });
      }
    });
    clients.add(proc);
  });
}

/** One measurement in bits/s; retries a few times if the server is still finishing a test. */
async function measure(port, streams, proxy) {
  for (let attempt = 1; ; attempt++) {
    const json = await iperf3Client(port, streams);
    const bps = json.end?.sum_received?.bits_per_second;
    if (!json.error && typeof bps === 'number') return bps;
    if (interrupted) throw new Error('interrupted');
    await sleep(2000); // let a crashed server's exit be noticed, or a busy one finish
    const dead = servers(proxy).filter((c) => c.exit);
    if (dead.length > 0)
      throw new Error(`iperf3 failed: ${json.error}\n${dead.map(childReport).join('\n')}`);
    if (attempt >= 3) throw new Error(`iperf3 failed ${attempt} times, last: ${json.error}`);
    log(`   iperf3 error (${json.error}), retrying`);
  }
}

let iperfServer;
const servers = (proxy) => [iperfServer, proxy].filter(Boolean);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function benchConfig(label, port, proxy) {
  const result = {};
  for (const streams of STREAMS) {
    const samples = [];
    for (let run = 1; run <= RUNS; run++) {
      const bps = await measure(port, streams, proxy);
      samples.push(bps);
      log(`   ${label}, -P ${streams}, run ${run}/${RUNS}: ${(bps / 1e9).toFixed(2)} Gbit/s`);
      await sleep(500);
    }
    result[streams] = median(samples);
  }
  return result;
}

/** Command lines for the proxies, listening on `port` and forwarding to `backendPort`. */
function vproxyCommand(port, backendPort) {
  const args = `simple --bind ${HOST}:${port} --backend ${HOST}:${backendPort}`.split(' ');
  return [process.execPath, [VPROXY, ...args]];
}

function haproxyCommand(port, backendPort) {
  const cfg = join(tmpDir, 'haproxy.cfg');
  writeFileSync(
    cfg,
    `global
  nbthread 1
  maxconn 1000

defaults
  mode tcp
  timeout connect 5s
  timeout client 1m
  timeout server 1m

listen bench
  bind ${HOST}:${port}
  server iperf3 ${HOST}:${backendPort}
`,
  );
  return ['haproxy', ['-f', cfg, '-db']];
}

function cpuModel() {
  const m = readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.+)$/m);
  return m ? m[1].trim() : 'unknown';
}

function printTable(results) {
  const gbit = (bps) => (bps / 1e9).toFixed(2);
  const ratio = (a, b) => `${(a / b).toFixed(2)}x`;
  const direct = results[0].r;
  const lines = [
    `node ${process.version}, CPU: ${cpuModel()}, nproc: ${availableParallelism()}`,
    `iperf3 -t ${SECONDS}, median of ${RUNS} run(s), loopback ${HOST}`,
    '',
    '| config | 1 stream Gbit/s | vs direct | 8 streams Gbit/s | vs direct |',
    '| --- | ---: | ---: | ---: | ---: |',
  ];
  for (const { label, r } of results) {
    lines.push(
      `| ${label} | ${gbit(r[1])} | ${ratio(r[1], direct[1])} | ${gbit(r[8])} | ${ratio(r[8], direct[8])} |`,
    );
  }
  const [, vp, ha] = results;
  lines.push(
    '',
    `vproxy / haproxy: ${ratio(vp.r[1], ha.r[1])} (1 stream), ${ratio(vp.r[8], ha.r[8])} (8 streams)`,
  );
  console.log(lines.join('\n'));
}

async function main() {
  requireTool('iperf3', ['--version'], 'iperf3');
  requireTool('haproxy', ['-v'], 'haproxy');
  if (!existsSync(VPROXY)) throw new Error(`${VPROXY} missing; run npm run build first`);
  tmpDir = mkdtempSync(join(tmpdir(), 'vproxy-bench-'));

  const iperfPort = await freePort();
  iperfServer = startChild('iperf3 server', 'iperf3', ['-s', '-B', HOST, '-p', String(iperfPort)]);
  await waitListening(iperfServer, iperfPort);

  const configs = [
    ['direct', null],
    ['vproxy simple', vproxyCommand],
    ['haproxy nbthread 1', haproxyCommand],
  ];
  const results = [];
  for (const [label, command] of configs) {
    log(`== ${label}`);
    const port = command ? await freePort() : iperfPort;
    const proxy = command ? startChild(label, ...command(port, iperfPort)) : null;
    try {
      if (proxy) await waitListening(proxy, port);
      results.push({ label, r: await benchConfig(label, port, proxy) });
    } finally {
      await stopChild(proxy);
    }
    if (proxy?.output.trim()) log(`   ${label} output: ${proxy.output.trim()}`);
  }
  printTable(results);
}

async function cleanup() {
  for (const proc of clients) proc.kill('SIGTERM');
  await Promise.all([...children].map(stopChild));
  if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
}

// Last resort if we exit without going through cleanup().
process.on('exit', () => {
  for (const proc of clients) proc.kill('SIGKILL');
  for (const c of children) c.proc.kill('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    interrupted = true;
    log(`\ninterrupted (${sig}), cleaning up`);
    cleanup().finally(() => process.exit(130));
  });
}

try {
  await main();
} catch (err) {
  console.error(`bench failed: ${err.message}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
