import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { EventLoopGroup } from '../../../src/lb/event-loop-group.js';
import { ServerGroup } from '../../../src/lb/server-group.js';
import { Upstream } from '../../../src/lb/upstream.js';
import { WorkerListener } from '../../../src/workers/worker-listener.js';
import type { WorkerEventLoop } from '../../../src/workers/worker-loop.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import {
  closedPort,
  hashUntilEnd,
  peerClosedWithin,
  startEchoServer,
  stopServer,
  writeRandom,
} from '../../helpers/net.js';
import {
  alive,
  echoTransfer,
  NO_CHECK,
  openSession,
  pidOf,
  pids,
  sessionOnEach,
  workerGroup,
} from './fixture.js';

// A tcp-lb on a group of two worker processes, with real sockets on loopback:
// both workers serve, the control plane's changes reach them without touching
// established sessions, a killed worker is restarted and loses only its own
// sessions, and the counters main reports are the sums of what clients saw.

const registry = createDefaultRegistry();
let baseline: string[];
type Echo = { server: Server; port: number; sockets: Set<Socket> };
let echoA: Echo;
let echoB: Echo;

beforeAll(async () => {
  baseline = snapshotSockets();
  echoA = await startEchoServer();
  echoB = await startEchoServer();
});

afterAll(async () => {
  await stopServer(echoA.server, echoA.sockets);
  await stopServer(echoB.server, echoB.sockets);
  await expectNoLeakedSockets(baseline, 4000);
});

interface Setup {
  readonly elg: EventLoopGroup;
  readonly lb: WorkerListener;
  readonly port: number;
  readonly upstream: Upstream;
  readonly groups: ServerGroup[];
  readonly pids: number[];
}

let current: Setup | undefined;
const clients = new Set<Socket>();

async function setup(listen = 'tcp://127.0.0.1:0'): Promise<Setup> {
  const elg = workerGroup('w', 2);
  const sg1 = new ServerGroup({ name: 'sg1', registry, healthCheck: NO_CHECK });
  sg1.add('a', `tcp://127.0.0.1:${echoA.port}`);
  const sg2 = new ServerGroup({ name: 'sg2', registry, healthCheck: NO_CHECK });
  sg2.add('b', `tcp://127.0.0.1:${echoB.port}`);
  const upstream = new Upstream('up');
  upstream.add(sg1);
  const lb = await WorkerListener.start({
    name: 'lb',
    address: registry.parse(listen),
    upstream,
    registry,
    eventLoopGroup: elg,
  });
  if (lb === undefined) throw new Error('no worker loops');
  current = { elg, lb, port: lb.bound().port, upstream, groups: [sg1, sg2], pids: pids(elg) };
  return current;
}

afterEach(async () => {
  for (const c of clients) c.destroy();
  clients.clear();
  const s = current;
  current = undefined;
  if (s === undefined) return;
  const before = pids(s.elg);
  await s.lb.close();
  await s.elg.close();
  for (const g of s.groups) await g.close();
  // Every worker process exited: nothing is left behind.
  for (const pid of [...before, ...s.pids]) expect(alive(pid)).toBe(false);
});

function track(socket: Socket): Socket {
  clients.add(socket);
  socket.on('error', () => {});
  return socket;
}

/** An echo server on a given port (the health check's target appearing). */
async function startServerOn(port: number): Promise<{ server: Server; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return { server, sockets };
}

