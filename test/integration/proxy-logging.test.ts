import diagnosticsChannel from 'node:diagnostics_channel';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, type LogThreshold } from '../../src/fd/logger.js';
import { SecurityGroup } from '../../src/lb/security-group.js';
import { ServerGroup } from '../../src/lb/server-group.js';
import { Socks5Server } from '../../src/lb/socks5-server.js';
import { TcpLB } from '../../src/lb/tcp-lb.js';
import { Upstream } from '../../src/lb/upstream.js';
import { socks5Connect } from '../../src/protocols/socks5/client-handshake.js';
import { ProxyEngine, type ProxyOptions } from '../../src/proxy/proxy.js';
import { RoundRobinPicker } from '../../src/proxy/round-robin.js';
import {
  SESSION_CLOSE_CHANNEL_NAME,
  SESSION_OPEN_CHANNEL_NAME,
  type SessionCloseMessage,
  type SessionOpenMessage,
} from '../../src/proxy/session-events.js';
import { createDefaultRegistry } from '../../transports/default-registry.js';
import { makeTestCerts, type TestCerts } from '../helpers/certs.js';
import { expectNoLeakedSockets, snapshotSockets } from '../helpers/handles.js';
import { closedPort, peerClosedWithin, startEchoServer, stopServer } from '../helpers/net.js';

// Issue 14: every failure a user would otherwise see only as a closed connection
// is one log line with its cause, at a level that fits who caused it.

const registry = createDefaultRegistry();
let baseline: string[];
let certs: TestCerts;
let echo: Awaited<ReturnType<typeof startEchoServer>>;

beforeAll(async () => {
  baseline = snapshotSockets();
  certs = makeTestCerts();
  echo = await startEchoServer();
});

afterAll(async () => {
  await stopServer(echo.server, echo.sockets);
  certs.dispose();
  await expectNoLeakedSockets(baseline, 4000);
});

type Line = Record<string, unknown>;

