import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, get, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon } from '../../apps/daemon/run-daemon.js';
import { statusPages } from '../../apps/daemon/status-pages.js';
import { createDefaultRegistry } from '../../transports/default-registry.js';
import { CHROMIUM, launchChromium } from '../helpers/browser.js';
import { expectNoLeakedSockets, snapshotSockets } from '../helpers/handles.js';
import { closedPort } from '../helpers/net.js';
import { skipNote } from '../helpers/require-tool.js';

// Issue 10 finding 3 with a real browser: a user logs into the status page
// (`/?token=`, which leaves a session cookie), then visits a page served from
// another port of 127.0.0.1 — the same *site* for the browser, so the
// SameSite=Strict cookie goes along. That page tries every write a page can
// make without a CORS grant. Nothing may be created.

let baseline: string[];
let dir: string;
let daemon: Daemon;
let attacker: Server;
let httpPort: number;
let attackerPort: number;
let respPort: number;

/** The attacker's page: no-cors fetches, a CORS fetch (needs a preflight), then a text/plain form. */
function evilPage(target: string): string {
  const command = (c: string) => JSON.stringify(JSON.stringify({ command: c }));
  return `<!doctype html><html><body>
<form id="f" method="POST" action="${target}/api/v1/command" enctype="text/plain">
<input name='{"command":"add upstream evil-form","x":"' value='"}'>
</form>
<script>
const results = [];
const tries = [
  [${JSON.stringify(`${target}/api/v1/command`)}, { method: 'POST', mode: 'no-cors', credentials: 'include', body: ${command('add upstream evil-nocors')} }],
  [${JSON.stringify(`${target}/api/v1/command`)}, { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'content-type': 'application/json' }, body: ${command(`add resp-controller evil-resp address 127.0.0.1:${respPort} password evil`)} }],
  [${JSON.stringify(`${target}/api/v1/module/upstream`)}, { method: 'POST', mode: 'no-cors', credentials: 'include', body: '{"name":"evil-module"}' }],
  [${JSON.stringify(`${target}/api/v1/module/upstream`)}, { method: 'POST', mode: 'cors', credentials: 'include', headers: { 'content-type': 'application/json' }, body: '{"name":"evil-cors"}' }],
  [${JSON.stringify(`${target}/api/v1/module/upstream/keep`)}, { method: 'DELETE', mode: 'cors', credentials: 'include' }],
];
Promise.allSettled(tries.map(([u, o]) => fetch(u, o).then((r) => r.type + ':' + r.status)))
  .then((rs) => {
    window.results = rs.map((r) => r.status === 'fulfilled' ? r.value : 'rejected');
    document.title = 'fetched';
  });
</script></body></html>`;
}

beforeAll(async () => {
  baseline = snapshotSockets();
  dir = mkdtempSync(join(tmpdir(), 'vproxy-csrf-'));
  httpPort = await closedPort();
  respPort = await closedPort();
  daemon = new Daemon(createDefaultRegistry(), {
    configDir: dir,
    loadLast: false,
    save: false,
    stdio: false,
    respController: 'off',
    httpController: `127.0.0.1:${httpPort}`,
    httpToken: 'tok',
    allowRemoteFileCommands: false,
    autoSaveMs: 3_600_000,
    pages: statusPages,
  });
  const log = console.log;
  console.log = () => {};
  try {
    await daemon.start();
  } finally {
    console.log = log;
  }
  await daemon.executor.execute('add upstream keep', 'stdio');
  attacker = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(evilPage(`http://127.0.0.1:${httpPort}`));
  });
  attacker.listen(0, '127.0.0.1');
  await once(attacker, 'listening');
  const a = attacker.address();
  if (a === null || typeof a === 'string') throw new Error('no address');
  attackerPort = a.port;
});

afterAll(async () => {
  attacker.closeAllConnections();
  await new Promise((r) => attacker.close(r));
  await daemon.stop();
  rmSync(dir, { recursive: true, force: true });
  await expectNoLeakedSockets(baseline, 5000);
});

async function listing(line: string): Promise<unknown> {
  const r = await daemon.executor.execute(line, 'stdio');
  return r.kind === 'list' ? r.items : r;
}

/** The REST view, with the bearer token, as an operator would check. */
function restUpstreams(): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = get(
      {
        host: '127.0.0.1',
        port: httpPort,
        path: '/api/v1/module/upstream',
        headers: { authorization: 'Bearer tok' },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString())));
      },
    );
    req.on('error', reject);
  });
}

describe.skipIf(CHROMIUM.missing)(
  `cross-origin writes from a real browser${skipNote(CHROMIUM)}`,
  () => {
    it('a page on another loopback port cannot use the status-page session to write', async () => {
      let browser: Browser | undefined;
      try {
        browser = await launchChromium();
        const context = await browser.newContext();
        const page = await context.newPage();
        const login = await page.goto(`http://127.0.0.1:${httpPort}/?token=tok`);
        expect(login?.status()).toBe(200);
        const cookies = await context.cookies(`http://127.0.0.1:${httpPort}`);
        expect(cookies.map((c) => c.name)).toContain('vproxy_session');
        // The cookie is a derived session value, never the token itself.
        expect(cookies.map((c) => c.value)).not.toContain('tok');
        // The session works for what it is for: the page's own status reads.
        // (Browser-side code as strings: this project's TS has no DOM types.)
        const status = await page.evaluate<number>("fetch('/api/v1/status').then((r) => r.status)");
        expect(status).toBe(200);

        await page.goto(`http://127.0.0.1:${attackerPort}/`);
        await page.waitForFunction("document.title === 'fetched'", undefined, { timeout: 10_000 });
        const results = await page.evaluate<string[]>('window.results');
        // no-cors answers are opaque; the CORS ones fail at the preflight.
        expect(results).toEqual(['opaque:0', 'opaque:0', 'opaque:0', 'rejected', 'rejected']);
        const [answer] = await Promise.all([
          page.waitForResponse((r) => r.url().endsWith('/api/v1/command')),
          page.evaluate("document.getElementById('f').submit()"),
        ]);
        expect([401, 403, 415]).toContain(answer.status());
      } finally {
        await browser?.close();
      }
      expect(await listing('list upstream')).toEqual(['keep']);
      expect(await listing('list resp-controller')).toEqual([]);
      expect(await restUpstreams()).toEqual({ items: [{ name: 'keep' }] });
    });
  },
);
