import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServerGroup } from '../../../src/lb/server-group.js';
import { Socks5Server, type Socks5ServerOptions } from '../../../src/lb/socks5-server.js';
import { Upstream } from '../../../src/lb/upstream.js';
import { toEndpoint } from '../../../src/protocols/socks5/address.js';
import { socks5Connect } from '../../../src/protocols/socks5/client-handshake.js';
import { decodeUdpHeader, encodeUdpDatagram } from '../../../src/protocols/socks5/udp-header.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { makeTestCerts, type TestCerts } from '../../helpers/certs.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import { hashUntilEnd, writeRandom } from '../../helpers/net.js';
import { requireTool, skipNote } from '../../helpers/require-tool.js';
import { BACKS, FRONTS } from './matrix.js';

// Socks5Server with real curl (and our own socks5 client over tls): backends
// only by default, domain names routed to server groups, auth, UDP ASSOCIATE.

const run = promisify(execFile);
const curlTool = requireTool('curl');
const registry = createDefaultRegistry();
let baseline: string[];
let certs: TestCerts;
const backends: { server: Server; port: number }[] = [];
let outsider: { server: Server; port: number };
let group: ServerGroup;
let upstream: Upstream;

async function http(name: string, host = '127.0.0.1'): Promise<{ server: Server; port: number }> {
  const server = createServer((_req, res) => res.end(`${name}\n`));
  server.listen(0, host);
  await once(server, 'listening');
  const a = server.address();
  if (a === null || typeof a === 'string') throw new Error('no address');
  return { server, port: a.port };
}

beforeAll(async () => {
  baseline = snapshotSockets();
  certs = makeTestCerts();
  backends.push(await http('one'), await http('two'));
  outsider = await http('outsider', '::1');
  group = new ServerGroup({
    name: 'web.test:80',
    healthCheck: { timeoutMs: 200, periodMs: 1000, up: 1, down: 1, check: { kind: 'none' } },
  });
  group.add('one', `127.0.0.1:${backends[0]?.port}`);
  group.add('two', `127.0.0.1:${backends[1]?.port}`);
  upstream = new Upstream('ups');
  upstream.add(group);
});

afterAll(async () => {
  await group.close();
  for (const b of [...backends, outsider]) {
    b.server.closeAllConnections();
    await new Promise((r) => b.server.close(r));
  }
  certs.dispose();
  await expectNoLeakedSockets(baseline, 4000);
});

async function start(extra: Partial<Socks5ServerOptions> = {}): Promise<Socks5Server> {
  return Socks5Server.start({ name: 's5', address: '127.0.0.1:0', upstream, registry, ...extra });
}

