// One node process running a TcpLB per `LISTEN=BACKEND` argument (each with its
// own upstream and one-server group, tcp health check), built from dist/.
//
//   node bench/lib/run-tcp-lb.mjs 127.0.0.1:9001=127.0.0.1:5201 [127.0.0.1:9002=127.0.0.1:8080 …]
//
// Prints `ready` once every backend has been checked UP (measuring before that
// would only count refused connections). SIGUSR2 prints one `stats NAME {json}`
// line per LB (the bench diffs them around each measurement); SIGTERM closes the
// LBs, prints the final stats and exits 0 (so `node --cpu-prof` writes its profile).
// BENCH_ACCESS_LOG=FILE turns on each LB's access log, one text line per session
// appended to FILE (what an operator would run), to measure what logging costs.
// RUN_WORKERS=N runs each LB on an event loop group of N worker processes
// (src/workers, as `vproxy --workers N` does) instead of in this process.

import { ServerGroup } from '../../dist/src/lb/server-group.js';
import { TcpLB } from '../../dist/src/lb/tcp-lb.js';
import { Upstream } from '../../dist/src/lb/upstream.js';
import { createDefaultRegistry } from '../../dist/transports/default-registry.js';

const ACCESS_LOG = process.env.BENCH_ACCESS_LOG;
const WORKERS = Number(process.env.RUN_WORKERS ?? 0);

const HEALTH_CHECK = { timeoutMs: 1000, periodMs: 5000, up: 1, down: 3, check: { kind: 'tcp' } };
const UP_TIMEOUT_MS = 10_000;

const out = (line) => process.stdout.write(`${line}\n`);
const err = (line) => process.stderr.write(`${line}\n`);

const pairs = process.argv.slice(2).map((arg) => {
  const [listen, backend, extra] = arg.split('=');
  if (!listen || !backend || extra !== undefined) {
    err(`usage: run-tcp-lb.mjs LISTEN=BACKEND…, got ${JSON.stringify(arg)}`);
    process.exit(2);
  }
  return { listen, backend };
});
if (pairs.length === 0) {
  err('usage: run-tcp-lb.mjs LISTEN=BACKEND…');
  process.exit(2);
}

const registry = createDefaultRegistry();
const running = []; // { lb, group }
const workerGroup = WORKERS > 0 ? await startWorkers(WORKERS) : undefined;

/** An event loop group of `n` worker processes (the built worker entry). */
async function startWorkers(n) {
  const { EventLoopGroup } = await import('../../dist/src/lb/event-loop-group.js');
  const { WorkerEventLoop } = await import('../../dist/src/workers/worker-loop.js');
  const { createLogger } = await import('../../dist/src/fd/logger.js');
  const entry = new URL('../../dist/apps/daemon/worker.js', import.meta.url).pathname;
  const logger = createLogger({ threshold: 'warn' });
  const elg = new EventLoopGroup('bench', {
    createLoop: (name) =>
      new WorkerEventLoop(name, { entry, logLevel: 'warn', logFormat: 'text', logger }),
  });
  for (let i = 0; i < n; i++) elg.add(`bench-${i}`);
  return elg;
}

async function startListener(name, listen, upstream) {
  if (workerGroup === undefined) return TcpLB.start({ name, address: listen, upstream, registry });
  const { WorkerListener } = await import('../../dist/src/workers/worker-listener.js');
  const address = registry.parse(listen.includes('://') ? listen : `tcp://${listen}`);
  return WorkerListener.start({ name, address, upstream, registry, eventLoopGroup: workerGroup });
}

/** Resolves when the group's only server is UP; the check runs from `add`. */
function serverUp(group, name) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      const s = group.get(name)?.stats();
      reject(
        new Error(
          `${group.name}: ${name} not UP after ${UP_TIMEOUT_MS} ms: ${JSON.stringify(s?.health)}`,
        ),
      );
    }, UP_TIMEOUT_MS);
    const up = () => {
      clearTimeout(timer);
      resolve();
    };
    group.once('up', up);
    // Added just before: checks are asynchronous, but do not depend on that.
    if (group.get(name)?.healthy) up();
  });
}

async function startOne({ listen, backend }, i) {
  const name = `bench-${i}`;
  const group = new ServerGroup({ name: `${name}-group`, healthCheck: HEALTH_CHECK, registry });
  // A DOWN during a measurement would explain refused connections; say so loudly.
  group.on('down', (server, e) =>
    err(`!! ${group.name}: ${server.name} DOWN${e ? `: ${e.message}` : ''}`),
  );
  const upstream = new Upstream(`${name}-upstream`);
  upstream.add(group);
  const isUp = serverUp(group, 'backend');
  group.add('backend', backend);
  await isUp;
  const lb = await startListener(name, listen, upstream);
  if (ACCESS_LOG) lb.setAccessLog(await accessLog(ACCESS_LOG));
  running.push({ lb, group });
  return lb;
}

/** A text access log appended to `file` through one write stream (loaded only when asked for). */
async function accessLog(file) {
  const { createWriteStream } = await import('node:fs');
  const { createLogger } = await import('../../dist/src/fd/logger.js');
  const stream = createWriteStream(file, { flags: 'a' });
  return createLogger({ threshold: 'info', write: (line) => stream.write(`${line}\n`) });
}

async function printStats() {
  for (const { lb } of running) {
    // Worker listeners: the counters as the workers have them now.
    await lb.refresh?.();
    out(`stats ${lb.name} ${JSON.stringify(lb.stats())}`);
  }
}

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  await printStats();
  await Promise.all(running.map(({ lb, group }) => lb.close().then(() => group.close())));
  await workerGroup?.close();
  process.exit(0);
}

process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('SIGUSR2', printStats);

try {
  const lbs = await Promise.all(pairs.map(startOne));
  for (const lb of lbs) {
    const where = workerGroup === undefined ? '' : `, ${WORKERS} worker processes`;
    err(`${lb.describe?.() ?? lb.name} (bound ${lb.serverSockId()}${where})`);
  }
  out('ready');
} catch (e) {
  err(`run-tcp-lb failed: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}
