// Mesh scale benchmark (issue 17): a real 3-member etcd cluster on loopback,
// 1,000 instances over 20 services registered by 10 registry clients (one
// lease each, as 10 daemons), followed by 3 watcher processes, each one
// daemon's worth of group delegates (20 server groups, one per service).
//   1. initial convergence: every watcher's groups equal what is registered;
//   2. a burst of 200 changes (100 deregistrations, 60 registrations, 40
//      re-weights) and the time until all 3 watchers show the new state;
//   3. churn for BENCH_SECONDS (default 600): every 100 ms one instance goes,
//      a new one comes and one is re-weighted (30 changes/s), with the RSS and
//      heap (after a full GC) of every watcher printed every 30 s, so growth
//      would show; at the end, the time to converge once churn stops.
// Watchers run in their own processes (node --expose-gc) so their memory is
// theirs alone. No sockets to the instances: health checks are `none`.
// Needs etcd (Debian: apt-get install -y etcd-server).
// Run: npm run build && node bench/mesh.mjs       (BENCH_SECONDS=180 for 3 minutes)
import { fork, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = (p) => new URL(`../dist/src/${p}`, import.meta.url).href;
const SERVICES = 20;
const PER_SERVICE = 50;
const WRITERS = 10;
const WATCHERS = 3;
const CHURN_MS = 100;
const REPORT_MS = 30_000;
const service = (s) => `svc${s}`;

/** The state of a set of groups as one hash: sorted `group server=weight` lines. */
function digest(groups) {
  const lines = [];
  for (const [name, servers] of groups)
    for (const [sv, w] of servers) lines.push(`${name} ${sv}=${w}`);
  return createHash('sha1').update(lines.sort().join('\n')).digest('hex');
}

// ---------------------------------------------------------------- watcher
async function watcher(endpoints) {
  const { EventLoopGroup } = await import(dist('lb/event-loop-group.js'));
  const { ServerGroup } = await import(dist('lb/server-group.js'));
  const { EtcdRegistry } = await import(dist('mesh/etcd-registry.js'));
  const { SmartGroupDelegate } = await import(dist('mesh/group-delegate.js'));
  const registry = new EtcdRegistry({ endpoints, leaseTtlSeconds: 10 });
  const elg = new EventLoopGroup('bench-health');
  elg.add('bench-health-0');
  const followers = [];
  for (let s = 0; s < SERVICES; s++) {
    const group = new ServerGroup({
      name: service(s),
      eventLoopGroup: elg,
      healthCheck: { timeoutMs: 1000, periodMs: 60_000, up: 1, down: 1, check: { kind: 'none' } },
    });
    const delegate = new SmartGroupDelegate({ registry, service: service(s), zone: 'z', group });
    followers.push({ group, delegate });
  }
  process.on('message', async (m) => {
    if (m.type === 'digest') {
      const groups = followers.map(({ group }) => [
        group.name,
        group.servers().map((sv) => [sv.name, sv.weight]),
      ]);
      process.send({
        id: m.id,
        digest: digest(groups),
        servers: groups.reduce((n, [, s]) => n + s.length, 0),
        connected: followers.every(({ delegate }) => delegate.state === 'connected'),
      });
    } else if (m.type === 'mem') {
      globalThis.gc?.();
      const u = process.memoryUsage();
      process.send({ id: m.id, rss: u.rss, heapUsed: u.heapUsed });
    } else if (m.type === 'close') {
      for (const { delegate, group } of followers) {
        await delegate.close();
        await group.close();
      }
      await registry.close();
      await elg.close();
      process.send({ id: m.id });
      process.disconnect();
    }
  });
  process.send({ ready: true });
}

// ---------------------------------------------------------------- etcd
async function freePort() {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

function healthy(port) {
  return new Promise((resolve) => {
    const req = get(
      { host: '127.0.0.1', port, path: '/health', timeout: 1000, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => {
          body += c;
        });
        res.on('end', () => resolve(res.statusCode === 200 && body.includes('"true"')));
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

async function startEtcd(dir) {
  const members = [];
  for (let i = 1; i <= 3; i++)
    members.push({ name: `m${i}`, client: await freePort(), peer: await freePort() });
  const cluster = members.map((m) => `${m.name}=http://127.0.0.1:${m.peer}`).join(',');
  const children = members.map((m) =>
    spawn(
      'etcd',
      [
        ...['--name', m.name, '--data-dir', join(dir, m.name)],
        ...['--listen-client-urls', `http://127.0.0.1:${m.client}`],
        ...['--advertise-client-urls', `http://127.0.0.1:${m.client}`],
        ...['--listen-peer-urls', `http://127.0.0.1:${m.peer}`],
        ...['--initial-advertise-peer-urls', `http://127.0.0.1:${m.peer}`],
        ...['--initial-cluster', cluster, '--initial-cluster-state', 'new'],
        ...['--heartbeat-interval', '100', '--election-timeout', '700'],
        ...['--logger', 'zap', '--log-level', 'error'],
      ],
      { stdio: 'ignore' },
    ),
  );
  const deadline = Date.now() + 20_000;
  while (!(await Promise.all(members.map((m) => healthy(m.client)))).every(Boolean)) {
    if (Date.now() > deadline) throw new Error('etcd not healthy');
    await new Promise((r) => setTimeout(r, 100));
  }
  return { endpoints: members.map((m) => `http://127.0.0.1:${m.client}`), children };
}

// ---------------------------------------------------------------- main
function ask(child, message) {
  const id = Math.random();
  return new Promise((resolve) => {
    const on = (m) => {
      if (m.id !== id) return;
      child.off('message', on);
      resolve(m);
    };
    child.on('message', on);
    child.send({ ...message, id });
  });
}

async function main() {
  const seconds = Number(process.env.BENCH_SECONDS ?? 600);
  const { EtcdRegistry } = await import(dist('mesh/etcd-registry.js'));
  const { SmartNodeDelegate } = await import(dist('mesh/node-delegate.js'));
  const dir = mkdtempSync(join(tmpdir(), 'vproxy-bench-mesh-'));
  const etcd = await startEtcd(dir);
  const log = (line) => console.log(`[mesh-bench] ${line}`);
  log(`etcd: 3 members ${etcd.endpoints.join(',')}`);
  const watchers = [];
  for (let w = 0; w < WATCHERS; w++) {
    const child = fork(fileURLToPath(import.meta.url), ['watcher', etcd.endpoints.join(',')], {
      execArgv: ['--expose-gc'],
    });
    await new Promise((r) => child.once('message', r));
    watchers.push(child);
  }
  const writers = Array.from(
    { length: WRITERS },
    () => new EtcdRegistry({ endpoints: etcd.endpoints, leaseTtlSeconds: 10 }),
  );
  // Instance n of service s: 10.<s>.<n / 250 % 256>.<n % 250 + 1>:<8000 + n / 64000> (never dialled).
  const address = (s, n) => `10.${s}.${Math.floor(n / 250) % 256}.${(n % 250) + 1}`;
  const port = (n) => 8000 + Math.floor(n / 64_000);
  const nodes = new Map(); // `${s}/${n}` -> delegate
  const expected = new Map(Array.from({ length: SERVICES }, (_, s) => [service(s), new Map()]));
  const next = new Array(SERVICES).fill(0);
  let changes = 0;
  const register = (s, weight = 10) => {
    const n = next[s]++;
    const d = new SmartNodeDelegate({
      registry: writers[(s * 7 + n) % WRITERS],
      service: service(s),
      zone: 'z',
      address: address(s, n),
      port: port(n),
      weight,
    });
    nodes.set(`${s}/${n}`, d);
    expected.get(service(s)).set(`${service(s)}@${address(s, n)}:${port(n)}`, weight);
    changes++;
    return d;
  };
  const deregister = (key) => {
    const [s, n] = key.split('/').map(Number);
    const d = nodes.get(key);
    nodes.delete(key);
    expected.get(service(s)).delete(`${service(s)}@${address(s, n)}:${port(n)}`);
    changes++;
    return d.close();
  };
  const reweight = (key, weight) => {
    const [s, n] = key.split('/').map(Number);
    nodes.get(key).setWeight(weight);
    expected.get(service(s)).set(`${service(s)}@${address(s, n)}:${port(n)}`, weight);
    changes++;
  };
  const want = () => digest([...expected].map(([name, m]) => [name, [...m]]));
  const converged = async (target) => {
    const answers = await Promise.all(watchers.map((w) => ask(w, { type: 'digest' })));
    return answers.every((a) => a.digest === target && a.connected);
  };
  const until = async (what, timeoutMs = 60_000) => {
    const target = want();
    const t = performance.now();
    while (!(await converged(target))) {
      if (performance.now() - t > timeoutMs) throw new Error(`timed out: ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return performance.now() - t;
  };

  let t = performance.now();
  for (let s = 0; s < SERVICES; s++) for (let i = 0; i < PER_SERVICE; i++) register(s);
  await Promise.all([...nodes.values()].map((d) => d.written()));
  const writtenMs = performance.now() - t;
  const initialMs = await until('initial convergence');
  log(
    `${nodes.size} instances over ${SERVICES} services registered by ${WRITERS} clients in ${writtenMs.toFixed(0)} ms;` +
      ` ${WATCHERS} watchers (${WATCHERS * SERVICES} group delegates) converged ${initialMs.toFixed(0)} ms later`,
  );

  t = performance.now();
  const burst = [];
  const keys = [...nodes.keys()];
  for (let k = 0; k < 100; k++) burst.push(deregister(keys[k * 10]));
  for (let k = 0; k < 60; k++) burst.push(register(k % SERVICES).written());
  for (let k = 0; k < 40; k++) {
    const key = keys[k * 10 + 5];
    reweight(key, 20 + k);
    burst.push(nodes.get(key).written());
  }
  const burstConvergeMs = await until('burst convergence');
  const burstMs = performance.now() - t;
  await Promise.all(burst);
  log(
    `burst of 200 changes (100 deregistrations, 60 registrations, 40 re-weights):` +
      ` all ${WATCHERS} watchers converged ${burstMs.toFixed(0)} ms after the burst began`,
  );
  void burstConvergeMs;

  const mem = async () => Promise.all(watchers.map((w) => ask(w, { type: 'mem' })));
  const mb = (b) => (b / 1048576).toFixed(1);
  const report = async (elapsed) => {
    const m = await mem();
    log(
      `t=${String(Math.round(elapsed / 1000)).padStart(4)} s changes=${String(changes).padStart(6)} instances=${nodes.size}` +
        ` watchers rss MiB ${m.map((x) => mb(x.rss)).join('/')} heap MiB ${m.map((x) => mb(x.heapUsed)).join('/')}`,
    );
    return m;
  };
  log(
    `churn for ${seconds} s: every ${CHURN_MS} ms one instance goes, one comes, one is re-weighted`,
  );
  const start = performance.now();
  const first = await report(0);
  let nextReport = start + REPORT_MS;
  let last = first;
  const pending = new Set();
  while (performance.now() - start < seconds * 1000) {
    const all = [...nodes.keys()];
    const gone = all[Math.floor(Math.random() * all.length)];
    const p = deregister(gone).finally(() => pending.delete(p));
    pending.add(p);
    register(Math.floor(Math.random() * SERVICES));
    const rest = [...nodes.keys()];
    reweight(rest[Math.floor(Math.random() * rest.length)], 1 + Math.floor(Math.random() * 100));
    await new Promise((r) => setTimeout(r, CHURN_MS));
    if (performance.now() >= nextReport) {
      last = await report(performance.now() - start);
      nextReport += REPORT_MS;
    }
  }
  await Promise.all(pending);
  const finalMs = await until('convergence after churn');
  last = await report(performance.now() - start);
  log(`churn stopped: all watchers converged ${finalMs.toFixed(0)} ms later`);
  const growth = last.map((x, i) => mb(x.heapUsed - first[i].heapUsed));
  const rssGrowth = last.map((x, i) => mb(x.rss - first[i].rss));
  log(
    `heap growth over the churn (MiB, per watcher): ${growth.join('/')}; rss growth: ${rssGrowth.join('/')}`,
  );

  for (const w of watchers) await ask(w, { type: 'close' });
  await Promise.all([...nodes.values()].map((d) => d.close()));
  await Promise.all(writers.map((r) => r.close()));
  for (const c of etcd.children) {
    const exited = once(c, 'exit');
    c.kill('SIGKILL');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
}

if (process.argv[2] === 'watcher') await watcher(process.argv[3].split(','));
else await main();
