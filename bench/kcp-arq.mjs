// Micro-benchmark of the KCP control block alone (no sockets, no crypto): moves TOTAL bytes
// from block A to block B over a lossless in-memory channel with a fake clock and prints the
// payload rate. Both blocks run on this one thread, so the figure is sender + receiver work
// (every byte is copied in by send, packed by flush, parsed by input and copied out by recv;
// B's ACKs are parsed by A).
//
// Each datagram is handed to the peer's input() synchronously (output may call into the
// *other* block); the clock advances 1 ms per round, so the RTT is about 1 ms.
//
// Wall-clock and CPU-time rates are both printed: on a shared machine the CPU-time figure
// (user + system seconds of this process) is the steadier one.
//
// Run: npm run build && node bench/kcp-arq.mjs
// Options (env): KCP_BENCH_MB (default 200), KCP_BENCH_RUNS (default 3, median printed),
//   KCP_BENCH_MODES (comma list of scenario names, default all).
import { performance } from 'node:perf_hooks';
import { KcpControlBlock } from '../dist/transports/kcp/arq/index.js';
import { median } from './lib/results.mjs';

const TOTAL = Number(process.env.KCP_BENCH_MB ?? 200) * 1024 * 1024;
const RUNS = Number(process.env.KCP_BENCH_RUNS ?? 3);
const CHUNK = 64 * 1024;

const SCENARIOS = {
  'fast3 stream mtu1250': { preset: 'fast3', stream: true },
  'fast3 stream mtu1400': { preset: 'fast3', stream: true, mtu: 1400 },
  'fast3 stream pacing': { preset: 'fast3', stream: true, congestion: 'pacing', ackRepeat: true },
  'normal message mtu1250': { preset: 'normal', stream: false },
  'reference defaults stream': { stream: true, sndWnd: 1024, rcvWnd: 1024 },
};

function runOnce(options) {
  let a = null;
  let b = null;
  // Output hands the packed datagram straight to the other block (a view, like a received
  // Buffer): lossless, in order, zero delay.
  a = new KcpControlBlock(1, (d, n) => b.input(d.subarray(0, n)), options);
  b = new KcpControlBlock(1, (d, n) => a.input(d.subarray(0, n)), options);
  const src = new Uint8Array(CHUNK);
  for (let i = 0; i < CHUNK; i++) src[i] = (i * 31 + 7) & 0xff;
  const sink = new Uint8Array(256 * 1024);
  let sent = 0;
  let received = 0;
  let now = 0;
  let checksum = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  while (received < TOTAL) {
    while (sent < TOTAL && a.writableBytes > 0) {
      const n = Math.min(CHUNK, a.writableBytes, TOTAL - sent);
      a.send(n === CHUNK ? src : src.subarray(0, n));
      sent += n;
    }
    now++;
    a.flush(now);
    for (let n = b.recv(sink); n > 0; n = b.recv(sink)) {
      received += n;
      checksum = (checksum + sink[0] + sink[n - 1]) | 0;
    }
    b.flush(now);
    if (now > 10_000_000) throw new Error('no progress');
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(c0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const retransmits = a.stats.retransmitTimeout + a.stats.retransmitFast;
  return { seconds, cpuSeconds, rounds: now, checksum, retransmits };
}

function cell(mbps) {
  return `${mbps.toFixed(0).padStart(9)}  ${((mbps * 8) / 1000).toFixed(2).padStart(6)}`;
}

const wanted = process.env.KCP_BENCH_MODES?.split(',').map((s) => s.trim());
console.log(
  `KCP arq micro-benchmark: ${TOTAL / 1048576} MiB per run, median of ${RUNS} runs, node ${process.version}`,
);
console.log(
  'scenario                    wall MB/s  Gbit/s   CPU MB/s  Gbit/s   rounds  retransmits',
);
for (const [name, options] of Object.entries(SCENARIOS)) {
  if (wanted && !wanted.includes(name)) continue;
  runOnce({ ...options }); // warm-up (JIT)
  const results = [];
  for (let i = 0; i < RUNS; i++) results.push(runOnce({ ...options }));
  const wall = TOTAL / 1e6 / median(results.map((r) => r.seconds));
  const cpu = TOTAL / 1e6 / median(results.map((r) => r.cpuSeconds));
  const r = results[0];
  console.log(
    `${name.padEnd(28)}${cell(wall)} ${cell(cpu)}   ${String(r.rounds).padStart(6)}  ${r.retransmits}`,
  );
}
