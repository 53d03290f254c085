import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecurityGroup } from '../../../src/lb/security-group.js';
import { ServerGroup } from '../../../src/lb/server-group.js';
import { TcpLB } from '../../../src/lb/tcp-lb.js';
import { Upstream } from '../../../src/lb/upstream.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { makeTestCerts, type TestCerts } from '../../helpers/certs.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import {
  hashUntilEnd,
  peerClosedWithin,
  readAll,
  startEchoServer,
  startServer,
  stopServer,
  writeRandom,
} from '../../helpers/net.js';
import { requireTool, skipNote } from '../../helpers/require-tool.js';
import { until } from '../../helpers/wait.js';
import { BACKS, FRONTS } from './matrix.js';

// TcpLB with real clients: curl over wrr, health checks taking a killed backend
// out and back, security groups, PROXY protocol both ways, listener transports.

const run = promisify(execFile);
const curlTool = requireTool('curl');
const registry = createDefaultRegistry();
let baseline: string[];
let certs: TestCerts;

beforeAll(() => {
  baseline = snapshotSockets();
  certs = makeTestCerts();
});

afterAll(async () => {
  certs.dispose();
  await expectNoLeakedSockets(baseline, 4000);
});

async function httpBackend(name: string, port = 0): Promise<{ server: Server; port: number }> {
  const server = createServer((_req, res) => res.end(`${name}\n`));
  server.keepAliveTimeout = 100;
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return { server, port: address.port };
}

async function closeHttp(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
}

async function curl(url: string): Promise<string> {
  const { stdout } = await run(curlTool.path, ['-sS', '--max-time', '3', url]);
  return stdout.trim();
}

function group(name: string, periodMs = 100, up = 2, down = 2): ServerGroup {
  return new ServerGroup({
    name,
    registry,
    healthCheck: { timeoutMs: 3000, periodMs, up, down, check: { kind: 'tcp' } },
  });
}

