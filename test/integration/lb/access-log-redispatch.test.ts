import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/fd/logger.js';
import { ServerGroup } from '../../../src/lb/server-group.js';
import { Socks5Server } from '../../../src/lb/socks5-server.js';
import { TcpLB } from '../../../src/lb/tcp-lb.js';
import { Upstream } from '../../../src/lb/upstream.js';
import { socks5Connect } from '../../../src/protocols/socks5/client-handshake.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import { closedPort, startServer, stopServer } from '../../helpers/net.js';

// Issue 14: the access log of a run lists every session with the byte counts the
// clients moved; a dead backend of two costs no client anything (redispatch).

const registry = createDefaultRegistry();
let baseline: string[];
/** Echoes, then after the client's FIN sends the sha256 of all it got: 32 bytes more back than in. */
let backend: Awaited<ReturnType<typeof startServer>>;

beforeAll(async () => {
  baseline = snapshotSockets();
  backend = await startServer((socket) => {
    const hash = createHash('sha256');
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      socket.write(chunk);
    });
    socket.on('end', () => socket.end(hash.digest()));
  });
});

afterAll(async () => {
  await stopServer(backend.server, backend.sockets);
  await expectNoLeakedSockets(baseline, 4000);
});

function capture() {
  const records: Record<string, unknown>[] = [];
  const logger = createLogger({
    threshold: 'debug',
    format: 'json',
    write: (line) => records.push(JSON.parse(line) as Record<string, unknown>),
  });
  return { logger, records };
}

/** A group that never checks (always UP), so only redispatch keeps clients off a dead server. */
function uncheckedGroup(name: string, addresses: readonly string[]): ServerGroup {
  const group = new ServerGroup({
    name,
    healthCheck: { timeoutMs: 200, periodMs: 1000, up: 1, down: 1, check: { kind: 'none' } },
    random: () => 0,
  });
  for (const [i, a] of addresses.entries()) group.add(`s${i}`, a);
  return group;
}

async function lbOver(group: ServerGroup, extra: Partial<Parameters<typeof TcpLB.start>[0]> = {}) {
  const upstream = new Upstream(`${group.name}-up`);
  upstream.add(group);
  return TcpLB.start({
    name: `${group.name}-lb`,
    address: 'tcp://127.0.0.1:0',
    upstream,
    registry,
    ...extra,
  });
}

/** Send `size` random bytes, read to the end; resolves with what the client moved each way. */
async function exchange(port: number, size: number) {
  const socket: Socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  await once(socket, 'connect');
  const local = `127.0.0.1:${socket.localPort}`;
  const payload = randomBytes(size);
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  const ended = once(socket, 'end');
  socket.end(payload);
  await ended;
  socket.destroy();
  const got = Buffer.concat(chunks);
  const digest = createHash('sha256').update(payload).digest();
  expect(got.subarray(0, size).equals(payload)).toBe(true);
  expect(got.subarray(size).equals(digest)).toBe(true);
  return { client: local, sent: size, received: got.length };
}

