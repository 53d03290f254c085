import fc from 'fast-check';
import { register as globalRegister } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreMetrics } from '../../../src/control/observability/metrics.js';
import { ResourceStore } from '../../../src/control/store.js';
import type { HealthCheckStats } from '../../../src/lb/health-check-client.js';
import type { Server } from '../../../src/lb/server.js';
import { ServerGroup } from '../../../src/lb/server-group.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import { closedPort, startEchoServer, stopServer } from '../../helpers/net.js';
import { findSamples, parsePromText, sampleValue } from '../../helpers/prom-text.js';
import { echoThrough, type Fixture, server, startFixture, until } from './fixture.js';

// /metrics as Prometheus sees it: scrape, parse, and compare with what went through.

let baseline: string[];
let echo: Awaited<ReturnType<typeof startEchoServer>>;
let fixture: Fixture;

beforeAll(async () => {
  baseline = snapshotSockets();
  echo = await startEchoServer();
  fixture = await startFixture(echo.port, await closedPort());
});

afterAll(async () => {
  await fixture.close();
  await stopServer(echo.server, echo.sockets);
  await expectNoLeakedSockets(baseline);
});

async function scrape(metrics: StoreMetrics) {
  return parsePromText(await metrics.metrics());
}

/** A scrape and the server's health stats, taken while none of its probes ended. */
async function scrapeBetweenProbes(
  s: Server,
): Promise<{ scraped: Awaited<ReturnType<typeof scrape>>; health: HealthCheckStats }> {
  const metrics = new StoreMetrics(fixture.store, '1');
  for (let i = 0; i < 100; i++) {
    const before = s.health.stats();
    const scraped = await scrape(metrics);
    const health = s.health.stats();
    if (health.checks === before.checks) return { scraped, health };
  }
  throw new Error(`a probe of ${s.name} ended during each of 100 scrapes`);
}

