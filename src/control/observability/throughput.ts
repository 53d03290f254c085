import type { LbListener } from '../../lb/lb-listener.js';
import type { ResourceStore } from '../store.js';

export interface ThroughputOptions {
  /** Time between samples; default 1 s. */
  readonly intervalMs?: number;
  /** How many samples the ring keeps; default 300 (5 minutes at 1 s). */
  readonly capacity?: number;
  /** Stop sampling after this long without a reader; default 10 minutes. */
  readonly idleStopMs?: number;
  /** Wall clock (ms since the epoch); injectable for tests. */
  readonly now?: () => number;
  /** Start sampling at construction (as if read once); default true. */
  readonly startNow?: boolean;
}

/** Rates in bytes per second, oldest first, aligned with `times`. */
export interface RateSeries {
  readonly in: number[];
  readonly out: number[];
}

export interface ListenerRates extends RateSeries {
  readonly type: ListenerType;
  readonly name: string;
}

export type ListenerType = 'tcp-lb' | 'socks5-server';

/** What the status page draws: the window of samples, summed and per listener. */
export interface ThroughputSnapshot {
  readonly intervalMs: number;
  readonly windowMs: number;
  /** When each sample was taken (ms since the epoch), oldest first. */
  readonly times: number[];
  /** All listeners together (listeners removed meanwhile still count in the past). */
  readonly total: RateSeries;
  /** Per current listener: its last `listenerSamples` samples (aligned with the end of `times`). */
  readonly listeners: ListenerRates[];
}

/** One listener's rings. Slots before the listener existed hold 0. */
interface Series {
  type: ListenerType;
  name: string;
  readonly in: Float64Array;
  readonly out: Float64Array;
  lastIn: number;
  lastOut: number;
  seen: number;
}

const DEFAULTS = { intervalMs: 1000, capacity: 300, idleStopMs: 600_000 };

/**
 * Bytes per second in and out of every listener (tcp-lb, socks5-server), one sample per interval, kept
 * in fixed rings (no allocation per sample once a listener is known).
 *
 * Sampling costs a `stats()` per listener per second, so it only runs while
 * someone looks: every read restarts it, and it stops by itself after
 * `idleStopMs` without one. The timer is unref()'d, so it never keeps the
 * process alive; `close()` stops it for good.
 */