async function until(check: () => boolean, ms = 4000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('access log', () => {
  it('lists every session with the bytes its client moved each way', async () => {
    const { logger: accessLog, records } = capture();
    const group = uncheckedGroup('acc', [`127.0.0.1:${backend.port}`]);
    const lb = await lbOver(group, { accessLog });
    const port = lb.bound().port;
    const sizes = [0, 1, 100, 16_383, 65_536, 300_001, 1_048_576, 2_500_000];
    const moved = [];
    for (const size of sizes) moved.push(exchange(port, size));
    // And some sequential ones, reusing nothing.
    const all = [...(await Promise.all(moved))];
    for (const size of [7, 70_000]) all.push(await exchange(port, size));
    await until(() => records.length === all.length);
    for (const m of all) {
      const line = records.find((r) => r.client === m.client);
      expect(line).toMatchObject({
        level: 'info',
        event: 'session',
        listener: 'acc-lb',
        backend: `tcp://127.0.0.1:${backend.port}`,
        bytesFromClient: m.sent,
        bytesToClient: m.received,
        reason: 'closed',
      });
      expect(line?.durationMs).toBeGreaterThanOrEqual(0);
    }
    const totalIn = all.reduce((n, m) => n + m.sent, 0);
    expect(lb.stats()).toMatchObject({ bytesIn: totalIn, accepted: all.length });
    await lb.close();
    await group.close();
  });

  it('writes nothing without one, and can be turned on while running', async () => {
    const group = uncheckedGroup('late', [`127.0.0.1:${backend.port}`]);
    const lb = await lbOver(group);
    await exchange(lb.bound().port, 10);
    const { logger, records } = capture();
    lb.setAccessLog(logger);
    const m = await exchange(lb.bound().port, 20);
    await until(() => records.length === 1);
    expect(records[0]).toMatchObject({ client: m.client, bytesFromClient: 20, bytesToClient: 52 });
    await lb.close();
    await group.close();
  });
});

describe('redispatch', () => {
  it('one dead and one live backend: 1,000 requests, none fails', async () => {
    const dead = `127.0.0.1:${await closedPort()}`;
    const group = uncheckedGroup('redis', [dead, `127.0.0.1:${backend.port}`]);
    const { logger, records } = capture();
    const { logger: accessLog, records: access } = capture();
    const lb = await lbOver(group, { logger, accessLog });
    const port = lb.bound().port;
    let failures = 0;
    const one = () =>
      exchange(port, 64).catch(() => {
        failures++;
      });
    for (let batch = 0; batch < 20; batch++) {
      await Promise.all(Array.from({ length: 50 }, one));
    }
    expect(failures).toBe(0);
    const stats = lb.stats();
    expect(stats.redispatches).toBeGreaterThan(0);
    expect(stats.connectFailures).toBe(stats.redispatches);
    const deadServer = group.get('s0');
    expect(deadServer?.stats()).toMatchObject({
      redispatches: stats.redispatches,
      connectFailures: stats.redispatches,
      activeConnections: 0,
    });
    // Every failure is told with the OS's answer, and where the client went instead,
    // but a flood of them is rate-limited to a few lines and a count.
    const failed = records.filter((r) => r.event === 'backend-connect-failed');
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.length).toBeLessThan(stats.redispatches);
    expect(failed[0]).toMatchObject({
      level: 'warn',
      listener: 'redis-lb',
      backend: `tcp://${dead}`,
      code: 'ECONNREFUSED',
      syscall: 'connect',
      redispatchTo: `tcp://127.0.0.1:${backend.port}`,
    });
    expect(typeof failed[0]?.errno).toBe('number');
    // The last window's count comes when that window ends.
    const suppressed = () =>
      records
        .filter((r) => r.event === 'log-suppressed')
        .reduce((n, r) => n + Number(r.suppressed), 0);
    await until(() => failed.length + suppressed() === stats.redispatches, 3000);
    await until(() => access.length === 1000);
    expect(access.filter((r) => r.redispatches === 1)).toHaveLength(stats.redispatches);
    expect(access.every((r) => r.backend === `tcp://127.0.0.1:${backend.port}`)).toBe(true);
    await lb.close();
    await group.close();
  });

  it('retries 0 lets the failure through, and the client sees it', async () => {
    const dead = `127.0.0.1:${await closedPort()}`;
    const group = uncheckedGroup('noretry', [dead, `127.0.0.1:${backend.port}`]);
    const lb = await lbOver(group, { retries: 0 });
    let failures = 0;
    for (let i = 0; i < 10; i++) {
      await exchange(lb.bound().port, 8).catch(() => {
        failures++;
      });
    }
    expect(failures).toBe(5);
    expect(lb.stats()).toMatchObject({ redispatches: 0, connectFailures: 5 });
    // Turned on while running, from the next connect on.
    lb.update({ retries: 1 });
    for (let i = 0; i < 10; i++) await exchange(lb.bound().port, 8);
    expect(lb.settings().retries).toBe(1);
    expect(lb.stats().redispatches).toBe(5);
    await lb.close();
    await group.close();
  });

  it('every server dead: the client is closed after retries + 1 attempts, never the same server twice', async () => {
    const deads = [];
    for (let i = 0; i < 4; i++) deads.push(`127.0.0.1:${await closedPort()}`);
    const group = uncheckedGroup('alldead', deads);
    const { logger, records } = capture();
    const { logger: accessLog, records: access } = capture();
    const lb = await lbOver(group, { logger, accessLog, retries: 2 });
    await expect(exchange(lb.bound().port, 8)).rejects.toThrow();
    await until(() => access.length === 1);
    const tried = records.filter((r) => r.event === 'backend-connect-failed');
    expect(tried.map((r) => r.attempt)).toEqual([1, 2, 3]);
    expect(new Set(tried.map((r) => r.backend)).size).toBe(3);
    expect(tried[2]?.redispatchTo).toBeUndefined();
    expect(access[0]).toMatchObject({
      reason: 'connect-failed',
      redispatches: 2,
      code: 'ECONNREFUSED',
    });
    expect(lb.stats()).toMatchObject({ connectFailures: 3, redispatches: 2 });
    await lb.close();
    await group.close();
  });

  it('a group of one dead server is not retried on itself', async () => {
    const group = uncheckedGroup('single', [`127.0.0.1:${await closedPort()}`]);
    const { logger, records } = capture();
    const lb = await lbOver(group, { logger });
    await expect(exchange(lb.bound().port, 8)).rejects.toThrow();
    await until(() => records.some((r) => r.event === 'backend-connect-failed'));
    expect(lb.stats()).toMatchObject({ connectFailures: 1, redispatches: 0 });
    await lb.close();
    await group.close();
  });

  it('socks5: a name routed to a group is redispatched; a named backend is not', async () => {
    const dead = `127.0.0.1:${await closedPort()}`;
    const group = uncheckedGroup('web.test:80', [dead, `127.0.0.1:${backend.port}`]);
    const upstream = new Upstream('s5-up');
    upstream.add(group);
    const s5 = await Socks5Server.start({
      name: 's5',
      address: 'tcp://127.0.0.1:0',
      upstream,
      registry,
    });
    const via = async (host: string, port: number): Promise<string> => {
      const fd = await registry.connect(`tcp://127.0.0.1:${s5.bound().port}`);
      try {
        await socks5Connect(fd, { target: { host, port } });
      } catch {
        return 'refused';
      }
      fd.write('ping');
      const [reply] = (await once(fd, 'data')) as [Buffer];
      fd.destroy();
      return reply.toString();
    };
    for (let i = 0; i < 10; i++) expect(await via('web.test', 80)).toBe('ping');
    expect(s5.stats().redispatches).toBe(5);
    // Asking for the dead backend by address gets that backend or nothing.
    const [host, port] = dead.split(':');
    expect(await via(host as string, Number(port))).toBe('refused');
    expect(s5.stats().redispatches).toBe(5);
    await s5.close();
    await group.close();
  });
});
