// UDP benchmark (issue 15): echoed datagrams/s and Mbit/s (payload, one way) between a
// client and a UDP echo on loopback — direct, through our udp-lb, and through a socat
// UDP relay (`socat UDP-LISTEN:p,fork,reuseaddr UDP:127.0.0.1:q`) — with 64-byte and
// 1,400-byte payloads. Client, echo and relay are separate processes
// (bench/lib/udp-peers.mjs); the client keeps BENCH_WINDOW datagrams in flight, checks
// every answer byte for byte and counts a datagram unanswered for 50 ms as lost. Both
// relays get the same socket buffers (BENCH_SOCKBUF bytes, default 4 MiB: udp-lb's
// `rcvbuf`/`sndbuf`, which its flows' backend sockets take too, and socat's
// `rcvbuf`/`sndbuf` on both of its sockets).
// Each cell is the median of BENCH_RUNS runs (default 3) of BENCH_SECONDS (default 5),
// interleaved (run 1 of every config, then run 2…). Results: bench/results/udp.json.
// Needs socat (Debian: apt-get install -y socat).
// Run: npm run bench:udp   Quick: BENCH_SECONDS=2 BENCH_RUNS=1 node bench/udp.mjs
import { fileURLToPath } from 'node:url';
import {
  freePort,
  log,
  machineLine,
  median,
  requireTool,
  runClient,
  runMain,
  startChild,
  stopChild,
  waitOutput,
} from './lib/procs.mjs';
import { interleaved, writeResults } from './lib/results.mjs';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const WINDOW = Number(process.env.BENCH_WINDOW ?? 64);
const SOCKBUF = Number(process.env.BENCH_SOCKBUF ?? 4 << 20);
const PEERS = fileURLToPath(new URL('./lib/udp-peers.mjs', import.meta.url));
const SIZES = [64, 1400];
const RELAYS = ['direct', 'udp-lb', 'socat'];

async function portOf(child, word) {
  await waitOutput(child, new RegExp(`${word} (\\d+)`));
  return Number(new RegExp(`${word} (\\d+)`).exec(child.output)?.[1]);
}

async function main() {
  requireTool('socat', ['-V'], 'socat');
  log(machineLine());
  const echo = startChild('echo', process.execPath, [PEERS, 'echo']);
  const echoPort = await portOf(echo, 'echo');
  const lb = startChild('udp-lb', process.execPath, [
    PEERS,
    'udp-lb',
    String(echoPort),
    String(SOCKBUF),
  ]);
  const lbPort = await portOf(lb, 'udp-lb');
  const socatPort = await freePort();
  // -T 2: socat's forked per-client children exit after 2 s idle; without it they outlive the
  // listener, keep our output pipes open and the bench never exits.
  const socat = startChild('socat', 'socat', [
    '-T',
    '2',
    `UDP-LISTEN:${socatPort},bind=127.0.0.1,fork,reuseaddr,rcvbuf=${SOCKBUF},sndbuf=${SOCKBUF}`,
    `UDP:127.0.0.1:${echoPort},rcvbuf=${SOCKBUF},sndbuf=${SOCKBUF}`,
  ]);
  await new Promise((r) => setTimeout(r, 300));
  const portFor = { direct: echoPort, 'udp-lb': lbPort, socat: socatPort };
  const configs = SIZES.flatMap((size) => RELAYS.map((relay) => ({ size, relay })));
  try {
    const samples = await interleaved(RUNS, configs, async ({ size, relay }, run) => {
      const { err, stdout, stderr } = await runClient(process.execPath, [
        PEERS,
        'client',
        String(portFor[relay]),
        String(size),
        String(SECONDS),
        String(WINDOW),
      ]);
      if (err) throw new Error(`client failed: ${err.message}\n${stderr}`);
      const r = JSON.parse(stdout.trim().split('\n').pop());
      const pps = r.received / r.seconds;
      log(
        `run ${run} ${relay} ${size} B: ${Math.round(pps)} datagrams/s, ` +
          `${((pps * size * 8) / 1e6).toFixed(1)} Mbit/s, lost ${r.lost} of ${r.sent}` +
          (r.late > 0 ? ` (${r.late} answered late)` : ''),
      );
      if (r.corrupt > 0)
        throw new Error(`${relay} ${size} B: ${r.corrupt} answers were not what was sent`);
      return { pps, lost: r.lost, sent: r.sent };
    });
    const results = configs.map((c, i) => {
      const pps = median(samples[i].map((s) => s.pps));
      return {
        ...c,
        datagramsPerSecond: Math.round(pps),
        mbitPerSecond: Number(((pps * c.size * 8) / 1e6).toFixed(1)),
        lost: samples[i].map((s) => s.lost),
        sent: samples[i].map((s) => s.sent),
      };
    });
    const cell = (size, relay) => results.find((r) => r.size === size && r.relay === relay);
    const rows = RELAYS.map((relay) => [
      relay === 'direct' ? 'direct (no relay)' : relay,
      ...SIZES.flatMap((size) => {
        const r = cell(size, relay);
        const lost = r.lost.reduce((a, b) => a + b, 0);
        const sent = r.sent.reduce((a, b) => a + b, 0);
        return [
          r.datagramsPerSecond.toLocaleString('en-US'),
          r.mbitPerSecond.toFixed(1),
          lost === 0
            ? '0'
            : `${lost.toLocaleString('en-US')} (${((100 * lost) / sent).toFixed(3)} %)`,
        ];
      }),
    ]);
    const table = {
      caption: `UDP echo through a relay on loopback, ${WINDOW} datagrams in flight`,
      columns: [
        'path',
        '64 B datagrams/s',
        '64 B Mbit/s',
        '64 B lost',
        '1,400 B datagrams/s',
        '1,400 B Mbit/s',
        '1,400 B lost',
      ],
      rows,
      notes: [
        'Datagrams/s counts echoes received (each crossed the relay twice); Mbit/s is payload one way.',
        `Lost: datagrams unanswered after 50 ms, summed over the runs (of all sent); every answer is checked byte for byte. Socket buffers ${SOCKBUF.toLocaleString('en-US')} bytes for both relays.`,
      ],
    };
    for (const r of rows) log(r.join(' | '));
    writeResults('udp', { runs: RUNS, seconds: SECONDS, table, results });
  } finally {
    await stopChild(socat);
    await stopChild(lb);
    await stopChild(echo);
  }
}

await runMain(main);