function capture(threshold: LogThreshold = 'debug') {
  const lines: Line[] = [];
  const logger = createLogger({
    threshold,
    format: 'json',
    write: (l) => lines.push(JSON.parse(l) as Line),
  });
  const find = (event: string) => lines.find((l) => l.event === event);
  const wait = async (event: string, ms = 3000): Promise<Line> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const line = find(event);
      if (line) return line;
      if (Date.now() > deadline) throw new Error(`no ${event} line in ${JSON.stringify(lines)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  return { logger, lines, find, wait };
}

async function dial(port: number): Promise<Socket> {
  const socket = connect({ port, host: '127.0.0.1' });
  socket.on('error', () => {});
  await once(socket, 'connect');
  return socket;
}

async function engine(
  options: Omit<ProxyOptions, 'server' | 'registry'>,
  bind = 'tcp://127.0.0.1:0',
) {
  const server = await registry.listen(bind);
  return new ProxyEngine({ server, registry, ...options });
}

function upstreamOf(group: ServerGroup): Upstream {
  const upstream = new Upstream(`${group.name}-up`);
  upstream.add(group);
  return upstream;
}

function echoGroup(name: string): ServerGroup {
  const group = new ServerGroup({
    name,
    healthCheck: { timeoutMs: 200, periodMs: 1000, up: 1, down: 1, check: { kind: 'none' } },
  });
  group.add('echo', `127.0.0.1:${echo.port}`);
  return group;
}

describe('the engine says what happened', () => {
  it('a failed TLS handshake (a plain-text client) is one info line naming the layer', async () => {
    const log = capture();
    const bind = `tls://127.0.0.1:0?cert=${certs.cert}&cert-key=${certs.key}`;
    const proxy = await engine(
      { picker: new RoundRobinPicker([`127.0.0.1:${echo.port}`]), logger: log.logger },
      bind,
    );
    const client = await dial(proxy.server.address().port);
    client.write('GET / HTTP/1.0\r\n\r\n');
    await peerClosedWithin(client, 3000);
    client.destroy();
    const line = await log.wait('client-handshake-failed');
    expect(line).toMatchObject({ level: 'info', layer: expect.stringMatching(/tls/) });
    expect(String(line.error).length).toBeGreaterThan(0);
    await proxy.close();
  });

  it('a WebSocket client on the wrong path is told 404, and the log says so with the client', async () => {
    const log = capture('info');
    const proxy = await engine(
      { picker: new RoundRobinPicker([`127.0.0.1:${echo.port}`]), logger: log.logger },
      'ws://127.0.0.1:0/tunnel',
    );
    const port = proxy.server.address().port;
    await expect(registry.connect(`ws://127.0.0.1:${port}/wrong`)).rejects.toThrow();
    const line = await log.wait('client-handshake-failed');
    expect(line).toMatchObject({ layer: expect.stringMatching(/ws/), code: 'ERR_WS_HANDSHAKE' });
    expect(String(line.error)).toMatch(/upgrade from 127\.0\.0\.1:\d+ refused with 404/);
    await proxy.close();
  });

  it('a handshake that throws or times out is logged with its code and the client', async () => {
    const log = capture();
    const proxy = await engine({
      picker: new RoundRobinPicker([`127.0.0.1:${echo.port}`]),
      logger: log.logger,
      handshakeTimeoutMs: 100,
      handshake: async (_client, signal) => {
        await new Promise((_, reject) =>
          signal.addEventListener('abort', () => reject(signal.reason)),
        );
        return null;
      },
    });
    const client = await dial(proxy.server.address().port);
    await peerClosedWithin(client, 3000);
    const line = await log.wait('client-handshake-failed');
    expect(line).toMatchObject({
      level: 'info',
      code: 'ERR_HANDSHAKE_TIMEOUT',
      client: `127.0.0.1:${client.localPort}`,
    });
    client.destroy();
    await proxy.close();
  });

  it('a bad PROXY header on a TcpLB is logged, not only counted', async () => {
    const log = capture('info');
    const group = echoGroup('pp');
    const lb = await TcpLB.start({
      name: 'pp-lb',
      address: 'tcp://127.0.0.1:0',
      upstream: upstreamOf(group),
      registry,
      acceptProxyProtocol: true,
      logger: log.logger,
    });
    const client = await dial(lb.bound().port);
    client.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await peerClosedWithin(client, 3000);
    client.destroy();
    const line = await log.wait('client-handshake-failed');
    expect(line).toMatchObject({
      listener: 'pp-lb',
      code: expect.stringMatching(/^ERR_PROXY_HEADER/),
    });
    expect(lb.stats().refused).toBe(1);
    await lb.close();
    await group.close();
  });

  it('no backend, and a picker that throws, each get their line', async () => {
    const log = capture('info');
    const empty = new ServerGroup({
      name: 'empty',
      healthCheck: { timeoutMs: 200, periodMs: 1000, up: 1, down: 1, check: { kind: 'none' } },
    });
    const lb = await TcpLB.start({
      name: 'empty-lb',
      address: 'tcp://127.0.0.1:0',
      upstream: upstreamOf(empty),
      registry,
      logger: log.logger,
    });
    const a = await dial(lb.bound().port);
    await peerClosedWithin(a, 3000);
    expect(await log.wait('no-backend')).toMatchObject({
      level: 'warn',
      listener: 'empty-lb',
      client: `127.0.0.1:${a.localPort}`,
    });
    a.destroy();
    await lb.close();
    await empty.close();

    const broken = await engine({
      logger: log.logger,
      picker: {
        pick: () => {
          throw new TypeError('upstream table is corrupt');
        },
      },
    });
    const b = await dial(broken.server.address().port);
    await peerClosedWithin(b, 3000);
    b.destroy();
    expect(await log.wait('picker-failed')).toMatchObject({
      level: 'error',
      error: 'upstream table is corrupt',
    });
    await broken.close();
  });

  it("a listener 'error' is an error line, and a TcpLB without an 'error' listener keeps running", async () => {
    const log = capture('info');
    const group = echoGroup('lerr');
    const lb = await TcpLB.start({
      name: 'lerr-lb',
      address: 'tcp://127.0.0.1:0',
      upstream: upstreamOf(group),
      registry,
      logger: log.logger,
    });
    const emfile = Object.assign(new Error('accept EMFILE'), {
      code: 'EMFILE',
      errno: -24,
      syscall: 'accept',
    });
    // The engine owns the listener; reach it as the control plane's inspection does.
    const server = (lb as unknown as { engine: ProxyEngine }).engine.server;
    server.emit('error', emfile);
    expect(log.find('listener-error')).toMatchObject({
      level: 'error',
      listener: 'lerr-lb',
      code: 'EMFILE',
      errno: -24,
      syscall: 'accept',
    });
    const client = await dial(lb.bound().port);
    client.write('still here');
    const [reply] = (await once(client, 'data')) as [Buffer];
    expect(reply.toString()).toBe('still here');
    client.destroy();
    await lb.close();
    await group.close();
  });

  it('a refused connect names the backend, the code and the errno', async () => {
    const log = capture('warn');
    const port = await closedPort();
    const proxy = await engine({
      picker: new RoundRobinPicker([`127.0.0.1:${port}`]),
      logger: log.logger,
    });
    const client = await dial(proxy.server.address().port);
    await peerClosedWithin(client, 3000);
    client.destroy();
    const line = await log.wait('backend-connect-failed');
    expect(line).toMatchObject({
      level: 'warn',
      backend: `tcp://127.0.0.1:${port}`,
      code: 'ECONNREFUSED',
      syscall: 'connect',
      attempt: 1,
    });
    expect(line.errno).toBeLessThan(0);
    await proxy.close();
  });

  it('idle timeouts are debug lines only', async () => {
    const debug = capture('debug');
    const info = capture('info');
    for (const log of [debug, info]) {
      const proxy = await engine({
        picker: new RoundRobinPicker([`127.0.0.1:${echo.port}`]),
        logger: log.logger,
        idleTimeoutMs: 100,
      });
      const client = await dial(proxy.server.address().port);
      await peerClosedWithin(client, 3000);
      client.destroy();
      await new Promise((r) => setTimeout(r, 50));
      await proxy.close();
    }
    expect(await debug.wait('session-idle-timeout')).toMatchObject({
      level: 'debug',
      reason: 'idle-timeout',
      code: 'ERR_IDLE_TIMEOUT',
    });
    expect(info.lines).toEqual([]);
  });
});

