import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/fd/logger.js';
import { WebsocksAgent } from '../../../src/websocks/agent.js';
import { WebsocksServer } from '../../../src/websocks/server/websocks-server.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { makeTestCerts, type TestCerts } from '../../helpers/certs.js';
import { useEchoBackend } from '../../helpers/echo-fixture.js';
import { closedPort } from '../../helpers/net.js';
import { agentConfig, roundTrip } from './agent-fixture.js';

// agent.early-reply on: a proxied CONNECT is answered once its request is on the tunnel.
// Transfers stay byte-exact over every transport, the answer really comes before the
// server's, and a target the server cannot reach becomes a close after the success.

const echo = useEchoBackend(4000);
const registry = createDefaultRegistry();
let certs: TestCerts;
let plain: WebsocksServer;
let tls: WebsocksServer;
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  certs = makeTestCerts();
  const common = { auth: 'alice:secret', kcp: true, allowLoopback: true, registry };
  plain = await WebsocksServer.start({ listen: 'ws://127.0.0.1:0', ...common });
  tls = await WebsocksServer.start({
    listen: 'wss://127.0.0.1:0',
    cert: certs.cert,
    key: certs.key,
    ...common,
  });
}, 30_000);

afterAll(async () => {
  await plain?.close();
  await tls?.close();
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function startAgent(
  entry: string,
  early: boolean,
  pingTimeoutMs?: number,
): Promise<{ agent: WebsocksAgent; socks: number; http: number; logs: string[] }> {
  const socks = await closedPort();
  const http = await closedPort();
  const config = agentConfig({
    servers: [entry],
    rules: ['127.0.0.1'],
    lines: [
      `agent.listen ${socks}`,
      `agent.httpconnect.listen ${http}`,
      'agent.pool 2',
      `agent.cacerts.path ${certs.caCert}`,
    ],
  });
  const logs: string[] = [];
  const agent = await WebsocksAgent.start({
    config,
    registry: createDefaultRegistry(),
    logger: createLogger({
      threshold: 'info',
      write: (l) => {
        logs.push(l);
        if (process.env.AGENT_DEBUG) console.log(l);
      },
    }),
    healthCheck: { periodMs: 200, timeoutMs: 3000 },
    earlyReply: early,
    ...(pingTimeoutMs === undefined ? {} : { pingTimeoutMs }),
  });
  cleanups.push(() => agent.close());
  const pool = agent.routing.tunnels.pool('DEFAULT');
  for (let i = 0; i < 250 && (pool?.readyCount ?? 0) < 2; i++) await sleep(20);
  expect(pool?.readyCount).toBe(2);
  return { agent, socks, http, logs };
}

/** Greeting and CONNECT in one write; resolves with the socket and the reply's code. */
async function socksOpen(port: number, target: number): Promise<{ socket: Socket; code: number }> {
  const socket = connect(port, '127.0.0.1');
  cleanups.push(() => {
    socket.destroy();
  });
  await once(socket, 'connect');
  socket.write(Buffer.from([5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, target >> 8, target & 255]));
  let got = Buffer.alloc(0);
  while (got.length < 12) {
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    got = Buffer.concat([got, chunk]);
  }
  socket.pause();
  expect(got.length).toBe(12); // method selection and reply, nothing more
  if (got.length > 12) socket.unshift(got.subarray(12));
  return { socket, code: got[3] as number };
}

/** Resolves with how the socket ended: 'end' (FIN) or 'reset'; no data may come first. */
function ending(socket: Socket): Promise<'end' | 'reset'> {
  return new Promise((resolve, reject) => {
    socket.on('data', (d: Buffer) => reject(new Error(`unexpected ${d.length} bytes`)));
    socket.once('end', () => resolve('end'));
    socket.once('error', () => resolve('reset'));
    socket.resume();
  });
}

/**
 * A relay between agent and server: once `hold` is set, everything the server
 * sends waits until `release()`; `upBytes` counts what the agent sent.
 */
async function holdingRelay(serverPort: number): Promise<{
  port: number;
  hold: boolean;
  upBytes: number;
  held: (() => void)[];
  release(): void;
}> {
  const state = {
    port: 0,
    hold: false,
    upBytes: 0,
    held: [] as (() => void)[],
    release(): void {
      state.hold = false;
      for (const f of state.held.splice(0)) f();
    },
  };
  const relay: Server = createServer({ allowHalfOpen: true }, (fromAgent) => {
    const toServer = connect({ port: serverPort, host: '127.0.0.1', allowHalfOpen: true });
    const later = (f: () => void) => (state.hold ? state.held.push(f) : f());
    fromAgent.on('error', () => toServer.destroy());
    fromAgent.on('close', () => toServer.destroy());
    toServer.on('error', () => fromAgent.destroy());
    fromAgent.pipe(toServer);
    fromAgent.on('data', (d: Buffer) => {
      state.upBytes += d.length;
    });
    toServer.on('data', (d: Buffer) => later(() => fromAgent.write(d)));
    toServer.on('end', () => later(() => fromAgent.end()));
    toServer.on('close', () => later(() => fromAgent.destroy()));
  });
  relay.listen(0, '127.0.0.1');
  await once(relay, 'listening');
  const sockets = new Set<Socket>();
  relay.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    relay.close();
  });
  state.port = (relay.address() as { port: number }).port;
  return state;
}