export class ThroughputSampler {
  readonly intervalMs: number;
  readonly capacity: number;
  readonly #store: ResourceStore;
  readonly #idleStopMs: number;
  readonly #now: () => number;
  readonly #times: Float64Array;
  readonly #totalIn: Float64Array;
  readonly #totalOut: Float64Array;
  readonly #series = new Map<LbListener, Series>();
  #head = 0;
  #count = 0;
  #ticks = 0;
  #lastSampleAt = 0;
  #lastReadAt = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(store: ResourceStore, options: ThroughputOptions = {}) {
    this.#store = store;
    this.intervalMs = options.intervalMs ?? DEFAULTS.intervalMs;
    this.capacity = options.capacity ?? DEFAULTS.capacity;
    this.#idleStopMs = options.idleStopMs ?? DEFAULTS.idleStopMs;
    this.#now = options.now ?? Date.now;
    this.#times = new Float64Array(this.capacity);
    this.#totalIn = new Float64Array(this.capacity);
    this.#totalOut = new Float64Array(this.capacity);
    if (options.startNow ?? true) this.touch();
  }

  /** Whether the timer is running. */
  get sampling(): boolean {
    return this.#timer !== undefined;
  }

  /** Someone reads the history: keep (or start) sampling. */
  touch(): void {
    if (this.#closed) return;
    this.#lastReadAt = this.#now();
    if (this.#timer !== undefined) return;
    this.#prime();
    this.#timer = setInterval(() => this.sample(), this.intervalMs);
    this.#timer.unref();
  }

  /** Take one sample now (the timer calls this; tests call it directly). */
  sample(): void {
    const now = this.#now();
    if (now - this.#lastReadAt > this.#idleStopMs) {
      this.#stop();
      return;
    }
    const elapsed = now - this.#lastSampleAt;
    if (elapsed <= 0) return;
    const perSecond = 1000 / elapsed;
    const slot = this.#head;
    const tick = ++this.#ticks;
    let totalIn = 0;
    let totalOut = 0;
    for (const [type, name, entry] of this.#store.listeners()) {
      // A listener created since the last sample started from zero bytes.
      const series = this.#series.get(entry.lb) ?? this.#track(entry.lb, type, name, 0, 0);
      series.name = name;
      series.seen = tick;
      const stats = entry.lb.stats();
      const rateIn = Math.max(0, stats.bytesIn - series.lastIn) * perSecond;
      const rateOut = Math.max(0, stats.bytesOut - series.lastOut) * perSecond;
      series.lastIn = stats.bytesIn;
      series.lastOut = stats.bytesOut;
      series.in[slot] = rateIn;
      series.out[slot] = rateOut;
      totalIn += rateIn;
      totalOut += rateOut;
    }
    for (const [lb, series] of this.#series) if (series.seen !== tick) this.#series.delete(lb);
    this.#times[slot] = now;
    this.#totalIn[slot] = totalIn;
    this.#totalOut[slot] = totalOut;
    this.#lastSampleAt = now;
    this.#head = (slot + 1) % this.capacity;
    this.#count = Math.min(this.#count + 1, this.capacity);
  }

  /**
   * The samples of the last `capacity` intervals (older ones, left from before
   * an idle stop, are dropped), and each listener's last `listenerSamples`.
   */
  snapshot(listenerSamples = this.capacity): ThroughputSnapshot {
    const windowMs = this.capacity * this.intervalMs;
    const oldest = this.#now() - windowMs;
    const slots: number[] = [];
    for (let k = this.#count; k > 0; k--) {
      const slot = (this.#head - k + this.capacity) % this.capacity;
      if ((this.#times[slot] ?? 0) >= oldest) slots.push(slot);
    }
    const pick = (ring: Float64Array, from: readonly number[]) =>
      from.map((s) => Math.round(ring[s] ?? 0));
    const recent = slots.slice(Math.max(0, slots.length - listenerSamples));
    const listeners: ListenerRates[] = [];
    for (const [, , entry] of this.#store.listeners()) {
      const series = this.#series.get(entry.lb);
      if (series === undefined) continue;
      listeners.push({
        type: series.type,
        name: series.name,
        in: pick(series.in, recent),
        out: pick(series.out, recent),
      });
    }
    return {
      intervalMs: this.intervalMs,
      windowMs,
      times: slots.map((s) => this.#times[s] ?? 0),
      total: { in: pick(this.#totalIn, slots), out: pick(this.#totalOut, slots) },
      listeners,
    };
  }

  /** Stop sampling for good (a later touch() does nothing). */
  close(): void {
    this.#closed = true;
    this.#stop();
    this.#series.clear();
  }

  #stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Baselines for the listeners that exist now, so the first sample is a true delta. */
  #prime(): void {
    this.#lastSampleAt = this.#now();
    for (const [type, name, entry] of this.#store.listeners()) {
      const stats = entry.lb.stats();
      const series = this.#series.get(entry.lb);
      if (series === undefined) this.#track(entry.lb, type, name, stats.bytesIn, stats.bytesOut);
      else {
        series.lastIn = stats.bytesIn;
        series.lastOut = stats.bytesOut;
      }
    }
  }

  #track(
    lb: LbListener,
    type: ListenerType,
    name: string,
    lastIn: number,
    lastOut: number,
  ): Series {
    const series: Series = {
      type,
      name,
      in: new Float64Array(this.capacity),
      out: new Float64Array(this.capacity),
      lastIn,
      lastOut,
      seen: this.#ticks,
    };
    this.#series.set(lb, series);
    return series;
  }
}