describe('StoreMetrics', () => {
  it('reports listener totals as counters and the open sessions as a gauge', async () => {
    const metrics = new StoreMetrics(fixture.store, '9.9.9');
    await echoThrough(fixture.store, fixture.lbPort, 100_000);
    await echoThrough(fixture.store, fixture.lbPort, 23_456);
    const lb = fixture.store.tcpLbs.get('lb0')?.lb;
    await until(() => lb?.stats().active === 0);
    const m = await scrape(metrics);
    const l = { type: 'tcp-lb', listener: 'lb0' };
    expect(sampleValue(m, 'vproxy_listener_accepted_connections_total', l)).toBe(2);
    expect(sampleValue(m, 'vproxy_listener_active_sessions', l)).toBe(0);
    expect(sampleValue(m, 'vproxy_listener_bytes_in_total', l)).toBe(123_456);
    expect(sampleValue(m, 'vproxy_listener_bytes_out_total', l)).toBe(123_456);
    for (const name of [
      'connect_failures',
      'refused',
      'idle_timeouts',
      'fin_timeouts',
      'redispatches',
      'no_backend',
      'errors',
    ])
      expect(sampleValue(m, `vproxy_listener_${name}_total`, l)).toBe(0);
    expect(sampleValue(m, 'vproxy_info', { version: '9.9.9' })).toBe(1);
  });

  it('gives every metric the right type: _total counters, the rest gauges', async () => {
    const m = await scrape(new StoreMetrics(fixture.store, '1'));
    const ours = [...m.types].filter(([name]) => name.startsWith('vproxy_'));
    expect(ours.length).toBeGreaterThanOrEqual(20);
    for (const [name, type] of ours) {
      expect(type, name).toBe(name.endsWith('_total') ? 'counter' : 'gauge');
      expect(m.help.get(name)?.length, name).toBeGreaterThan(5);
    }
  });

  it('reports each server with health state, weight, traffic and check latency', async () => {
    const m = await scrape(new StoreMetrics(fixture.store, '1'));
    const up = server(fixture.store, 's-up');
    const down = server(fixture.store, 's-down');
    const upLabels = { group: 'sg0', server: 's-up', address: up.addressText };
    const downLabels = { group: 'sg0', server: 's-down', address: down.addressText };
    expect(sampleValue(m, 'vproxy_server_up', upLabels)).toBe(1);
    expect(sampleValue(m, 'vproxy_server_up', downLabels)).toBe(0);
    expect(sampleValue(m, 'vproxy_server_weight', upLabels)).toBe(10);
    expect(sampleValue(m, 'vproxy_server_weight', downLabels)).toBe(5);
    // The echo backend carried both sessions of the first test.
    expect(sampleValue(m, 'vproxy_server_connections_total', upLabels)).toBe(2);
    expect(sampleValue(m, 'vproxy_server_bytes_in_total', upLabels)).toBe(123_456);
    expect(sampleValue(m, 'vproxy_server_bytes_out_total', upLabels)).toBe(123_456);
    expect(sampleValue(m, 'vproxy_server_active_connections', upLabels)).toBe(0);
    expect(sampleValue(m, 'vproxy_server_redispatches_total', upLabels)).toBe(0);
    expect(sampleValue(m, 'vproxy_server_health_checks_total', upLabels)).toBeGreaterThan(0);
    expect(sampleValue(m, 'vproxy_server_health_check_failures_total', downLabels)).toBeGreaterThan(
      0,
    );
    // Seconds, not ms: exactly the latencies the health check measured, / 1000 (a bound
    // on the value would be a bound on the wall clock). Probes run every 100 ms: compare
    // from a scrape no probe ended during, so both sides saw the same probes.
    const { scraped, health } = await scrapeBetweenProbes(up);
    const last = sampleValue(scraped, 'vproxy_server_health_check_latency_seconds', upLabels);
    const mean = sampleValue(scraped, 'vproxy_server_health_check_latency_mean_seconds', upLabels);
    expect(last).toBeGreaterThan(0);
    expect(last).toBeCloseTo((health.lastLatencyMs ?? Number.NaN) / 1000, 9);
    expect(mean).toBeCloseTo((health.avgLatencyMs ?? Number.NaN) / 1000, 9);
    // No successful probe yet: no latency series rather than a made-up 0.
    expect(findSamples(m, 'vproxy_server_health_check_latency_seconds', downLabels)).toEqual([]);
  });

  it('follows the store: counters never go down while a resource lives, and vanish with it', async () => {
    const metrics = new StoreMetrics(fixture.store, '1');
    const before = await scrape(metrics);
    await echoThrough(fixture.store, fixture.lbPort, 1000);
    const after = await scrape(metrics);
    for (const s of before.samples) {
      if (!s.name.startsWith('vproxy_') || before.types.get(s.name) !== 'counter') continue;
      expect(sampleValue(after, s.name, s.labels), s.name).toBeGreaterThanOrEqual(s.value);
    }
    expect(sampleValue(after, 'vproxy_listener_accepted_connections_total')).toBe(
      sampleValue(before, 'vproxy_listener_accepted_connections_total') + 1,
    );
    await fixture.executor.execute(
      'add server s-new to server-group sg0 address 127.0.0.1:1 weight 1',
      'stdio',
    );
    expect(
      findSamples(await scrape(metrics), 'vproxy_server_up', { server: 's-new' }),
    ).toHaveLength(1);
    await fixture.executor.execute('remove server s-new from server-group sg0', 'stdio');
    expect(findSamples(await scrape(metrics), 'vproxy_server_up', { server: 's-new' })).toEqual([]);
  });

  it('includes process metrics, on its own registry (prom-client default registry untouched)', async () => {
    const a = new StoreMetrics(fixture.store, '1');
    const b = new StoreMetrics(fixture.store, '1');
    const m = await scrape(a);
    expect(sampleValue(m, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(sampleValue(m, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(findSamples(m, 'nodejs_eventloop_lag_seconds')).toHaveLength(1);
    expect(a.registry).not.toBe(b.registry);
    expect(a.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(await globalRegister.getMetricsAsJSON()).toEqual([]);
  });

  it('escapes any name a resource can have in label values', async () => {
    // Names are 1-128 visible ASCII characters: quotes and backslashes included.
    const name = fc.stringMatching(/^[\x21-\x7e]{1,40}$/);
    await fc.assert(
      fc.asyncProperty(name, name, async (groupName, serverName) => {
        const store = new ResourceStore(createDefaultRegistry());
        const group = new ServerGroup({ name: groupName, healthCheck: noCheck });
        store.serverGroups.set(groupName, { group, check: 'none', elg: '(control-elg)' });
        try {
          group.add(serverName, '127.0.0.1:9', 7);
          const m = await scrape(new StoreMetrics(store, '1'));
          expect(
            sampleValue(m, 'vproxy_server_weight', { group: groupName, server: serverName }),
          ).toBe(7);
        } finally {
          await store.close();
        }
      }),
      { numRuns: 60 },
    );
  });
});

const noCheck = {
  timeoutMs: 1000,
  periodMs: 1000,
  up: 1,
  down: 1,
  check: { kind: 'none' },
} as const;
