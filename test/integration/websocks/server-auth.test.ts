import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildUpgradeRequest } from '../../../src/protocols/websocks/client-request.js';
import { WebsocksServer } from '../../../src/websocks/server/websocks-server.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { makeTestCerts, type TestCerts } from '../../helpers/certs.js';
import { useEchoBackend } from '../../helpers/echo-fixture.js';
import { openTunnel, readResponse } from './ws-client.js';

const echo = useEchoBackend();
const registry = createDefaultRegistry();
let dir = '';
let usersFile = '';
let certs: TestCerts;
let strictReplay: WebsocksServer;
let fromFile: WebsocksServer;
let secret: WebsocksServer;

function dial(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

/** Send raw request bytes on a fresh connection; the first response. */
async function ask(port: number, request: Buffer | string) {
  const s = await dial(port);
  s.write(request);
  const r = await readResponse(s);
  s.destroy();
  return r;
}

function upgrade(user: string, password: string, nowMs: number, path = '/'): Buffer {
  return buildUpgradeRequest({
    host: '127.0.0.1',
    port: 443,
    tls: false,
    user,
    password,
    nowMs,
    path,
  });
}

async function tunnelWorks(
  port: number,
  user: string,
  password: string,
  path?: string,
): Promise<boolean> {
  const s = await dial(port);
  try {
    const code = await openTunnel(s, { user, password, ...(path ? { path } : {}) }, '127.0.0.1', {
      host: '127.0.0.1',
      port: echo.port,
    });
    return code === 0;
  } catch {
    return false;
  } finally {
    s.destroy();
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'websocks-auth-'));
  usersFile = join(dir, 'users');
  writeFileSync(usersFile, '# users\ncarol:pw3\n');
  certs = makeTestCerts();
  strictReplay = await WebsocksServer.start({
    listen: 'ws://127.0.0.1:0',
    auth: 'alice:secret',
    replayBudget: 1,
    allowLoopback: true,
    registry,
  });
  fromFile = await WebsocksServer.start({
    listen: 'ws://127.0.0.1:0',
    usersFile,
    allowLoopback: true,
    registry,
    reloadIntervalMs: 100,
  });
  secret = await WebsocksServer.start({
    listen: 'wss://127.0.0.1:0',
    auth: 'alice:secret',
    cert: certs.cert,
    key: certs.key,
    pathPrefix: '/s3cret',
    redirectPort: 0,
    allowLoopback: true,
    registry,
  });
});

afterAll(async () => {
  await strictReplay?.close();
  await fromFile?.close();
  await secret?.close();
  certs?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('replay', () => {
  it('a header used up is refused with the site answer, and a fresh minute is accepted again', async () => {
    const port = strictReplay.door.address().port;
    const site = await ask(port, 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    const now = Date.now();
    const first = await ask(port, upgrade('alice', 'secret', now));
    expect(first.statusLine).toBe('HTTP/1.1 101 Switching Protocols');
    const replayed = await ask(port, upgrade('alice', 'secret', now));
    expect(replayed.statusLine).toBe(site.statusLine);
    expect(replayed.headerNames).toEqual(site.headerNames);
    expect(replayed.body.equals(site.body)).toBe(true);
    expect(strictReplay.stats().refused.replay).toBe(1);
    // The next minute's header (a different hash) is not a replay.
    expect((await ask(port, upgrade('alice', 'secret', now + 60_000))).statusLine).toContain('101');
    // After the window the same header is refused by the hash check itself.
    expect((await ask(port, upgrade('alice', 'secret', now - 3 * 60_000))).statusLine).toBe(
      site.statusLine,
    );
  });
});

describe('users file', () => {
  it('is re-read when it changes', async () => {
    const port = fromFile.door.address().port;
    expect(await tunnelWorks(port, 'carol', 'pw3')).toBe(true);
    expect(await tunnelWorks(port, 'dave', 'pw4')).toBe(false);
    writeFileSync(usersFile, 'dave:pw4\n');
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && !(await tunnelWorks(port, 'dave', 'pw4'))) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await tunnelWorks(port, 'dave', 'pw4')).toBe(true);
    expect(await tunnelWorks(port, 'carol', 'pw3')).toBe(false);
  });

  it('a file that no longer parses keeps the last users', async () => {
    const port = fromFile.door.address().port;
    writeFileSync(usersFile, 'no colon here\n');
    await new Promise((r) => setTimeout(r, 600));
    expect(await tunnelWorks(port, 'dave', 'pw4')).toBe(true);
  });
});

describe('--path-prefix and --redirect-port', () => {
  function tls(port: number): Promise<TLSSocket> {
    return new Promise((resolve, reject) => {
      const s = tlsConnect({
        host: '127.0.0.1',
        port,
        ca: readFileSync(certs.caCert),
        servername: 'localhost',
      });
      s.once('secureConnect', () => resolve(s));
      s.once('error', reject);
    });
  }
  async function askTls(request: Buffer | string) {
    const s = await tls(secret.door.address().port);
    s.write(request);
    const r = await readResponse(s);
    s.destroy();
    return r;
  }

  it('upgrades elsewhere than the secret path get the site; the secret path tunnels', async () => {
    const now = Date.now();
    for (const [path, browserPath] of [
      ['/', '/'],
      ['/other', '/other'],
      ['/s3cretx', '/s3cretx'],
    ] as const) {
      const site = await askTls(`GET ${browserPath} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
      const got = await askTls(upgrade('alice', 'secret', now, path));
      expect(got.statusLine).toBe(site.statusLine);
      expect(got.headerNames).toEqual(site.headerNames);
      expect(got.body.equals(site.body)).toBe(true);
    }
    expect(secret.stats().refused.path).toBe(3);
    const s = await tls(secret.door.address().port);
    const code = await openTunnel(
      s,
      { user: 'alice', password: 'secret', path: '/s3cret' },
      'localhost',
      {
        host: '127.0.0.1',
        port: echo.port,
      },
    );
    expect(code).toBe(0);
    s.destroy();
  });

  it('the redirect port answers 301 to https on the main port', async () => {
    const redirect = secret.lines.find((l) => l.role === 'redirect');
    const port = Number(/:([0-9]+)$/.exec(redirect?.address ?? '')?.[1]);
    const r = await ask(port, 'GET /a/b?c=1 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n');
    expect(r.statusLine).toBe('HTTP/1.1 301 Moved Permanently');
    expect(r.head.split('\r\n')).toContain(
      `Location: https://example.com:${secret.door.address().port}/a/b?c=1`,
    );
    expect(r.headerNames).toEqual([
      'Server',
      'Date',
      'Content-Type',
      'Content-Length',
      'Connection',
      'Location',
    ]);
  });
});
