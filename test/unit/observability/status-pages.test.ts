import { request } from 'node:http';
import type { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpController } from '../../../src/control/controllers/http-controller.js';
import { buildStatus, type StatusModel } from '../../../src/control/observability/status-model.js';
import {
  STATUS_OPENAPI_PATHS,
  StatusPages,
} from '../../../src/control/observability/status-pages.js';
import { ServerGroup } from '../../../src/lb/server-group.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import { closedPort, startEchoServer, stopServer } from '../../helpers/net.js';
import { parsePromText, sampleValue } from '../../helpers/prom-text.js';
import { echoThrough, type Fixture, startFixture, until } from './fixture.js';

// The status model and the pages through a real HTTP controller: what the
// model says about a running store, how the routes answer, and who may ask.

let baseline: string[];
let echo: Awaited<ReturnType<typeof startEchoServer>>;
let fixture: Fixture;
let pages: StatusPages;
let controller: HttpController;
let base: string;

beforeAll(async () => {
  baseline = snapshotSockets();
  echo = await startEchoServer();
  fixture = await startFixture(echo.port, await closedPort());
  pages = new StatusPages(fixture.store, { version: '7.7.7' });
  controller = await HttpController.start({
    name: 'http',
    address: '127.0.0.1:0',
    token: 'tok',
    executor: fixture.executor,
    registry: fixture.store.registry,
    version: '7.7.7',
    pages: pages.handler,
  });
  base = `http://127.0.0.1:${controller.address().port}`;
});

