import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import {
  connect,
  createServer as createNetServer,
  type Server as NetServer,
  type Socket,
} from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAddress } from '../../../src/fd/address.js';
import { isVproxyError } from '../../../src/fd/errors.js';
import { createLogger } from '../../../src/fd/logger.js';
import { systemClock } from '../../../src/lb/clock.js';
import { HealthCheckClient } from '../../../src/lb/health-check-client.js';
import { createChecker } from '../../../src/lb/health-checkers.js';
import type { CheckSpec, HealthCheckConfig } from '../../../src/lb/health-config.js';
import { ServerPicker } from '../../../src/lb/picker.js';
import { ServerGroup } from '../../../src/lb/server-group.js';
import { ProxyEngine } from '../../../src/proxy/proxy.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { makeTestCerts, type TestCerts } from '../../helpers/certs.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import { closedPort, peerClosedWithin, startServer, stopServer } from '../../helpers/net.js';

// Active checks (tcp, http, https) and passive detection against real loopback servers.

const registry = createDefaultRegistry();
let baseline: string[];
let certs: TestCerts;
let http: HttpServer;
let httpPort: number;

async function listen(server: NetServer | HttpServer, port = 0): Promise<number> {
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return address.port;
}

async function closeHttp(server: HttpServer): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

const statusHandler: Parameters<typeof createHttpServer>[1] = (req, res) => {
  const status = req.url === '/ok' ? 200 : req.url === '/fail' ? 500 : 404;
  res.writeHead(status, { 'content-type': 'text/plain' });
  res.end(req.method === 'HEAD' ? undefined : `status ${status}\n`);
};

beforeAll(async () => {
  baseline = snapshotSockets();
  certs = makeTestCerts();
  http = createHttpServer(statusHandler);
  httpPort = await listen(http);
});

afterAll(async () => {
  await closeHttp(http);
  certs.dispose();
  await expectNoLeakedSockets(baseline);
});

/** One probe, as a health check runs it: resolves to null on success, the error otherwise. */
async function checkOnce(
  spec: CheckSpec,
  address: string,
  // Seconds: a probe of a live server on a loaded machine can wait out a sub-second one.
  timeoutMs = 5000,
): Promise<Error | null> {
  const checker = createChecker(spec, registry);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error('test timeout')), timeoutMs);
  try {
    await checker.run(parseAddress(address), { signal: controller.signal, timeoutMs });
    return null;
  } catch (err) {
    return err as Error;
  } finally {
    clearTimeout(timer);
  }
}

