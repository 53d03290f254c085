import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseAddress } from '../../../src/fd/address.js';
import { isVproxyError } from '../../../src/fd/errors.js';
import { HealthCheckClient } from '../../../src/lb/health-check-client.js';
import { createChecker } from '../../../src/lb/health-checkers.js';
import type { HealthCheckConfig } from '../../../src/lb/health-config.js';
import { HealthState } from '../../../src/lb/health-state.js';
import { FakeClock, type Outcome, ScriptedChecker } from './fakes.js';

const target = parseAddress('tcp://127.0.0.1:9');
const config = (over: Partial<HealthCheckConfig> = {}): HealthCheckConfig => ({
  timeoutMs: 100,
  periodMs: 1000,
  up: 2,
  down: 3,
  check: { kind: 'tcp' },
  ...over,
});

function setup(script: Outcome[], over: Partial<HealthCheckConfig> = {}, then: Outcome = 'ok') {
  const clock = new FakeClock();
  const checker = new ScriptedChecker(clock, script, then);
  const hc = new HealthCheckClient(target, config(over), checker);
  const events: string[] = [];
  hc.on('up', () => events.push(`up@${clock.now()}`));
  hc.on('down', () => events.push(`down@${clock.now()}`));
  return { clock, checker, hc, events };
}

