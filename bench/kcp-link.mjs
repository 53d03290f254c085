// Goodput on a lossy link (issue 13): both measures the issue asks for, per path and loss rate.
//   steady  iperf3 for BENCH_IPERF_S seconds (default 10) after BENCH_OMIT_S (default 2) of
//           slow start that iperf3 leaves out; Mbit/s the receiver counted.
//   10 MB   the time to move BENCH_MB (default 10) through a fresh connection, set-up
//           included (bench/lib/kcp-transfer.mjs, as bench/kcp.mjs).
// Paths (sender in namespace A, receiver in B, across ../shared/tools/linkem.py 25 ms one-way,
// 50 Mbit/s, 100 ms drop-tail queue): TCP cubic and bbr; Debian's kcptun and our
// `vproxy kcptun` with identical flags (fast3, windows 1024, crypt none, no compression) with
// FEC 10/3 and 0/0; our kcp:// (fast3, windows 1024, congestion=pacing, without FEC and with
// fec=10/3 and fec=20/2). Proxy CPU s/GB is read around the iperf3 run.
//
// Runs are interleaved per loss rate; each cell is the median of BENCH_RUNS (3). One loss
// rate takes ~6 minutes, so the rates are measured in separate invocations (LINK_LOSSES,
// default 0): each writes its columns into bench/results/kcp-link.json next to the columns
// measured before (each column keeps its own date), and the README table shows all of them.
// BENCH_ROWS=bbr,kcp:// measures only the rows whose label contains one of those words; the
// other rows of that loss rate keep their earlier cells (and dates).
//   npm run build && LINK_LOSSES=0 node bench/kcp-link.mjs   (then 1, 2, 5)
// Needs root, python3, iproute2, /dev/net/tun, iperf3 and kcptun.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { RECV_PORT, VPROXY } from './lib/kcp-paths.mjs';
import { onPath, sumCpu, transfer } from './lib/kcp-transfer.mjs';
import { inNs, makeLink, waitSocket } from './lib/netns.mjs';
import { log, requireTool, runClient, runMain, startChild, stopChild } from './lib/procs.mjs';
import { interleaved, median, RESULTS_DIR, writeResults } from './lib/results.mjs';

const MB = 1e6;
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const BYTES = Math.round(Number(process.env.BENCH_MB ?? 10) * MB);
const IPERF_S = Number(process.env.BENCH_IPERF_S ?? 10);
const OMIT_S = Number(process.env.BENCH_OMIT_S ?? 2);
const LOSSES = (process.env.LINK_LOSSES ?? '0').split(',').map(Number);
const TIMEOUT_MS = 60_000;
const LINK = { delayMs: 25, rateMbit: 50, queueMs: 100 };
const DIST_REGISTRY = new URL('../dist/transports/default-registry.js', import.meta.url);
const RESULTS = fileURLToPath(new URL('kcp-link.json', `file://${RESULTS_DIR}`));
const KCP_QUERY = 'mode=fast3&sndwnd=1024&rcvwnd=1024&congestion=pacing';
const ROW_FILTER = (process.env.BENCH_ROWS ?? '')
  .split(',')
  .map((w) => w.trim())
  .filter((w) => w !== '');
const measured = (label) => ROW_FILTER.length === 0 || ROW_FILTER.some((w) => label.includes(w));

/** Steady-state goodput: an iperf3 server in B (one test), the client in A through `path`. */
async function steady(ns, path) {
  const server = startChild(
    'iperf3 -s',
    ...inNs(ns.server, 'iperf3', ['-s', '-1', '-p', RECV_PORT, '-B', '0.0.0.0']),
  );
  try {
    await waitSocket(server, 'tcp', RECV_PORT);
    const cpu0 = sumCpu(path.procs);
    const args = ['-c', path.host, '-p', path.port, '-t', IPERF_S + OMIT_S, '-O', OMIT_S, '-J'];
    if (path.cc) args.push('-C', path.cc);
    const [cmd, cmdArgs] = inNs(ns.client, 'iperf3', args);
    const r = await runClient(cmd, cmdArgs, { timeout: (IPERF_S + OMIT_S + 30) * 1000 });
    const cpu = sumCpu(path.procs) - cpu0;
    const json = JSON.parse(r.stdout || '{}');
    if (json.error) throw new Error(`iperf3: ${json.error}`);
    const received = json.end?.sum_received;
    if (!received) throw new Error(`iperf3 printed no result: ${r.stderr || r.err?.message}`);
    return {
      mbit: received.bits_per_second / 1e6,
      // CPU over the whole run (omitted seconds too) per byte the receiver counted overall.
      cpuPerGB: cpu / (((received.bits_per_second / 8) * (IPERF_S + OMIT_S)) / 1e9),
    };
  } finally {
    await stopChild(server);
  }
}

