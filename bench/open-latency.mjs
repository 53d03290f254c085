// Open latency (issue 16): how long a new connection takes to carry its first
// byte through the proxy and back. Each open: connect, write 1 byte on
// 'connect', wait for the echo, close; one open at a time, so the figure is
// the latency a lone client sees, not a throughput. Targets, each hop its own
// process: the echo server direct, the bare Node pipe() proxy (one hop, a
// chain of two, and a chain of two in one process), `vproxy simple` (one hop and a chain of two) from this tree
// and, with BEFORE=dir of a built checkout, from that one. Opens rotate over
// the targets (drift hits all alike); medians and 90th percentiles.
//
//   npm run build && node bench/open-latency.mjs
//   BEFORE=/tmp/old node bench/open-latency.mjs   (as in bench/accept-ab.mjs)
// BENCH_OPENS (200) opens per target and gap; BENCH_GAPS (30,0): ms of idle
// between opens (30: each open wakes idle processes; 0: back to back).
import { existsSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import {
  freePort,
  HOST,
  log,
  machineLine,
  runMain,
  sleep,
  startChild,
  waitListening,
  waitOutput,
} from './lib/procs.mjs';

const OPENS = Number(process.env.BENCH_OPENS ?? 200);
const GAPS = (process.env.BENCH_GAPS ?? '30,0').split(',').map(Number);
const BEFORE = process.env.BEFORE;
const here = (p) => fileURLToPath(new URL(p, import.meta.url));

const ECHO = `import net from 'node:net';
const s = net.createServer({ noDelay: true }, (c) => { c.on('error', () => {}); c.pipe(c); });
s.listen(Number(process.argv[1]), '${HOST}', () => console.log('ready'));`;

async function startEcho(port) {
  const child = startChild('echo', process.execPath, [
    '--input-type=module',
    '-e',
    ECHO,
    String(port),
  ]);
  await waitOutput(child, /^ready$/m);
  return port;
}

/** A pipe() proxy process; with `via`, one process runs both hops of a chain (returns its front port). */
async function startPipe(name, backendPort, via = false) {
  const port = await freePort();
  const args = [here('./lib/node-pipe-proxy.mjs'), `${HOST}:${port}=${HOST}:${backendPort}`];
  const front = via ? await freePort() : port;
  if (via) args.push(`${HOST}:${front}=${HOST}:${port}`);
  const child = startChild(name, process.execPath, args);
  await waitOutput(child, /^ready$/m);
  return front;
}

async function startSimple(name, root, backendPort) {
  const port = await freePort();
  const child = startChild(name, process.execPath, [
    `${root}/dist/apps/vproxy.js`,
    'simple',
    '--bind',
    `tcp://${HOST}:${port}`,
    '--backend',
    `tcp://${HOST}:${backendPort}`,
    '--log-level',
    'warn',
  ]);
  await waitListening(child, port);
  return port;
}

/** One open: ms from connect() to the echoed byte. */
function openOnce(port) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const s = net.connect({ port, host: HOST, noDelay: true });
    s.on('error', reject);
    s.on('connect', () => s.write('x'));
    s.on('data', () => {
      const ms = performance.now() - t0;
      s.destroy();
      resolve(ms);
    });
  });
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))];

async function main() {
  if (!existsSync(here('../dist/apps/vproxy.js'))) throw new Error('run npm run build first');
  log(machineLine());
  const echo = await startEcho(await freePort());
  const targets = { direct: echo };
  targets['pipe ×1'] = await startPipe('pipe-1', echo);
  targets['pipe ×2'] = await startPipe('pipe-2', targets['pipe ×1']);
  // Both hops in one process: fewer cross-process wake-ups than any two-process chain.
  targets['pipe ×2, one process'] = await startPipe('pipe-2x', echo, true);
  const roots = [['simple', here('..')]];
  if (BEFORE) roots.unshift(['before', BEFORE]);
  for (const [name, root] of roots) {
    targets[`${name} ×1`] = await startSimple(`${name}-1`, root, echo);
    targets[`${name} ×2`] = await startSimple(`${name}-2`, root, targets[`${name} ×1`]);
  }
  await sleep(300);
  const names = Object.keys(targets);
  for (const name of names) await openOnce(targets[name]); // warm every path once
  const rows = new Map(names.map((n) => [n, []]));
  for (const gap of GAPS) {
    const samples = new Map(names.map((n) => [n, []]));
    for (let i = 0; i < OPENS; i++) {
      for (let j = 0; j < names.length; j++) {
        const name = names[(i + j) % names.length];
        samples.get(name).push(await openOnce(targets[name]));
        if (gap > 0) await sleep(gap);
      }
    }
    for (const name of names) {
      const xs = samples.get(name).sort((a, b) => a - b);
      rows.get(name).push(`${quantile(xs, 0.5).toFixed(3)} / ${quantile(xs, 0.9).toFixed(3)}`);
    }
    log(`gap ${gap} ms done`);
  }
  console.log(
    `\nopen latency, connect + 1-byte echo, ${OPENS} opens per target and gap, ` +
      'rotating over the targets; ms, median / p90',
  );
  console.log(
    `| target | ${GAPS.map((g) => (g > 0 ? `${g} ms apart` : 'back to back')).join(' | ')} |`,
  );
  console.log(`| --- | ${GAPS.map(() => '---:').join(' | ')} |`);
  for (const name of names) console.log(`| ${name} | ${rows.get(name).join(' | ')} |`);
}

await runMain(main);
