// Loopback throughput of one mux stream (mux+tcp) against plain TCP, and of
// several mux streams sharing one session. The receivers run in a child
// process so sender and receiver each get a core. Each cell is the median of
// BENCH_RUNS runs (default 3) moving BENCH_MB megabytes (default 100); runs are
// interleaved (run 1 of every case, then run 2…) so drift hits every case alike.
// Results go to bench/results/mux.json.
//
// Run: npm run build && node bench/mux.mjs
// Quick smoke run: BENCH_RUNS=1 BENCH_MB=10 node bench/mux.mjs
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, connect as netConnect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { interleaved, median, writeResults } from './lib/results.mjs';

const MB = 1024 * 1024;
const TOTAL = Number(process.env.BENCH_MB ?? 100) * MB;
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const HOST = '127.0.0.1';
const dist = new URL('../dist/', import.meta.url);
const { createDefaultRegistry } = await import(new URL('transports/default-registry.js', dist));

// ---- receiver (child process) ------------------------------------------------

/** Read a stream to its end, then answer with the byte count and close. */
function sink(fd) {
  let bytes = 0;
  fd.on('data', (chunk) => {
    bytes += chunk.length;
  });
  fd.on('end', () => fd.end(`${bytes}`));
  fd.on('error', () => {});
}

async function runReceiver() {
  const registry = createDefaultRegistry();
  const tcp = createServer({ allowHalfOpen: true }, sink);
  tcp.listen(0, HOST);
  await once(tcp, 'listening');
  const window = process.env.BENCH_WINDOW ? `?window=${process.env.BENCH_WINDOW}` : '';
  const mux = await registry.listen(`mux+tcp://${HOST}:0${window}`);
  mux.on('connection', sink);
  process.stdout.write(`${JSON.stringify({ tcp: tcp.address().port, mux: mux.address().port })}\n`);
  // Each line on stdin asks for this process's CPU time so far (user + system, µs).
  process.stdin.setEncoding('utf8').on('data', () => {
    const { user, system } = process.cpuUsage();
    process.stdout.write(`${user + system}\n`);
  });
  process.stdin.on('end', () => process.exit(0));
}

// ---- sender ------------------------------------------------------------------

/** Write `bytes` (one reused 64 KiB block) honouring back-pressure, end, await the count. */
async function send(fd, bytes) {
  const block = Buffer.alloc(64 * 1024, 0x5a);
  const answer = [];
  fd.on('data', (c) => answer.push(c));
  const ended = once(fd, 'end');
  let left = bytes;
  while (left > 0) {
    const chunk = left >= block.length ? block : block.subarray(0, left);
    left -= chunk.length;
    if (!fd.write(chunk)) await once(fd, 'drain');
  }
  fd.end();
  await ended;
  const got = Number(Buffer.concat(answer).toString());
  if (got !== bytes) throw new Error(`receiver counted ${got} bytes, sent ${bytes}`);
}

let child;

/** The receiver's CPU time so far, in µs. */
async function receiverCpu() {
  child.stdin.write('cpu\n');
  const [line] = await once(child.stdout, 'data');
  return Number(line);
}

/** One run: Gbit/s, and CPU seconds per GB moved in the sender and in the receiver. */
async function timed(streams, open) {
  const fds = await Promise.all(Array.from({ length: streams }, open));
  const rxBefore = await receiverCpu();
  const txBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  await Promise.all(fds.map((fd) => send(fd, TOTAL / streams)));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const tx = process.cpuUsage(txBefore);
  const rx = (await receiverCpu()) - rxBefore;
  for (const fd of fds) fd.destroy();
  const gb = TOTAL / 1e9;
  return {
    gbits: (TOTAL * 8) / seconds / 1e9,
    txCpu: (tx.user + tx.system) / 1e6 / gb,
    rxCpu: rx / 1e6 / gb,
  };
}

async function runSender() {
  child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--receiver'], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: process.env,
  });
  const [line] = await once(child.stdout.setEncoding('utf8'), 'data');
  const ports = JSON.parse(line);
  const registry = createDefaultRegistry();
  const window = process.env.BENCH_WINDOW ? `?window=${process.env.BENCH_WINDOW}` : '';
  const tcp = async () => {
    const s = netConnect({ host: HOST, port: ports.tcp, allowHalfOpen: true, noDelay: true });
    await once(s, 'connect');
    return s;
  };
  const mux = () => registry.connect(`mux+tcp://${HOST}:${ports.mux}${window}`);
  const cases = [
    ['tcp, 1 connection', 1, tcp],
    ['mux+tcp, 1 stream', 1, mux],
    ['mux+tcp, 8 streams / 1 session', 8, mux],
    ['tcp, 8 connections', 8, tcp],
  ];
  for (const [, streams, open] of cases) await timed(streams, open); // warm-up
  const samples = await interleaved(RUNS, cases, async ([name, streams, open], run) => {
    const r = await timed(streams, open);
    process.stderr.write(`   ${name}, run ${run}/${RUNS}: ${r.gbits.toFixed(2)} Gbit/s\n`);
    return r;
  });
  const rows = cases.map(([name], i) => {
    const runs = samples[i];
    return {
      name,
      gbits: median(runs.map((r) => r.gbits)),
      all: runs.map((r) => r.gbits.toFixed(2)).join(' / '),
      txCpu: median(runs.map((r) => r.txCpu)),
      rxCpu: median(runs.map((r) => r.rxCpu)),
    };
  });
  const mb = TOTAL / MB;
  const table = {
    caption: `\`bench/mux.mjs\`: ${mb} MB per run over loopback`,
    columns: ['case', 'Gbit/s', 'runs (Gbit/s)', 'sender CPU s/GB', 'receiver CPU s/GB'],
    rows: rows.map((r) => [
      r.name,
      r.gbits.toFixed(2),
      r.all,
      r.txCpu.toFixed(2),
      r.rxCpu.toFixed(2),
    ]),
  };
  console.log(`\n${mb} MB per run over loopback, medians of ${RUNS} interleaved runs\n`);
  console.log(`| ${table.columns.join(' | ')} |`);
  console.log('|---|---:|---|---:|---:|');
  for (const row of table.rows) console.log(`| ${row.join(' | ')} |`);
  writeResults('mux', { runs: RUNS, table, results: { megabytes: mb, rows } });
  const ratio = rows[1].gbits / rows[0].gbits;
  console.log(`\none mux stream: ${(ratio * 100).toFixed(0)} % of plain TCP throughput`);
  child.stdin.end();
  await once(child, 'exit');
  process.exit(0);
}

if (process.argv.includes('--receiver')) await runReceiver();
else await runSender();