/** Both measures through a path started once; a failure of either is recorded, not thrown. */
async function measureRow(row, ns, serverIp, kcp, run) {
  if (row.unavailable || (row.path === 'ours' && !kcp.available)) return { unavailable: true };
  const where = { clientNs: ns.client, serverNs: ns.server, serverIp };
  const options = { ...where, kcpQuery: row.kcpQuery, fec: row.fec };
  return onPath(row, options, async (path) => {
    const t = await transfer(ns, path, BYTES, TIMEOUT_MS);
    const s = await steady(ns, path);
    const seconds = t.error ? Number.POSITIVE_INFINITY : t.seconds;
    log(
      `   ${row.label} run ${run}/${RUNS}: steady ${s.mbit.toFixed(1)} Mbit/s, ` +
        `${BYTES / MB} MB in ${seconds.toFixed(2)} s${t.error ? ` (${t.error})` : ''}` +
        `${path.procs.length ? `, ${s.cpuPerGB.toFixed(0)} CPU s/GB` : ''}`,
    );
    return { mbit: s.mbit, seconds, cpuPerGB: path.procs.length ? s.cpuPerGB : null };
  });
}

function summarize(runs) {
  if (runs.some((r) => r.unavailable)) return { unavailable: true };
  const done = runs.filter((r) => !r.failed);
  if (done.length === 0) return { failed: runs[0]?.failed ?? 'no runs' };
  return {
    mbit: median(done.map((r) => r.mbit)),
    seconds: median(done.map((r) => r.seconds)),
    cpuPerGB: done[0].cpuPerGB === null ? null : median(done.map((r) => r.cpuPerGB)),
    failures: runs.length - done.length,
    samples: runs.map((r) => (r.failed ? null : { mbit: r.mbit, seconds: r.seconds })),
  };
}

async function kcpOptions() {
  try {
    const { createDefaultRegistry } = await import(DIST_REGISTRY);
    return { available: true, options: createDefaultRegistry().resolve('kcp').options };
  } catch {
    return { available: false, options: [] };
  }
}

function rows(kcp) {
  const hasFec = kcp.options.some((o) => o.name === 'fec');
  return [
    { label: 'TCP cubic', path: 'tcp', cc: 'cubic' },
    { label: 'TCP bbr', path: 'tcp', cc: 'bbr' },
    { label: 'kcptun 20210922, FEC 0/0', path: 'kcptun', fec: '0/0' },
    { label: 'vproxy kcptun, FEC 0/0', path: 'ours-kcptun', fec: '0/0' },
    { label: 'kcptun 20210922, FEC 10/3', path: 'kcptun', fec: '10/3' },
    { label: 'vproxy kcptun, FEC 10/3', path: 'ours-kcptun', fec: '10/3' },
    { label: 'vproxy kcp:// pacing', path: 'ours', kcpQuery: KCP_QUERY },
    {
      label: 'vproxy kcp:// pacing, fec=10/3',
      path: 'ours',
      kcpQuery: `${KCP_QUERY}&fec=10/3`,
      unavailable: !hasFec,
    },
    {
      label: 'vproxy kcp:// pacing, fec=20/2',
      path: 'ours',
      kcpQuery: `${KCP_QUERY}&fec=20/2`,
      unavailable: !hasFec,
    },
  ];
}

/** The cells measured before (other loss rates, rows left out now), kept unless measured again. */
function earlierCells() {
  if (!existsSync(RESULTS)) return [];
  try {
    const json = JSON.parse(readFileSync(RESULTS, 'utf8'));
    return (json.results?.cells ?? []).filter(
      (c) => !LOSSES.includes(c.lossPct) || !measured(c.row),
    );
  } catch {
    return [];
  }
}