describe('listeners say why they refused', () => {
  it('a TcpLB security group denial names the client and the group', async () => {
    const log = capture('info');
    const group = echoGroup('sg');
    const lb = await TcpLB.start({
      name: 'sg-lb',
      address: 'tcp://127.0.0.1:0',
      upstream: upstreamOf(group),
      registry,
      securityGroup: new SecurityGroup('nobody', 'deny'),
      logger: log.logger,
    });
    const client = await dial(lb.bound().port);
    await peerClosedWithin(client, 3000);
    expect(log.find('client-denied')).toMatchObject({
      client: `127.0.0.1:${client.localPort}`,
      securityGroup: 'nobody',
    });
    client.destroy();
    await lb.close();
    await group.close();
  });

  it('socks5: a target that is not a backend, and a wrong password', async () => {
    const log = capture('info');
    const group = echoGroup('s5');
    const s5 = await Socks5Server.start({
      name: 's5',
      address: 'tcp://127.0.0.1:0',
      upstream: upstreamOf(group),
      registry,
      auth: { users: { alice: 'wonderland' } },
      logger: log.logger,
    });
    const url = `tcp://127.0.0.1:${s5.bound().port}`;
    const outside = await registry.connect(url);
    await expect(
      socks5Connect(outside, {
        target: { host: '127.0.0.1', port: await closedPort() },
        auth: { username: 'alice', password: 'wonderland' },
      }),
    ).rejects.toThrow();
    expect(await log.wait('client-denied')).toMatchObject({
      listener: 's5',
      reason: 'not a backend',
    });
    const guess = await registry.connect(url);
    await expect(
      socks5Connect(guess, {
        target: { host: '127.0.0.1', port: echo.port },
        auth: { username: 'alice', password: 'guess' },
      }),
    ).rejects.toThrow();
    expect(await log.wait('client-handshake-failed')).toMatchObject({
      level: 'info',
      code: 'ERR_SOCKS5_AUTH_FAILED',
    });
    expect(JSON.stringify(log.lines)).not.toMatch(/wonderland|guess/);
    await s5.close();
    await group.close();
  });
});