describe('tcp-lb on two worker processes', () => {
  it('serves connections from both workers; every session names its worker pid', async () => {
    const { lb, port, pids: workerPids } = await setup();
    expect(workerPids).toHaveLength(2);
    expect(new Set(workerPids).size).toBe(2);
    expect(workerPids).not.toContain(process.pid);
    const byPid = await sessionOnEach(lb, port, workerPids);
    for (const s of byPid.values()) track(s);
    await lb.refresh();
    const seen = new Set(lb.sessions().map((s) => s.pid));
    expect([...seen].sort()).toEqual([...workerPids].sort());
    // 8 MB sha256-checked through each worker.
    await Promise.all([...byPid.values()].map((s) => echoTransfer(s, 8 * 1024 * 1024)));
  });

  it('keeps established sessions across update and remove of its server group', async () => {
    const { lb, port, upstream, groups, pids: workerPids } = await setup();
    const [sg1, sg2] = groups as [ServerGroup, ServerGroup];
    const byPid = await sessionOnEach(lb, port, workerPids);
    const flowing = [...byPid.values()].map(track);
    const payload = randomBytes(24 * 1024 * 1024);
    const want = createHash('sha256').update(payload).digest('hex');
    const echoed = flowing.map((s) => hashUntilEnd(s));
    const firstHalf = payload.subarray(0, 16 * 1024 * 1024);
    await Promise.all(flowing.map((s) => (s.write(firstHalf) ? null : once(s, 'drain'))));
    // Changes while the sessions are mid-transfer: each one is applied in every worker before sync resolves.
    sg1.setWeight('a', 5);
    sg1.method = 'wlc';
    upstream.add(sg2);
    await lb.sync();
    upstream.update('sg1', { weight: 1 });
    await lb.sync();
    upstream.remove('sg1');
    await lb.sync();
    // New sessions go to sg2 only (echo B), on both workers.
    const before = echoB.sockets.size;
    const fresh = await sessionOnEach(lb, port, workerPids);
    for (const s of fresh.values()) track(s);
    expect(echoB.sockets.size).toBeGreaterThanOrEqual(before + 2);
    // The established sessions (to echo A) finish their transfer intact.
    for (const s of flowing) s.end(payload.subarray(16 * 1024 * 1024));
    for (const got of await Promise.all(echoed)) {
      expect(got.bytes).toBe(payload.length);
      expect(got.sha256).toBe(want);
    }
    await lb.refresh();
    expect(lb.stats().errors).toBe(0);
  });

  it('restarts a worker killed with -9; only its sessions are lost, the other finishes 100 MB', async () => {
    const { lb, port, elg, pids: workerPids } = await setup();
    const [victim, survivor] = workerPids as [number, number];
    const byPid = await sessionOnEach(lb, port, workerPids);
    const lost = track(byPid.get(victim) as Socket);
    const kept = track(byPid.get(survivor) as Socket);
    const echoed = hashUntilEnd(kept);
    const sending = writeRandom(kept, 100 * 1024 * 1024);
    // Let the big transfer get going, then kill the other worker.
    await once(kept, 'data');
    process.kill(victim, 'SIGKILL');
    await peerClosedWithin(lost, 10_000);
    const sent = await sending;
    const got = await echoed;
    expect(got.bytes).toBe(100 * 1024 * 1024);
    expect(got.sha256).toBe(sent);
    // The killed worker is back with a new pid and serves again.
    const loop = elg.list()[0] as WorkerEventLoop;
    const deadline = Date.now() + 15_000;
    while (loop.worker.pid === undefined && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const restarted = pids(elg);
    expect(restarted).toContain(survivor);
    expect(restarted).not.toContain(victim);
    expect(loop.worker.restarts + (elg.list()[1] as WorkerEventLoop).worker.restarts).toBe(1);
    const again = await sessionOnEach(lb, port, restarted);
    for (const s of again.values()) track(s);
    expect(alive(victim)).toBe(false);
  });

  it("pushes main's health-check UP/DOWN to the workers", async () => {
    const { lb, port, upstream, groups, pids: workerPids } = await setup();
    const free = await closedPort();
    const sg3 = new ServerGroup({
      name: 'sg3',
      registry,
      healthCheck: { timeoutMs: 3000, periodMs: 100, up: 1, down: 1, check: { kind: 'tcp' } },
    });
    groups.push(sg3);
    sg3.add('late', `tcp://127.0.0.1:${free}`);
    upstream.add(sg3);
    upstream.remove('sg1');
    await lb.sync();
    // Nothing UP: a client is closed without a byte.
    const refused = track(connect({ port, host: '127.0.0.1' }));
    await peerClosedWithin(refused, 5000);
    // The backend appears; main's check turns it UP and both workers use it.
    const up = once(sg3, 'up');
    const late = await startServerOn(free);
    try {
      await up;
      await lb.sync();
      const byPid = await sessionOnEach(lb, port, workerPids);
      for (const s of byPid.values()) await echoTransfer(track(s), 1024 * 1024);
    } finally {
      await stopServer(late.server, late.sockets);
    }
  });

  it('runs a kcp listener on one worker (UDP cannot be shared per peer), restarted on the same port', async () => {
    const { lb, elg } = await setup('kcp://127.0.0.1:0');
    expect(lb.shared).toBe(false);
    const [home] = lb.workers();
    expect(lb.workers()).toHaveLength(1);
    const port = lb.bound().port;
    expect(port).toBeGreaterThan(0);
    const through = async () => {
      const s = await registry.connect(`kcp://127.0.0.1:${port}`);
      await echoTransfer(s, 2 * 1024 * 1024);
      s.destroy();
    };
    await through();
    const loop = elg.list().find((l) => l.name === home?.loop) as WorkerEventLoop;
    const ready = once(loop.worker, 'ready');
    process.kill(home?.pid as number, 'SIGKILL');
    const [pid] = await ready;
    expect(pid).not.toBe(home?.pid);
    expect(lb.workers()[0]?.pid).toBe(pid);
    expect(lb.bound().port).toBe(port);
    await through();
  });

  it('reports counters equal to the sum of what the clients saw', async () => {
    const { lb, port } = await setup();
    const sizes = Array.from({ length: 24 }, (_, i) => 1000 + i * 37_011);
    let pinged = 0;
    await Promise.all(
      sizes.map(async (size) => {
        const s = track(await openSession(port));
        pinged += 4;
        await echoTransfer(s, size);
        s.destroy();
      }),
    );
    const expected = sizes.reduce((a, b) => a + b, 0) + pinged;
    // Pushed counters (what /metrics reads) converge without a query…
    const deadline = Date.now() + 10_000;
    while (lb.stats().active > 0 || lb.stats().bytesIn < expected) {
      if (Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    // …and a refresh reads them from the workers now.
    await lb.refresh();
    const stats = lb.stats();
    expect(stats.accepted).toBe(sizes.length);
    expect(stats.active).toBe(0);
    expect(stats.bytesIn).toBe(expected);
    expect(stats.bytesOut).toBe(expected);
    expect(stats.errors).toBe(0);
    // Both workers took part (each reports its own share).
    expect(await pidOf(lb, track(await openSession(port)))).toBeDefined();
  });
});

describe("main's servers on two worker processes", () => {
  it('sum connections and bytes of every worker, live and after close', async () => {
    const { lb, port, groups, pids: workerPids } = await setup();
    const server = (groups[0] as ServerGroup).get('a');
    if (server === undefined) throw new Error('no server a');
    const until = async (what: string, ok: () => boolean) => {
      const deadline = Date.now() + 10_000;
      for (;;) {
        await lb.refresh();
        if (ok()) return;
        if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    // Sessions until both workers hold some (at least 8), every one kept and counted.
    const held: Socket[] = [];
    const seen = new Set<number | undefined>();
    while (held.length < 8 || seen.size < 2) {
      if (held.length > 200) throw new Error(`200 sessions all on workers ${[...seen]}`);
      const s = track(await openSession(port));
      held.push(s);
      seen.add(await pidOf(lb, s));
    }
    expect([...seen].sort()).toEqual([...workerPids].sort());
    // Open connections count live in main's server, whichever worker holds them.
    await until(`${held.length} open on server a`, () => server.activeConnections === held.length);
    // sha256-checked transfers through both workers; the clients count what moved.
    const sizes = held.map((_, i) => 500_000 + i * 123_457);
    await Promise.all(held.map((s, i) => echoTransfer(s, sizes[i] as number)));
    const sent = sizes.reduce((a, b) => a + b, 0) + held.length * 4; // + each session's ping
    for (const s of held) s.destroy();
    await until('every session closed', () => server.activeConnections === 0);
    const s = server.stats();
    expect(s.totalConnections).toBe(held.length);
    expect(s.bytesOut).toBe(sent);
    expect(s.bytesIn).toBe(sent);
    expect(s.connectFailures).toBe(0);
    expect(lb.stats().bytesIn).toBe(sent);
  });

  it('passive health: a connect failure in a worker takes the server DOWN in main and in every worker', async () => {
    const { lb, port, upstream, groups, pids: workerPids } = await setup();
    const doomed = await startServerOn(await closedPort());
    const doomedPort = (doomed.server.address() as { port: number }).port;
    // One probe at start, the next a minute away: only passive detection can see the failure.
    const sg = new ServerGroup({
      name: 'sgp',
      registry,
      healthCheck: { timeoutMs: 3000, periodMs: 60_000, up: 1, down: 1, check: { kind: 'tcp' } },
    });
    groups.push(sg);
    sg.add('good', `tcp://127.0.0.1:${echoA.port}`);
    sg.add('bad', `tcp://127.0.0.1:${doomedPort}`);
    const bad = sg.get('bad');
    if (bad === undefined) throw new Error('no server bad');
    const deadline = Date.now() + 5000;
    while (!(bad.healthy && sg.get('good')?.healthy) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(bad.healthy).toBe(true);
    upstream.add(sg);
    upstream.remove('sg1');
    await lb.sync();
    // The backend goes away; the probes have not noticed.
    await stopServer(doomed.server, doomed.sockets);
    const down = once(sg, 'down');
    // Clients still get through (the worker redispatches to the good server)…
    for (let i = 0; i < 4; i++) await echoTransfer(track(await openSession(port)), 10_000);
    // …and main hears of the failure and takes the server DOWN long before its next probe.
    await down;
    expect(bad.healthy).toBe(false);
    // Every failure so far is in (the other worker's may still be on its way).
    await lb.refresh();
    const failed = bad.stats();
    expect(failed.connectFailures).toBeGreaterThanOrEqual(1);
    expect(failed.redispatches).toBe(failed.connectFailures);
    expect(failed.health.passiveFailures).toBe(failed.connectFailures);
    expect(failed.health.checks).toBe(1);
    // The DOWN reached both workers: no connection tries the dead server any more.
    await lb.sync();
    const byPid = await sessionOnEach(lb, port, workerPids);
    for (const s of byPid.values()) await echoTransfer(track(s), 100_000);
    for (let i = 0; i < 20; i++) await echoTransfer(track(await openSession(port)), 1000);
    await lb.refresh();
    expect(bad.stats().connectFailures).toBe(failed.connectFailures);
    expect(lb.stats().connectFailures).toBe(failed.connectFailures);
  });
});
