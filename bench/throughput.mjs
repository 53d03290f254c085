// Loopback TCP throughput: iperf3 direct vs. through `vproxy simple` vs. through HAProxy
// (mode tcp, nbthread 1), for 1 and 8 parallel streams. Each cell is the median of
// BENCH_RUNS runs (default 3) of BENCH_SECONDS seconds (default 10) of
// `iperf3 -c 127.0.0.1 -p PORT -t S -P N -J`, reading end.sum_received.bits_per_second.
// Runs are interleaved (run 1 of direct, vproxy, HAProxy, then run 2…) so drift in what
// else the machine does hits the three configs alike. Results go to bench/results/throughput.json.
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
import { interleaved, writeResults } from './lib/results.mjs';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const STREAMS = [1, 8];
const VPROXY = fileURLToPath(new URL('../dist/apps/vproxy.js', import.meta.url));

let tmpDir;
let iperfServer;

/** Command lines for the proxies, listening on `port` and forwarding to `backendPort`. */
function vproxyCommand(port, backendPort) {
  const args = `simple --bind ${HOST}:${port} --backend ${HOST}:${backendPort}`.split(' ');
  return [process.execPath, [VPROXY, ...args]];
}

function haproxy(port, backendPort) {
  return haproxyCommand(tmpDir, [{ port, backendPort }]);
}

const gbit = (bps) => (bps / 1e9).toFixed(2);
const ratio = (a, b) => `${(a / b).toFixed(2)}x`;

/** The table as printed and as written to bench/results/throughput.json for the README. */
function table(results) {
  const direct = results[0].r;
  return {
    caption: `\`bench:throughput\`: iperf3 -t ${SECONDS} on loopback, Gbit/s`,
    columns: ['config', '1 stream Gbit/s', 'vs direct', '8 streams Gbit/s', 'vs direct'],
    rows: results.map(({ label, r }) => [
      label,
      gbit(r[1]),
      ratio(r[1], direct[1]),
      gbit(r[8]),
      ratio(r[8], direct[8]),
    ]),
  };
}

function printTable(results, t) {
  const [, vp, ha] = results;
  const lines = [
    machineLine(),
    `iperf3 -t ${SECONDS}, median of ${RUNS} run(s), runs interleaved across configs, loopback ${HOST}`,
    '',
    `| ${t.columns.join(' | ')} |`,
    '| --- | ---: | ---: | ---: | ---: |',
    ...t.rows.map((row) => `| ${row.join(' | ')} |`),
    '',
    `vproxy / haproxy: ${ratio(vp.r[1], ha.r[1])} (1 stream), ${ratio(vp.r[8], ha.r[8])} (8 streams)`,
  ];
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

  // Every proxy stays up for the whole run, so runs can alternate between configs.
  const configs = [];
  for (const [label, command] of [
    ['direct', null],
    ['vproxy simple', vproxyCommand],
    ['haproxy nbthread 1', haproxy],
  ]) {
    const port = command ? await freePort() : iperfPort;
    const proxy = command ? startChild(label, ...command(port, iperfPort)) : null;
    if (proxy) await waitListening(proxy, port);
    configs.push({ label, port, proxy });
  }

  const samples = {}; // label -> streams -> bps per run
  for (const c of configs) samples[c.label] = Object.fromEntries(STREAMS.map((n) => [n, []]));
  for (const streams of STREAMS) {
    log(`== ${streams} stream(s)`);
    await interleaved(RUNS, configs, async (config, run) => {
      const bps = await measureIperf3(config.port, streams, SECONDS, [iperfServer, config.proxy]);
      samples[config.label][streams].push(bps);
      log(`   ${config.label}, -P ${streams}, run ${run}/${RUNS}: ${gbit(bps)} Gbit/s`);
      await sleep(500);
    });
  }
  for (const c of configs) {
    if (c.proxy?.exit) throw new Error(`${c.label} died during the run:\n${c.proxy.output}`);
    if (c.proxy?.output.trim()) log(`   ${c.label} output: ${c.proxy.output.trim()}`);
    await stopChild(c.proxy);
  }
  const results = configs.map(({ label }) => ({
    label,
    r: Object.fromEntries(STREAMS.map((n) => [n, median(samples[label][n])])),
  }));
  const t = table(results);
  printTable(results, t);
  writeResults('throughput', {
    runs: RUNS,
    seconds: SECONDS,
    table: t,
    results: { medians: results, samples, unit: 'bit/s' },
  });
}

await runMain(main);
