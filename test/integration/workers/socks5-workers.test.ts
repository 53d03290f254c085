import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { createServer, type Server as HttpServer } from 'node:http';
import type { Server, Socket } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { StreamFD } from '../../../src/fd/stream-fd.js';
import type { EventLoopGroup } from '../../../src/lb/event-loop-group.js';
import { ServerGroup } from '../../../src/lb/server-group.js';
import { Upstream } from '../../../src/lb/upstream.js';
import { toEndpoint } from '../../../src/protocols/socks5/address.js';
import { socks5Connect } from '../../../src/protocols/socks5/client-handshake.js';
import { decodeUdpHeader, encodeUdpDatagram } from '../../../src/protocols/socks5/udp-header.js';
import { WorkerSocks5Server } from '../../../src/workers/worker-socks5.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import { startEchoServer, stopServer } from '../../helpers/net.js';
import { requireTool, skipNote } from '../../helpers/require-tool.js';
import { alive, echoTransfer, NO_CHECK, pidOf, pids, workerGroup } from './fixture.js';

// A socks5-server on a group of two worker processes: its sessions run in both
// workers, its policy (users, allow-non-backend, allow-udp) reaches them after
// every change, and its and its servers' counters are the sums of the workers'.

const run = promisify(execFile);
const curlTool = requireTool('curl');
const registry = createDefaultRegistry();
let baseline: string[];
let echo: { server: Server; port: number; sockets: Set<Socket> };
let web: { server: HttpServer; port: number };

beforeAll(async () => {
  baseline = snapshotSockets();
  echo = await startEchoServer();
  const server = createServer((_req, res) => res.end(`web ${process.pid}\n`));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  web = { server, port: (server.address() as { port: number }).port };
});

afterAll(async () => {
  await stopServer(echo.server, echo.sockets);
  web.server.closeAllConnections();
  await new Promise((r) => web.server.close(r));
  await expectNoLeakedSockets(baseline, 4000);
});

interface Setup {
  readonly elg: EventLoopGroup;
  readonly s5: WorkerSocks5Server;
  readonly port: number;
  readonly groups: ServerGroup[];
  readonly pids: number[];
}

let current: Setup | undefined;
const clients = new Set<StreamFD>();

async function setup(): Promise<Setup> {
  const elg = workerGroup('s', 2);
  // Domain requests go to the group of that name; address requests to a backend's address.
  const echoGroup = new ServerGroup({ name: 'echo.test:7', registry, healthCheck: NO_CHECK });
  echoGroup.add('e', `tcp://127.0.0.1:${echo.port}`);
  const webGroup = new ServerGroup({ name: 'web.test:80', registry, healthCheck: NO_CHECK });
  webGroup.add('w', `tcp://127.0.0.1:${web.port}`);
  const upstream = new Upstream('up');
  upstream.add(echoGroup);
  upstream.add(webGroup);
  const s5 = await WorkerSocks5Server.startOnWorkers({
    name: 's5',
    address: 'tcp://127.0.0.1:0',
    upstream,
    registry,
    eventLoopGroup: elg,
  });
  if (s5 === undefined) throw new Error('no worker loops');
  current = { elg, s5, port: s5.bound().port, groups: [echoGroup, webGroup], pids: pids(elg) };
  return current;
}

afterEach(async () => {
  for (const c of clients) c.destroy();
  clients.clear();
  const s = current;
  current = undefined;
  if (s === undefined) return;
  await s.s5.close();
  await s.elg.close();
  for (const g of s.groups) await g.close();
  for (const pid of s.pids) expect(alive(pid)).toBe(false);
});

/** A socks5 session through the server to `target` (default: the echo group by name). */
async function socks5(
  port: number,
  target = { host: 'echo.test', port: 7 },
  auth?: { username: string; password: string },
): Promise<StreamFD> {
  const fd = await registry.connect(`tcp://127.0.0.1:${port}`);
  clients.add(fd);
  fd.on('error', () => {});
  await socks5Connect(fd, { target, ...(auth === undefined ? {} : { auth }) });
  return fd;
}

async function curl(...args: string[]): Promise<{ code: number; stdout: string }> {
  try {
    const { stdout } = await run(curlTool.path, ['-sS', '--max-time', '5', ...args]);
    return { code: 0, stdout };
  } catch (err) {
    const e = err as { code: number; stdout: string };
    return { code: e.code, stdout: e.stdout };
  }
}

