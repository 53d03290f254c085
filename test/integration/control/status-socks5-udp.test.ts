import { mkdirSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { StoreExecutor } from '../../../src/control/command-executor.js';
import { HttpController } from '../../../src/control/controllers/http-controller.js';
import type {
  ListenerStatus,
  StatusModel,
} from '../../../src/control/observability/status-model.js';
import { StatusPages } from '../../../src/control/observability/status-pages.js';
import { ResourceStore } from '../../../src/control/store.js';
import { quietLogger } from '../../../src/fd/logger.js';
import { Socks5Reply } from '../../../src/protocols/socks5/constants.js';
import { WorkerHost } from '../../../src/workers/host.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { CHROMIUM, launchChromium } from '../../helpers/browser.js';
import { waitFor } from '../../helpers/daemon-processes.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import { skipNote } from '../../helpers/require-tool.js';
import { type Socks5UdpClient, socks5UdpClient } from '../../helpers/socks5-udp-client.js';
import { startUdpEcho, type UdpEcho } from '../../helpers/udp.js';
import { WORKER_ENTRY } from '../workers/fixture.js';

// The status page's socks5 UDP associations (live / max / refused), moved by
// real UDP ASSOCIATE requests: the model GET /api/v1/status answers, and the
// page a headless Chromium renders from it, for a socks5-server in this
// process (s5) and one on a group of two worker processes (w5), whose counts
// are the workers' sums and whose capacity is the per-worker max times two.

/** The listeners table as the test left it, kept for a look (CI artifact). */
const ARTIFACTS = fileURLToPath(new URL('../../../test-artifacts/', import.meta.url));

let baseline: string[];
let echo: UdpEcho;
let store: ResourceStore;
let ex: StoreExecutor;
let pages: StatusPages;
let http: HttpController;
const clients: Socks5UdpClient[] = [];

beforeAll(async () => {
  baseline = snapshotSockets();
  echo = await startUdpEcho('E:');
  store = new ResourceStore(createDefaultRegistry());
  store.workers = new WorkerHost({
    entry: WORKER_ENTRY,
    logLevel: 'error',
    logFormat: 'text',
    logger: quietLogger,
  });
  ex = new StoreExecutor({ store });
  const udp = 'upstream u0 allow-non-backend allow-udp max-associations 1';
  for (const line of [
    'add upstream u0',
    'add event-loop-group g',
    'add event-loop g-0 to event-loop-group g',
    'add event-loop g-1 to event-loop-group g',
    'add tcp-lb lb0 address 127.0.0.1:0 upstream u0',
    `add socks5-server s5 address 127.0.0.1:0 ${udp}`,
    `add socks5-server w5 address 127.0.0.1:0 ${udp} event-loop-group g`,
  ]) {
    expect(await ex.execute(line, 'stdio')).toEqual({ kind: 'done' });
  }
  pages = new StatusPages(store, { version: 'test' });
  http = await HttpController.start({
    name: 'http',
    address: '127.0.0.1:0',
    token: 'tok',
    executor: ex,
    registry: store.registry,
    version: 'test',
    pages: pages.handler,
  });
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  // Every test starts from no live association.
  await waitFor('no association alive', async () => {
    const m = await status();
    return m.listeners.every((l) => (l.udp?.live ?? 0) === 0) ? true : undefined;
  });
});

afterAll(async () => {
  pages.close();
  await http.close();
  await store.close();
  await echo.close();
  await expectNoLeakedSockets(baseline, 4000);
});

function port(name: string): number {
  const lb = store.socks5Servers.get(name)?.lb;
  if (lb === undefined) throw new Error(`no ${name}`);
  return lb.bound().port;
}

/** GET /api/v1/status with the token, as the page polls it. */
function status(): Promise<StatusModel> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: http.address().port,
        path: '/api/v1/status',
        agent: false,
        headers: { authorization: 'Bearer tok' },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve(JSON.parse(body) as StatusModel));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function row(name: string): Promise<ListenerStatus | undefined> {
  return (await status()).listeners.find((l) => l.name === name);
}

/** Poll the model until `name`'s udp numbers include `want`. */
async function udpBecomes(
  name: string,
  want: Partial<NonNullable<ListenerStatus['udp']>>,
): Promise<void> {
  let last: unknown;
  await waitFor(`${name} udp ${JSON.stringify(want)}`, async () => {
    const udp = (await row(name))?.udp;
    last = udp;
    const keys = Object.keys(want) as (keyof typeof want)[];
    return udp !== undefined && keys.every((k) => udp[k] === want[k]) ? true : undefined;
  }).catch((err: Error) => {
    throw new Error(`${err.message}; last ${JSON.stringify(last)}`);
  });
}

/** An association that relays (the echo answers through it). */
async function associate(p: number): Promise<Socks5UdpClient> {
  const c = await socks5UdpClient(p);
  clients.push(c);
  const got = await c.request('127.0.0.1', echo.port, Buffer.from('ping'));
  expect(got?.data.toString()).toBe('E:ping');
  return c;
}

