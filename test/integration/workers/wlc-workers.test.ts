import type { Server, Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { EventLoopGroup } from '../../../src/lb/event-loop-group.js';
import { ServerGroup } from '../../../src/lb/server-group.js';
import { Upstream } from '../../../src/lb/upstream.js';
import { WorkerListener } from '../../../src/workers/worker-listener.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { waitFor } from '../../helpers/daemon-processes.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import { startEchoServer, stopServer } from '../../helpers/net.js';
import { alive, NO_CHECK, openSession, pids, workerGroup } from './fixture.js';

// wlc on a tcp-lb of two worker processes balances the group's connections,
// not each worker's share. The test builds a state where the workers' own
// views disagree with the total: worker X holds k connections on server P,
// worker Y holds k on server Q (the total is even). New connections that land
// on X: X alone would send its first k to Q (it sees Q empty), leaving the
// total k + k/2 against 2k + k/2; counting Y's connections (pushed by main as
// `elsewhere`) it keeps the total balanced.

const registry = createDefaultRegistry();
const K = 2;
type Echo = { server: Server; port: number; sockets: Set<Socket> };
let baseline: string[];
let echoA: Echo;
let echoB: Echo;
let elg: EventLoopGroup | undefined;
let lb: WorkerListener | undefined;
let group: ServerGroup | undefined;
const clients = new Set<Socket>();

beforeAll(async () => {
  baseline = snapshotSockets();
  echoA = await startEchoServer();
  echoB = await startEchoServer();
});

afterEach(async () => {
  for (const c of clients) c.destroy();
  clients.clear();
  const workerPids = elg === undefined ? [] : pids(elg);
  await lb?.close();
  await elg?.close();
  await group?.close();
  lb = undefined;
  elg = undefined;
  group = undefined;
  for (const pid of workerPids) expect(alive(pid)).toBe(false);
});

afterAll(async () => {
  await stopServer(echoA.server, echoA.sockets);
  await stopServer(echoB.server, echoB.sockets);
  await expectNoLeakedSockets(baseline, 4000);
});

interface Held {
  readonly socket: Socket;
  readonly pid: number;
  /** The server's name: s1 or s2. */
  readonly server: string;
}

describe('wlc on a tcp-lb of two worker processes', () => {
  it('balances the total when the workers’ own views would not', async () => {
    elg = workerGroup('wlc', 2);
    group = new ServerGroup({ name: 'sg', registry, healthCheck: NO_CHECK, method: 'wlc' });
    group.add('s1', `tcp://127.0.0.1:${echoA.port}`);
    group.add('s2', `tcp://127.0.0.1:${echoB.port}`);
    const upstream = new Upstream('up');
    upstream.add(group);
    lb = await WorkerListener.start({
      name: 'lb',
      address: registry.parse('tcp://127.0.0.1:0'),
      upstream,
      registry,
      eventLoopGroup: elg,
    });
    if (lb === undefined) throw new Error('no worker loops');
    const listener = lb;
    const port = lb.bound().port;
    const servers = new Map([
      [`tcp://127.0.0.1:${echoA.port}`, 's1'],
      [`tcp://127.0.0.1:${echoB.port}`, 's2'],
    ]);
    const s = (name: string) => group?.get(name)?.activeConnections ?? -1;

    /** A long-lived session (one echo round trip done), with its worker and server. */
    const open = async (): Promise<Held> => {
      const socket = await openSession(port);
      clients.add(socket);
      await listener.refresh();
      const info = listener.sessions().find((x) => x.client === `127.0.0.1:${socket.localPort}`);
      const server = servers.get(info?.target ?? '');
      if (info?.pid === undefined || server === undefined) throw new Error('session not found');
      return { socket, pid: info.pid, server };
    };
    const close = (h: Held) => {
      h.socket.destroy();
      clients.delete(h.socket);
    };
    /** Until main's servers show exactly `held` (every worker has reported its closes). */
    const settle = (held: readonly Held[]) =>
      waitFor('main’s server counts', async () => {
        await listener.refresh();
        const want = (n: string) => held.filter((h) => h.server === n).length;
        return s('s1') === want('s1') && s('s2') === want('s2') ? true : undefined;
      });

    // 1. Sessions until a worker X holds K on one server P and the other, Y, K on the other, Q.
    const held: Held[] = [];
    const count = (pid: number, server: string) =>
      held.filter((h) => h.pid === pid && h.server === server).length;
    let pick: { x: number; y: number; p: string; q: string } | undefined;
    while (pick === undefined) {
      if (held.length >= 200) throw new Error('200 sessions without a split state');
      held.push(await open());
      const [a, b] = [...new Set(held.map((h) => h.pid))];
      if (a === undefined || b === undefined) continue;
      for (const [x, y] of [
        [a, b],
        [b, a],
      ] as const) {
        if (count(x, 's1') >= K && count(y, 's2') >= K) pick = { x, y, p: 's1', q: 's2' };
      }
    }
    const { x, y, p, q } = pick;
    const keep = [
      ...held.filter((h) => h.pid === x && h.server === p).slice(0, K),
      ...held.filter((h) => h.pid === y && h.server === q).slice(0, K),
    ];
    for (const h of held) if (!keep.includes(h)) close(h);
    await settle(keep);
    // X's own view: K on P, none on Q. Y's: K on Q.

    // 2. 2K new sessions on X (those that land on Y are closed again).
    const added: Held[] = [];
    for (let i = 0; added.length < 2 * K; i++) {
      if (i >= 200) throw new Error(`200 sessions, ${added.length} on worker ${x}`);
      // X knows what the others hold now (main pushes it within 200 ms; sync() does it at once).
      await listener.sync();
      const h = await open();
      if (h.pid === x) {
        added.push(h);
        continue;
      }
      close(h);
      await settle([...keep, ...added]);
    }
    await settle([...keep, ...added]);
    const total = [s('s1'), s('s2')];
    // Alone, X would have made it K + K/2 on P against 2K + K/2 on Q.
    expect(Math.abs((total[0] as number) - (total[1] as number))).toBeLessThanOrEqual(1);
    expect((total[0] as number) + (total[1] as number)).toBe(4 * K);
    // The backends agree (once the closed sessions' backend sockets are gone).
    await waitFor('the backends’ sockets', () =>
      echoA.sockets.size + echoB.sockets.size === 4 * K ? true : undefined,
    );
    expect(Math.abs(echoA.sockets.size - echoB.sockets.size)).toBeLessThanOrEqual(1);
  });
});
