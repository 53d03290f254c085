import { afterEach, describe, expect, it } from 'vitest';
import { ThroughputSampler } from '../../../src/control/observability/throughput.js';
import { ResourceStore, type TcpLbEntry } from '../../../src/control/store.js';
import type { TcpLB } from '../../../src/lb/tcp-lb.js';
import type { ProxyStats } from '../../../src/proxy/proxy.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { until } from '../../helpers/wait.js';

// The per-second throughput ring: exact rates from byte deltas over a manual
// clock, ring wrap, listeners coming and going, and the idle stop of the timer.
// The listeners here are counters only (sampling reads nothing but stats()).

class FakeLb {
  bytesIn = 0;
  bytesOut = 0;
  stats(): ProxyStats {
    return {
      accepted: 0,
      active: 0,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      noBackend: 0,
      refused: 0,
      connectFailures: 0,
      idleTimeouts: 0,
      finTimeouts: 0,
      errors: 0,
      redispatches: 0,
    };
  }
  async close(): Promise<void> {}
}

function addLb(store: ResourceStore, name: string): FakeLb {
  const lb = new FakeLb();
  const entry = {
    lb: lb as unknown as TcpLB,
    address: '',
    upstream: '',
    acceptorElg: '',
    elg: '',
    certKeys: [],
    accessLog: false,
  };
  store.tcpLbs.set(name, entry satisfies TcpLbEntry);
  return lb;
}

let clock = 1_000_000;
const now = () => clock;
const samplers: ThroughputSampler[] = [];
let store: ResourceStore;

function sampler(options: { capacity?: number; idleStopMs?: number; startNow?: boolean } = {}) {
  store = new ResourceStore(createDefaultRegistry());
  const s = new ThroughputSampler(store, { now, intervalMs: 1000, ...options });
  samplers.push(s);
  return s;
}

afterEach(async () => {
  for (const s of samplers.splice(0)) s.close();
  await store?.close();
});

describe('ThroughputSampler', () => {
  it('turns byte deltas into bytes per second, per listener and in total', () => {
    const s = sampler({ startNow: false });
    const a = addLb(store, 'a');
    const b = addLb(store, 'b');
    a.bytesIn = 5000; // before sampling starts: not a rate
    s.touch();
    a.bytesIn += 3000;
    a.bytesOut += 1000;
    b.bytesIn += 500;
    clock += 1000;
    s.sample();
    a.bytesIn += 4000;
    clock += 2000; // a late tick: the rate is per second, not per tick
    s.sample();
    const snap = s.snapshot();
    expect(snap.times).toEqual([clock - 2000, clock]);
    expect(snap.total).toEqual({ in: [3500, 2000], out: [1000, 0] });
    expect(snap.listeners).toEqual([
      { type: 'tcp-lb', name: 'a', in: [3000, 2000], out: [1000, 0] },
      { type: 'tcp-lb', name: 'b', in: [500, 0], out: [0, 0] },
    ]);
    expect(snap.windowMs).toBe(300_000);
  });

  it('keeps only the last `capacity` samples, oldest first', () => {
    const s = sampler({ capacity: 4 });
    const a = addLb(store, 'a');
    for (let i = 1; i <= 7; i++) {
      a.bytesIn += i * 1000;
      clock += 1000;
      s.sample();
    }
    const snap = s.snapshot();
    expect(snap.total.in).toEqual([4000, 5000, 6000, 7000]);
    expect(snap.times).toHaveLength(4);
    expect(s.snapshot(2).listeners[0]?.in).toEqual([6000, 7000]);
  });

  it('counts a listener created between samples from zero; a removed one leaves the list but not the past', () => {
    const s = sampler();
    const a = addLb(store, 'a');
    a.bytesIn = 800;
    clock += 1000;
    s.sample();
    store.tcpLbs.delete('a');
    const b = addLb(store, 'b');
    b.bytesOut = 200;
    clock += 1000;
    s.sample();
    const snap = s.snapshot();
    expect(snap.total).toEqual({ in: [800, 0], out: [0, 200] });
    expect(snap.listeners.map((l) => l.name)).toEqual(['b']);
    expect(snap.listeners[0]?.out).toEqual([0, 200]);
  });

  it('never reports a negative rate', () => {
    const s = sampler();
    const a = addLb(store, 'a');
    a.bytesIn = 100;
    clock += 1000;
    s.sample();
    a.bytesIn = 40; // cannot happen with real counters; must not draw below zero
    clock += 1000;
    s.sample();
    expect(s.snapshot().total.in).toEqual([100, 0]);
  });

  it('stops sampling after the idle time without a reader, restarts on the next read', () => {
    const s = sampler({ idleStopMs: 5000 });
    addLb(store, 'a');
    expect(s.sampling).toBe(true);
    for (let i = 0; i < 5; i++) {
      clock += 1000;
      s.sample();
    }
    expect(s.sampling).toBe(true);
    clock += 1000;
    s.sample();
    expect(s.sampling).toBe(false);
    expect(s.snapshot().times).toHaveLength(5);
    s.touch();
    expect(s.sampling).toBe(true);
    s.close();
    expect(s.sampling).toBe(false);
    s.touch();
    expect(s.sampling).toBe(false);
  });

  it('drops samples older than the window (left from before an idle stop)', () => {
    const s = sampler({ capacity: 10 });
    addLb(store, 'a');
    clock += 1000;
    s.sample();
    clock += 60_000;
    s.touch();
    clock += 1000;
    s.sample();
    expect(s.snapshot().times).toEqual([clock]);
  });

  it('samples on its own timer, which never holds the process open', async () => {
    store = new ResourceStore(createDefaultRegistry());
    const s = new ThroughputSampler(store, { intervalMs: 20 });
    samplers.push(s);
    const a = addLb(store, 'a');
    a.bytesIn = 1000;
    // Node lists only the timers that keep the loop alive: an unref()'d one is not among them.
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    // Two ticks of its own, waited for: a process stalled 150 ms in the first 20 ms runs
    // the interval once and a 150 ms sleep right after it.
    await until('two samples', () => s.snapshot().times.length >= 2, 5000);
    const running = timers();
    s.close();
    expect(timers()).toBe(running);
    const taken = s.snapshot().times.length;
    await new Promise((r) => setTimeout(r, 60));
    expect(s.snapshot().times.length).toBe(taken);
  });
});
