// How the kernel spreads connections over worker processes (issue 16): one
// listen socket shared by every worker (what src/workers does: main binds, each
// worker listens; cluster's SCHED_NONE is the same mechanism) against
// round-robin hand-off (cluster's SCHED_RR: the primary accepts and sends each
// connection to the next worker over IPC). Two workers serving a tiny HTTP
// response; wrk -c 50 with keep-alive and with `Connection: close`. Prints
// req/s, each worker's share of connections and requests, and the primary's
// CPU (the hand-off's cost). Medians of BENCH_RUNS (3) runs of BENCH_SECONDS (5).
// Run: node bench/workers-accept.mjs (needs wrk).
import { spawnSync } from 'node:child_process';
import cluster from 'node:cluster';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { freePort, log, median, requireTool, runMain } from './lib/procs.mjs';
import { writeResults } from './lib/results.mjs';
import { runWrk } from './lib/wrk.mjs';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const WORKERS = 2;
const SELF = fileURLToPath(import.meta.url);

if (cluster.isWorker) {
  let connections = 0;
  let requests = 0;
  const server = createServer((_req, res) => {
    requests++;
    res.end('ok\n');
  });
  server.on('connection', () => connections++);
  server.keepAliveTimeout = 60_000;
  server.listen(Number(process.env.PORT), '127.0.0.1');
  process.on('message', (m) => {
    if (m === 'count') {
      process.send({ connections, requests, cpu: process.cpuUsage() });
      connections = 0;
      requests = 0;
    }
  });
} else if (process.argv[2] === '--primary') {
  // One primary per policy and run: cluster fixes its policy at the first fork.
  await primary(process.argv[3]);
} else {
  await runMain(main);
}

async function startWorkers(port) {
  const workers = [];
  for (let i = 0; i < WORKERS; i++) {
    const w = cluster.fork({ PORT: String(port) });
    await new Promise((resolve) => w.once('listening', resolve));
    workers.push(w);
  }
  return workers;
}

/** Run both loads against 2 workers under this process's policy; print the samples as JSON. */
async function primary(policy) {
  const port = await freePort();
  const workers = await startWorkers(port);
  const out = {};
  for (const close of [false, true]) {
    const test = close ? 'close' : 'keepalive';
    await Promise.all(workers.map(count));
    const cpu0 = process.cpuUsage();
    const r = await runWrk(port, { seconds: SECONDS, connections: 50, threads: 2, close });
    const primaryCpu = process.cpuUsage(cpu0);
    const shares = await Promise.all(workers.map(count));
    const conns = shares.map((s) => s.connections);
    const reqs = shares.map((s) => s.requests);
    const sum = (xs) => xs.reduce((a, b) => a + b, 0);
    out[test] = {
      rps: r.rps,
      connections: conns,
      requests: reqs,
      reqShares: reqs.map((c) => c / sum(reqs)),
      primaryCpuS: (primaryCpu.user + primaryCpu.system) / 1e6,
    };
    log(
      `${test} ${policy}: ${Math.round(r.rps)} req/s, connections per worker ${conns.join(' / ')},` +
        ` requests ${reqs.join(' / ')}, primary CPU ${out[test].primaryCpuS.toFixed(2)} s`,
    );
  }
  for (const w of workers) w.kill();
  await Promise.all(workers.map((w) => new Promise((r) => w.once('exit', r))));
  console.log(JSON.stringify(out));
}

function count(w) {
  return new Promise((resolve) => {
    w.once('message', resolve);
    w.send('count');
  });
}

async function main() {
  requireTool('wrk', ['-v'], 'wrk');
  const results = {};
  for (const close of [false, true]) {
    const test = close ? 'close' : 'keepalive';
    results[test] = {};
    for (const policy of ['shared', 'rr']) results[test][policy] = [];
  }
  for (let run = 1; run <= RUNS; run++) {
    for (const policy of ['shared', 'rr']) {
      const r = spawnSync(process.execPath, [SELF, '--primary', policy], {
        env: { ...process.env, NODE_CLUSTER_SCHED_POLICY: policy === 'rr' ? 'rr' : 'none' },
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      if (r.status !== 0) throw new Error(`primary ${policy} failed: ${r.status}`);
      const samples = JSON.parse(r.stdout.trim().split('\n').at(-1));
      for (const [test, sample] of Object.entries(samples)) results[test][policy].push(sample);
    }
  }
  const rows = [];
  for (const [test, byPolicy] of Object.entries(results)) {
    for (const [policy, samples] of Object.entries(byPolicy)) {
      const skew = samples.map((s) => Math.max(...s.reqShares));
      rows.push([
        test === 'close' ? 'wrk -c 50, `Connection: close`' : 'wrk -c 50, keep-alive',
        policy === 'rr'
          ? 'round robin from the primary (SCHED_RR)'
          : 'one shared socket (SCHED_NONE, ours)',
        Math.round(median(samples.map((s) => s.rps))).toLocaleString('en-US'),
        `${(100 * median(skew)).toFixed(0)} %`,
        median(samples.map((s) => s.primaryCpuS)).toFixed(2),
      ]);
    }
  }
  console.log(rows.map((r) => `| ${r.join(' | ')} |`).join('\n'));
  writeResults('workers-accept', {
    runs: RUNS,
    seconds: SECONDS,
    table: {
      caption:
        '`bench/workers-accept.mjs`: 2 worker processes serving a tiny HTTP answer, loopback',
      columns: ['load', 'accept', 'req/s', 'busiest worker share of requests', 'primary CPU s'],
      rows,
    },
    results,
  });
}
