import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Keepalive, type LivenessProbe } from '../../../transports/ws/keepalive.js';

class FakeProbe implements LivenessProbe {
  heardCount = 0;
  paused = false;
  pings = 0;
  deadAfter: number | null = null;
  heard(): number {
    return this.heardCount;
  }
  readingPaused(): boolean {
    return this.paused;
  }
  ping(): void {
    this.pings++;
  }
  dead(silentMs: number): void {
    this.deadAfter = silentMs;
  }
}

describe('Keepalive', () => {
  it('pings every tick and declares the peer dead after timeoutMs of silence', () => {
    const probe = new FakeProbe();
    const k = new Keepalive(100, 300, probe);
    k.tick();
    k.tick();
    expect(probe.pings).toBe(2);
    expect(probe.deadAfter).toBeNull();
    k.tick();
    expect(probe.deadAfter).toBe(300);
    expect(probe.pings).toBe(2);
  });

  it('anything heard restarts the silence count', () => {
    const probe = new FakeProbe();
    const k = new Keepalive(100, 300, probe);
    for (let i = 0; i < 20; i++) {
      if (i % 2 === 0) probe.heardCount++;
      k.tick();
    }
    expect(probe.deadAfter).toBeNull();
  });

  it('silence while our reading is paused proves nothing', () => {
    const probe = new FakeProbe();
    probe.paused = true;
    const k = new Keepalive(100, 300, probe);
    for (let i = 0; i < 20; i++) k.tick();
    expect(probe.deadAfter).toBeNull();
    probe.paused = false;
    for (let i = 0; i < 3; i++) k.tick();
    expect(probe.deadAfter).toBe(300);
  });

  it('timeout 0 pings forever without declaring anything', () => {
    const probe = new FakeProbe();
    const k = new Keepalive(100, 0, probe);
    for (let i = 0; i < 50; i++) k.tick();
    expect(probe.pings).toBe(50);
    expect(probe.deadAfter).toBeNull();
  });

  it('property: dead exactly when the last ceil(timeout/interval) ticks were silent and unpaused', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 1, max: 5000 }),
        fc.array(fc.record({ heard: fc.boolean(), paused: fc.boolean() }), { maxLength: 60 }),
        (interval, timeout, ticks) => {
          const probe = new FakeProbe();
          const k = new Keepalive(interval, timeout, probe);
          const needed = Math.ceil(timeout / interval);
          let silentRun = 0;
          for (const t of ticks) {
            if (probe.deadAfter !== null) break;
            if (t.heard) probe.heardCount++;
            probe.paused = t.paused;
            k.tick();
            silentRun = t.heard || t.paused ? 0 : silentRun + 1;
            expect(probe.deadAfter !== null).toBe(silentRun >= needed);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