describe('agent.early-reply on', () => {
  const schemes: [string, () => string][] = [
    ['websocks', () => `websocks://127.0.0.1:${plain.door.address().port}`],
    ['websockss', () => `websockss://localhost:${tls.door.address().port}`],
    ['websocks:kcp', () => `websocks:kcp://127.0.0.1:${plain.door.address().port}`],
  ];
  for (const [name, entry] of schemes) {
    it(`${name}: pooled SOCKS5 opens carry 1 MB byte-exact, answered with success`, async () => {
      const { agent, socks } = await startAgent(entry(), true);
      for (let i = 0; i < 3; i++) {
        const { socket, code } = await socksOpen(socks, echo.port);
        expect(code).toBe(0);
        await roundTrip(socket, 1_000_000);
      }
      expect(agent.routing.tunnels.counts.pooled).toBeGreaterThanOrEqual(1);
      expect(agent.routing.tunnels.counts.failed).toBe(0);
    }, 30_000);
  }

  it('HTTP CONNECT through the tunnel, 200 and then 1 MB byte-exact', async () => {
    const { http } = await startAgent(`websocks://127.0.0.1:${plain.door.address().port}`, true);
    const socket = connect(http, '127.0.0.1');
    cleanups.push(() => {
      socket.destroy();
    });
    await once(socket, 'connect');
    socket.write(`CONNECT 127.0.0.1:${echo.port} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    let head = '';
    while (!head.includes('\r\n\r\n')) {
      const [chunk] = (await once(socket, 'data')) as [Buffer];
      head += chunk.toString('latin1');
    }
    socket.pause();
    expect(head.split('\r\n')[0]).toMatch(/^HTTP\/1\.[01] 200 /);
    expect(head.endsWith('\r\n\r\n')).toBe(true);
    await roundTrip(socket, 1_000_000);
  }, 30_000);

  for (const [scheme, host, server] of [
    ['websocks', '127.0.0.1', () => plain],
    ['websockss', 'localhost', () => tls],
  ] as const) {
    it(`${scheme}: answers before the server does, and the first bytes follow the request at once`, async () => {
      const relay = await holdingRelay(server().door.address().port);
      const started = await startAgent(`${scheme}://${host}:${relay.port}`, true);
      const { socks } = started;
      relay.hold = true;
      const { agent } = started;
      const { socket, code } = await socksOpen(socks, echo.port);
      expect(code).toBe(0);
      // The tunnel's open is not over (it counts once the server's reply is in).
      expect(agent.routing.tunnels.counts.pooled).toBe(0);
      // The server has answered by now (its reply is held), yet the client was told already.
      for (let i = 0; i < 250 && relay.held.length === 0; i++) await sleep(20);
      expect(relay.held.length).toBeGreaterThan(0);
      // The client's first bytes follow the request without waiting for that reply.
      const before = relay.upBytes;
      socket.write('hello');
      for (let i = 0; i < 250 && relay.upBytes < before + 5; i++) await sleep(20);
      // (TLS records are larger than what they carry.)
      expect(relay.upBytes).toBeGreaterThanOrEqual(before + 5);
      expect(agent.routing.tunnels.counts.pooled).toBe(0);
      relay.release();
      const echoing = once(socket, 'data');
      socket.resume();
      const [echoed] = (await echoing) as [Buffer];
      expect(echoed.toString()).toBe('hello');
      socket.pause();
      await roundTrip(socket, 100_000);
      expect(agent.routing.tunnels.counts.pooled).toBe(1);
    }, 30_000);
  }

  it('pipelined: a pooled tunnel whose server never answers closes the client after the ping timeout', async () => {
    const relay = await holdingRelay(plain.door.address().port);
    const { agent, socks, logs } = await startAgent(
      `websocks://127.0.0.1:${relay.port}`,
      true,
      300,
    );
    relay.hold = true;
    const { socket, code } = await socksOpen(socks, echo.port);
    expect(code).toBe(0);
    expect(['end', 'reset']).toContain(await ending(socket));
    expect(agent.routing.tunnels.counts.failed).toBe(1);
    expect(logs.some((l) => l.includes('tunnel-failed') && l.includes('handshake timeout'))).toBe(
      true,
    );
    relay.release();
  }, 30_000);

  it('a refused target: success, then the connection closes with no byte; logged as target refused', async () => {
    const { agent, socks, logs } = await startAgent(
      `websocks://127.0.0.1:${plain.door.address().port}`,
      true,
    );
    const refused = await closedPort();
    const { socket, code } = await socksOpen(socks, refused);
    expect(code).toBe(0);
    expect(['end', 'reset']).toContain(await ending(socket));
    for (let i = 0; i < 100 && agent.routing.tunnels.counts.failed === 0; i++) await sleep(20);
    expect(agent.routing.tunnels.counts.failed).toBe(1);
    expect(logs.some((l) => l.includes('tunnel-failed') && l.includes('target refused'))).toBe(
      true,
    );
  }, 30_000);

  it('off (the default): the same refused target gets a failure reply', async () => {
    const { socks } = await startAgent(`websocks://127.0.0.1:${plain.door.address().port}`, false);
    const refused = await closedPort();
    const { socket, code } = await socksOpen(socks, refused);
    // The server's own answer (05, connection refused) reaches the client.
    expect(code).toBe(5);
    expect(['end', 'reset']).toContain(await ending(socket));
  }, 30_000);
});
