import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { StoreExecutor } from '../../../src/control/command-executor.js';
import { configLines } from '../../../src/control/config.js';
import { HttpController } from '../../../src/control/controllers/http-controller.js';
import type { Socks5ServerDetail } from '../../../src/control/details/records.js';
import { StoreMetrics } from '../../../src/control/observability/metrics.js';
import { ResourceStore } from '../../../src/control/store.js';
import { quietLogger } from '../../../src/fd/logger.js';
import { Socks5Reply } from '../../../src/protocols/socks5/constants.js';
import { WorkerHost } from '../../../src/workers/host.js';
import { WorkerSocks5Server } from '../../../src/workers/worker-socks5.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { waitFor } from '../../helpers/daemon-processes.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import { type Socks5UdpClient, socks5UdpClient } from '../../helpers/socks5-udp-client.js';
import { startUdpEcho, type UdpEcho } from '../../helpers/udp.js';
import { WORKER_ENTRY } from '../workers/fixture.js';

// max-associations and udp-timeout of a socks5-server through the command
// language, as a daemon runs them: the bound refuses the next UDP ASSOCIATE
// with NOT_ALLOWED and counts it (list-detail, /metrics), `update` moves it
// (in this process and in a worker process), the idle timeout closes new
// associations, `save` / `load` keep both, and REST takes them as JSON.

let baseline: string[];
let echo: UdpEcho;
let dir: string;
const stores: ResourceStore[] = [];
const clients: Socks5UdpClient[] = [];

beforeAll(async () => {
  baseline = snapshotSockets();
  echo = await startUdpEcho('E:');
  dir = mkdtempSync(join(tmpdir(), 'vproxy-s5-assoc-'));
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  for (const s of stores.splice(0)) await s.close();
});
afterAll(async () => {
  await echo.close();
  rmSync(dir, { recursive: true, force: true });
  await expectNoLeakedSockets(baseline, 4000);
});

interface Daemon {
  readonly store: ResourceStore;
  readonly ex: StoreExecutor;
  readonly metrics: StoreMetrics;
  run(line: string): Promise<void>;
}

/** A control plane; with `workers`, a group `g` of one worker process. */
async function daemon(workers = false): Promise<Daemon> {
  const store = new ResourceStore(createDefaultRegistry());
  stores.push(store);
  const ex = new StoreExecutor({ store });
  const run = async (line: string) => {
    expect(await ex.execute(line, 'stdio')).toEqual({ kind: 'done' });
  };
  await run('add upstream u0');
  if (workers) {
    store.workers = new WorkerHost({
      entry: WORKER_ENTRY,
      logLevel: 'error',
      logFormat: 'text',
      logger: quietLogger,
    });
    await run('add event-loop-group g');
    await run('add event-loop g-0 to event-loop-group g');
  }
  return { store, ex, metrics: new StoreMetrics(store, 'test'), run };
}

function s5Port(d: Daemon): number {
  const lb = d.store.socks5Servers.get('s5')?.lb;
  if (lb === undefined) throw new Error('no s5');
  return lb.bound().port;
}

async function associate(port: number): Promise<Socks5UdpClient> {
  const c = await socks5UdpClient(port);
  clients.push(c);
  return c;
}

/** The reply code a refused UDP ASSOCIATE got. */
async function refusal(port: number): Promise<number> {
  const err = (await socks5UdpClient(port).then(
    async (c) => {
      await c.close();
      throw new Error('the association was accepted');
    },
    (e: unknown) => e,
  )) as { replyCode?: number };
  return err.replyCode ?? -1;
}

/** A datagram goes out through the association and the echo's answer comes back. */
async function relays(c: Socks5UdpClient): Promise<void> {
  const got = await c.request('127.0.0.1', echo.port, Buffer.from('ping'));
  expect(got?.data.toString()).toBe('E:ping');
}

async function detail(d: Daemon): Promise<{ record: Socks5ServerDetail; text: string }> {
  const r = await d.ex.execute('list-detail socks5-server', 'stdio');
  if (r.kind !== 'list' || r.details?.kind !== 'socks5-server') throw new Error('no records');
  return { record: r.details.records[0] as Socks5ServerDetail, text: String(r.items[0]) };
}

