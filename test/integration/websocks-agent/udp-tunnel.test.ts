import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/fd/logger.js';
import { UDP_TUNNEL_HOST } from '../../../src/protocols/websocks/udp-tunnel.js';
import { WebsocksAgent } from '../../../src/websocks/agent.js';
import { WebsocksServer } from '../../../src/websocks/server/websocks-server.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { closedPort } from '../../helpers/net.js';
import { blastThrough, socks5UdpClient } from '../../helpers/socks5-udp-client.js';
import { startUdpEcho, type UdpEcho } from '../../helpers/udp.js';
import { agentConfig } from './agent-fixture.js';

// Issue 15, the websocks part: UDP ASSOCIATE on the agent's SOCKS5 front end,
// datagrams for proxied targets carried through the tunnel to a real
// websocks-server (ws and kcp) and out of its UDP socket; direct ones from the
// agent's own relay socket.

const cleanups: (() => Promise<void> | void)[] = [];
let echo: UdpEcho;
let plain: UdpEcho;
let server: WebsocksServer;
let guarded: WebsocksServer;

async function agentFor(serverEntry: string, rules: string[]): Promise<WebsocksAgent> {
  const socks = await closedPort();
  const config = agentConfig({
    servers: [serverEntry],
    rules,
    lines: [`agent.listen ${socks}`, 'agent.pool 2'],
  });
  const logs: string[] = [];
  const agent = await WebsocksAgent.start({
    config,
    registry: createDefaultRegistry(),
    logger: createLogger({ threshold: 'debug', write: (l) => logs.push(l) }),
    healthCheck: { periodMs: 200, timeoutMs: 3000 },
  });
  cleanups.push(() => agent.close());
  for (const g of agent.routing.groups()) {
    for (let i = 0; i < 100 && !g.available; i++) await new Promise((r) => setTimeout(r, 20));
  }
  return agent;
}

function socksPort(agent: WebsocksAgent): number {
  const l = agent.listeners.find((x) => x.kind === 'socks5');
  if (l === undefined) throw new Error('no socks5 listener');
  return l.port;
}

beforeAll(async () => {
  echo = await startUdpEcho('E:');
  plain = await startUdpEcho();
  const registry = createDefaultRegistry();
  server = await WebsocksServer.start({
    listen: 'ws://127.0.0.1:0',
    auth: 'alice:secret',
    kcp: true,
    allowLoopback: true,
    registry,
  });
  guarded = await WebsocksServer.start({
    listen: 'ws://127.0.0.1:0',
    auth: 'alice:secret',
    registry,
  });
}, 30_000);

afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await server?.close();
  await guarded?.close();
  await echo?.close();
  await plain?.close();
});

describe('UDP ASSOCIATE through the websocks agent', () => {
  for (const scheme of ['websocks', 'websocks:kcp']) {
    it(`${scheme}: 2,000 datagrams up to 1,400 bytes through the tunnel, byte-exact, none lost`, async () => {
      const agent = await agentFor(`${scheme}://127.0.0.1:${server.door.address().port}`, [
        '127.0.0.1',
      ]);
      const before = plain.received;
      const client = await socks5UdpClient(socksPort(agent));
      cleanups.push(() => client.close());
      const r = await blastThrough(client, '127.0.0.1', plain.port, 2_000);
      expect(r).toEqual({ sent: 2_000, received: 2_000, mismatched: 0, duplicates: 0, lost: 0 });
      expect(plain.received - before).toBe(2_000);
      // The path: one tunnel for the association, counted by the agent and the server.
      expect(agent.routing.counts.proxied.DEFAULT).toBe(1);
      const tunnelSessions = server.socks
        .sessions()
        .filter((s) => s.target.includes(UDP_TUNNEL_HOST));
      expect(tunnelSessions.length).toBe(1);
      expect(tunnelSessions[0]?.bytesFromClient).toBeGreaterThan(2_000 * 4);
      await client.close();
    }, 60_000);
  }

  it('direct and proxied targets in one association; answers name their source', async () => {
    // `localhost` is not in the list: direct from the agent's relay socket.
    const agent = await agentFor(`websocks://127.0.0.1:${server.door.address().port}`, [
      '127.0.0.1',
    ]);
    const client = await socks5UdpClient(socksPort(agent));
    cleanups.push(() => client.close());
    const viaTunnel = await client.request('127.0.0.1', echo.port, Buffer.from('tunnel'));
    expect(viaTunnel).toEqual({
      host: '127.0.0.1',
      port: echo.port,
      data: Buffer.from('E:tunnel'),
    });
    const direct = await client.request('localhost', echo.port, Buffer.from('direct'));
    expect(direct?.data.toString()).toBe('E:direct');
    expect(direct?.port).toBe(echo.port);
    expect(agent.routing.counts.proxied.DEFAULT).toBe(1);
    await client.close();
  }, 30_000);

  it("the server's target guard applies per datagram: loopback targets are dropped", async () => {
    const agent = await agentFor(`websocks://127.0.0.1:${guarded.door.address().port}`, [
      '127.0.0.1',
    ]);
    const client = await socks5UdpClient(socksPort(agent));
    cleanups.push(() => client.close());
    const before = echo.received;
    expect(await client.request('127.0.0.1', echo.port, Buffer.from('x'), 500)).toBeNull();
    expect(echo.received).toBe(before);
    // The tunnel itself was opened (the guard is per datagram, not per tunnel).
    expect(guarded.socks.sessions().some((s) => s.target.includes(UDP_TUNNEL_HOST))).toBe(true);
    await client.close();
  }, 30_000);
});