function table(cells, labels) {
  const losses = [...new Set(cells.map((c) => c.lossPct))].sort((a, b) => a - b);
  const cell = (label, loss) => cells.find((c) => c.row === label && c.lossPct === loss);
  const best = (loss, key, better) => {
    const xs = labels.map((l) => cell(l, loss)).filter((c) => c && Number.isFinite(c[key]));
    return xs.length ? xs.map((c) => c[key]).reduce((a, b) => (better(a, b) ? a : b)) : null;
  };
  const text = (label, loss) => {
    const c = cell(label, loss);
    if (!c || c.unavailable) return 'n/a';
    if (c.failed) return 'failed';
    const m = c.mbit.toFixed(1);
    const s = Number.isFinite(c.seconds) ? c.seconds.toFixed(2) : '>60';
    const bm = best(loss, 'mbit', (a, b) => a >= b);
    const bs = best(loss, 'seconds', (a, b) => a <= b);
    return `${c.mbit === bm ? `**${m}**` : m} / ${c.seconds === bs ? `**${s}**` : s}`;
  };
  const cpuText = (label) => {
    const c = cell(label, losses[0]);
    return c && Number.isFinite(c.cpuPerGB) ? c.cpuPerGB.toFixed(0) : '-';
  };
  const dates = losses.map((l) => {
    const ds = [...new Set(cells.filter((c) => c.lossPct === l).map((c) => c.date))].sort();
    return `${l} %: ${ds.length ? ds.join(' and ') : '?'}`;
  });
  return {
    caption:
      `\`bench:kcp-link\`: steady-state goodput (iperf3 ${IPERF_S} s after ${OMIT_S} s left out, Mbit/s) / ` +
      `time to move ${BYTES / MB} MB (s, set-up included) through linkem ${LINK.delayMs} ms one-way, ` +
      `${LINK.rateMbit} Mbit/s, ${LINK.queueMs} ms queue`,
    columns: ['path', ...losses.map((l) => `${l} % loss`), `proxy CPU s/GB at ${losses[0]} %`],
    rows: labels.map((label) => [label, ...losses.map((l) => text(label, l)), cpuText(label)]),
    notes: [
      `kcptun rows: Debian's kcptun-client/-server and ours with the same flags (\`--mode fast3 --sndwnd 1024 --rcvwnd 1024 --crypt none --nocomp\`, FEC as named); kcp://: \`${KCP_QUERY}\` (with pacing, ack-repeat is on by default) and \`fec=\` as named. Best of each column in bold. The rows of each loss rate were measured together, interleaved (rows re-measured later carry a second date): ${dates.join(', ')}.`,
    ],
  };
}

async function main() {
  if (process.getuid() !== 0) throw new Error('needs root (network namespaces)');
  requireTool('kcptun-client', ['--version'], 'kcptun');
  requireTool('iperf3', ['--version'], 'iperf3');
  if (!existsSync(VPROXY)) throw new Error(`${VPROXY} missing; run npm run build first`);
  const kcp = await kcpOptions();
  const all = rows(kcp);
  const now = all.filter((r) => measured(r.label));
  const id = process.pid;
  const rt = Number(process.env.BENCH_LINKEM_RT ?? 10);
  const link = makeLink({ nsA: `kcplA${id}`, nsB: `kcplB${id}`, rt });
  const ns = { client: link.nsA, server: link.nsB };
  const cells = [];
  try {
    for (const lossPct of LOSSES) {
      const runs = await interleaved(RUNS, now, async (row, run) => {
        if (row.unavailable) return { unavailable: true };
        log(`== loss ${lossPct}%: ${row.label}, run ${run}/${RUNS}`);
        const em = await link.start({ ...LINK, lossPct });
        try {
          return await measureRow(row, ns, link.addrB, kcp, run);
        } finally {
          await em.stop();
        }
      });
      const date = new Date().toISOString().slice(0, 16).replace('T', ' ');
      for (const [i, row] of now.entries()) {
        cells.push({ row: row.label, lossPct, date, ...summarize(runs[i]) });
      }
    }
  } finally {
    link.teardown();
  }
  const merged = [...earlierCells(), ...cells].sort((a, b) => a.lossPct - b.lossPct);
  const t = table(
    merged,
    all.map((r) => r.label),
  );
  console.log(
    [
      t.caption,
      '',
      `| ${t.columns.join(' | ')} |`,
      ...t.rows.map((r) => `| ${r.join(' | ')} |`),
    ].join('\n'),
  );
  writeResults('kcp-link', {
    runs: RUNS,
    seconds: IPERF_S,
    table: t,
    results: { link: LINK, megabytes: BYTES / MB, omitSeconds: OMIT_S, cells: merged },
  });
}

await runMain(main);
