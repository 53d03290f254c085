import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer, get, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, launchChromium } from '../helpers/browser.js';
import { controllerArgs, type RunningCli, redisCli, startCli } from '../helpers/cli.js';
import { expectNoLeakedSockets, snapshotSockets } from '../helpers/handles.js';
import { closedPort } from '../helpers/net.js';
import { parsePromText, sampleValue } from '../helpers/prom-text.js';
import { anyMissing, requireTool, skipNote } from '../helpers/require-tool.js';

// The live status page of a real daemon, seen by a real browser: both servers
// show UP, one backend is killed, and the page turns it DOWN by itself (no
// reload). /metrics is scraped with curl. The screenshot is kept as an artifact.

const run = promisify(execFile);
const curlTool = requireTool('curl');
const redisCliTool = requireTool('redis-cli');
/** Suites below skip (locally) or have failed at import (CI) without these tools. */
const missing = anyMissing(curlTool, redisCliTool);
const note = skipNote(curlTool, redisCliTool);
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const SCREENSHOT = join(ARTIFACTS, 'status-page.png');
const BODY = Buffer.alloc(64 * 1024, 'v');

interface Backend {
  server: Server;
  port: number;
}

async function startBackend(name: string): Promise<Backend> {
  const server = createServer((req, res) => {
    res.setHeader('x-backend', name);
    res.end(req.url === '/big' ? BODY : `hello from ${name}\n`);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const a = server.address();
  if (a === null || typeof a === 'string') throw new Error('no address');
  return { server, port: a.port };
}

async function stopBackend(b: Backend): Promise<void> {
  b.server.closeAllConnections();
  if (b.server.listening) await new Promise((r) => b.server.close(r));
}

let baseline: string[];
let dir: string;
let daemon: RunningCli | undefined;
let a: Backend;
let b: Backend;
const ports = { lb: 0, resp: 0, http: 0 };
const held: Socket[] = [];
let traffic: NodeJS.Timeout | undefined;

const redis = async (line: string): Promise<string> =>
  (await redisCli(ports.resp, line)).join('\n');

async function curl(path: string, token = 'tok'): Promise<{ status: number; body: string }> {
  const { stdout } = await run(curlTool.path, [
    '-sS',
    '--max-time',
    '5',
    '-H',
    `Authorization: Bearer ${token}`,
    '-w',
    '\n%{http_code}',
    `http://127.0.0.1:${ports.http}${path}`,
  ]);
  const cut = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) };
}

/** Keep a trickle of downloads going through the LB so the chart has something to draw. */
function startTraffic(): void {
  traffic = setInterval(() => {
    const req = get({ host: '127.0.0.1', port: ports.lb, path: '/big', agent: false }, (res) =>
      res.resume(),
    );
    req.on('error', () => {}); // a request that lands on the killed backend fails: fine
  }, 50);
}

beforeAll(async () => {
  baseline = snapshotSockets();
  dir = mkdtempSync(join(tmpdir(), 'vproxy-status-'));
  a = await startBackend('backend-a');
  b = await startBackend('backend-b');
  Object.assign(ports, {
    lb: await closedPort(),
    resp: await closedPort(),
    http: await closedPort(),
  });
  ({ running: daemon } = await startCli(
    ['--no-stdio', '--no-load-last', '--config-dir', dir, ...controllerArgs(ports)],
    /started; type/,
  ));
  for (const line of [
    'add server-group sg0 timeout 3000 period 200 up 1 down 1 method wrr check tcp',
    `add server s-a to server-group sg0 address 127.0.0.1:${a.port} weight 10`,
    `add server s-b to server-group sg0 address 127.0.0.1:${b.port} weight 5`,
    'add upstream ups0',
    'add server-group sg0 to upstream ups0 weight 10',
    `add tcp-lb lb0 address 127.0.0.1:${ports.lb} upstream ups0`,
  ]) {
    expect(await redis(line)).toBe('OK');
  }
  for (
    let i = 0;
    i < 100 && !(await redis('list-detail server in server-group sg0')).match(/UP\n.*UP$/);
    i++
  )
    await new Promise((r) => setTimeout(r, 50));
  startTraffic();
});

afterAll(async () => {
  if (traffic) clearInterval(traffic);
  for (const s of held) s.destroy();
  if (daemon) expect(await daemon.stop()).toBe(0);
  await stopBackend(a);
  await stopBackend(b);
  rmSync(dir, { recursive: true, force: true });
  await expectNoLeakedSockets(baseline, 5000);
});

