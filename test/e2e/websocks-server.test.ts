import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildUpgradeRequest } from '../../src/protocols/websocks/client-request.js';
import { RESP_PASSWORD, type RunningCli, redisCli, startCli } from '../helpers/cli.js';
import { useEchoBackend } from '../helpers/echo-fixture.js';
import { writeRandom } from '../helpers/net.js';
import { NGINX, type Nginx, startNginxWsProxy } from '../helpers/nginx.js';
import { requireTool, skipNote } from '../helpers/require-tool.js';
import { openTunnel, readResponse } from '../integration/websocks/ws-client.js';

// `vproxy websocks-server` as users run it: the built CLI, a codec-built client, curl as the
// browser, nginx as the WebSocket gateway in front.

const run = promisify(execFile);
const curl = requireTool('curl');
requireTool('redis-cli');
const echo = useEchoBackend(4000);
const creds = { user: 'alice', password: 'secret' };
const MB20 = 20 * 1024 * 1024;
let webroot = '';
let open: RunningCli;
let openPort = 0;
let guarded: RunningCli;
let guardedPort = 0;

function dial(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

async function startServer(extra: string[]): Promise<{ running: RunningCli; port: number }> {
  const { running, match } = await startCli(
    [
      'websocks-server',
      '--listen',
      'ws://127.0.0.1:0',
      '--auth',
      'alice:secret',
      '--webroot',
      webroot,
      ...extra,
    ],
    /websocks listening on ws:\/\/127\.0\.0\.1:(\d+)\//,
  );
  return { running, port: Number(match[1]) };
}

beforeAll(async () => {
  webroot = mkdtempSync(join(tmpdir(), 'websocks-e2e-'));
  writeFileSync(join(webroot, 'index.html'), '<html><body>a blog</body></html>\n');
  mkdirSync(join(webroot, 'posts'));
  writeFileSync(join(webroot, 'posts', 'index.html'), 'posts\n');
  writeFileSync(join(webroot, 'style.css'), 'body{}\n');
  ({ running: open, port: openPort } = await startServer([
    '--allow-loopback',
    '--http-controller',
    '127.0.0.1:0',
    '--http-token',
    'tok',
    '--resp-controller',
    '127.0.0.1:0',
    '--resp-password',
    RESP_PASSWORD,
  ]));
  ({ running: guarded, port: guardedPort } = await startServer([]));
});

afterAll(async () => {
  await open?.stop();
  await guarded?.stop();
  rmSync(webroot, { recursive: true, force: true });
});

/** sha256 of the next `n` bytes (nginx ends both directions at the first FIN, so no end is awaited). */
function hashBytes(stream: Socket, n: number): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      const take = chunk.subarray(0, n - bytes);
      hash.update(take);
      bytes += take.length;
      if (bytes === n) {
        stream.off('data', onData);
        resolve({ bytes, sha256: hash.digest('hex') });
      }
    };
    stream.on('data', onData);
    stream.once('close', () => reject(new Error(`closed after ${bytes} bytes`)));
    stream.resume();
  });
}

async function transfer(port: number, label: string): Promise<void> {
  const s = await dial(port);
  expect(await openTunnel(s, creds, '127.0.0.1', { host: '127.0.0.1', port: echo.port })).toBe(0);
  const t0 = performance.now();
  const [sent, got] = await Promise.all([writeRandom(s, MB20, false), hashBytes(s, MB20)]);
  const ms = performance.now() - t0;
  expect(got).toEqual({ bytes: MB20, sha256: sent });
  console.log(
    `${label}: 20 MB echoed in ${ms.toFixed(0)} ms (${((20 * 8) / (ms / 1000)).toFixed(0)} Mbit/s each way)`,
  );
  s.destroy();
}

