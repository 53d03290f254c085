import { performance } from 'node:perf_hooks';

/**
 * One timer for every KCP session of the process.
 *
 * Sessions sit in a binary min-heap keyed by their next due time (the arq's delayUntilDue);
 * a single timer is armed for the root. A session that has work *now* (data written, datagrams
 * received) asks for `soon()` instead: all such sessions run once in the next check phase
 * (setImmediate), so every datagram read in one poll phase is input before one flush, and the
 * ACKs and data that flush produces go out together, at once.
 *
 * An endpoint may hold those flushes back while it inputs datagrams (`holdFlush`, kcp-go's
 * default `acknodelay` off): the sessions are then only updated in the check phase (their
 * readers and writers hear of the input at once, the arq flushes only what is due), and the
 * ACKs leave on the session's next interval tick, or with the data a writer adds. At link
 * rates a receiver sends one datagram of ACKs per tick instead of one per datagram received.
 */
export interface Scheduled {
  /** Absolute due time (ms, scheduler clock); maintained by the scheduler. */
  dueAt: number;
  /** Position in the heap, −1 when not scheduled; maintained by the scheduler. */
  heapIndex: number;
  /** Whether a soon() run is pending; maintained by the scheduler. */
  soonPending: boolean;
  /** The due time was reached (the item is already out of the heap): update, then reschedule. */
  onDue(now: number): void;
  /** Work is pending from I/O: flush, then reschedule. */
  onSoon(now: number): void;
}

/** Time and timers, injectable so tests can drive the scheduler with a fake clock. */
export interface SchedulerClock {
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
  immediate(fn: () => void): void;
}

export const realClock: SchedulerClock = {
  now: () => performance.now(),
  setTimer: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimer: (h) => clearTimeout(h as NodeJS.Timeout),
  immediate: (fn) => setImmediate(fn),
};

export class KcpScheduler {
  readonly #clock: SchedulerClock;
  readonly #heap: Scheduled[] = [];
  #soon: Scheduled[] = [];
  #soonSpare: Scheduled[] = [];
  #soonArmed = false;
  /** Items were made due now by a held soon(): runDue() in the next check phase. */
  #dueSoon = false;
  #timer: unknown = null;
  #timerAt = Number.POSITIVE_INFINITY;
  /** Bound once: no closure per arm. */
  readonly #onTimer = (): void => this.#fire();
  readonly #onImmediate = (): void => this.#runSoon();

  constructor(clock: SchedulerClock = realClock) {
    this.#clock = clock;
  }

  now(): number {
    return this.#clock.now();
  }

  get size(): number {
    return this.#heap.length;
  }

  /** The earliest due time, or Infinity. */
  get nextDue(): number {
    return this.#heap[0]?.dueAt ?? Number.POSITIVE_INFINITY;
  }

  /** (Re)schedule `item` at absolute time `at`. */
  schedule(item: Scheduled, at: number): void {
    this.#place(item, at);
    // A check phase that runs the due items is coming: it arms the timer after them.
    if (!this.#dueSoon) this.#arm();
  }

  #place(item: Scheduled, at: number): void {
    const heap = this.#heap;
    if (item.heapIndex < 0) {
      item.dueAt = at;
      item.heapIndex = heap.length;
      heap.push(item);
      this.#up(item.heapIndex);
    } else {
      const before = item.dueAt;
      item.dueAt = at;
      if (at < before) this.#up(item.heapIndex);
      else this.#down(item.heapIndex);
    }
  }

  /**
   * While true, soon() asks for an update (onDue) in the next check phase rather than a
   * flush (onSoon). An endpoint sets it around the input of datagrams (synchronous code).
   */
  holdFlush = false;

  /** Run `item.onSoon` in the next check phase (once, however often asked). */
  soon(item: Scheduled): void {
    if (this.holdFlush) {
      this.#updateSoon(item);
      return;
    }
    if (item.soonPending) return;
    item.soonPending = true;
    this.#soon.push(item);
    this.#armImmediate();
  }

  /**
   * Run `item.onDue` (an update: it flushes only what is due) in the next check phase, e.g.
   * after an input whose ACKs may wait (the arq's ackDelay).
   */
  updateSoon(item: Scheduled): void {
    this.#updateSoon(item);
  }

