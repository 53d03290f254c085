import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  KcpScheduler,
  type Scheduled,
  type SchedulerClock,
} from '../../../transports/kcp/session/scheduler.js';

/** A fake clock: time moves only when the test says so; timers and immediates are recorded. */
class FakeClock implements SchedulerClock {
  t = 0;
  timer: { fn: () => void; at: number } | null = null;
  timersArmed = 0;
  immediates: (() => void)[] = [];
  now(): number {
    return this.t;
  }
  setTimer(fn: () => void, ms: number): unknown {
    this.timersArmed++;
    this.timer = { fn, at: this.t + ms };
    return this.timer;
  }
  clearTimer(handle: unknown): void {
    if (this.timer === handle) this.timer = null;
  }
  immediate(fn: () => void): void {
    this.immediates.push(fn);
  }
  /** Advance to the armed timer and fire it. */
  fire(): void {
    const timer = this.timer;
    if (timer === null) throw new Error('no timer armed');
    this.timer = null;
    this.t = Math.max(this.t, timer.at);
    timer.fn();
  }
  runImmediates(): void {
    const list = this.immediates;
    this.immediates = [];
    for (const fn of list) fn();
  }
}

class Item implements Scheduled {
  dueAt = 0;
  heapIndex = -1;
  soonPending = false;
  due: number[] = [];
  soon: number[] = [];
  constructor(readonly name: string) {}
  onDue(now: number): void {
    this.due.push(now);
  }
  onSoon(now: number): void {
    this.soon.push(now);
  }
}

describe('KcpScheduler', () => {
  it('arms one timer for the earliest due time and runs items in due order', () => {
    const clock = new FakeClock();
    const s = new KcpScheduler(clock);
    const order: string[] = [];
    const items = ['a', 'b', 'c'].map((n) => {
      const item = new Item(n);
      item.onDue = () => order.push(n);
      return item;
    });
    s.schedule(items[0] as Item, 30);
    s.schedule(items[1] as Item, 10);
    s.schedule(items[2] as Item, 20);
    expect(clock.timer?.at).toBe(10);
    expect(s.nextDue).toBe(10);
    clock.fire();
    expect(order).toEqual(['b']);
    expect(clock.timer?.at).toBe(20);
    clock.fire();
    clock.fire();
    expect(order).toEqual(['b', 'c', 'a']);
  });

  it('moves the timer earlier when an item is rescheduled earlier, never later', () => {
    const clock = new FakeClock();
    const s = new KcpScheduler(clock);
    const a = new Item('a');
    const b = new Item('b');
    s.schedule(a, 50);
    s.schedule(b, 40);
    expect(clock.timer?.at).toBe(40);
    s.schedule(a, 5);
    expect(clock.timer?.at).toBe(5);
    const armed = clock.timersArmed;
    s.schedule(b, 45); // later than the armed timer: no re-arm
    expect(clock.timersArmed).toBe(armed);
  });

  it('cancel removes an item; the timer goes when the heap is empty', () => {
    const clock = new FakeClock();
    const s = new KcpScheduler(clock);
    const a = new Item('a');
    s.schedule(a, 10);
    s.cancel(a);
    expect(s.size).toBe(0);
    expect(clock.timer).toBeNull();
    expect(a.heapIndex).toBe(-1);
  });

  it('soon() runs each item once per check phase, however often asked', () => {
    const clock = new FakeClock();
    const s = new KcpScheduler(clock);
    const a = new Item('a');
    const b = new Item('b');
    s.soon(a);
    s.soon(a);
    s.soon(b);
    expect(clock.immediates).toHaveLength(1);
    clock.t = 7;
    clock.runImmediates();
    expect(a.soon).toEqual([7]);
    expect(b.soon).toEqual([7]);
    s.soon(a);
    s.cancel(a); // a cancelled item is skipped
    clock.runImmediates();
    expect(a.soon).toEqual([7]);
  });

  it('holdFlush: soon() becomes one update in the next check phase, with no timer armed', () => {
    const clock = new FakeClock();
    const s = new KcpScheduler(clock);
    const a = new Item('a');
    s.schedule(a, 10); // its next tick
    const armed = clock.timersArmed;
    clock.t = 3;
    s.holdFlush = true;
    s.soon(a);
    s.soon(a);
    s.holdFlush = false;
    expect(clock.immediates).toHaveLength(1);
    expect(clock.timersArmed).toBe(armed);
    clock.runImmediates();
    expect(a.soon).toEqual([]);
    expect(a.due).toEqual([3]);
    // Out of the heap, as after any onDue: the item reschedules itself.
    expect(a.heapIndex).toBe(-1);
  });

  it('holdFlush: a flush already pending wins; an unheld soon() after a held one still flushes', () => {
    const clock = new FakeClock();
    const s = new KcpScheduler(clock);
    const a = new Item('a');
    const b = new Item('b');
    // As a session does: a flush reschedules the item at its next tick.
    for (const item of [a, b]) {
      item.onSoon = (now) => {
        item.soon.push(now);
        s.schedule(item, now + 10);
      };
    }
    s.soon(a);
    s.holdFlush = true;
    s.soon(a); // a flush is pending: that updates too
    s.soon(b);
    s.holdFlush = false;
    s.soon(b);
    clock.runImmediates();
    expect([a.soon, a.due, b.soon, b.due]).toEqual([[0], [], [0], []]);
    expect(clock.timer?.at).toBe(10);
  });

  it('holdFlush: an update that keeps the tick keeps the timer armed for it', () => {
    const clock = new FakeClock();
    const s = new KcpScheduler(clock);
    const a = new Item('a');
    a.onDue = (now) => {
      a.due.push(now);
      s.schedule(a, 10); // not due yet: the same tick
    };
    s.schedule(a, 10);
    const armed = clock.timersArmed;
    clock.t = 4;
    s.holdFlush = true;
    s.soon(a);
    s.holdFlush = false;
    clock.runImmediates();
    expect(a.due).toEqual([4]);
    expect(clock.timersArmed).toBe(armed);
    expect(clock.timer?.at).toBe(10);
    clock.fire();
    expect(a.due).toEqual([4, 10]);
  });

  it('always pops the minimum (property: any schedule/cancel sequence)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.integer({ min: 0, max: 19 }),
            fc.integer({ min: 0, max: 1000 }),
            fc.boolean(),
          ),
          {
            maxLength: 200,
          },
        ),
        (ops) => {
          const clock = new FakeClock();
          const s = new KcpScheduler(clock);
          const items = Array.from({ length: 20 }, (_, i) => new Item(String(i)));
          const model = new Map<Item, number>();
          for (const [i, at, cancel] of ops) {
            const item = items[i] as Item;
            if (cancel) {
              s.cancel(item);
              model.delete(item);
            } else {
              s.schedule(item, at);
              model.set(item, at);
            }
          }
          expect(s.size).toBe(model.size);
          const expected = [...model.values()].sort((x, y) => x - y);
          expect(s.nextDue).toBe(expected[0] ?? Number.POSITIVE_INFINITY);
          const fired: number[] = [];
          for (const item of items) item.onDue = () => fired.push(item.dueAt);
          s.runDue(10_000);
          expect(fired).toEqual(expected);
        },
      ),
      { numRuns: 200 },
    );
  });
});
