// Load balancer benchmark (issue 5): direct vs. through our TcpLB vs. through HAProxy
// (mode tcp, nbthread 1), on loopback, for
//   - iperf3 throughput, 1 and 8 parallel streams (end.sum_received.bits_per_second);
//   - `wrk -c 50 -t 2` keep-alive request rate against nginx;
//   - the same with `Connection: close` (one connection per request: new-connection rate).
// Results (and the README's table) go to bench/results/lb.json; `npm run docs` puts them in README.md.
// Each cell is the median of BENCH_RUNS runs (default 3) of BENCH_SECONDS seconds
// (default 10). Runs are interleaved (run 1 of direct, TcpLB, HAProxy, then run 2…)
// so drift in what else the machine is doing hits the three configs alike.
// Every error wrk reports, and the TcpLB's own failure counters per test, are printed.
//
// Our TcpLB runs in its own node process (bench/lib/run-tcp-lb.mjs) from dist/.
// Needs iperf3, haproxy, nginx and wrk on PATH
// (Debian: apt-get install -y iperf3 haproxy nginx wrk).
// Run: npm run build && node bench/lb.mjs
// Quick smoke run: BENCH_SECONDS=2 BENCH_RUNS=1 node bench/lb.mjs
// Some tests only: BENCH_TESTS=keepalive,close (keys: iperf1, iperf8, keepalive, close).
//
// Multi-core (issue 16): TcpLB on 2 worker processes (RUN_WORKERS=2 in the
// runner: both accept on one socket) and HAProxy nbthread 2 run beside the
// one-core configs; their CPU is summed over processes / threads.
// BENCH_PIN=1 (run as `taskset -c 0 node bench/lb.mjs`): every client and
// backend stays on core 0, each one-process proxy runs on core 1 alone
// (`taskset -c 1`), and the table is requests per proxy CPU-second — a per-core
// comparison the shared 2-core machine can make fairly. Results go to
// bench/results/lb-pinned.json.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { haproxyCommand } from './lib/haproxy.mjs';
import { measureIperf3 } from './lib/iperf3.mjs';
import { printReport } from './lib/lb-report.mjs';
import { LbStats } from './lib/lb-stats.mjs';
import { nginxCommand, nginxErrors } from './lib/nginx.mjs';
import {
  cpuTimesTree,
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
  waitListening,
  waitOutput,
} from './lib/procs.mjs';
import { writeResults } from './lib/results.mjs';
import { describeWrkErrors, errorCount, runWrk } from './lib/wrk.mjs';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const PIN = process.env.BENCH_PIN === '1';
/** A proxy's command, on core 1 alone when pinned. */
const onProxyCore = (cmd, args) => (PIN ? ['taskset', ['-c', '1', cmd, ...args]] : [cmd, args]);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const WRK = { connections: 50, threads: 2 };
const RUNNER = fileURLToPath(new URL('./lib/run-tcp-lb.mjs', import.meta.url));
const PIPE = fileURLToPath(new URL('./lib/node-pipe-proxy.mjs', import.meta.url));
const BUILT = fileURLToPath(new URL('../dist/src/lb/tcp-lb.js', import.meta.url));

/** The four measurements, in the order they run and are printed. */
const ALL_TESTS = [
  { key: 'iperf1', label: 'iperf3, 1 stream', unit: 'Gbit/s', backend: 'iperf', streams: 1 },
  { key: 'iperf8', label: 'iperf3, 8 streams', unit: 'Gbit/s', backend: 'iperf', streams: 8 },
  {
    key: 'keepalive',
    label: 'wrk -c 50 keep-alive',
    readme: 'wrk -c 50, keep-alive',
    unit: 'req/s',
    backend: 'http',
    close: false,
  },
  {
    key: 'close',
    label: 'wrk -c 50 Connection: close',
    readme: 'wrk -c 50, `Connection: close`',
    unit: 'req/s',
    backend: 'http',
    close: true,
  },
];

const wanted = process.env.BENCH_TESTS?.split(',').filter(Boolean);
const unknown = wanted?.filter((k) => !ALL_TESTS.some((t) => t.key === k)) ?? [];
if (unknown.length > 0) throw new Error(`BENCH_TESTS: no test ${unknown.join(', ')}`);
const TESTS = wanted ? ALL_TESTS.filter((t) => wanted.includes(t.key)) : ALL_TESTS;