async function untilUp(g: ServerGroup, count: number): Promise<void> {
  const deadline = Date.now() + 5000;
  while (g.servers().filter((s) => s.healthy).length < count) {
    if (Date.now() > deadline) throw new Error('servers did not come up');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(curlTool.missing)(`TcpLB${skipNote(curlTool)}`, () => {
  it('curl alternates over two backends as wrr says, weights honoured', async () => {
    const one = await httpBackend('one');
    const two = await httpBackend('two');
    const sg = group('sg-wrr');
    sg.add('one', `127.0.0.1:${one.port}`, 20);
    sg.add('two', `127.0.0.1:${two.port}`, 10);
    const ups = new Upstream('ups-wrr');
    ups.add(sg);
    await untilUp(sg, 2);
    const lb = await TcpLB.start({
      name: 'lb-wrr',
      address: '127.0.0.1:0',
      upstream: ups,
      registry,
    });
    const url = `http://127.0.0.1:${lb.bound().port}/`;
    const answers: string[] = [];
    for (let i = 0; i < 6; i++) answers.push(await curl(url));
    // Smooth wrr with 2:1 never sends two to the light server in a row.
    expect(answers.filter((a) => a === 'one')).toHaveLength(4);
    expect(answers.filter((a) => a === 'two')).toHaveLength(2);
    expect(answers.join(',')).not.toMatch(/two,two/);
    await lb.close();
    await sg.close();
    await closeHttp(one.server);
    await closeHttp(two.server);
  });

  it('a killed backend leaves after down failed probes and returns after up good ones', async () => {
    const up = 2;
    const down = 2;
    const one = await httpBackend('one');
    let two = await httpBackend('two');
    const twoPort = two.port;
    const sg = group('sg-hc', 100, up, down);
    sg.add('one', `127.0.0.1:${one.port}`);
    const twoServer = sg.add('two', `127.0.0.1:${twoPort}`);
    const ups = new Upstream('ups-hc');
    ups.add(sg);
    await untilUp(sg, 2);
    const lb = await TcpLB.start({
      name: 'lb-hc',
      address: '127.0.0.1:0',
      upstream: ups,
      registry,
    });
    const url = `http://127.0.0.1:${lb.bound().port}/`;

    // Every probe of two in order, and how many had ended at each transition: the
    // mechanism, not the clock. A stalled event loop delays probes (so the deadlines
    // below are seconds) but cannot change how many of them a transition takes.
    const results: boolean[] = [];
    const transitions: { to: 'up' | 'down'; after: number; passive?: boolean }[] = [];
    twoServer.health.on('result', (r) => results.push(r.ok));
    twoServer.health.on('down', (_error, passive) =>
      transitions.push({ to: 'down', after: results.length, passive }),
    );
    twoServer.health.on('up', () => transitions.push({ to: 'up', after: results.length }));

    const killedAt = results.length;
    await closeHttp(two.server);
    await until('two DOWN', () => transitions.length > 0, 10_000);
    // Taken DOWN by its probes (no request went its way meanwhile), on the down-th failure.
    expect(transitions).toEqual([{ to: 'down', after: expect.any(Number), passive: false }]);
    const sinceKill = results.slice(killedAt, transitions[0]?.after);
    // Only the probe in flight at the kill may have passed; every later one is refused.
    expect(sinceKill.filter((ok) => ok).length).toBeLessThanOrEqual(1);
    expect(sinceKill.filter((ok) => !ok)).toHaveLength(down);
    expect(sinceKill.at(-1)).toBe(false);

    // Once DOWN, no request fails and none is even tried on two.
    const beforeRequests = twoServer.stats();
    for (let i = 0; i < 10; i++) expect(await curl(url)).toBe('one');
    const afterRequests = twoServer.stats();
    expect(afterRequests.totalConnections).toBe(beforeRequests.totalConnections);
    expect(afterRequests.connectFailures).toBe(beforeRequests.connectFailures);
    expect(twoServer.healthy).toBe(false);

    const restartedAt = results.length;
    two = await httpBackend('two', twoPort);
    await until('two UP', () => transitions.length > 1, 10_000);
    expect(transitions[1]).toEqual({ to: 'up', after: expect.any(Number) });
    const sinceRestart = results.slice(restartedAt, transitions[1]?.after);
    // Only a probe refused just before the listen may have failed (one probe runs at a
    // time, so it comes first); then exactly up good ones.
    expect(sinceRestart.filter((ok) => !ok).length).toBeLessThanOrEqual(1);
    expect(sinceRestart.filter((ok) => ok)).toHaveLength(up);
    expect(sinceRestart.slice(-up)).toEqual(Array(up).fill(true));

    const answers = new Set<string>();
    for (let i = 0; i < 4; i++) answers.add(await curl(url));
    expect([...answers].sort()).toEqual(['one', 'two']);
    await lb.close();
    await sg.close();
    await closeHttp(one.server);
    await closeHttp(two.server);
  });

  it('a security group denies and allows by client network and listening port', async () => {
    const echo = await startEchoServer();
    const sg = group('sg-secg');
    sg.add('echo', `127.0.0.1:${echo.port}`);
    const ups = new Upstream('ups-secg');
    ups.add(sg);
    await untilUp(sg, 1);
    const deny = new SecurityGroup('deny-local', 'allow');
    deny.addRule({
      name: 'no-loopback',
      network: '127.0.0.0/8',
      protocol: 'tcp',
      ports: '0-65535',
      action: 'deny',
    });
    const lb = await TcpLB.start({
      name: 'lb-secg',
      address: '127.0.0.1:0',
      upstream: ups,
      registry,
      securityGroup: deny,
    });
    const denied = await registry.connect(`127.0.0.1:${lb.bound().port}`);
    denied.on('error', () => {});
    denied.write('hello');
    await peerClosedWithin(denied, 2000);
    denied.destroy();
    expect(lb.stats().refused).toBe(1);

    lb.update({ securityGroup: SecurityGroup.allowAll() });
    const allowed = await registry.connect(`127.0.0.1:${lb.bound().port}`);
    allowed.end('hello');
    expect((await readAll(allowed)).toString()).toBe('hello');
    await lb.close();
    await sg.close();
    await stopServer(echo.server, echo.sockets);
  });
});

describe('TcpLB and the PROXY protocol', () => {
  it.each([1, 2] as const)(
    'sends a v%i header with the real client before its bytes',
    async (version) => {
      let received: Promise<Buffer> = Promise.resolve(Buffer.alloc(0));
      const backend = await startServer((s: Socket) => {
        received = readAll(s);
        s.end();
      });
      const sg = new ServerGroup({
        name: `sg-pp${version}`,
        healthCheck: { timeoutMs: 100, periodMs: 1000, up: 1, down: 1, check: { kind: 'none' } },
      });
      sg.add('b', `127.0.0.1:${backend.port}`);
      const ups = new Upstream(`ups-pp${version}`);
      ups.add(sg);
      const lb = await TcpLB.start({
        name: 'lb-pp',
        address: '127.0.0.1:0',
        upstream: ups,
        registry,
        sendProxyProtocol: version,
      });
      const client = await registry.connect(`127.0.0.1:${lb.bound().port}`);
      const port = client.localPort;
      client.end('payload');
      await readAll(client);
      const bytes = await received;
      if (version === 1) {
        expect(bytes.toString()).toBe(
          `PROXY TCP4 127.0.0.1 127.0.0.1 ${port} ${lb.bound().port}\r\npayload`,
        );
      } else {
        expect(bytes.subarray(0, 12).toString('latin1')).toBe('\r\n\r\n\0\r\nQUIT\n');
        expect(bytes[12]).toBe(0x21); // v2, PROXY
        expect(bytes[13]).toBe(0x11); // TCP over IPv4
        expect(bytes.readUInt16BE(14)).toBe(12);
        expect(bytes.readUInt16BE(24)).toBe(port);
        expect(bytes.subarray(28).toString()).toBe('payload');
      }
      await lb.close();
      await sg.close();
      await stopServer(backend.server, backend.sockets);
    },
  );

  it('accepts a header from a front proxy and judges the client it names', async () => {
    const echo = await startEchoServer();
    const sg = new ServerGroup({
      name: 'sg-ppin',
      healthCheck: { timeoutMs: 100, periodMs: 1000, up: 1, down: 1, check: { kind: 'none' } },
    });
    sg.add('echo', `127.0.0.1:${echo.port}`);
    const ups = new Upstream('ups-ppin');
    ups.add(sg);
    const onlyTen = new SecurityGroup('only-ten', 'deny');
    onlyTen.addRule({
      name: 'ten',
      network: '10.0.0.0/8',
      protocol: 'tcp',
      ports: '0-65535',
      action: 'allow',
    });
    const lb = await TcpLB.start({
      name: 'lb-ppin',
      address: '127.0.0.1:0',
      upstream: ups,
      registry,
      acceptProxyProtocol: true,
      securityGroup: onlyTen,
    });
    const allowed = await registry.connect(`127.0.0.1:${lb.bound().port}`);
    allowed.end('PROXY TCP4 10.1.2.3 127.0.0.1 5555 80\r\nhello');
    expect((await readAll(allowed)).toString()).toBe('hello');

    const denied = await registry.connect(`127.0.0.1:${lb.bound().port}`);
    denied.on('error', () => {});
    denied.write('PROXY TCP4 192.168.1.1 127.0.0.1 5555 80\r\nhello');
    await peerClosedWithin(denied, 2000);
    denied.destroy();

    const garbage = await registry.connect(`127.0.0.1:${lb.bound().port}`);
    garbage.on('error', () => {});
    garbage.write('GET / HTTP/1.1\r\n\r\n');
    await peerClosedWithin(garbage, 2000);
    garbage.destroy();
    expect(lb.stats().refused).toBe(2);
    await lb.close();
    await sg.close();
    await stopServer(echo.server, echo.sockets);
  });
});

const MB = 1024 * 1024;

describe.each(FRONTS)('TcpLB listening on $name', (front) => {
  it.each(BACKS)('carries 8 MB byte-exact to a $name backend', async (back) => {
    const backend = await registry.listen(back.listen(certs));
    backend.on('connection', (fd) => {
      fd.on('error', () => {});
      fd.pipe(fd);
    });
    const sg = group('sg-matrix', 100, 1, 1);
    sg.add('b', back.dial(certs, backend.address().port));
    const ups = new Upstream('ups-matrix');
    ups.add(sg);
    await untilUp(sg, 1);
    const lb = await TcpLB.start({
      name: 'lb-matrix',
      address: front.listen(certs),
      upstream: ups,
      registry,
    });
    const client = await registry.connect(front.dial(certs, lb.bound().port));
    const [sent, got] = await Promise.all([writeRandom(client, 8 * MB), hashUntilEnd(client)]);
    expect(got.bytes).toBe(8 * MB);
    expect(got.sha256).toBe(sent);
    await lb.close();
    await sg.close();
    await backend.close();
  });
});
