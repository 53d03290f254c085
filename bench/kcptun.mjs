// Loopback throughput and CPU of a kcptun link: ours (`vproxy kcptun client|server`) vs
// Debian's kcptun-client/-server, same flags (crypt aes, defaults otherwise), FEC 10/3 and 0/0:
//
//   sender → client (tcp → kcptun) → server (kcptun → tcp) → sink
//
// The sender and the sink live in this process; the client and the server are processes,
// whose CPU (utime + stime from /proc/PID/stat) is read around every transfer. One
// direction, BENCH_MB megabytes (200) of incompressible bytes; the configurations run
// interleaved, BENCH_RUNS times (3); each cell is the median.
//
//   node bench/kcptun.mjs              (needs `npm run build` and the kcptun package)
//   BENCH_CASES=ours-fec,kcptun-fec    a subset of the rows
//   BENCH_WND=1024                     --sndwnd/--rcvwnd on both ends (results: kcptun-wnd1024.json)
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { createServer, connect as netConnect } from 'node:net';
import { fileURLToPath } from 'node:url';
import {
  childReport,
  cpuSeconds,
  freePort,
  HOST,
  log,
  requireTool,
  runMain,
  sleep,
  startChild,
  stopChild,
  waitListening,
} from './lib/procs.mjs';
import { interleaved, median, writeResults } from './lib/results.mjs';

const MB = 1024 * 1024;
const TOTAL = Number(process.env.BENCH_MB ?? 200) * MB;
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const CLI = fileURLToPath(new URL('../dist/apps/vproxy.js', import.meta.url));
const ALL = [
  { name: 'ours-fec', impl: 'ours', fec: true },
  { name: 'kcptun-fec', impl: 'kcptun', fec: true },
  { name: 'ours-nofec', impl: 'ours', fec: false },
  { name: 'kcptun-nofec', impl: 'kcptun', fec: false },
];
const CASES = process.env.BENCH_CASES
  ? ALL.filter((c) => process.env.BENCH_CASES.split(',').includes(c.name))
  : ALL;

/** Both ends' --sndwnd and --rcvwnd (default: kcptun's, which cap kcptun itself on loopback). */
const WND = process.env.BENCH_WND;

function flags(fec) {
  return [
    ...(WND ? ['--sndwnd', WND, '--rcvwnd', WND] : []),
    '--key',
    'bench',
    '--crypt',
    'aes',
    '--quiet',
    ...(fec ? [] : ['--ds', '0', '--ps', '0']),
  ];
}

function command(impl, side) {
  return impl === 'ours' ? [process.execPath, [CLI, 'kcptun', side]] : [`kcptun-${side}`, []];
}

/** A UDP port nobody holds now (a TCP-free number may be some client's ephemeral UDP port). */
async function freeUdpPort() {
  const s = createSocket('udp4');
  await new Promise((r) => s.bind(0, HOST, r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

/** One transfer: start both ends, move TOTAL bytes, read their CPU, stop them. */
async function measure(c) {
  const sinkPort = await freePort();
  const udp = await freeUdpPort();
  const local = await freePort();
  let received = 0;
  let done;
  const finished = new Promise((r) => {
    done = r;
  });
  const sink = createServer((s) => {
    s.on('error', () => {});
    s.on('data', (d) => {
      received += d.length;
      if (received >= TOTAL) done();
    });
  });
  await new Promise((r) => sink.listen(sinkPort, HOST, r));
  const [scmd, sargs] = command(c.impl, 'server');
  const server = startChild(`${c.name} server`, scmd, [
    ...sargs,
    '-l',
    `${HOST}:${udp}`,
    '-t',
    `${HOST}:${sinkPort}`,
    ...flags(c.fec),
  ]);
  const [ccmd, cargs] = command(c.impl, 'client');
  const client = startChild(`${c.name} client`, ccmd, [
    ...cargs,
    '-l',
    `${HOST}:${local}`,
    '-r',
    `${HOST}:${udp}`,
    ...flags(c.fec),
  ]);
  try {
    await waitListening(client, local);
    await sleep(300);
    const cpu0 = cpuSeconds(client) + cpuSeconds(server);
    const t0 = process.hrtime.bigint();
    const sock = netConnect(local, HOST);
    sock.on('error', () => {});
    const chunk = randomBytes(64 * 1024);
    let sent = 0;
    const pump = () => {
      while (sent < TOTAL) {
        sent += chunk.length;
        if (!sock.write(chunk)) return;
      }
    };
    sock.on('drain', pump);
    sock.on('connect', pump);
    const timeout = sleep(180_000).then(() => {
      throw new Error(`${c.name}: ${received} of ${TOTAL} bytes in 180 s`);
    });
    await Promise.race([finished, timeout]);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = cpuSeconds(client) + cpuSeconds(server) - cpu0;
    sock.destroy();
    const gbit = (TOTAL * 8) / seconds / 1e9;
    const cpuPerGB = cpu / (TOTAL / 1e9);
    log(
      `${c.name}: ${gbit.toFixed(3)} Gbit/s, ${cpuPerGB.toFixed(1)} CPU s/GB (${seconds.toFixed(1)} s)`,
    );
    return { seconds, gbit, cpuPerGB };
  } catch (err) {
    for (const ch of [client, server]) if (ch.exit) log(childReport(ch));
    throw err;
  } finally {
    await stopChild(client);
    await stopChild(server);
    sink.close();
  }
}

await runMain(async () => {
  requireTool('kcptun-client', ['--version'], 'kcptun');
  const samples = await interleaved(RUNS, CASES, measure);
  const results = CASES.map((c, i) => ({
    name: c.name,
    impl: c.impl,
    fec: c.fec ? '10/3' : '0/0',
    gbit: median(samples[i].map((s) => s.gbit)),
    cpuPerGB: median(samples[i].map((s) => s.cpuPerGB)),
    samples: samples[i],
  }));
  const rows = results.map((r) => [
    r.impl === 'ours' ? 'vproxy kcptun' : 'kcptun 20210922',
    r.fec,
    r.gbit.toFixed(3),
    r.cpuPerGB.toFixed(1),
  ]);
  for (const r of rows) log(r.join(' | '));
  writeResults(WND ? `kcptun-wnd${WND}` : 'kcptun', {
    runs: RUNS,
    table: {
      caption: `Loopback, ${TOTAL / MB} MB tcp → kcptun → tcp, crypt aes, ${WND ? `windows ${WND}/${WND}, ` : ''}kcptun defaults otherwise (medians of ${RUNS}, interleaved)`,
      columns: ['implementation', 'FEC', 'Gbit/s', 'CPU s/GB (client + server)'],
      rows,
    },
    results,
  });
});