describe('socks5-server on two worker processes', () => {
  it('serves sessions from both workers (pids per session), sha256-checked; counters sum the workers', async () => {
    const { s5, port, groups, pids: workerPids } = await setup();
    expect(s5.shared).toBe(true);
    expect(s5.workers().map((w) => w.pid)).toEqual(workerPids);
    // Sessions until both workers hold some (at least 6), each kept open.
    const held: StreamFD[] = [];
    const seen = new Set<number | undefined>();
    while (held.length < 6 || seen.size < 2) {
      if (held.length > 200) throw new Error(`200 sessions all on workers ${[...seen]}`);
      const fd = await socks5(port);
      held.push(fd);
      seen.add(await pidOf(s5, fd));
    }
    expect([...seen].sort()).toEqual([...workerPids].sort());
    expect(new Set(s5.sessions().map((s) => s.pid))).toEqual(new Set(workerPids));
    const sizes = held.map((_, i) => 300_000 + i * 98_765);
    await Promise.all(held.map((fd, i) => echoTransfer(fd, sizes[i] as number)));
    for (const fd of held) fd.destroy();
    const server = (groups[0] as ServerGroup).get('e');
    const deadline = Date.now() + 10_000;
    while (server?.activeConnections !== 0 || s5.stats().active !== 0) {
      if (Date.now() > deadline) throw new Error('sessions still open');
      await s5.refresh();
      await new Promise((r) => setTimeout(r, 50));
    }
    const moved = sizes.reduce((a, b) => a + b, 0);
    const stats = s5.stats();
    expect(stats.accepted).toBe(held.length);
    expect(stats.errors).toBe(0);
    const s = server?.stats();
    expect(s?.totalConnections).toBe(held.length);
    expect(s?.bytesOut).toBe(moved);
    expect(s?.bytesIn).toBe(moved);
  });

  it.skipIf(curlTool.missing)(
    `curl --socks5-hostname through both workers; users, allow-non-backend and allow-udp reach them${skipNote(curlTool)}`,
    async () => {
      const { s5, port, pids: workerPids } = await setup();
      const proxy = `127.0.0.1:${port}`;
      expect((await curl('--socks5-hostname', proxy, 'http://web.test:80/')).stdout).toBe(
        `web ${process.pid}\n`,
      );
      // Users: no authentication is refused in every worker, alice gets through on both.
      s5.auth = { users: new Map([['alice', 'wonderland']]) };
      await s5.sync();
      const alice = { username: 'alice', password: 'wonderland' };
      const seen = new Set<number | undefined>();
      for (let i = 0; seen.size < 2; i++) {
        if (i > 200) throw new Error(`200 sessions all on workers ${[...seen]}`);
        await expect(socks5(port)).rejects.toThrow();
        const fd = await socks5(port, undefined, alice);
        seen.add(await pidOf(s5, fd));
      }
      expect([...seen].sort()).toEqual([...workerPids].sort());
      const authed = await curl(
        '--socks5-hostname',
        proxy,
        '--proxy-user',
        'alice:wonderland',
        'http://web.test:80/',
      );
      expect(authed.stdout).toBe(`web ${process.pid}\n`);
      s5.auth = 'none';
      await s5.sync();
      // allow-non-backend: an address outside the upstream is refused (2), then reached.
      const outsider = await startEchoServer();
      try {
        const target = { host: '127.0.0.1', port: outsider.port };
        await expect(socks5(port, target)).rejects.toMatchObject({ replyCode: 2 });
        s5.allowNonBackend = true;
        await s5.sync();
        for (let i = 0; i < 6; i++) await echoTransfer(await socks5(port, target), 50_000);
      } finally {
        await stopServer(outsider.server, outsider.sockets);
      }
      // allow-udp: UDP ASSOCIATE is served by the worker holding the control connection.
      s5.udp = true;
      await s5.sync();
      const udpEcho = createSocket('udp4');
      udpEcho.on('message', (msg, rinfo) => udpEcho.send(msg, rinfo.port, rinfo.address));
      udpEcho.bind(0, '127.0.0.1');
      await once(udpEcho, 'listening');
      const client = createSocket('udp4');
      client.bind(0, '127.0.0.1');
      await once(client, 'listening');
      try {
        const control = await registry.connect(`tcp://127.0.0.1:${port}`);
        clients.add(control);
        const reply = await socks5Connect(control, {
          target: { host: '0.0.0.0', port: 0 },
          command: 'udp-associate',
        });
        const payload = Buffer.from('ping over socks5 udp on a worker');
        client.send(
          encodeUdpDatagram(toEndpoint('127.0.0.1', udpEcho.address().port), payload),
          reply.port,
          '127.0.0.1',
        );
        const [msg] = (await once(client, 'message')) as [Buffer];
        const header = decodeUdpHeader(msg);
        expect(Buffer.from(msg.subarray(header.headerLength)).toString()).toBe(payload.toString());
      } finally {
        client.close();
        udpEcho.close();
      }
    },
  );
});
