import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildUpgradeRequest } from '../../../src/protocols/websocks/client-request.js';
import { tunnelOpening, tunnelSteps } from '../../../src/protocols/websocks/socks-stage.js';
import { WebsocksServer } from '../../../src/websocks/server/websocks-server.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { useEchoBackend } from '../../helpers/echo-fixture.js';
import { hashUntilEnd, readAll, writeRandom } from '../../helpers/net.js';
import { openTunnel, readBytes, readResponse } from './ws-client.js';

const echo = useEchoBackend();
const creds = { user: 'alice', password: 'secret' };
let webroot = '';
let server: WebsocksServer;
let guarded: WebsocksServer;

function dial(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

beforeAll(async () => {
  webroot = mkdtempSync(join(tmpdir(), 'websocks-root-'));
  writeFileSync(join(webroot, 'index.html'), '<html><body>hello</body></html>\n');
  mkdirSync(join(webroot, 'docs'));
  writeFileSync(join(webroot, 'docs', 'index.html'), 'docs\n');
  writeFileSync(join(webroot, 'app.js'), 'console.log(1)\n');
  const registry = createDefaultRegistry();
  server = await WebsocksServer.start({
    listen: 'ws://127.0.0.1:0',
    auth: 'alice:secret,bob:pw2',
    webroot,
    registry,
    allowLoopback: true,
    replayBudget: 1000,
  });
  guarded = await WebsocksServer.start({
    listen: 'ws://127.0.0.1:0',
    auth: 'alice:secret',
    webroot,
    registry,
  });
});

afterAll(async () => {
  await server?.close();
  await guarded?.close();
  rmSync(webroot, { recursive: true, force: true });
});

describe('websocks-server over ws://', () => {
  it('carries 20 MB each way through the codec-built client, sha256-checked', async () => {
    const s = await dial(server.door.address().port);
    const rep = await openTunnel(s, creds, '127.0.0.1', { host: '127.0.0.1', port: echo.port });
    expect(rep).toBe(0);
    const t0 = performance.now();
    const [sent, got] = await Promise.all([writeRandom(s, 20 * 1024 * 1024), hashUntilEnd(s)]);
    const ms = performance.now() - t0;
    expect(got.bytes).toBe(20 * 1024 * 1024);
    expect(got.sha256).toBe(sent);
    console.log(
      `ws: 20 MB echoed in ${ms.toFixed(0)} ms (${((20 * 8) / (ms / 1000)).toFixed(0)} Mbit/s each way)`,
    );
    s.destroy();
  });

  it('serves the web root as nginx would', async () => {
    const s = await dial(server.door.address().port);
    s.write(
      'GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /docs HTTP/1.1\r\nHost: x\r\n\r\nGET /app.js HTTP/1.1\r\nHost: x\r\n\r\n',
    );
    const a = await readResponse(s);
    expect(a.statusLine).toBe('HTTP/1.1 200 OK');
    expect(a.headerNames).toEqual([
      'Server',
      'Date',
      'Content-Type',
      'Content-Length',
      'Last-Modified',
      'Connection',
      'ETag',
      'Accept-Ranges',
    ]);
    expect(a.body.toString()).toContain('hello');
    const b = await readResponse(s);
    expect(b.statusLine).toBe('HTTP/1.1 404 Not Found');
    expect(b.body.toString()).toContain('<center>nginx</center>');
    const c = await readResponse(s);
    expect(c.statusLine).toBe('HTTP/1.1 301 Moved Permanently');
    expect(c.head).toContain('\r\nLocation: http://x/docs/');
    const d = await readResponse(s);
    expect(d.head).toContain('Content-Type: application/javascript');
    s.destroy();
  });

  it('refuses a loopback target without --allow-loopback (reply 02)', async () => {
    const s = await dial(guarded.door.address().port);
    const rep = await openTunnel(s, creds, '127.0.0.1', { host: '127.0.0.1', port: echo.port });
    expect(rep).toBe(2);
    s.destroy();
    const s2 = await dial(guarded.door.address().port);
    expect(await openTunnel(s2, creds, '127.0.0.1', { host: 'localhost', port: echo.port })).toBe(
      2,
    );
    s2.destroy();
  });
});

/** What a browser gets for `GET path` (keep-alive): the reference answer for refusals. */
async function browserAnswer(port: number, path: string) {
  const s = await dial(port);
  s.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: probe\r\n\r\n`);
  const r = await readResponse(s);
  s.destroy();
  return r;
}

describe('refusals look like the web site', () => {
  const cases: [string, (now: number) => Buffer][] = [
    [
      'wrong password',
      (now) =>
        buildUpgradeRequest({
          host: '127.0.0.1',
          port: 443,
          tls: false,
          user: 'alice',
          password: 'bad',
          nowMs: now,
        }),
    ],
    [
      'unknown user',
      (now) =>
        buildUpgradeRequest({
          host: '127.0.0.1',
          port: 443,
          tls: false,
          user: 'mallory',
          password: 'secret',
          nowMs: now,
        }),
    ],
    [
      'stale minute',
      (now) =>
        buildUpgradeRequest({
          host: '127.0.0.1',
          port: 443,
          tls: false,
          user: 'alice',
          password: 'secret',
          nowMs: now - 5 * 60_000,
        }),
    ],
    [
      'pipelined garbage',
      (now) =>
        Buffer.concat([
          buildUpgradeRequest({
            host: '127.0.0.1',
            port: 443,
            tls: false,
            user: 'alice',
            password: 'secret',
            nowMs: now,
          }),
          Buffer.from('\x82\x7fgarbage'),
        ]),
    ],
  ];
  for (const [name, request] of cases) {
    it(`${name} → the site's answer for GET /`, async () => {
      const port = server.door.address().port;
      const expected = await browserAnswer(port, '/');
      const s = await dial(port);
      s.write(request(Date.now()));
      const got = await readResponse(s);
      expect(got.statusLine).toBe(expected.statusLine);
      expect(got.headerNames).toEqual(expected.headerNames);
      expect(got.body.equals(expected.body)).toBe(true);
      s.destroy();
    });
  }

  it('counts refusals by check', () => {
    const r = server.stats().refused;
    expect(r.auth).toBeGreaterThanOrEqual(3);
    expect(r.pipelined).toBeGreaterThanOrEqual(1);
  });

  it('strips PONGs before the frame', async () => {
    const s = await dial(server.door.address().port);
    s.write(buildUpgradeRequest({ host: 'h', port: 443, tls: false, ...creds, nowMs: Date.now() }));
    const r = await readResponse(s);
    expect(r.statusLine).toBe('HTTP/1.1 101 Switching Protocols');
    s.write(Buffer.from('8a008a00', 'hex'));
    await new Promise((res) => setTimeout(res, 50));
    // The rest of the tunnel as usual.
    s.write(tunnelOpening('127.0.0.1', echo.port));
    expect((await readBytes(s, 12)).toString('hex')).toBe('827f7fffffffffffffff0500');
    expect((await readBytes(s, 10))[1]).toBe(0);
    s.end('ping');
    expect((await readBytes(s, 4)).toString()).toBe('ping');
    s.destroy();
  });
});

