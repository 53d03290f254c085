// KCP benchmark (issue 3): our kcp:// transport against plain TCP (cubic, bbr) and kcptun.
//   (a) loopback single-stream throughput: tcp direct, vproxy tcp→tcp, ours tcp→kcp→tcp,
//       kcptun tcp→kcp→tcp (all inside one private namespace);
//   (b) over ../shared/tools/linkem.py (25 ms one-way, 50 Mbit/s, loss 0/1/2/5 %): goodput and
//       time to move BENCH_MB (default 10) from a sender in namespace A to a receiver in B;
//   (c) CPU seconds per GB of the proxy processes (utime+stime from /proc/PID/stat).
// Runs are interleaved (run 1 of every row, then run 2…; on the link, per loss rate) so drift
// hits every row alike; results go to bench/results/kcp.json (the README's table: npm run docs).
// Every cell is the median of BENCH_RUNS runs (default 3); each transfer has a hard deadline
// (BENCH_TIMEOUT_S, default 60 s; a transfer cut by it counts what arrived so far).
//
// Our rows need `kcp` registered in the build; until then they print "not available yet".
// Needs root, python3, iproute2, /dev/net/tun and kcptun (apt-get install -y kcptun).
// Run: npm run bench:kcp        (= npm run build && node bench/kcp.mjs)
// Smoke run: BENCH_RUNS=1 BENCH_MB=2 node bench/kcp.mjs
// Other env: BENCH_LOOP_MB (loopback transfer, default 20 × BENCH_MB), BENCH_LOSSES
// (default 0,1,2,5), BENCH_LINKEM_RT (SCHED_FIFO priority for linkem, default 10, 0 = off),
// BENCH_KCP_QUERY (extra options for our rows, e.g. window=1048576 for the mux stream window).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { release } from 'node:os';
import { VPROXY } from './lib/kcp-paths.mjs';
import { printLink, printLoopback, printTargets } from './lib/kcp-report.mjs';
import { onPath, transfer } from './lib/kcp-transfer.mjs';
import { makeLink, nsExec } from './lib/netns.mjs';
import { log, machineLine, median, requireTool, runMain } from './lib/procs.mjs';
import { interleaved, writeResults } from './lib/results.mjs';

const MB = 1e6;
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const LINK_BYTES = Math.round(Number(process.env.BENCH_MB ?? 10) * MB);
const LOOP_BYTES = Math.round(Number(process.env.BENCH_LOOP_MB ?? (20 * LINK_BYTES) / MB) * MB);
const TIMEOUT_MS = Number(process.env.BENCH_TIMEOUT_S ?? 60) * 1000;
const LOSSES = (process.env.BENCH_LOSSES ?? '0,1,2,5').split(',').map(Number);
const LINK = { delayMs: 25, rateMbit: 50, queueMs: 100 };
const DIST_REGISTRY = new URL('../dist/transports/default-registry.js', import.meta.url);

/** One transfer through a started path (run `run` of RUNS). */
async function measureOnce(label, ns, path, bytes, run) {
  const dead = path.procs.find((c) => c.exit);
  if (dead) throw new Error(`${dead.name} died: ${dead.output.trim().slice(-500)}`);
  const r = await transfer(ns, path, bytes, TIMEOUT_MS);
  const mbit = (r.bytes * 8) / r.seconds / 1e6;
  log(
    `   ${label} run ${run}/${RUNS}: ${mbit.toFixed(1)} Mbit/s, ${r.seconds.toFixed(2)} s` +
      `${r.error ? ` (${r.error})` : ''}${path.procs.length ? `, ${r.cpuPerGB.toFixed(1)} CPU s/GB` : ''}`,
  );
  return { ...r, mbit, hasProcs: path.procs.length > 0 };
}

/**
 * The cell of one row from its runs (gathered interleaved with the other rows):
 * medians of rate, time and CPU per GB; unavailable or failed if every run was.
 */
function summarize(runs) {
  if (runs.some((r) => r.unavailable)) return { unavailable: true };
  const done = runs.filter((r) => !r.failed);
  if (done.length === 0) return { failed: runs[0]?.failed ?? 'no runs' };
  return {
    mbit: median(done.map((r) => r.mbit)),
    // A run cut by the deadline has no completion time: it sorts last (Infinity).
    seconds: median(done.map((r) => (r.error ? Number.POSITIVE_INFINITY : r.seconds))),
    cpuPerGB: done[0].hasProcs ? median(done.map((r) => r.cpuPerGB)) : null,
    failures: runs.length - done.length + done.filter((r) => r.error).length,
    samples: runs.map((r) => (r.failed ? null : r.mbit)),
  };
}