describe('health and embedders', () => {
  it('UP and DOWN transitions are info lines with their cause; each failed probe a debug line', async () => {
    const log = capture('debug');
    const backend = await startEchoServer();
    const group = new ServerGroup({
      name: 'hc',
      registry,
      logger: log.logger,
      healthCheck: { timeoutMs: 3000, periodMs: 30, up: 1, down: 1, check: { kind: 'tcp' } },
    });
    group.add('b', `127.0.0.1:${backend.port}`);
    expect(await log.wait('server-up')).toMatchObject({
      level: 'info',
      group: 'hc',
      server: 'b',
      address: `tcp://127.0.0.1:${backend.port}`,
    });
    await stopServer(backend.server, backend.sockets);
    expect(await log.wait('server-down')).toMatchObject({
      level: 'info',
      server: 'b',
      by: 'tcp',
      code: 'ECONNREFUSED',
    });
    expect(log.find('server-up')).toMatchObject({ check: 'tcp' });
    expect(log.find('health-check-failed')).toMatchObject({
      level: 'debug',
      server: 'b',
      code: 'ECONNREFUSED',
    });
    expect(log.find('server-up')?.latencyMs).toBeGreaterThanOrEqual(0);
    await group.close();
  });

  it('session open and close are published for embedders, with the close reason', async () => {
    const opened: SessionOpenMessage[] = [];
    const closed: SessionCloseMessage[] = [];
    const onOpen = (m: unknown) => opened.push(m as SessionOpenMessage);
    const onClose = (m: unknown) => closed.push(m as SessionCloseMessage);
    diagnosticsChannel.subscribe(SESSION_OPEN_CHANNEL_NAME, onOpen);
    diagnosticsChannel.subscribe(SESSION_CLOSE_CHANNEL_NAME, onClose);
    try {
      const proxy = await engine({
        name: 'embedded',
        picker: new RoundRobinPicker([`127.0.0.1:${echo.port}`]),
      });
      const client = await dial(proxy.server.address().port);
      const me = `127.0.0.1:${client.localPort}`;
      client.write('hello');
      await once(client, 'data');
      client.end();
      await peerClosedWithin(client, 3000);
      client.destroy();
      const deadline = Date.now() + 3000;
      while (closed.length === 0 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 10));
      await proxy.close();
      expect(opened.find((m) => m.client === me)).toMatchObject({
        listener: 'embedded',
        backend: `tcp://127.0.0.1:${echo.port}`,
      });
      const close = closed.find((m) => m.info.client === me);
      expect(close).toMatchObject({
        listener: 'embedded',
        reason: 'closed',
        redispatches: 0,
        info: { bytesFromClient: 5, bytesToClient: 5 },
      });
    } finally {
      diagnosticsChannel.unsubscribe(SESSION_OPEN_CHANNEL_NAME, onOpen);
      diagnosticsChannel.unsubscribe(SESSION_CLOSE_CHANNEL_NAME, onClose);
    }
  });
});