  /**
   * Makes `item` due now, run by runDue() in the next check phase: no timer is armed for it,
   * and an item already due (or with a flush pending, which updates too) costs nothing.
   */
  #updateSoon(item: Scheduled): void {
    if (item.soonPending) return;
    const now = this.#clock.now();
    if (item.heapIndex >= 0 && item.dueAt <= now) {
      if (this.#dueSoon) return;
    } else {
      this.#place(item, now);
    }
    this.#dueSoon = true;
    this.#armImmediate();
  }

  #armImmediate(): void {
    if (!this.#soonArmed) {
      this.#soonArmed = true;
      this.#clock.immediate(this.#onImmediate);
    }
  }

  cancel(item: Scheduled): void {
    if (item.heapIndex >= 0) this.#removeAt(item.heapIndex);
    item.soonPending = false; // a pending soon() entry is skipped when it runs
    if (this.#heap.length === 0 && this.#timer !== null) {
      this.#clock.clearTimer(this.#timer);
      this.#timer = null;
      this.#timerAt = Number.POSITIVE_INFINITY;
    }
  }

  /** Runs every item due at `now` (the timer calls it; tests may too). */
  runDue(now: number): void {
    const heap = this.#heap;
    // Bounded: an item that reschedules itself at or before `now` runs once per call.
    for (let budget = heap.length; budget > 0 && heap.length > 0; budget--) {
      const top = heap[0] as Scheduled;
      if (top.dueAt > now) break;
      // Out of the heap first: onDue reschedules it if it still has a future.
      this.#removeAt(0);
      top.onDue(now);
    }
    this.#arm();
  }

  #fire(): void {
    this.#timer = null;
    this.#timerAt = Number.POSITIVE_INFINITY;
    this.runDue(this.#clock.now());
  }

  #runSoon(): void {
    this.#soonArmed = false;
    const batch = this.#soon;
    this.#soon = this.#soonSpare;
    this.#soonSpare = batch;
    const now = this.#clock.now();
    for (let i = 0; i < batch.length; i++) {
      const item = batch[i] as Scheduled;
      if (!item.soonPending) continue;
      item.soonPending = false;
      item.onSoon(now);
    }
    batch.length = 0;
    if (this.#dueSoon) {
      this.#dueSoon = false;
      this.runDue(now);
    }
  }

  #arm(): void {
    const at = this.nextDue;
    if (at === Number.POSITIVE_INFINITY || at >= this.#timerAt) return;
    if (this.#timer !== null) this.#clock.clearTimer(this.#timer);
    this.#timerAt = at;
    this.#timer = this.#clock.setTimer(
      this.#onTimer,
      Math.max(0, Math.ceil(at - this.#clock.now())),
    );
  }

  #removeAt(i: number): void {
    const heap = this.#heap;
    const item = heap[i] as Scheduled;
    const last = heap.pop() as Scheduled;
    if (last !== item) {
      heap[i] = last;
      last.heapIndex = i;
      this.#down(i);
      this.#up(last.heapIndex);
    }
    item.heapIndex = -1;
  }

  #up(i: number): void {
    const heap = this.#heap;
    const item = heap[i] as Scheduled;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = heap[p] as Scheduled;
      if (parent.dueAt <= item.dueAt) break;
      heap[i] = parent;
      parent.heapIndex = i;
      i = p;
    }
    heap[i] = item;
    item.heapIndex = i;
  }

  #down(i: number): void {
    const heap = this.#heap;
    const n = heap.length;
    const item = heap[i] as Scheduled;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && (heap[r] as Scheduled).dueAt < (heap[l] as Scheduled).dueAt ? r : l;
      const child = heap[c] as Scheduled;
      if (child.dueAt >= item.dueAt) break;
      heap[i] = child;
      child.heapIndex = i;
      i = c;
    }
    heap[i] = item;
    item.heapIndex = i;
  }
}

let shared: KcpScheduler | null = null;

/** The process-wide scheduler every KCP session uses by default. */
export function sharedScheduler(): KcpScheduler {
  shared ??= new KcpScheduler();
  return shared;
}