/** The association, or the reply code of its refusal. */
async function tryAssociate(p: number): Promise<Socks5UdpClient | number> {
  try {
    return await associate(p);
  } catch (err) {
    const code = (err as { replyCode?: number }).replyCode;
    if (code === undefined) throw err;
    return code;
  }
}

/** Fill both workers of w5 (max 1 each): associations until two are live; the refusals on the way. */
async function fillWorkers(): Promise<number> {
  let refused = 0;
  let live = 0;
  for (let i = 0; live < 2; i++) {
    if (i > 100) throw new Error('100 tries did not reach both workers');
    const r = await tryAssociate(port('w5'));
    if (typeof r === 'number') {
      expect(r).toBe(Socks5Reply.NOT_ALLOWED);
      refused++;
    } else {
      live++;
    }
  }
  return refused;
}

describe('status model: socks5 UDP associations', () => {
  it('one process: live, max and refused move with real associations; other listeners have none', async () => {
    expect((await row('lb0'))?.udp).toBeUndefined();
    const before = (await row('s5'))?.udp?.refused ?? 0;
    await udpBecomes('s5', { allowed: true, live: 0, max: 1, capacity: 1 });
    const a = await associate(port('s5'));
    await udpBecomes('s5', { live: 1, refused: before });
    expect(await tryAssociate(port('s5'))).toBe(Socks5Reply.NOT_ALLOWED);
    await udpBecomes('s5', { live: 1, refused: before + 1 });
    expect(
      await ex.execute('update socks5-server s5 max-associations 3 deny-udp', 'stdio'),
    ).toEqual({ kind: 'done' });
    await udpBecomes('s5', { allowed: false, live: 1, max: 3, capacity: 3 });
    expect(
      await ex.execute('update socks5-server s5 max-associations 1 allow-udp', 'stdio'),
    ).toEqual({ kind: 'done' });
    await a.close();
    await udpBecomes('s5', { allowed: true, live: 0, max: 1 });
  });

  it('two worker processes: the sums of both, capacity = max x 2', async () => {
    const before = (await row('w5'))?.udp?.refused ?? 0;
    await udpBecomes('w5', { live: 0, max: 1, capacity: 2 });
    const refusedOnTheWay = await fillWorkers();
    await udpBecomes('w5', { live: 2, refused: before + refusedOnTheWay });
    // Both workers are at their max: the next one is refused whichever takes it.
    expect(await tryAssociate(port('w5'))).toBe(Socks5Reply.NOT_ALLOWED);
    await udpBecomes('w5', { live: 2, refused: before + refusedOnTheWay + 1 });
  });
});

describe('status page in Chromium: socks5 UDP associations', () => {
  it.skipIf(CHROMIUM.missing)(
    `the listener rows show live / max / refused and follow them live${skipNote(CHROMIUM)}`,
    async () => {
      let browser: Browser | undefined;
      try {
        browser = await launchChromium();
        const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
        let navigations = 0;
        page.on('framenavigated', (f) => {
          if (f === page.mainFrame()) navigations++;
        });
        const response = await page.goto(`http://127.0.0.1:${http.address().port}/?token=tok`);
        expect(response?.status()).toBe(200);
        const loaded = navigations;
        const udpText = (name: string) =>
          page
            .locator(`[data-listener="socks5-server/${name}"] [data-udp-live]`)
            .textContent({ timeout: 2000 })
            .catch(() => null);
        const shows = (name: string, re: RegExp) =>
          waitFor(
            `${name} row ${re}`,
            async () => (re.test((await udpText(name)) ?? '') ? true : undefined),
            10_000,
          );
        const s5Refused = (await row('s5'))?.udp?.refused ?? 0;
        await shows('s5', new RegExp(`^UDP associations 0 / 1 · ${s5Refused} refused$`));
        await shows('w5', /^UDP associations 0 \/ 2 \(1 per worker\) · \d+ refused$/);
        expect(await page.locator('[data-listener="tcp-lb/lb0"] [data-udp-live]').count()).toBe(0);

        await associate(port('s5'));
        await shows('s5', new RegExp(`^UDP associations 1 / 1 · ${s5Refused} refused$`));
        expect(await tryAssociate(port('s5'))).toBe(Socks5Reply.NOT_ALLOWED);
        await shows('s5', new RegExp(`^UDP associations 1 / 1 · ${s5Refused + 1} refused$`));

        const w5Refused = ((await row('w5'))?.udp?.refused ?? 0) + (await fillWorkers());
        await shows(
          'w5',
          new RegExp(`^UDP associations 2 / 2 \\(1 per worker\\) · ${w5Refused} refused$`),
        );
        expect(navigations).toBe(loaded); // updated in place by the poll, never reloaded
        mkdirSync(ARTIFACTS, { recursive: true });
        await page
          .locator('#listeners')
          .screenshot({ path: join(ARTIFACTS, 'status-socks5-udp.png') });
      } finally {
        await browser?.close();
      }
    },
    60_000,
  );
});