async function series(d: Daemon, name: string): Promise<number> {
  const line = (await d.metrics.metrics())
    .split('\n')
    .find((l) => l.startsWith(`${name}{listener="s5"}`));
  return Number(line?.split(' ').at(-1));
}

const refusedTotal = (d: Daemon) => series(d, 'vproxy_socks5_udp_associations_refused_total');
const capacity = (d: Daemon) => series(d, 'vproxy_socks5_udp_associations_capacity');

/** Poll list-detail until the live associations are `n` (relays close asynchronously). */
async function liveBecomes(d: Daemon, n: number, ms?: number): Promise<void> {
  await waitFor(
    `${n} associations`,
    async () => ((await detail(d)).record['udp-associations'] === n ? true : undefined),
    ms,
  );
}

/** max-associations 1 refuses the second, update … 2 lets it through, the third is refused. */
async function boundAndUpdate(d: Daemon, extra = ''): Promise<void> {
  await d.run(
    'add socks5-server s5 address 127.0.0.1:0 upstream u0 allow-non-backend allow-udp' +
      ` max-associations 1${extra}`,
  );
  const port = s5Port(d);
  const first = await associate(port);
  await relays(first);
  expect(await refusal(port)).toBe(Socks5Reply.NOT_ALLOWED);
  await liveBecomes(d, 1);
  let { record, text } = await detail(d);
  expect(record).toMatchObject({
    'max-associations': 1,
    'udp-timeout': 60000,
    'udp-associations': 1,
    'udp-associations-refused': 1,
  });
  expect(text).toMatch(/ max-associations 1 udp-timeout 60000 allow-udp$/);
  expect(await refusedTotal(d)).toBe(1);
  expect(await capacity(d)).toBe(1); // one process, or a group of one worker

  await d.run('update socks5-server s5 max-associations 2');
  const second = await associate(port);
  await relays(second);
  await relays(first);
  expect(await refusal(port)).toBe(Socks5Reply.NOT_ALLOWED);
  await liveBecomes(d, 2);
  ({ record, text } = await detail(d));
  expect(record).toMatchObject({ 'max-associations': 2, 'udp-associations-refused': 2 });
  expect(text).toContain(' max-associations 2 ');
  expect(await refusedTotal(d)).toBe(2);
  expect(await capacity(d)).toBe(2);

  // A lower bound cuts no live association; it refuses until enough have closed.
  await d.run('update socks5-server s5 max-associations 1');
  await relays(first);
  await relays(second);
  expect(await refusal(port)).toBe(Socks5Reply.NOT_ALLOWED);
  await second.close();
  await liveBecomes(d, 1);
  expect(await refusal(port)).toBe(Socks5Reply.NOT_ALLOWED);
  await first.close();
  await liveBecomes(d, 0);
  await relays(await associate(port));
}

/** udp-timeout applies to associations made from then on: a new one idles out, an old one stays. */
async function idleTimeout(d: Daemon): Promise<void> {
  await d.run('update socks5-server s5 max-associations 10');
  const old = await associate(s5Port(d));
  await d.run('update socks5-server s5 udp-timeout 1000');
  expect((await detail(d)).record['udp-timeout']).toBe(1000);
  const before = (await detail(d)).record['udp-associations'] ?? 0;
  const idle = await associate(s5Port(d));
  await relays(idle);
  await liveBecomes(d, before + 1);
  // Expiry samples once per timeout: gone within two of them, the 60 s one is still alive.
  await liveBecomes(d, before, 10_000);
  await relays(old);
}