afterAll(async () => {
  pages.close();
  await controller.close();
  await fixture.close();
  await stopServer(echo.server, echo.sockets);
  await expectNoLeakedSockets(baseline);
});

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request on its own connection (no keep-alive pool to leak). */
function fetchText(path: string, init: { method?: string; headers?: Record<string, string> } = {}) {
  return new Promise<Reply>((resolve, reject) => {
    const req = request(
      `${base}${path}`,
      { method: init.method ?? 'GET', headers: init.headers ?? {}, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

const AUTH = { authorization: 'Bearer tok' };

async function status(): Promise<StatusModel> {
  const r = await fetchText('/api/v1/status', { headers: AUTH });
  expect(r.status).toBe(200);
  expect(r.headers['content-type']).toBe('application/json');
  return JSON.parse(r.body) as StatusModel;
}

describe('status model', () => {
  it('shows listeners, upstreams and server groups with UP/DOWN and weights', async () => {
    await echoThrough(fixture.store, fixture.lbPort, 4096);
    const lb = fixture.store.tcpLbs.get('lb0')?.lb;
    await until(() => lb?.stats().active === 0);
    const m = await status();
    expect(m.version).toBe('7.7.7');
    expect(m.listeners).toEqual([
      expect.objectContaining({
        name: 'lb0',
        address: '127.0.0.1:0',
        bound: `127.0.0.1:${fixture.lbPort}`,
        upstream: 'ups0',
        securityGroup: '(allow-all)',
        activeSessions: 0,
        accepted: 1,
        bytesIn: 4096,
        bytesOut: 4096,
      }),
    ]);
    expect(m.upstreams).toEqual([
      {
        name: 'ups0',
        available: true,
        groups: [
          { name: 'sg0', weight: 10, isDefault: false, hosts: [], serversUp: 1, serversTotal: 2 },
        ],
      },
    ]);
    const [group] = m.serverGroups;
    expect(group).toMatchObject({
      name: 'sg0',
      method: 'wrr',
      check: 'tcp',
      periodMs: 100,
      up: 1,
      down: 1,
      serversUp: 1,
    });
    expect(group?.servers.map((s) => [s.name, s.state, s.weight])).toEqual([
      ['s-up', 'UP', 10],
      ['s-down', 'DOWN', 5],
    ]);
    expect(group?.servers[0]).toMatchObject({ totalConnections: 1, bytesIn: 4096, bytesOut: 4096 });
    expect(group?.servers[0]?.lastLatencyMs).toBeGreaterThan(0);
    expect(group?.servers[1]?.lastError).toEqual(expect.any(String));
    expect(m.summary).toMatchObject({ listeners: 1, serversUp: 1, serversTotal: 2, accepted: 1 });
    expect(m.throughput).toMatchObject({ intervalMs: 1000, windowMs: 300_000 });
  });

  it('lists the newest sessions first, up to the limit, with the total', async () => {
    const clients: Duplex[] = [];
    try {
      for (let i = 0; i < 5; i++) {
        const c = await fixture.store.registry.connect(`127.0.0.1:${fixture.lbPort}`);
        clients.push(c);
        c.write('x'.repeat(i + 1));
        await new Promise((r) => c.once('data', r)); // established: the echo came back
      }
      const m = buildStatus(fixture.store, pages.throughput, { version: '1', recentSessions: 3 });
      expect(m.sessions.total).toBe(5);
      expect(m.summary.activeSessions).toBe(5);
      // Newest first: the last three connections, which sent 5, 4 and 3 bytes.
      expect(m.sessions.recent.map((s) => s.bytesFromClient)).toEqual([5, 4, 3]);
      for (const s of m.sessions.recent) {
        expect(s).toMatchObject({ listener: 'lb0', state: 'established' });
        expect(s.target).toBe(`tcp://127.0.0.1:${echo.port}`);
        expect(s.client).toMatch(/^127\.0\.0\.1:\d+$/);
        expect(s.ageMs).toBeGreaterThanOrEqual(0);
      }
      expect((await status()).sessions.recent).toHaveLength(5);
    } finally {
      for (const c of clients) c.destroy();
    }
  });

  it('a server group with an unusual name is reported verbatim', async () => {
    const name = '</script><img/src=x/onerror=alert(1)>';
    const group = new ServerGroup({
      name,
      healthCheck: { timeoutMs: 100, periodMs: 100, up: 1, down: 1, check: { kind: 'none' } },
    });
    fixture.store.serverGroups.set(name, { group, check: 'none', elg: '(control-elg)' });
    try {
      group.add('"quoted"', '127.0.0.1:9', 1);
      const page = await fetchText('/', { headers: AUTH });
      expect(page.body).not.toContain('<img/src=x');
      const m = await status();
      expect(m.serverGroups.map((g) => g.name)).toContain(name);
    } finally {
      fixture.store.serverGroups.delete(name);
      await group.close();
    }
  });
});

describe('status routes', () => {
  it('GET / and /status serve the page with its model, a nonce CSP and no caching', async () => {
    for (const path of ['/', '/status']) {
      const r = await fetchText(path, { headers: AUTH });
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(r.headers['cache-control']).toBe('no-store');
      expect(r.headers['x-content-type-options']).toBe('nosniff');
      const nonce = /script-src 'nonce-([^']+)'/.exec(
        String(r.headers['content-security-policy']),
      )?.[1];
      expect(nonce).toBeDefined();
      expect(r.body).toContain(`<script nonce="${nonce}">`);
      expect(r.body).toContain('"name":"lb0"');
    }
    const [a, b] = await Promise.all([
      fetchText('/', { headers: AUTH }),
      fetchText('/', { headers: AUTH }),
    ]);
    expect(a.headers['content-security-policy']).not.toBe(b.headers['content-security-policy']);
  });

  it('GET /metrics answers Prometheus text', async () => {
    const r = await fetchText('/metrics', { headers: AUTH });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const m = parsePromText(r.body);
    expect(
      sampleValue(m, 'vproxy_listener_accepted_connections_total', { listener: 'lb0' }),
    ).toBeGreaterThan(0);
    expect(sampleValue(m, 'vproxy_info', { version: '7.7.7' })).toBe(1);
  });

  it('needs the token (bearer or the cookie /?token= sets); other methods get 405', async () => {
    for (const path of ['/', '/status', '/api/v1/status', '/metrics']) {
      expect((await fetchText(path)).status).toBe(401);
      expect((await fetchText(path, { headers: { authorization: 'Bearer nope' } })).status).toBe(
        401,
      );
      expect((await fetchText(path, { method: 'POST', headers: AUTH })).status).toBe(405);
    }
    const login = await fetchText('/?token=tok');
    expect(login.status).toBe(303);
    const cookie = String(login.headers['set-cookie']).split(';')[0] ?? '';
    expect((await fetchText('/metrics', { headers: { cookie } })).status).toBe(200);
    expect((await fetchText('/nothing-here', { headers: AUTH })).status).toBe(404);
    const head = await fetchText('/api/v1/status', { method: 'HEAD', headers: AUTH });
    expect(head).toMatchObject({ status: 200, body: '' });
  });

  it('reading the status keeps the sampler running; close() stops it', () => {
    const own = new StatusPages(fixture.store, { throughput: { startNow: false } });
    expect(own.throughput.sampling).toBe(false);
    own.status();
    expect(own.throughput.sampling).toBe(true);
    own.close();
    expect(own.throughput.sampling).toBe(false);
  });
});

describe('STATUS_OPENAPI_PATHS', () => {
  it('describes every route the pages serve', () => {
    expect(Object.keys(STATUS_OPENAPI_PATHS).sort()).toEqual(
      ['/', '/api/v1/status', '/metrics', '/status'].sort(),
    );
  });
});