describe('vproxy websocks-server', () => {
  it('tunnels 20 MB each way, sha256-checked', async () => {
    await transfer(openPort, 'cli ws');
  });

  it.skipIf(curl.missing)(`is a web site to curl${skipNote(curl)}`, async () => {
    const base = `http://127.0.0.1:${openPort}`;
    const page = await run(curl.path, ['-si', `${base}/`]);
    expect(page.stdout).toMatch(/^HTTP\/1\.1 200 OK\r\nServer: nginx\r\n/);
    expect(page.stdout).toContain('a blog');
    const css = await run(curl.path, ['-si', `${base}/style.css`]);
    expect(css.stdout).toContain('Content-Type: text/css');
    const dir = await run(curl.path, ['-si', `${base}/posts`]);
    expect(dir.stdout).toMatch(/^HTTP\/1\.1 301 Moved Permanently/);
    expect(dir.stdout).toContain(`Location: http://127.0.0.1:${openPort}/posts/`);
    const missing = await run(curl.path, ['-si', `${base}/nope`]);
    expect(missing.stdout).toMatch(/^HTTP\/1\.1 404 Not Found/);
  });

  it('logs a wrong password with its cause at info, and the client sees only the site', async () => {
    const browser = await dial(openPort);
    browser.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    const expected = await readResponse(browser);
    browser.destroy();
    const s = await dial(openPort);
    s.write(
      buildUpgradeRequest({
        host: '127.0.0.1',
        port: 80,
        tls: false,
        user: 'alice',
        password: 'nope',
        nowMs: Date.now(),
      }),
    );
    const got = await readResponse(s);
    s.destroy();
    expect(got.statusLine).toBe(expected.statusLine);
    expect(got.headerNames).toEqual(expected.headerNames);
    expect(got.body.equals(expected.body)).toBe(true);
    const deadline = Date.now() + 2000;
    while (!/websocks-refused.*check=auth/.test(open.output()) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(open.output()).toMatch(
      /INFO +websocks-refused client=127\.0\.0\.1:\d+ check=auth reason=/,
    );
  });

  it('refuses loopback targets without --allow-loopback (SOCKS5 reply 02)', async () => {
    const s = await dial(guardedPort);
    expect(await openTunnel(s, creds, '127.0.0.1', { host: '127.0.0.1', port: echo.port })).toBe(2);
    s.destroy();
  });
});

describe('--http-controller', () => {
  async function get(path: string): Promise<{ status: number; text: string }> {
    const m = /http-controller listening on http:\/\/127\.0\.0\.1:(\d+)\//.exec(open.output());
    expect(m).not.toBeNull();
    const res = await fetch(`http://127.0.0.1:${m?.[1]}${path}`, {
      headers: { authorization: 'Bearer tok' },
    });
    return { status: res.status, text: await res.text() };
  }

  it('shows the tunnel sessions and bytes in /metrics, the door counters in /api/v1/websocks', async () => {
    await transfer(openPort, 'cli ws (before metrics)');
    const metrics = await get('/metrics');
    expect(metrics.status).toBe(200);
    const bytes = /vproxy_listener_bytes_in_total\{[^}]*listener="websocks"[^}]*\} (\d+)/.exec(
      metrics.text,
    );
    expect(Number(bytes?.[1])).toBeGreaterThanOrEqual(MB20);
    const door = JSON.parse((await get('/api/v1/websocks')).text) as {
      tunnels: number;
      refused: Record<string, number>;
    };
    expect(door.tunnels).toBeGreaterThanOrEqual(2);
    expect(door.refused.auth).toBeGreaterThanOrEqual(1);
    // The same door counters in /metrics.
    const tunnels = /^vproxy_websocks_door_tunnels_total (\d+)$/m.exec(metrics.text);
    expect(Number(tunnels?.[1])).toBeGreaterThanOrEqual(2);
    const auth = /^vproxy_websocks_door_refused_total\{check="auth"\} (\d+)$/m.exec(metrics.text);
    expect(Number(auth?.[1])).toBeGreaterThanOrEqual(1);
    expect(metrics.text).toMatch(/^vproxy_websocks_door_web_connections_total \d+$/m);
    expect((await get('/api/v1/status')).text).toContain('websocks');
  });

  it('--resp-controller: the command language through redis-cli lists the socks5 stage', async () => {
    const m = /resp-controller listening on 127\.0\.0\.1:(\d+)/.exec(open.output());
    expect(m).not.toBeNull();
    const port = Number(m?.[1]);
    expect(await redisCli(port, 'list socks5-server')).toEqual(['websocks']);
    const detail = (await redisCli(port, 'list-detail socks5-server')).join('\n');
    expect(detail).toMatch(/^websocks -> /);
  });

  it('is off unless asked for (the daemon default does not leak in)', () => {
    expect(guarded.output()).not.toContain('http-controller');
    expect(guarded.output()).not.toContain('resp-controller');
  });
});

describe.skipIf(NGINX.missing)(`behind nginx as the WebSocket gateway${skipNote(NGINX)}`, () => {
  let nginx: Nginx;
  beforeAll(async () => {
    nginx = await startNginxWsProxy(openPort);
  });
  afterAll(async () => {
    await nginx?.stop();
  });

  it('tunnels 20 MB each way through nginx (raw WebSocks mode), sha256-checked', async () => {
    await transfer(nginx.port, 'cli ws via nginx');
  });

  it('serves the site through nginx', async () => {
    const s = await dial(nginx.port);
    s.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    const r = await readResponse(s);
    expect(r.statusLine).toBe('HTTP/1.1 200 OK');
    expect(r.body.toString()).toContain('a blog');
    s.destroy();
  });
});