/** Is `kcp` registered in the built registry? Also its option names (for the query string). */
async function kcpStatus() {
  try {
    const { createDefaultRegistry } = await import(DIST_REGISTRY);
    const transport = createDefaultRegistry().resolve('kcp');
    return { available: true, options: transport.options.map((o) => o.name) };
  } catch (err) {
    return { available: false, reason: err.message.split('\n')[0] };
  }
}

/** Query strings for our rows: fast3, windows 1024, and a pacing row if the option exists. */
function ourVariants(kcp) {
  const opt = (re) => kcp.options?.find((n) => re.test(n));
  const parts = ['mode=fast3'];
  const snd = opt(/^snd-?wnd$/i);
  const rcv = opt(/^rcv-?wnd$/i);
  if (snd) parts.push(`${snd}=1024`);
  if (rcv) parts.push(`${rcv}=1024`);
  if (process.env.BENCH_KCP_QUERY) parts.push(process.env.BENCH_KCP_QUERY);
  const base = parts.join('&');
  const congestion = opt(/^congestion$/i);
  // The reference sender, named: pacing is kcp://'s default since issue 13.
  const classic = congestion ? `${base}&${congestion}=classic` : base;
  const variants = [{ label: 'ours kcp fast3', path: 'ours', kcpQuery: classic }];
  if (!kcp.available || congestion) {
    const q = `${base}&${congestion ?? 'congestion'}=pacing`;
    variants.push({ label: 'ours kcp fast3 pacing', path: 'ours', kcpQuery: q });
  }
  return variants;
}

/** Start a path, measure one run, stop it; a missing kcp transport becomes a marked row. */
async function measureRow(row, ns, serverIp, bytes, kcp, run) {
  if (row.path === 'ours' && !kcp.available) return { unavailable: true };
  const where = { clientNs: ns.client, serverNs: ns.server, serverIp };
  const r = await onPath(row, { ...where, kcpQuery: row.kcpQuery }, (path) =>
    measureOnce(row.label, ns, path, bytes, run),
  );
  if (r.unavailable) kcp.available = false;
  return r;
}

function environment(kcp, ccAvailable) {
  const q = (cmd, args) => spawnSync(cmd, args, { encoding: 'utf8' }).stdout?.trim() || '?';
  const kcptun = q('dpkg-query', ['-W', '-f', '\x24{Version}', 'kcptun']);
  return [
    `kernel ${release()}, ${machineLine()}`,
    `kcptun ${kcptun} (Debian package; the binary reports "${q('kcptun-client', ['--version'])}")`,
    `tcp_available_congestion_control: ${ccAvailable.join(' ')} (TCP rows set it per socket); net.core.rmem_max ${q('sysctl', ['-n', 'net.core.rmem_max'])}`,
    `our kcp: ${kcp.available ? `registered, options: ${kcp.options.join(', ')}` : `not available yet (${kcp.reason})`}`,
    `link: linkem ${LINK.delayMs} ms one-way, ${LINK.rateMbit} Mbit/s, drop-tail queue ${LINK.queueMs} ms, random loss per direction; transfer ${LINK_BYTES / MB} MB; loopback ${LOOP_BYTES / MB} MB; median of ${RUNS}; deadline ${TIMEOUT_MS / 1000} s per transfer`,
  ].join('\n');
}

