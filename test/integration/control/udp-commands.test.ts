import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { StoreExecutor } from '../../../src/control/command-executor.js';
import { checkLoadable, configLines } from '../../../src/control/config.js';
import type { CommandResult } from '../../../src/control/executor.js';
import { StoreMetrics } from '../../../src/control/observability/metrics.js';
import { buildStatus } from '../../../src/control/observability/status-model.js';
import { ThroughputSampler } from '../../../src/control/observability/throughput.js';
import { ResourceStore } from '../../../src/control/store.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import {
  closeSocket,
  startUdpEcho,
  type UdpEcho,
  udpClient,
  udpRequest,
} from '../../helpers/udp.js';
import { firstServerUp } from './server-up.js';

// udp-lb and the socks5 allow-udp flag through the executor: add, list-detail,
// update, the saved config (and that it loads again), usage checks, remove.

let baseline: string[];
let echo: UdpEcho;
const stores: ResourceStore[] = [];

beforeAll(async () => {
  baseline = snapshotSockets();
  echo = await startUdpEcho('E:');
});
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});
afterAll(async () => {
  await echo.close();
  await expectNoLeakedSockets(baseline);
});

function daemon(): StoreExecutor {
  const store = new ResourceStore(createDefaultRegistry());
  stores.push(store);
  return new StoreExecutor({ store });
}

function items(r: CommandResult): readonly unknown[] {
  if (r.kind !== 'list') throw new Error(`expected a list, got ${r.kind}`);
  return r.items;
}

async function setup(ex: StoreExecutor): Promise<void> {
  for (const line of [
    'add server-group g0 timeout 3000 period 200 up 1 down 2 check udp:00',
    `add server s0 to server-group g0 address udp://127.0.0.1:${echo.port} weight 10`,
    'add upstream u0',
    'add server-group g0 to upstream u0 weight 10',
    'add security-group sg0 default allow',
  ]) {
    await ex.execute(line, 'stdio');
  }
}

describe('udp-lb commands', () => {
  it('add, list-detail, traffic, update, saved config, usage checks, remove', async () => {
    const ex = daemon();
    await setup(ex);
    await ex.execute(
      'add udp-lb dns address udp://127.0.0.1:0 upstream u0 timeout 30000 max-flows 100 security-group sg0',
      'stdio',
    );
    expect(items(await ex.execute('list udp-lb', 'stdio'))).toEqual(['dns']);
    const [detail] = items(await ex.execute('list-detail udp-lb', 'stdio'));
    expect(String(detail)).toMatch(
      /^dns -> bind 127\.0\.0\.1:(\d+) address udp:\/\/127\.0\.0\.1:0 backends u0 timeout 30000 max-flows 100 security-group sg0 flows 0 refused 0$/,
    );
    const port = Number(/bind 127\.0\.0\.1:(\d+)/.exec(String(detail))?.[1]);
    // The udp check brings the server UP; then one datagram goes through. One, with
    // seconds to answer: a retry after a 200 ms wait could follow an answer that was only
    // late (a loaded machine) and make the counts below 2.
    await firstServerUp(ex, 'g0');
    const client = await udpClient();
    const answer = await udpRequest(client, port, 'q', 5000);
    await closeSocket(client);
    expect(answer?.toString()).toBe('E:q');
    // /metrics has its own udp-lb series; the status model lists it as a listener.
    const metrics = await new StoreMetrics(stores[0] as ResourceStore, 'test').metrics();
    expect(metrics).toContain('vproxy_udp_lb_flows{listener="dns"} 1');
    expect(metrics).toContain('vproxy_udp_lb_datagrams_in_total{listener="dns"} 1');
    expect(metrics).toMatch(/vproxy_udp_lb_bytes_out_total\{listener="dns"\} 3\b/);
    const sampler = new ThroughputSampler(stores[0] as ResourceStore);
    const status = buildStatus(stores[0] as ResourceStore, sampler, { version: 'test' });
    sampler.close();
    expect(status.listeners.find((l) => l.name === 'dns')).toMatchObject({
      type: 'udp-lb',
      upstream: 'u0',
      activeSessions: 1,
      accepted: 1,
      bytesIn: 1,
    });

    await ex.execute('update udp-lb dns max-flows 7 timeout 1000', 'stdio');
    const lines = configLines(stores[0] as ResourceStore);
    expect(lines).toContain(
      'add udp-lb dns address udp://127.0.0.1:0 upstream u0 timeout 1000 max-flows 7 security-group sg0',
    );
    expect(lines).toContain(
      'add server-group g0 timeout 3000 period 200 up 1 down 2 method wrr check udp:00 event-loop-group (control-elg)',
    );
    checkLoadable(lines, '(saved)');

    await expect(ex.execute('remove upstream u0', 'stdio')).rejects.toThrow(
      /upstream u0 is used by udp-lb dns/,
    );
    await expect(ex.execute('remove security-group sg0', 'stdio')).rejects.toThrow(
      /security-group sg0 is used by udp-lb dns/,
    );
    await ex.execute('remove udp-lb dns', 'stdio');
    expect(items(await ex.execute('list udp-lb', 'stdio'))).toEqual([]);
    await ex.execute('remove upstream u0', 'stdio');
  });

  it('the saved config loads into a fresh daemon and says the same', async () => {
    const a = daemon();
    await setup(a);
    await a.execute('add udp-lb dns address udp://127.0.0.1:0 upstream u0', 'stdio');
    await a.execute('add socks5-server s5 address 127.0.0.1:0 upstream u0 allow-udp', 'stdio');
    const lines = configLines(stores[0] as ResourceStore);
    expect(lines.find((l) => l.startsWith('add socks5-server'))).toMatch(/ allow-udp$/);
    const b = daemon();
    for (const line of lines.slice(1)) await b.execute(line, 'stdio');
    expect(configLines(stores[1] as ResourceStore)).toEqual(lines);
    const [s5] = items(await b.execute('list-detail socks5-server', 'stdio'));
    expect(String(s5)).toMatch(/ allow-udp$/);
    await b.execute('update socks5-server s5 deny-udp', 'stdio');
    expect(
      configLines(stores[1] as ResourceStore).find((l) => l.startsWith('add socks5-server')),
    ).not.toMatch(/allow-udp/);
  });

  it('refuses a non-udp address and bad values', async () => {
    const ex = daemon();
    await setup(ex);
    await expect(
      ex.execute('add udp-lb x address tcp://127.0.0.1:0 upstream u0', 'stdio'),
    ).rejects.toThrow(/udp:\/\//);
    await expect(
      ex.execute('add udp-lb x address udp://127.0.0.1:0 upstream u0 max-flows 0', 'stdio'),
    ).rejects.toThrow(/max-flows/);
    await expect(
      ex.execute('add socks5-server s address 127.0.0.1:0 upstream u0 allow-udp deny-udp', 'stdio'),
    ).rejects.toThrow(/both allow-udp and deny-udp/);
  });
});