describe.skipIf(missing)(`status page and /metrics of the daemon${note}`, () => {
  it('/metrics (curl): listener and server series, counters and gauges, process metrics', async () => {
    expect((await curl('/metrics', 'wrong')).status).toBe(401);
    await new Promise((r) => setTimeout(r, 300)); // some downloads through lb0
    const { status, body } = await curl('/metrics');
    expect(status).toBe(200);
    const m = parsePromText(body);
    const lb = { listener: 'lb0' };
    expect(sampleValue(m, 'vproxy_listener_accepted_connections_total', lb)).toBeGreaterThan(0);
    expect(sampleValue(m, 'vproxy_listener_bytes_out_total', lb)).toBeGreaterThan(BODY.length);
    expect(m.types.get('vproxy_listener_bytes_out_total')).toBe('counter');
    expect(m.types.get('vproxy_listener_active_sessions')).toBe('gauge');
    const sa = { group: 'sg0', server: 's-a', address: `tcp://127.0.0.1:${a.port}` };
    const sb = { group: 'sg0', server: 's-b', address: `tcp://127.0.0.1:${b.port}` };
    expect(sampleValue(m, 'vproxy_server_up', sa)).toBe(1);
    expect(sampleValue(m, 'vproxy_server_up', sb)).toBe(1);
    expect(sampleValue(m, 'vproxy_server_weight', sb)).toBe(5);
    // In seconds: a probe of an UP server ended within the check's 3000 ms timeout.
    expect(sampleValue(m, 'vproxy_server_health_check_latency_seconds', sa)).toBeLessThanOrEqual(3);
    expect(sampleValue(m, 'process_resident_memory_bytes')).toBeGreaterThan(1e6);
  });

  it.skipIf(CHROMIUM.missing)(
    `headless Chromium sees both servers UP, then one turn DOWN live; screenshot kept${skipNote(CHROMIUM)}`,
    async () => {
      let browser: Browser | undefined;
      try {
        browser = await launchChromium();
        const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
        const dialogs: string[] = [];
        page.on('dialog', (d) => {
          dialogs.push(d.message());
          void d.dismiss();
        });
        let navigations = 0;
        page.on('framenavigated', (f) => {
          if (f === page.mainFrame()) navigations++;
        });
        // Log in as a person would: the token in the URL once, a cookie afterwards.
        const response = await page.goto(`http://127.0.0.1:${ports.http}/?token=tok`);
        expect(response?.status()).toBe(200);
        expect(new URL(page.url()).search).toBe(''); // the token left the address bar
        await waitForState(page, 'sg0/s-a', 'UP');
        await waitForState(page, 'sg0/s-b', 'UP');
        const loadedAt = navigations;

        await stopBackend(b);
        const killedAt = Date.now();
        await waitForState(page, 'sg0/s-b', 'DOWN', 5000);
        const seenAfter = Date.now() - killedAt;
        expect(await stateOf(page, 'sg0/s-a')).toBe('UP');
        expect(navigations).toBe(loadedAt); // updated in place, never reloaded
        console.log(`status page showed s-b DOWN ${seenAfter} ms after its backend was killed`);

        // Names are shown as text, never run: a hostile server-group name stays inert.
        const hostile = '<img/src=x/onerror=alert(1)>';
        expect(
          await redis(
            `add server-group ${hostile} timeout 500 period 1000 up 1 down 1 method wrr check none`,
          ),
        ).toBe('OK');
        await waitFor(async () =>
          (await page.locator('.group h3').allTextContents()).some((t) => t.startsWith(hostile)),
        );
        expect(await page.locator('.group img').count()).toBe(0);
        expect(dialogs).toEqual([]);
        expect(await redis(`remove server-group ${hostile}`)).toBe('OK');

        // A few open sessions for the sessions table, then the picture.
        for (let i = 0; i < 3; i++) held.push(await openSession());
        await waitFor(async () => (await page.locator('#sessions tbody tr').count()) >= 3);
        await waitFor(
          async () =>
            (await page.locator('#sessions-hint').textContent())?.includes('open') ?? false,
        );
        expect(await page.locator('[data-listener="tcp-lb/lb0"]').count()).toBe(1);
        // One process: every session row names the main process as its worker.
        expect(await page.locator('#sessions tbody tr td:nth-child(2)').allTextContents()).toEqual(
          expect.arrayContaining(['main']),
        );
        expect(await page.locator('[data-upstream="ups0"] [data-state]').textContent()).toBe('UP');
        await page.waitForTimeout(3000); // a few more polls: a chart with some history
        mkdirSync(ARTIFACTS, { recursive: true });
        await page.screenshot({ path: SCREENSHOT, fullPage: true });
        expect(statSync(SCREENSHOT).size).toBeGreaterThan(10_000);

        const metrics = parsePromText((await curl('/metrics')).body);
        expect(sampleValue(metrics, 'vproxy_server_up', { server: 's-b' })).toBe(0);
        expect(sampleValue(metrics, 'vproxy_server_up', { server: 's-a' })).toBe(1);
      } finally {
        await browser?.close();
      }
    },
    60_000,
  );
});

function stateOf(page: Page, server: string): Promise<string | null> {
  return page.locator(`[data-server="${server}"] [data-state]`).textContent({ timeout: 2000 });
}

async function waitForState(page: Page, server: string, state: string, ms = 10_000): Promise<void> {
  await waitFor(async () => (await stateOf(page, server).catch(() => null)) === state, ms);
}

async function waitFor(ok: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A session that stays open: a request whose headers never end. */
async function openSession(): Promise<Socket> {
  const socket = connect(ports.lb, '127.0.0.1');
  await once(socket, 'connect');
  socket.on('error', () => {});
  socket.write('GET /slow HTTP/1.1\r\nHost: status-page-test\r\n');
  return socket;
}