describe('HealthState (the threshold state machine)', () => {
  it('starts DOWN and needs `up` net successes, then `down` net failures', () => {
    const s = new HealthState(2, 3);
    expect(s.isUp).toBe(false);
    expect(s.success()).toBe(false);
    expect(s.success()).toBe(true);
    expect(s.isUp).toBe(true);
    expect(s.failure()).toBe(false);
    expect(s.failure()).toBe(false);
    expect(s.failure()).toBe(true);
    expect(s.isUp).toBe(false);
  });

  it('pays back partial progress before counting the other way', () => {
    const s = new HealthState(3, 3, true);
    s.failure(); // curDown 1
    s.failure(); // curDown 2
    expect(s.success()).toBe(false); // pays back: curDown 1
    expect(s.curDown).toBe(1);
    expect(s.failure()).toBe(false); // curDown 2
    expect(s.failure()).toBe(true); // DOWN
    expect(s.curDown).toBe(0);
  });

  it('property: transitions are reported exactly when the state flips; streaks always flip', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.boolean(), { maxLength: 200 }),
        (up, down, results) => {
          const s = new HealthState(up, down);
          let streak = 0;
          let last: boolean | null = null;
          for (const ok of results) {
            const before = s.isUp;
            const flipped = ok ? s.success() : s.failure();
            expect(flipped).toBe(before !== s.isUp);
            if (flipped) expect(s.isUp).toBe(ok); // only successes turn UP, failures DOWN
            streak = ok === last ? streak + 1 : 1;
            last = ok;
            if (ok && streak >= up + down) expect(s.isUp).toBe(true);
            if (!ok && streak >= up + down) expect(s.isUp).toBe(false);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('HealthCheckClient with a fake clock', () => {
  it('starts DOWN, probes at once, turns UP after `up` successes, with one edge event', async () => {
    const { clock, checker, hc, events } = setup([], { up: 2 });
    expect(hc.isUp).toBe(false);
    hc.start(clock);
    await clock.advance(0);
    expect(checker.starts).toEqual([0]);
    expect(hc.isUp).toBe(false);
    await clock.advance(1000);
    expect(hc.isUp).toBe(true);
    await clock.advance(5000); // more successes: no more events
    expect(events).toEqual(['up@1000']);
    expect(hc.stats().checks).toBe(7);
    hc.stop();
    expect(clock.pending).toBe(0);
  });

  it('turns DOWN after `down` failures, edge-triggered, and UP again after `up` successes', async () => {
    const { clock, hc, events } = setup(
      ['ok', 'ok', 'fail', 'fail', 'fail', 'fail', 'fail', 'ok', 'ok'],
      { up: 2, down: 3 },
    );
    hc.start(clock);
    await clock.advance(8000); // probes at 0, 1000, …, 8000
    expect(events).toEqual(['up@1000', 'down@4000', 'up@8000']);
    hc.stop();
  });

  it('opposite results pay back partial progress (no flap from a single blip)', async () => {
    const { clock, hc, events } = setup(['ok', 'fail', 'ok', 'fail', 'ok', 'ok'], { up: 2 });
    hc.start(clock);
    await clock.advance(3000);
    expect(hc.isUp).toBe(false); // ok, fail (pay back), ok, fail (pay back)
    await clock.advance(2000);
    expect(events).toEqual(['up@5000']);
    hc.stop();
  });

  it('waits `period` after the end of each probe (fixed delay), measuring latency', async () => {
    const { clock, checker, hc } = setup(
      [
        { delayMs: 30, ok: true },
        { delayMs: 70, ok: true },
        { delayMs: 10, ok: true },
      ],
      { periodMs: 100, timeoutMs: 500 },
      'hang',
    );
    hc.start(clock);
    await clock.advance(310);
    expect(checker.starts).toEqual([0, 130, 300]);
    const stats = hc.stats();
    expect(stats.lastLatencyMs).toBe(10);
    expect(stats.avgLatencyMs).toBeCloseTo((30 + 70 + 10) / 3, 9);
    hc.stop();
  });

  it('a probe running past the timeout fails, is aborted, and the next one starts a period later', async () => {
    const { clock, checker, hc } = setup(['ok', 'hang', 'hang'], {
      up: 1,
      down: 2,
      timeoutMs: 100,
      periodMs: 1000,
    });
    const results: string[] = [];
    hc.on('result', (r) => results.push(r.ok ? 'ok' : (r.error?.message ?? '?')));
    hc.start(clock);
    await clock.advance(0);
    expect(hc.isUp).toBe(true);
    await clock.advance(1100); // second probe starts at 1000, times out at 1100
    expect(checker.signals[1]?.aborted).toBe(true);
    expect(isVproxyError(checker.signals[1]?.reason, 'ERR_CONNECT_TIMEOUT')).toBe(true);
    expect(hc.isUp).toBe(true);
    await clock.advance(1100); // third at 2100, times out at 2200
    expect(checker.starts).toEqual([0, 1000, 2100]);
    expect(hc.isUp).toBe(false);
    expect(results).toEqual([
      'ok',
      'health check timed out after 100 ms',
      'health check timed out after 100 ms',
    ]);
    hc.stop();
  });

  it('a result arriving after the timeout is ignored', async () => {
    const { clock, hc } = setup([{ delayMs: 150, ok: true }], { up: 1, timeoutMs: 100 }, 'hang');
    hc.start(clock);
    await clock.advance(200);
    expect(hc.isUp).toBe(false);
    expect(hc.stats()).toMatchObject({ checks: 1, failures: 1 });
    hc.stop();
  });

  it('stop() aborts the running probe and schedules nothing; state is kept; start() resumes', async () => {
    const { clock, checker, hc } = setup(['ok', 'hang'], { up: 1 });
    hc.start(clock);
    await clock.advance(1000);
    expect(hc.isUp).toBe(true);
    hc.stop();
    expect(checker.signals[1]?.aborted).toBe(true);
    expect(clock.pending).toBe(0);
    await clock.advance(10_000);
    expect(checker.starts).toEqual([0, 1000]);
    expect(hc.isUp).toBe(true);
    hc.start(clock);
    await clock.advance(0);
    expect(checker.starts).toEqual([0, 1000, 11_000]);
    hc.stop();
  });

  it('reconfigure keeps the state, resets partial counts, and uses the new thresholds', async () => {
    const { clock, hc, events } = setup(['ok', 'fail', 'fail'], { up: 1, down: 3 }, 'fail');
    hc.start(clock);
    await clock.advance(2000);
    expect(hc.stats().curDown).toBe(2);
    hc.reconfigure(config({ up: 1, down: 2 }));
    expect(hc.isUp).toBe(true);
    expect(hc.stats().curDown).toBe(0);
    await clock.advance(0); // restarted: probes at once
    expect(hc.isUp).toBe(true);
    await clock.advance(1000);
    expect(events).toEqual(['up@0', 'down@3000']);
    hc.stop();
  });

  it('passive detection: `down` connect failures turn it DOWN before the next probe', async () => {
    const { clock, checker, hc, events } = setup([], { up: 1, down: 3, periodMs: 60_000 });
    hc.start(clock);
    await clock.advance(0);
    expect(hc.isUp).toBe(true);
    hc.reportConnectFailure(new Error('refused'));
    hc.reportConnectFailure(new Error('refused'));
    expect(hc.isUp).toBe(true);
    hc.reportConnectFailure(new Error('refused'));
    expect(hc.isUp).toBe(false);
    expect(events).toEqual(['up@0', 'down@0']);
    expect(checker.starts).toEqual([0]); // no probe in between
    expect(hc.stats()).toMatchObject({ passiveFailures: 3, lastError: 'refused' });
    await clock.advance(60_000); // the next active probe brings it back
    expect(events).toEqual(['up@0', 'down@0', 'up@60000']);
    hc.stop();
  });

  it('`none` is UP at once, probes nothing and ignores passive failures', async () => {
    const clock = new FakeClock();
    const hc = new HealthCheckClient(
      target,
      config({ check: { kind: 'none' } }),
      createChecker({ kind: 'none' }, undefined),
    );
    let ups = 0;
    hc.on('up', () => ups++);
    hc.start(clock);
    expect(hc.isUp).toBe(true);
    expect(clock.pending).toBe(0);
    for (let i = 0; i < 10; i++) hc.reportConnectFailure();
    expect(hc.isUp).toBe(true);
    expect(ups).toBe(1);
    hc.stop();
  });

  it('rejects bad configs with a typed error naming the field', () => {
    const checker = new ScriptedChecker(new FakeClock());
    for (const [over, field] of [
      [{ up: 0 }, 'up'],
      [{ down: 1.5 }, 'down'],
      [{ timeoutMs: -1 }, 'timeout'],
      [{ periodMs: 0 }, 'period'],
    ] as const) {
      expect(() => new HealthCheckClient(target, config(over), checker)).toThrow(
        expect.objectContaining({
          code: 'ERR_HEALTH_CHECK_INVALID',
          message: expect.stringContaining(field),
        }),
      );
    }
    expect(
      () =>
        new HealthCheckClient(
          target,
          config({ check: { kind: 'http', path: '/x\r\nX: y' } }),
          checker,
        ),
    ).toThrow(expect.objectContaining({ code: 'ERR_HEALTH_CHECK_INVALID' }));
    expect(() => createChecker({ kind: 'tcp' }, undefined)).toThrow(
      expect.objectContaining({ code: 'ERR_HEALTH_CHECK_INVALID' }),
    );
  });
});