async function curl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(curlTool.path, ['-sS', '--max-time', '3', ...args]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe.skipIf(curlTool.missing)(`Socks5Server with curl${skipNote(curlTool)}`, () => {
  it('routes a domain to the server group of that name, load balanced', async () => {
    const s5 = await start();
    const proxy = `127.0.0.1:${s5.bound().port}`;
    const answers = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const r = await curl('--socks5-hostname', proxy, 'http://web.test:80/');
      expect(r.code).toBe(0);
      answers.add(r.stdout.trim());
    }
    expect([...answers].sort()).toEqual(['one', 'two']);
    await s5.close();
  });

  it('reaches a backend by address; refuses a non-backend with "not allowed"', async () => {
    const s5 = await start();
    const proxy = `127.0.0.1:${s5.bound().port}`;
    expect((await curl('--socks5', proxy, `http://127.0.0.1:${backends[0]?.port}/`)).stdout).toBe(
      'one\n',
    );
    const denied = await curl('--socks5', proxy, `http://[::1]:${outsider.port}/`);
    expect(denied.code).toBe(97);
    // curl prints the reply code: 2 = connection not allowed by ruleset.
    expect(denied.stderr).toMatch(/Can't complete SOCKS5 connection to ::1. \(2\)/);
    expect(s5.stats().refused).toBe(1);
    await s5.close();
  });

  it('with allow-non-backend reaches any target, IPv6 included', async () => {
    const s5 = await start({ allowNonBackend: true });
    const proxy = `127.0.0.1:${s5.bound().port}`;
    expect((await curl('--socks5', proxy, `http://[::1]:${outsider.port}/`)).stdout).toBe(
      'outsider\n',
    );
    expect(
      (await curl('--socks5-hostname', proxy, `http://localhost:${backends[1]?.port}/`)).stdout,
    ).toBe('two\n');
    const refused = await curl('--socks5', proxy, 'http://127.0.0.1:1/');
    expect(refused.code).toBe(97);
    // 5 = connection refused.
    expect(refused.stderr).toMatch(/\(5\)/);
    await s5.close();
  });

  it('checks usernames and passwords', async () => {
    const s5 = await start({ auth: { users: { alice: 'wonderland' } } });
    const proxy = `127.0.0.1:${s5.bound().port}`;
    const url = `http://127.0.0.1:${backends[0]?.port}/`;
    expect((await curl('--socks5', proxy, '--proxy-user', 'alice:wonderland', url)).stdout).toBe(
      'one\n',
    );
    const bad = await curl('--socks5', proxy, '--proxy-user', 'alice:guess', url);
    expect(bad.code).toBe(97);
    expect(bad.stderr).toMatch(/rejected/i);
    await s5.close();
  });
});

describe.each(FRONTS)('Socks5Server listening on $name', (front) => {
  it.each(BACKS)(
    'carries 8 MB byte-exact to a $name target through our own socks5 client',
    async (back) => {
      const echo = await registry.listen(back.listen(certs));
      echo.on('connection', (fd) => {
        fd.on('error', () => {});
        fd.pipe(fd);
      });
      // A kcp target is a backend of the upstream (socks5 requests name host:port only).
      const sg = new ServerGroup({
        name: 'echo-target',
        healthCheck: { timeoutMs: 200, periodMs: 1000, up: 1, down: 1, check: { kind: 'none' } },
      });
      sg.add('echo', back.dial(certs, echo.address().port));
      const ups = new Upstream('ups-echo');
      ups.add(sg);
      const s5 = await Socks5Server.start({
        name: 's5',
        address: front.listen(certs),
        upstream: ups,
        registry,
      });
      const fd = await registry.connect(front.dial(certs, s5.bound().port));
      await socks5Connect(fd, { target: { host: '127.0.0.1', port: echo.address().port } });
      const [sent, got] = await Promise.all([writeRandom(fd, 8 * 1024 * 1024), hashUntilEnd(fd)]);
      expect(got.sha256).toBe(sent);
      await s5.close();
      await sg.close();
      await echo.close();
    },
  );
});

describe('Socks5Server UDP ASSOCIATE', () => {
  it('relays a datagram to a real UDP echo server and back', async () => {
    const echo = createSocket('udp4');
    echo.on('message', (msg, rinfo) => echo.send(msg, rinfo.port, rinfo.address));
    echo.bind(0, '127.0.0.1');
    await once(echo, 'listening');
    const s5 = await start({ allowNonBackend: true, udp: true });
    const control = await registry.connect(`127.0.0.1:${s5.bound().port}`);
    const reply = await socks5Connect(control, {
      target: { host: '0.0.0.0', port: 0 },
      command: 'udp-associate',
    });
    const client = createSocket('udp4');
    client.bind(0, '127.0.0.1');
    await once(client, 'listening');
    const payload = Buffer.from('ping over socks5 udp');
    client.send(
      encodeUdpDatagram(toEndpoint('127.0.0.1', echo.address().port), payload),
      reply.port,
      '127.0.0.1',
    );
    const [msg] = (await once(client, 'message')) as [Buffer];
    const header = decodeUdpHeader(msg);
    expect(header.port).toBe(echo.address().port);
    expect(Buffer.from(msg.subarray(header.headerLength)).toString()).toBe(payload.toString());
    expect(s5.associations).toBe(1);
    control.destroy();
    client.close();
    echo.close();
    await s5.close();
  });

  it('bounds associations (refusals counted) and closes an idle one with its control connection', async () => {
    const s5 = await start({ udp: true, maxAssociations: 1, udpIdleTimeoutMs: 200 });
    const first = await registry.connect(`127.0.0.1:${s5.bound().port}`);
    await socks5Connect(first, { target: { host: '0.0.0.0', port: 0 }, command: 'udp-associate' });
    expect(s5.associations).toBe(1);
    const second = await registry.connect(`127.0.0.1:${s5.bound().port}`);
    await expect(
      socks5Connect(second, { target: { host: '0.0.0.0', port: 0 }, command: 'udp-associate' }),
    ).rejects.toThrow();
    expect(s5.associationsRefused).toBe(1);
    second.destroy();
    // No datagram either way: gone within two idle timeouts; the client reads EOF on
    // its control connection (the relay shuts it down gracefully).
    first.resume();
    const closed = once(first, 'end');
    const deadline = Date.now() + 2000;
    while (s5.associations > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    expect(s5.associations).toBe(0);
    await closed;
    first.destroy();
    // udp off: UDP ASSOCIATE is refused as a command not supported.
    s5.udp = false;
    const third = await registry.connect(`127.0.0.1:${s5.bound().port}`);
    await expect(
      socks5Connect(third, { target: { host: '0.0.0.0', port: 0 }, command: 'udp-associate' }),
    ).rejects.toThrow();
    third.destroy();
    await s5.close();
  });
});