async function main() {
  if (process.getuid() !== 0) throw new Error('needs root (network namespaces)');
  requireTool('kcptun-client', ['--version'], 'kcptun');
  requireTool('python3', ['--version'], 'python3');
  if (!existsSync(VPROXY)) throw new Error(`${VPROXY} missing; run npm run build first`);
  const kcp = await kcpStatus();
  const ccAvailable = spawnSync('sysctl', ['-n', 'net.ipv4.tcp_available_congestion_control'], {
    encoding: 'utf8',
  })
    .stdout.trim()
    .split(/\s+/);
  const hasBbr = ccAvailable.includes('bbr');
  console.log(environment(kcp, ccAvailable));

  const id = process.pid;
  const rt = Number(process.env.BENCH_LINKEM_RT ?? 10);
  const link = makeLink({ nsA: `kcpbA${id}`, nsB: `kcpbB${id}`, rt });
  const nsDefaultCc = nsExec(link.nsA, 'sysctl', ['-n', 'net.ipv4.tcp_congestion_control']);
  console.log(`namespace default congestion control (loopback legs): ${nsDefaultCc}`);

  // (a) loopback, everything inside namespace A.
  const loopNs = { client: link.nsA, server: link.nsA };
  const loopRows = [
    { label: 'tcp direct (no proxy)', path: 'tcp' },
    { label: 'vproxy simple tcp→tcp', path: 'vproxy' },
    ...ourVariants(kcp).map((v) => ({ ...v, label: `${v.label} (tcp→kcp→tcp)` })),
    { label: 'kcptun fast3 (tcp→kcp→tcp)', path: 'kcptun' },
  ];
  // Runs interleaved: run 1 of every row, then run 2…, so drift hits every row alike.
  const loopRuns = await interleaved(RUNS, loopRows, (row, run) => {
    log(`== loopback: ${row.label}, run ${run}/${RUNS}`);
    return measureRow(row, loopNs, '127.0.0.1', LOOP_BYTES, kcp, run);
  });
  const loop = loopRows.map((row, i) => ({ ...row, r: summarize(loopRuns[i]) }));

  // (b) + (c) over the emulated link, sender in A, receiver in B.
  const linkNs = { client: link.nsA, server: link.nsB };
  const linkRows = [
    { label: 'TCP cubic', path: 'tcp', cc: 'cubic' },
    { label: 'TCP bbr', path: 'tcp', cc: 'bbr', unavailable: !hasBbr },
    { label: 'kcptun fast3', path: 'kcptun' },
    ...ourVariants(kcp),
  ];
  const cells = [];
  for (const lossPct of LOSSES) {
    const counters = linkRows.map(() => null);
    const runs = await interleaved(RUNS, linkRows, async (row, run) => {
      if (row.unavailable) return { unavailable: true };
      log(`== link loss ${lossPct}%: ${row.label}, run ${run}/${RUNS}`);
      const em = await link.start({ ...LINK, lossPct });
      const i = linkRows.indexOf(row);
      try {
        return await measureRow(row, linkNs, link.addrB, LINK_BYTES, kcp, run);
      } finally {
        counters[i] = addCounters(counters[i], await em.stop());
      }
    });
    for (const [i, row] of linkRows.entries()) {
      cells.push({ row, lossPct, r: summarize(runs[i]), counters: counters[i] });
    }
  }
  link.teardown();

  console.log('');
  printLoopback(loop, LOOP_BYTES);
  console.log('');
  printLink(cells, linkRows, LOSSES, LINK_BYTES);
  console.log('');
  printTargets(loop, cells, linkRows, LOSSES);
  writeResults('kcp', {
    runs: RUNS,
    table: readmeTable(cells, linkRows),
    results: {
      linkMegabytes: LINK_BYTES / MB,
      loopMegabytes: LOOP_BYTES / MB,
      link: LINK,
      losses: LOSSES,
      loopback: loop.map(({ label, r }) => ({ label, ...r })),
      cells: cells.map(({ row, lossPct, r, counters }) => ({
        row: row.label,
        lossPct,
        ...r,
        counters,
      })),
    },
  });
}

/** linkem's drop counters summed over the runs of one cell. */
function addCounters(a, b) {
  if (!a) return b;
  if (!b) return a;
  const dir = (x, y) => ({
    pkts: x.pkts + y.pkts,
    lost: x.lost + y.lost,
    queueDrops: x.queueDrops + y.queueDrops,
  });
  return { ab: dir(a.ab, b.ab), ba: dir(a.ba, b.ba) };
}

/** The README's table: goodput in Mbit/s per loss rate, the best of each column in bold. */
function readmeTable(cells, rows) {
  const README_LABELS = {
    'ours kcp fast3': 'vproxy kcp fast3',
    'ours kcp fast3 pacing': 'vproxy kcp fast3, `congestion=pacing`',
  };
  const value = (row, loss) => cells.find((c) => c.row === row && c.lossPct === loss)?.r;
  const best = LOSSES.map((loss) =>
    Math.max(...rows.map((row) => value(row, loss)?.mbit ?? Number.NEGATIVE_INFINITY)),
  );
  return {
    caption: `\`bench:kcp\`: goodput in Mbit/s moving ${LINK_BYTES / MB} MB through linkem`,
    columns: [
      `${LINK.rateMbit} Mbit/s, ${LINK.delayMs} ms one-way (\`bench:kcp\`)`,
      ...LOSSES.map((loss, i) => (i === 0 ? `${loss} % loss` : `${loss} %`)),
    ],
    rows: rows.map((row) => [
      README_LABELS[row.label] ?? row.label,
      ...LOSSES.map((loss, i) => {
        const r = value(row, loss);
        if (!r || r.unavailable) return 'n/a';
        if (r.failed) return 'failed';
        const text = r.mbit.toFixed(1);
        return r.mbit === best[i] ? `**${text}**` : text;
      }),
    ]),
  };
}

await runMain(main);
