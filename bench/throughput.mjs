// Loopback TCP throughput: iperf3 direct vs. through `vproxy simple` vs. through HAProxy
// (mode tcp, nbthread 1), for 1 and 8 parallel streams. Each cell is the median of
// BENCH_RUNS runs (default 3) of BENCH_SECONDS seconds (default 10) of
// `iperf3 -c 127.0.0.1 -p PORT -t S -P N -J`, reading end.sum_received.bits_per_second.
//
// Needs iperf3 and haproxy on PATH (Debian: apt-get install -y iperf3 haproxy).
// Run: npm run bench:throughput    (builds, then runs this file)
// Quick smoke run: BENCH_SECONDS=2 BENCH_RUNS=1 node bench/throughput.mjs
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { haproxyCommand } from './lib/haproxy.mjs';
import { measureIperf3 } from './lib/iperf3.mjs';
import {
  freePort,
  HOST,
  log,
  machineLine,
  makeTempDir,
  median,
  requireTool,
  runMain,
  sleep,
  startChild,
  stopChild,
  waitListening,
} from './lib/procs.mjs';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const STREAMS = [1, 8];
const VPROXY = fileURLToPath(new URL('../dist/apps/vproxy.js', import.meta.url));

let tmpDir;
let iperfServer;

async function benchConfig(label, port, proxy) {
  const result = {};
  for (const streams of STREAMS) {
    const samples = [];
    for (let run = 1; run <= RUNS; run++) {
      const bps = await measureIperf3(port, streams, SECONDS, [iperfServer, proxy]);
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

function haproxy(port, backendPort) {
  return haproxyCommand(tmpDir, [{ port, backendPort }]);
}

function printTable(results) {
  const gbit = (bps) => (bps / 1e9).toFixed(2);
  const ratio = (a, b) => `${(a / b).toFixed(2)}x`;
  const direct = results[0].r;
  const lines = [
    machineLine(),
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
  tmpDir = makeTempDir();

  const iperfPort = await freePort();
  iperfServer = startChild('iperf3 server', 'iperf3', ['-s', '-B', HOST, '-p', String(iperfPort)]);
  await waitListening(iperfServer, iperfPort);

  const configs = [
    ['direct', null],
    ['vproxy simple', vproxyCommand],
    ['haproxy nbthread 1', haproxy],
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

await runMain(main);