async function main() {
  requireTool('iperf3', ['--version'], 'iperf3');
  requireTool('haproxy', ['-v'], 'haproxy');
  requireTool('nginx', ['-v'], 'nginx');
  requireTool('wrk', ['-v'], 'wrk');
  if (!existsSync(BUILT)) throw new Error(`${BUILT} missing; run npm run build first`);
  const dir = makeTempDir();

  // Backends.
  const iperfPort = await freePort();
  const iperf = startChild('iperf3 server', 'iperf3', ['-s', '-B', HOST, '-p', String(iperfPort)]);
  const httpPort = await freePort();
  const nginx = startChild('nginx', ...nginxCommand(dir, httpPort));
  await waitListening(iperf, iperfPort);
  await waitListening(nginx, httpPort);

  // Proxies: each gets one listener per backend, and stays up for the whole run.
  const lbPorts = { iperf: await freePort(), http: await freePort() };
  const haPorts = { iperf: await freePort(), http: await freePort() };
  const pipePorts = { iperf: await freePort(), http: await freePort() };
  const lbArgs = ['iperf', 'http'].map(
    (b) => `${HOST}:${lbPorts[b]}=${HOST}:${b === 'iperf' ? iperfPort : httpPort}`,
  );
  const lb = startChild('TcpLB', ...onProxyCore(process.execPath, [RUNNER, ...lbArgs]));
  const haproxy = startChild(
    'HAProxy',
    ...onProxyCore(
      ...haproxyCommand(dir, [
        { port: haPorts.iperf, backendPort: iperfPort },
        { port: haPorts.http, backendPort: httpPort },
      ]),
    ),
  );
  const pipeArgs = ['iperf', 'http'].map(
    (b) => `${HOST}:${pipePorts[b]}=${HOST}:${b === 'iperf' ? iperfPort : httpPort}`,
  );
  const pipe = startChild('node pipe', ...onProxyCore(process.execPath, [PIPE, ...pipeArgs]));
  await waitOutput(lb, /^ready$/m);
  await waitOutput(pipe, /^ready$/m);
  await waitListening(haproxy, haPorts.iperf);
  await waitListening(haproxy, haPorts.http);
  // Two cores: TcpLB on 2 worker processes, HAProxy on 2 threads (not when pinned).
  const multi = [];
  if (!PIN) {
    const lb2Ports = { iperf: await freePort(), http: await freePort() };
    const ha2Ports = { iperf: await freePort(), http: await freePort() };
    const lb2Args = ['iperf', 'http'].map(
      (b) => `${HOST}:${lb2Ports[b]}=${HOST}:${b === 'iperf' ? iperfPort : httpPort}`,
    );
    const lb2 = startChild('TcpLB 2 workers', process.execPath, [RUNNER, ...lb2Args], {
      ...process.env,
      RUN_WORKERS: '2',
    });
    const ha2 = startChild(
      'HAProxy 2 threads',
      ...haproxyCommand(
        dir,
        [
          { port: ha2Ports.iperf, backendPort: iperfPort },
          { port: ha2Ports.http, backendPort: httpPort },
        ],
        2,
      ),
    );
    await waitOutput(lb2, /^ready$/m);
    await waitListening(ha2, ha2Ports.iperf);
    await waitListening(ha2, ha2Ports.http);
    multi.push(
      { label: 'TcpLB 2 workers', ports: lb2Ports, proxy: lb2 },
      { label: 'HAProxy 2 threads', ports: ha2Ports, proxy: ha2 },
    );
  }
  const lbStats = new LbStats(lb, ['bench-0', 'bench-1']);

  const configs = [
    { label: 'direct', ports: { iperf: iperfPort, http: httpPort }, proxy: null },
    { label: 'TcpLB', ports: lbPorts, proxy: lb },
    { label: 'HAProxy', ports: haPorts, proxy: haproxy },
    { label: 'node pipe', ports: pipePorts, proxy: pipe },
    ...multi,
  ];
  const backends = { iperf, http: nginx };

  // results[test.key][config.label] = { samples, wrk: [per-run wrk results],
  //   work: [GB or requests per run], cpu: [proxy CPU seconds per run] }
  const results = {};
  const lbDeltas = {}; // test.key -> summed TcpLB counter deltas
  for (const test of TESTS) {
    log(`== ${test.label}`);
    results[test.key] = Object.fromEntries(
      configs.map((c) => [c.label, { samples: [], wrk: [], work: [], cpu: [], sys: [] }]),
    );
    for (let run = 1; run <= RUNS; run++) {
      for (const config of configs) {
        const cell = results[test.key][config.label];
        const port = config.ports[test.backend];
        const watched = [backends[test.backend], config.proxy];
        const before = config.proxy === lb ? await lbStats.snapshot() : null;
        const cpuBefore = config.proxy ? cpuTimesTree(config.proxy) : null;
        let line;
        if (test.backend === 'iperf') {
          const bps = await measureIperf3(port, test.streams, SECONDS, watched);
          cell.samples.push(bps / 1e9);
          cell.work.push((bps * SECONDS) / 8 / 1e9); // GB moved
          line = `${(bps / 1e9).toFixed(2)} Gbit/s`;
        } else {
          const r = await measureWrk(port, test.close, watched);
          cell.samples.push(r.rps);
          cell.wrk.push(r);
          cell.work.push(r.requests);
          line = `${Math.round(r.rps)} req/s, ${r.requests} requests`;
          if (errorCount(r) > 0) line += `, ERRORS: ${describeWrkErrors(r)}`;
        }
        if (config.proxy && cpuBefore) {
          const after = cpuTimesTree(config.proxy);
          const sys = after.system - cpuBefore.system;
          const cpu = after.user - cpuBefore.user + sys;
          cell.cpu.push(cpu);
          cell.sys.push(sys);
          line += ` (${config.label} CPU ${cpu.toFixed(2)} s)`;
        }
        if (before) {
          const delta = LbStats.diff(before, await lbStats.snapshot(), lbName(test));
          lbDeltas[test.key] = LbStats.add(lbDeltas[test.key], delta);
          line += `; TcpLB accepted ${delta.accepted}`;
          const failures = LbStats.failures(delta);
          if (failures) line += `, TcpLB counted ${failures}`;
        }
        log(`   ${config.label}, run ${run}/${RUNS}: ${line}`);
        await sleep(500);
      }
    }
  }

  for (const c of [lb, haproxy, pipe, nginx, iperf, ...multi.map((m) => m.proxy)]) {
    if (c.exit) throw new Error(`${c.name} died during the run:\n${c.output}`);
  }
  printReport({
    machine: machineLine(),
    tools: toolVersions(),
    seconds: SECONDS,
    runs: RUNS,
    wrk: WRK,
    tests: TESTS,
    configs: configs.map((c) => c.label),
    results,
    median,
    lbDeltas,
    lbOutput: lb.output,
    logs: {
      nginx: nginxErrors(dir),
      HAProxy: haproxy.output.trim().split('\n').filter(Boolean),
    },
  });
  writeResults(PIN ? 'lb-pinned' : 'lb', {
    runs: RUNS,
    seconds: SECONDS,
    table: PIN ? pinnedTable(results) : readmeTable(results),
    results: { tools: toolVersions(), wrk: WRK, tests: TESTS, results, lbDeltas },
  });
}

