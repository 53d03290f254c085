import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebsocksServer } from '../../../src/websocks/server/websocks-server.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { makeTestCerts, type TestCerts } from '../../helpers/certs.js';
import { useEchoBackend } from '../../helpers/echo-fixture.js';
import { hashUntilEnd, writeRandom } from '../../helpers/net.js';
import { openTunnel, readResponse } from './ws-client.js';

const echo = useEchoBackend(4000);
const creds = { user: 'alice', password: 'secret' };
const MB20 = 20 * 1024 * 1024;
const registry = createDefaultRegistry();
let certA: TestCerts;
let certB: TestCerts;
let live = '';
let server: WebsocksServer;
let plainKcp: WebsocksServer;

function tlsOver(socket: Duplex | null, port: number, ca: string): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({
      ...(socket === null ? { host: '127.0.0.1', port } : { socket }),
      ca: readFileSync(ca),
      servername: 'localhost',
      ALPNProtocols: ['http/1.1'],
    });
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
  });
}

async function transfer(stream: Duplex, label: string): Promise<void> {
  expect(await openTunnel(stream, creds, 'localhost', { host: '127.0.0.1', port: echo.port })).toBe(
    0,
  );
  const t0 = performance.now();
  const [sent, got] = await Promise.all([writeRandom(stream, MB20), hashUntilEnd(stream)]);
  const ms = performance.now() - t0;
  expect(got.bytes).toBe(MB20);
  expect(got.sha256).toBe(sent);
  console.log(
    `${label}: 20 MB echoed in ${ms.toFixed(0)} ms (${((20 * 8) / (ms / 1000)).toFixed(0)} Mbit/s each way)`,
  );
  stream.destroy();
}

beforeAll(async () => {
  certA = makeTestCerts();
  certB = makeTestCerts();
  live = mkdtempSync(join(tmpdir(), 'websocks-live-'));
  copyFileSync(certA.cert, join(live, 'cert.pem'));
  copyFileSync(certA.key, join(live, 'key.pem'));
  server = await WebsocksServer.start({
    listen: 'wss://127.0.0.1:0',
    auth: 'alice:secret',
    cert: join(live, 'cert.pem'),
    key: join(live, 'key.pem'),
    kcp: true,
    allowLoopback: true,
    registry,
    reloadIntervalMs: 100,
  });
  plainKcp = await WebsocksServer.start({
    listen: 'ws://127.0.0.1:0',
    auth: 'alice:secret',
    kcp: true,
    allowLoopback: true,
    registry,
  });
}, 30_000);

afterAll(async () => {
  await server?.close();
  await plainKcp?.close();
  certA?.dispose();
  certB?.dispose();
  rmSync(live, { recursive: true, force: true });
});

describe('websocks-server over wss:// and kcp://', () => {
  it('wss: 20 MB each way, sha256-checked', async () => {
    await transfer(await tlsOver(null, server.door.address().port, certA.caCert), 'wss');
  });

  it('kcp (websocks:kcp): 20 MB each way, sha256-checked', async () => {
    const fd = await registry.connect(`kcp://127.0.0.1:${plainKcp.door.address().port}?mode=fast4`);
    await transfer(fd, 'kcp');
  }, 60_000);

  it('kcp with TLS inside the stream (websockss:kcp)', async () => {
    const fd = await registry.connect(`kcp://127.0.0.1:${server.door.address().port}?mode=fast4`);
    const s = await tlsOver(fd, 0, certA.caCert);
    expect(await openTunnel(s, creds, 'localhost', { host: '127.0.0.1', port: echo.port })).toBe(0);
    s.end('hello');
    expect((await hashUntilEnd(s)).bytes).toBe(5);
    s.destroy();
  }, 30_000);

  it('a TLS client without an upgrade gets the site (nginx welcome page)', async () => {
    const s = await tlsOver(null, server.door.address().port, certA.caCert);
    s.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
    const r = await readResponse(s);
    expect(r.statusLine).toBe('HTTP/1.1 200 OK');
    expect(r.body.toString()).toContain('Welcome to nginx!');
    s.destroy();
  });

  it('reloads the certificate when the files change; new connections see the new one', async () => {
    const port = server.door.address().port;
    const before = await tlsOver(null, port, certA.caCert);
    const fpA = before.getPeerCertificate().fingerprint256;
    before.destroy();
    copyFileSync(certB.key, join(live, 'key.pem'));
    copyFileSync(certB.cert, join(live, 'cert.pem'));
    const deadline = Date.now() + 5000;
    let fpB = fpA;
    while (fpB === fpA && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      const s = await tlsOver(null, port, certB.caCert).catch(() => null);
      if (s !== null) {
        fpB = s.getPeerCertificate().fingerprint256;
        s.destroy();
      }
    }
    expect(fpB).not.toBe(fpA);
    // And the tunnel works with the new certificate.
    const s = await tlsOver(null, port, certB.caCert);
    expect(await openTunnel(s, creds, 'localhost', { host: '127.0.0.1', port: echo.port })).toBe(0);
    s.destroy();
  });

  it('a ClientHello on the plain port gets nginx 400 and a close', async () => {
    const raw: Socket = await new Promise((resolve, reject) => {
      const s = netConnect(plainKcp.door.address().port, '127.0.0.1', () => resolve(s));
      s.once('error', reject);
    });
    raw.write(Buffer.from('16030100c8010000c40303', 'hex'));
    raw.write(Buffer.alloc(64, 0x41));
    raw.write('\r\n');
    const r = await readResponse(raw);
    expect(r.statusLine).toBe('HTTP/1.1 400 Bad Request');
    expect(r.headerNames).toEqual([
      'Server',
      'Date',
      'Content-Type',
      'Content-Length',
      'Connection',
    ]);
    expect(r.head).toContain('Connection: close');
    raw.destroy();
  });
});