describe('strict mode and IPv6 targets', () => {
  it('strict mode: frame, wait; greeting, wait; CONNECT, wait (§3.7)', async () => {
    const s = await dial(server.door.address().port);
    s.write(buildUpgradeRequest({ host: 'h', port: 443, tls: false, ...creds, nowMs: Date.now() }));
    expect((await readResponse(s)).statusLine).toBe('HTTP/1.1 101 Switching Protocols');
    const steps = tunnelSteps('127.0.0.1', echo.port);
    s.write(steps.frame);
    expect((await readBytes(s, 10)).toString('hex')).toBe('827f7fffffffffffffff');
    s.write(steps.greeting);
    expect((await readBytes(s, 2)).toString('hex')).toBe('0500');
    s.write(steps.connect);
    expect((await readBytes(s, 10))[1]).toBe(0);
    s.end('strict');
    expect((await readBytes(s, 6)).toString()).toBe('strict');
    s.destroy();
  });

  it('reaches an IPv6 target (ATYP 04)', async () => {
    const v6 = createServer((c) => c.pipe(c));
    v6.listen(0, '::1');
    await once(v6, 'listening');
    const port = (v6.address() as { port: number }).port;
    try {
      const s = await dial(server.door.address().port);
      expect(await openTunnel(s, creds, 'h', { host: '::1', port })).toBe(0);
      s.end('six');
      expect((await readBytes(s, 3)).toString()).toBe('six');
      s.destroy();
    } finally {
      v6.close();
    }
  });

  it('a pooled connection idles before its frame, kept by PONGs, then tunnels', async () => {
    const s = await dial(server.door.address().port);
    s.write(buildUpgradeRequest({ host: 'h', port: 443, tls: false, ...creds, nowMs: Date.now() }));
    expect((await readResponse(s)).statusLine).toBe('HTTP/1.1 101 Switching Protocols');
    for (let i = 0; i < 3; i++) {
      s.write(Buffer.from('8a00', 'hex'));
      await new Promise((r) => setTimeout(r, 30));
    }
    s.write(tunnelOpening('127.0.0.1', echo.port));
    expect((await readBytes(s, 12)).toString('hex')).toBe('827f7fffffffffffffff0500');
    expect((await readBytes(s, 10))[1]).toBe(0);
    s.destroy();
  });
});

describe('a client that half-closes after its request', () => {
  it('still gets the whole answer (a 3 MB file), then a FIN', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024, 0x61);
    writeFileSync(join(webroot, 'big.bin'), big);
    const s = await dial(server.door.address().port);
    s.end('GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n');
    const all = await readAll(s);
    const text = all.toString('latin1');
    expect(text.startsWith('HTTP/1.1 200 OK\r\n')).toBe(true);
    expect(text).toContain('Content-Type: application/octet-stream');
    expect(all.length - (all.indexOf('\r\n\r\n') + 4)).toBe(big.length);
  });
});