/** Poll `predicate` every 10 ms; rejects after `ms`. */
async function waitFor(predicate: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`not ${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('tcp check', () => {
  it('succeeds on a listening port and fails on a closed one', async () => {
    const server = await startServer((s) => s.on('error', () => {}));
    expect(await checkOnce({ kind: 'tcp' }, `127.0.0.1:${server.port}`)).toBeNull();
    const refused = await checkOnce({ kind: 'tcp' }, `127.0.0.1:${await closedPort()}`);
    expect(refused).toMatchObject({ code: 'ECONNREFUSED' });
    await stopServer(server.server, server.sockets);
  });
});

describe('http check', () => {
  const http = (path: string, extra: Partial<CheckSpec & { kind: 'http' }> = {}): CheckSpec => ({
    kind: 'http',
    path,
    ...extra,
  });

  it('200 is healthy, 500 is not (unless 5xx is expected), HEAD works too', async () => {
    const url = `127.0.0.1:${httpPort}`;
    expect(await checkOnce(http('/ok'), url)).toBeNull();
    expect(await checkOnce(http('/ok', { method: 'HEAD', expect: [200] }), url)).toBeNull();
    const err = await checkOnce(http('/fail'), url);
    expect(isVproxyError(err, 'ERR_HEALTH_CHECK_FAILED')).toBe(true);
    expect(err?.message).toBe('unexpected status 500 for GET /fail');
    expect(await checkOnce(http('/fail', { expect: ['5xx'] }), url)).toBeNull();
    expect(await checkOnce(http('/missing', { expect: [404] }), url)).toBeNull();
  });

  it('fails on a closed port, a server that hangs up, a non-HTTP reply and a silent server', async () => {
    expect(await checkOnce(http('/'), `127.0.0.1:${await closedPort()}`)).toMatchObject({
      code: 'ECONNREFUSED',
    });
    const hangUp = await startServer((s) => {
      s.on('error', () => {});
      s.once('data', () => s.end());
    });
    expect((await checkOnce(http('/'), `127.0.0.1:${hangUp.port}`))?.message).toBe(
      'remote closed before the status line',
    );
    const ssh = await startServer((s) => {
      s.on('error', () => {});
      s.end('SSH-2.0-OpenSSH_9.6\r\n');
    });
    expect((await checkOnce(http('/'), `127.0.0.1:${ssh.port}`))?.message).toMatch(
      /not an HTTP status line/,
    );
    const silent = await startServer((s) => s.on('error', () => {}));
    // What matters is that the 200 ms abort ended the probe ('aborted'): a probe that
    // ignored it would wait for a server that never answers. The bound only tells that
    // from a late answer, so it has seconds of slack for a stalled process.
    const started = Date.now();
    expect((await checkOnce(http('/'), `127.0.0.1:${silent.port}`, 200))?.message).toBe('aborted');
    expect(Date.now() - started).toBeLessThan(10_000);
    for (const s of [hangUp, ssh, silent]) await stopServer(s.server, s.sockets);
  });

  it('runs over TLS too (an HTTPS check through the tls layer)', async () => {
    const https = createHttpsServer(
      { cert: readFileSync(certs.cert), key: readFileSync(certs.key) },
      statusHandler,
    );
    const port = await listen(https);
    const base = `tls://localhost:${port}?ca=${certs.caCert}`;
    expect(await checkOnce(http('/ok'), base)).toBeNull();
    expect((await checkOnce(http('/fail'), base))?.message).toMatch(/unexpected status 500/);
    https.closeAllConnections();
    await new Promise<void>((resolve) => https.close(() => resolve()));
  });
});

describe('HealthCheckClient and ServerGroup on the real clock', () => {
  // Fast periods, but a probe timeout of seconds: a live server's probe that waits out
  // a stalled process (timers run before the connect's completion is read) must not
  // count as a failure; the DOWN transitions here come from a status or a refusal.
  const fast = (check: CheckSpec): HealthCheckConfig => ({
    timeoutMs: 5000,
    periodMs: 30,
    up: 2,
    down: 2,
    check,
  });

  it('an http check turns UP on 200 and DOWN when the server starts failing or goes away', async () => {
    let status = 200;
    const flaky = createHttpServer((_req, res) => {
      res.writeHead(status);
      res.end();
    });
    const port = await listen(flaky);
    const hc = new HealthCheckClient(
      parseAddress(`127.0.0.1:${port}`),
      fast({ kind: 'http' }),
      createChecker({ kind: 'http' }, registry),
    );
    const events: string[] = [];
    hc.on('up', () => events.push('up'));
    hc.on('down', () => events.push('down'));
    hc.start(systemClock);
    await waitFor(() => hc.isUp, 10_000, 'UP');
    status = 503;
    await waitFor(() => !hc.isUp, 10_000, 'DOWN on 503');
    expect(hc.stats().lastError).toMatch(/unexpected status 503/);
    status = 200;
    await waitFor(() => hc.isUp, 10_000, 'UP again');
    await closeHttp(flaky);
    await waitFor(() => !hc.isUp, 10_000, 'DOWN once closed');
    hc.stop();
    expect(events).toEqual(['up', 'down', 'up', 'down']);
    expect(hc.stats().avgLatencyMs).toBeGreaterThan(0);
  });

  it('a probe that gets no answer fails at the timeout and the silent server stays DOWN', async () => {
    // Silent, but it reads: a probe reset before its connection was accepted (a stalled
    // process) reads as data then EOF, and an unread socket would never see that end.
    const silent = await startServer((s) => {
      s.on('error', () => {});
      s.on('end', () => s.destroy());
      s.resume();
    });
    const hc = new HealthCheckClient(
      parseAddress(`127.0.0.1:${silent.port}`),
      { timeoutMs: 100, periodMs: 30, up: 1, down: 1, check: { kind: 'http' } },
      createChecker({ kind: 'http' }, registry),
    );
    const results: string[] = [];
    hc.on('result', (r) => results.push(r.error?.message ?? 'ok'));
    hc.start(systemClock);
    await waitFor(() => results.length >= 2, 10_000, 'two probes');
    hc.stop();
    expect(hc.isUp).toBe(false);
    expect(results.slice(0, 2)).toEqual([
      'health check timed out after 100 ms',
      'health check timed out after 100 ms',
    ]);
    // Each timed-out probe's stream was closed: nothing is left on the server.
    await waitFor(() => silent.sockets.size === 0, 10_000, 'probe sockets closed');
    await stopServer(silent.server, silent.sockets);
  });

  it('a group stops picking a killed backend and picks it again once it is back', async () => {
    // "a" comes back on its port number: one from closedPort(), below the ephemeral range,
    // so no connect (a probe's among them) can take it while "a" is down; a listen(0)
    // port could be, and the revival would fail with EADDRINUSE.
    const aPort = await closedPort();
    const aSockets = new Set<Socket>();
    const aServer = createNetServer((s) => {
      aSockets.add(s);
      s.on('close', () => aSockets.delete(s));
      s.on('error', () => {});
    });
    await listen(aServer, aPort);
    const b = await startServer((s) => s.on('error', () => {}));
    const group = new ServerGroup({ name: 'real', healthCheck: fast({ kind: 'tcp' }), registry });
    group.add('a', `127.0.0.1:${aPort}`);
    group.add('b', `127.0.0.1:${b.port}`);
    await waitFor(() => group.servers().every((s) => s.healthy), 10_000, 'both UP');
    await stopServer(aServer, aSockets);
    await waitFor(() => group.get('a')?.healthy === false, 10_000, 'a DOWN');
    for (let i = 0; i < 10; i++) expect(group.next()?.name).toBe('b');
    // Bring "a" back on its own port number.
    const revived = createHttpServer();
    await listen(revived, aPort);
    await waitFor(() => group.get('a')?.healthy === true, 10_000, 'a UP again');
    await group.close();
    await closeHttp(revived);
    await stopServer(b.server, b.sockets);
  });
});

