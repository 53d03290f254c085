// Loopback throughput of the WebSocket transport: a plain TCP proxy (one hop and
// a chain of two) against tcp → ws → tcp tunnels (framed, raw) and tcp → wss → tcp,
// each hop a `ProxyEngine` in its own node process, iperf3 as the load. Each cell
// is the median of BENCH_RUNS runs (default 3) of `iperf3 -t BENCH_SECONDS`
// (default 5), one stream, in both directions ("up" = iperf3 client → server,
// i.e. through the ws client's masking; "down" = -R). CPU s/GB is the user+system
// time of all proxy processes during the runs divided by the bytes delivered.
// Every config's hops stay up for the whole run and runs are interleaved (run 1 of
// every config and direction, then run 2…), so drift hits every config alike.
// Results go to bench/results/ws.json.
//
// Needs iperf3 and openssl on PATH and a build (dist/, or VPROXY_DIST=dir).
// Run: npm run build && node bench/ws.mjs
// Quick smoke run: BENCH_SECONDS=2 BENCH_RUNS=1 node bench/ws.mjs
import { execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { selfSignedCert } from './lib/certs.mjs';
import { interleaved, machineFacts, median, writeResults } from './lib/results.mjs';

const HOST = '127.0.0.1';
const DIST = resolve(process.env.VPROXY_DIST ?? fileURLToPath(new URL('../dist', import.meta.url)));

if (process.argv[2] === '--hop') {
  await runHop(process.argv[3], process.argv[4]);
} else {
  await runBench();
}

/** Child role: one proxy engine from `listen` to `target`; prints its port. */
async function runHop(listen, target) {
  const load = (p) => import(pathToFileURL(join(DIST, p)).href);
  const { createDefaultRegistry } = await load('transports/default-registry.js');
  const { ProxyEngine } = await load('src/proxy/proxy.js');
  const { RoundRobinPicker } = await load('src/proxy/round-robin.js');
  const registry = createDefaultRegistry();
  const server = await registry.listen(listen);
  const proxy = new ProxyEngine({ server, registry, picker: new RoundRobinPicker([target]) });
  proxy.on('error', (err) => process.stderr.write(`proxy error: ${err.message}\n`));
  process.stdout.write(`port ${server.address().port}\n`);
  process.on('SIGTERM', () => proxy.close().finally(() => process.exit(0)));
}

async function runBench() {
  const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
  const RUNS = Number(process.env.BENCH_RUNS ?? 3);
  const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim() || 100);
  const children = new Set();
  const log = (msg) => process.stderr.write(`${msg}\n`);
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  let tmpDir;

  for (const [cmd, args] of [
    ['iperf3', ['--version']],
    ['openssl', ['version']],
  ]) {
    if (spawnSync(cmd, args, { stdio: 'ignore' }).error) {
      throw new Error(`${cmd} not found on PATH; install it: apt-get install -y ${cmd}`);
    }
  }
  if (!existsSync(join(DIST, 'transports/ws/index.js'))) {
    throw new Error(`${DIST} has no build of transports/ws; run npm run build first`);
  }

  const freePort = () =>
    new Promise((res, rej) => {
      const srv = createServer();
      srv.once('error', rej);
      srv.listen(0, HOST, () => {
        const { port } = srv.address();
        srv.close(() => res(port));
      });
    });

  function start(name, cmd, args, waitFor) {
    const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const child = { name, proc, output: '', stopping: false };
    children.add(child);
    proc.stderr.setEncoding('utf8').on('data', (d) => {
      child.output = (child.output + d).slice(-4000);
    });
    proc.on('exit', (code, signal) => {
      children.delete(child);
      if (!child.stopping) log(`!! ${name} exited (${signal ?? code}): ${child.output.trim()}`);
    });
    if (!waitFor) return Promise.resolve({ child });
    return new Promise((res, rej) => {
      let out = '';
      proc.stdout.setEncoding('utf8').on('data', (d) => {
        out += d;
        const m = waitFor.exec(out);
        if (m) res({ child, match: m });
      });
      proc.once('exit', () =>
        rej(new Error(`${name} exited before it was ready: ${child.output}`)),
      );
    });
  }

  async function stop(child) {
    if (!children.has(child)) return;
    child.stopping = true;
    const exited = new Promise((r) => child.proc.once('exit', r));
    child.proc.kill('SIGTERM');
    const t = setTimeout(() => child.proc.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
  }

  /** A proxy hop process; resolves with its child and listening port. */
  async function hop(name, listen, target) {
    const self = fileURLToPath(import.meta.url);
    const { child, match } = await start(
      name,
      process.execPath,
      [self, '--hop', listen, target],
      /port (\d+)\n/,
    );
    return { child, port: Number(match[1]) };
  }

  /** user+system seconds a process has used so far. */
  function cpuSeconds(pid) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  }

  function iperf3(port, reverse) {
    const args = ['-c', HOST, '-p', String(port), '-t', String(SECONDS), '-J'];
    if (reverse) args.push('-R');
    return new Promise((res) => {
      execFile(
        'iperf3',
        args,
        { timeout: (SECONDS + 30) * 1000, maxBuffer: 64 << 20 },
        (err, out) => {
          try {
            const json = JSON.parse(out);
            if (json.error) throw new Error(json.error);
            res({ bps: json.end.sum_received.bits_per_second, bytes: json.end.sum_received.bytes });
          } catch (e) {
            res({ error: err ? err.message : e.message });
          }
        },
      );
    });
  }

  // Last resort if we leave without cleaning up (an exception, Ctrl-C).
  process.on('exit', () => {
    for (const c of children) c.proc.kill('SIGKILL');
  });
  for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => process.exit(130));
  tmpDir = mkdtempSync(join(tmpdir(), 'vproxy-bench-ws-'));
  try {
    await measureAll();
  } finally {
    for (const c of [...children]) await stop(c);
    rmSync(tmpDir, { recursive: true, force: true });
  }

  async function measureAll() {
    const { cert, key } = selfSignedCert(tmpDir);

    const iperfPort = await freePort();
    await start('iperf3 -s', 'iperf3', ['-s', '-B', HOST, '-p', String(iperfPort)]);
    await sleep(300);
    const backend = `tcp://${HOST}:${iperfPort}`;
    const tls = `cert=${cert}&cert-key=${key}`;

    // Each config: hops listed exit-first; `entry(port)` is what the entry hop dials.
    const configs = [
      { label: 'tcp proxy (1 hop)', exit: null, entry: () => backend },
      {
        label: 'tcp -> tcp -> tcp (2 hops)',
        exit: `tcp://${HOST}:0`,
        entry: (p) => `tcp://${HOST}:${p}`,
      },
      {
        label: 'tcp -> ws framed -> tcp',
        exit: `ws://${HOST}:0/t`,
        entry: (p) => `ws://${HOST}:${p}/t`,
      },
      {
        label: 'tcp -> ws framed, mask=zero -> tcp',
        exit: `ws://${HOST}:0/t`,
        entry: (p) => `ws://${HOST}:${p}/t?mask=zero`,
      },
      {
        label: 'tcp -> ws raw -> tcp',
        exit: `ws://${HOST}:0/t`,
        entry: (p) => `ws://${HOST}:${p}/t?ws-mode=raw`,
      },
      {
        label: 'tcp -> tls -> tcp (reference for wss)',
        exit: `tls://${HOST}:0?${tls}`,
        entry: (p) => `tls://127.0.0.1:${p}?ca=${cert}`,
      },
      {
        label: 'tcp -> wss framed -> tcp',
        exit: `wss://${HOST}:0/t?${tls}`,
        entry: (p) => `wss://127.0.0.1:${p}/t?ca=${cert}`,
      },
      {
        label: 'tcp -> wss raw -> tcp',
        exit: `wss://${HOST}:0/t?${tls}`,
        entry: (p) => `wss://127.0.0.1:${p}/t?ws-mode=raw&ca=${cert}`,
      },
    ];

    // Start every config's hops first; they stay up until the end.
    const results = [];
    const started = [];
    try {
      for (const config of configs) {
        const hops = [];
        let target = backend;
        if (config.exit) {
          const exit = await hop(`${config.label}: exit hop`, config.exit, backend);
          hops.push(exit);
          target = config.entry(exit.port);
        }
        const entry = await hop(`${config.label}: entry hop`, `tcp://${HOST}:0`, target);
        hops.push(entry);
        started.push({ config, hops, entry });
      }
      const cells = started.flatMap((s) => ['up', 'down'].map((dir) => ({ ...s, dir })));
      const samples = await interleaved(RUNS, cells, async ({ config, hops, entry, dir }, run) => {
        const before = hops.reduce((s, h) => s + cpuSeconds(h.child.proc.pid), 0);
        const r = await iperf3(entry.port, dir === 'down');
        if (r.error) throw new Error(`${config.label}: iperf3 failed: ${r.error}`);
        const cpu = hops.reduce((s, h) => s + cpuSeconds(h.child.proc.pid), 0) - before;
        log(`   ${config.label}, ${dir}, run ${run}/${RUNS}: ${(r.bps / 1e9).toFixed(2)} Gbit/s`);
        await sleep(300);
        return { bps: r.bps, bytes: r.bytes, cpu };
      });
      for (const [i, s] of started.entries()) {
        const row = { label: s.config.label };
        for (const [j, dir] of ['up', 'down'].entries()) {
          const runs = samples[2 * i + j];
          row[dir] = median(runs.map((r) => r.bps));
          const bytes = runs.reduce((n, r) => n + r.bytes, 0);
          row[`${dir}Cpu`] = runs.reduce((n, r) => n + r.cpu, 0) / (bytes / 1e9);
          row[`${dir}Samples`] = runs.map((r) => r.bps);
        }
        results.push(row);
      }
    } finally {
      for (const s of started) for (const h of s.hops) await stop(h.child);
    }

    const base1 = results[0];
    const base2 = results[1];
    const g = (bps) => (bps / 1e9).toFixed(2);
    const pct = (a, b) => `${Math.round((100 * a) / b)}%`;
    const table = {
      caption: `\`bench:ws\`: iperf3 -t ${SECONDS}, 1 stream, loopback; each hop its own process`,
      columns: [
        'config',
        'up Gbit/s',
        'vs 1-hop',
        'vs 2-hop',
        'CPU s/GB',
        'down Gbit/s',
        'vs 1-hop',
        'vs 2-hop',
        'CPU s/GB',
      ],
      rows: results.map((r) => [
        r.label,
        g(r.up),
        pct(r.up, base1.up),
        pct(r.up, base2.up),
        r.upCpu.toFixed(2),
        g(r.down),
        pct(r.down, base1.down),
        pct(r.down, base2.down),
        r.downCpu.toFixed(2),
      ]),
    };
    const m = machineFacts();
    const lines = [
      `node ${m.node}, CPU: ${m.cpu}, nproc: ${m.cores}`,
      `iperf3 -t ${SECONDS}, 1 stream, median of ${RUNS} interleaved run(s), loopback ${HOST}; each hop its own process`,
      '',
      `| ${table.columns.join(' | ')} |`,
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...table.rows.map((row) => `| ${row.join(' | ')} |`),
    ];
    console.log(lines.join('\n'));
    writeResults('ws', { runs: RUNS, seconds: SECONDS, table, results: { rows: results } });
  }
}