const fmtUnit = (unit, x) =>
  unit === 'Gbit/s' ? x.toFixed(1) : Math.round(x).toLocaleString('en-US');

/** The README's table: medians, the unit on the direct column, TcpLB / HAProxy, then two cores. */
function readmeTable(results) {
  return {
    caption: '`bench:lb`: loopback, runs interleaved across configs',
    columns: [
      'test',
      'direct',
      'TcpLB',
      'HAProxy (1 thread)',
      'bare Node pipe',
      'TcpLB / HAProxy',
      'TcpLB 2 workers',
      'HAProxy 2 threads',
    ],
    rows: TESTS.map((t) => {
      const m = (c) => median(results[t.key][c].samples);
      return [
        t.readme ?? t.label,
        `${fmtUnit(t.unit, m('direct'))} ${t.unit}`,
        fmtUnit(t.unit, m('TcpLB')),
        fmtUnit(t.unit, m('HAProxy')),
        fmtUnit(t.unit, m('node pipe')),
        `${(m('TcpLB') / m('HAProxy')).toFixed(2)}x`,
        fmtUnit(t.unit, m('TcpLB 2 workers')),
        fmtUnit(t.unit, m('HAProxy 2 threads')),
      ];
    }),
  };
}

/** Pinned: each proxy alone on core 1; work per proxy CPU-second (medians over runs). */
function pinnedTable(results) {
  const perCpu = (t, c) => {
    const cell = results[t.key][c];
    return median(cell.work.map((w, i) => w / cell.cpu[i]));
  };
  const f = (t, x) => (t.unit === 'Gbit/s' ? x.toFixed(2) : Math.round(x).toLocaleString('en-US'));
  return {
    caption:
      '`BENCH_PIN=1 bench:lb`: each proxy alone on core 1, clients and backends on core 0; work per proxy CPU-second',
    columns: [
      'test',
      'TcpLB',
      'HAProxy (1 thread)',
      'bare Node pipe',
      'TcpLB / HAProxy',
      'TcpLB / pipe',
    ],
    rows: TESTS.map((t) => [
      t.readme ?? t.label,
      `${f(t, perCpu(t, 'TcpLB'))} ${t.unit === 'Gbit/s' ? 'GB' : 'req'}/CPU-s`,
      f(t, perCpu(t, 'HAProxy')),
      f(t, perCpu(t, 'node pipe')),
      `${(perCpu(t, 'TcpLB') / perCpu(t, 'HAProxy')).toFixed(2)}x`,
      `${(perCpu(t, 'TcpLB') / perCpu(t, 'node pipe')).toFixed(2)}x`,
    ]),
  };
}

/** First line of each tool's version output (nginx and wrk print theirs on stderr / exit 1). */
function toolVersions() {
  const first = (cmd, arg) => {
    const r = spawnSync(cmd, [arg], { encoding: 'utf8' });
    return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0];
  };
  return [
    first('iperf3', '--version'),
    first('haproxy', '-v'),
    first('nginx', '-v'),
    first('wrk', '-v'),
  ].join('; ');
}

/** Which runner LB serves a test: the runner's LBs are named bench-0 (iperf), bench-1 (http). */
const lbName = (test) => `bench-${test.backend === 'iperf' ? 0 : 1}`;

async function measureWrk(port, close, watched) {
  try {
    return await runWrk(port, { seconds: SECONDS, ...WRK, close });
  } catch (err) {
    const dead = watched.filter((c) => c?.exit);
    const why = dead.map((c) => `\n${c.name} died:\n${c.output}`).join('');
    throw new Error(`${err.message}${why}`);
  }
}

await runMain(main);