describe('passive detection through the proxy engine', () => {
  it('failed backend connects mark the server DOWN before the next active check', async () => {
    const backend = await startServer((s) => s.on('error', () => {}));
    const logged: string[] = [];
    const group = new ServerGroup({
      name: 'passive',
      // One active check (60 s period) must make it UP: a timeout of seconds, not 500 ms.
      healthCheck: { timeoutMs: 5000, periodMs: 60_000, up: 1, down: 2, check: { kind: 'tcp' } },
      registry,
      logger: createLogger({ threshold: 'info', write: (l) => logged.push(l) }),
    });
    const server = group.add('only', `127.0.0.1:${backend.port}`);
    await waitFor(() => server.healthy, 10_000, 'UP');
    const checksBefore = server.health.stats().checks;
    await stopServer(backend.server, backend.sockets);
    const listener = await registry.listen('tcp://127.0.0.1:0');
    const engine = new ProxyEngine({ server: listener, picker: new ServerPicker(group), registry });
    for (let i = 0; i < 2; i++) {
      const client = connect(listener.address().port, '127.0.0.1');
      client.on('error', () => {});
      await peerClosedWithin(client, 10_000);
      client.destroy();
    }
    await waitFor(() => !server.healthy, 10_000, 'DOWN by passive detection');
    // The log says it was the proxy's connects, not a probe, and what they got.
    expect(logged.find((l) => l.includes('server-down'))).toMatch(
      /server-down group=passive server=only .* by=failed-connects .*code=ECONNREFUSED/,
    );
    expect(server.health.stats()).toMatchObject({ checks: checksBefore, passiveFailures: 2 });
    expect(server.stats()).toMatchObject({ connectFailures: 2, activeConnections: 0 });
    // Now DOWN: the next client is refused at once, no connect is attempted.
    const client = connect(listener.address().port, '127.0.0.1');
    client.on('error', () => {});
    await peerClosedWithin(client, 10_000);
    client.destroy();
    expect(engine.stats()).toMatchObject({ connectFailures: 2, noBackend: 1 });
    await engine.close();
    await group.close();
  });
});