describe('socks5-server max-associations and udp-timeout', () => {
  it('in this process: the bound refuses with NOT_ALLOWED and counts it; update moves it', async () => {
    const d = await daemon();
    await boundAndUpdate(d);
    await idleTimeout(d);
  });

  it('on a worker process: the bound and its updates reach the worker', async () => {
    const d = await daemon(true);
    await boundAndUpdate(d, ' event-loop-group g');
    const lb = d.store.socks5Servers.get('s5')?.lb;
    expect(lb).toBeInstanceOf(WorkerSocks5Server);
    const [worker] = (lb as WorkerSocks5Server).workers();
    expect(worker?.pid).toEqual(expect.any(Number));
    expect(worker?.pid).not.toBe(process.pid);
    await idleTimeout(d);
  });

  it('save / load keep both; the loaded server applies them', async () => {
    const a = await daemon();
    await a.run(
      'add socks5-server s5 address 127.0.0.1:0 upstream u0 allow-udp allow-non-backend' +
        ' max-associations 7 udp-timeout 5000',
    );
    await a.run('update socks5-server s5 max-associations 1 udp-timeout 2500');
    const file = join(dir, 'saved.conf');
    await a.run(`save ${file}`);
    const saved = readFileSync(file, 'utf8');
    expect(saved).toMatch(
      /^add socks5-server s5 .* max-associations 1 udp-timeout 2500 .*allow-udp$/m,
    );
    const b = await daemon();
    await b.run('remove upstream u0'); // the file adds it
    expect(await b.ex.execute(`load ${file}`, 'stdio')).toMatchObject({ kind: 'number' });
    expect(configLines(b.store).slice(1)).toEqual(configLines(a.store).slice(1));
    const { record } = await detail(b);
    expect(record).toMatchObject({ 'max-associations': 1, 'udp-timeout': 2500 });
    const port = s5Port(b);
    await relays(await associate(port));
    expect(await refusal(port)).toBe(Socks5Reply.NOT_ALLOWED);
  });

  it('refuses a bound that is not a whole number in 1..65535, naming it, and changes nothing', async () => {
    const d = await daemon();
    await d.run('add socks5-server s5 address 127.0.0.1:0 upstream u0 max-associations 3');
    for (const bad of ['0', '65536', '-1', '2.5', 'many', '99999999999']) {
      await expect(
        d.ex.execute(`update socks5-server s5 max-associations ${bad}`, 'stdio'),
      ).rejects.toMatchObject({
        code: 'ERR_COMMAND_INVALID',
        message: expect.stringMatching(/max-associations.*1\.\.65535/),
      });
    }
    await expect(d.ex.execute('update socks5-server s5 udp-timeout 999', 'stdio')).rejects.toThrow(
      /udp-timeout 999: expected a whole number in 1000\.\./,
    );
    await expect(d.ex.execute('update tcp-lb s5 max-associations 3', 'stdio')).rejects.toThrow(
      /max-associations is not a valid param when updating tcp-lb/,
    );
    expect((await detail(d)).record['max-associations']).toBe(3);
  });

  it('REST: POST and PUT take them as JSON numbers, GET answers them, a bad one is a 400', async () => {
    const d = await daemon();
    const http = await HttpController.start({
      name: 'http',
      address: '127.0.0.1:0',
      token: 'tok',
      executor: d.ex,
      registry: d.store.registry,
      version: 'test',
    });
    try {
      const port = http.address().port;
      const base = '/api/v1/module/socks5-server';
      const created = await call(port, 'POST', base, {
        name: 's5',
        address: '127.0.0.1:0',
        upstream: 'u0',
        'allow-udp': true,
        'max-associations': 4,
        'udp-timeout': 3000,
      });
      expect(created.status).toBe(201);
      const got = await call(port, 'GET', `${base}/s5`);
      expect(JSON.parse(got.body).item).toMatchObject({
        'max-associations': 4,
        'udp-timeout': 3000,
        'udp-associations': 0,
      });
      expect((await call(port, 'PUT', `${base}/s5`, { 'max-associations': 9 })).status).toBe(204);
      expect(d.store.socks5Servers.get('s5')?.lb.maxAssociations).toBe(9);
      const bad = await call(port, 'PUT', `${base}/s5`, { 'max-associations': 0 });
      expect(bad.status).toBe(400);
      expect(bad.body).toMatch(/max-associations 0: expected a whole number in 1\.\.65535/);
      expect(d.store.socks5Servers.get('s5')?.lb.maxAssociations).toBe(9);
    } finally {
      await http.close();
    }
  });
});

/** One REST request on its own connection. */
function call(
  port: number,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent: false,
        headers: {
          authorization: 'Bearer tok',
          ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}
