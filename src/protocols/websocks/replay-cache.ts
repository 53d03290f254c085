import { MINUTE_MS, minuteOf } from './password-hash.js';

export interface ReplayCacheOptions {
  /** Most headers remembered at once (default 65,536, a few MiB). */
  readonly maxEntries?: number;
  /**
   * How many times one header value may be used within its window (default 1).
   * The hash depends only on (user, password, minute), so a reference agent
   * sends the same header for every connection it opens in a minute — its pool
   * alone opens up to `agent.pool` per worker. A server for reference agents
   * needs a budget of about pool × workers + bursts; 1 suits clients that make
   * one connection a minute per user.
   */
  readonly maxUses?: number;
}

/** What the cache says about a header that passed the hash check. */
export type ReplayVerdict = 'fresh' | 'replayed' | 'full';

/**
 * Remembers the Authorization headers already used, so a captured header
 * cannot be replayed while its hash is still valid.
 *
 * A header salted with minute m verifies while the server's minute is m − 1,
 * m or m + 1 (§3.2), so it is remembered until minute m + 2 begins and then
 * forgotten: by then the hash check refuses it anyway. Entries live in one
 * bucket per salt minute, so expiry drops whole buckets (at most four exist)
 * and no timer is needed — every call passes the time.
 *
 * Memory is bounded by `maxEntries`. When full, new headers are refused
 * ('full') rather than evicting live ones: evicting would reopen exactly the
 * replay this exists to stop. Only headers that verified are ever recorded,
 * so filling it takes valid credentials.
 */
export class ReplayCache {
  readonly #maxEntries: number;
  readonly #maxUses: number;
  readonly #buckets = new Map<number, Map<string, number>>();
  #size = 0;

  constructor(options: ReplayCacheOptions = {}) {
    this.#maxEntries = options.maxEntries ?? 65_536;
    this.#maxUses = options.maxUses ?? 1;
    if (!(Number.isInteger(this.#maxEntries) && this.#maxEntries > 0)) {
      throw new RangeError('maxEntries must be a positive integer');
    }
    if (!(Number.isInteger(this.#maxUses) && this.#maxUses > 0)) {
      throw new RangeError('maxUses must be a positive integer');
    }
  }

  /** Record `key` as used up for its window: any later check says 'replayed'. */
  spend(key: string, minute: number, nowMs: number): void {
    this.commit(key, minute, nowMs, this.#maxUses);
  }

  /** Headers remembered now (after dropping expired buckets at `nowMs`). */
  size(nowMs: number): number {
    this.#expire(nowMs);
    return this.#size;
  }

  /** Whether `header` may be used at `nowMs`; changes nothing but expiry. */
  check(header: string, nowMs: number): ReplayVerdict {
    this.#expire(nowMs);
    for (const bucket of this.#buckets.values()) {
      const uses = bucket.get(header);
      if (uses !== undefined) return uses >= this.#maxUses ? 'replayed' : 'fresh';
    }
    return this.#size >= this.#maxEntries ? 'full' : 'fresh';
  }

  /**
   * Record `uses` uses (default one) of `header`, which verified with salt
   * `minute`. Call after `check` said 'fresh' and the whole request was
   * accepted; `spend` uses its whole budget at once.
   */
  commit(header: string, minute: number, nowMs: number, uses = 1): void {
    this.#expire(nowMs);
    for (const bucket of this.#buckets.values()) {
      const had = bucket.get(header);
      if (had !== undefined) {
        bucket.set(header, had + uses);
        return;
      }
    }
    if (this.#size >= this.#maxEntries) return;
    let bucket = this.#buckets.get(minute);
    if (!bucket) {
      bucket = new Map();
      this.#buckets.set(minute, bucket);
    }
    bucket.set(header, uses);
    this.#size++;
  }

  #expire(nowMs: number): void {
    const now = minuteOf(nowMs);
    for (const [minute, bucket] of this.#buckets) {
      if (now >= minute + 2 * MINUTE_MS) {
        this.#size -= bucket.size;
        this.#buckets.delete(minute);
      }
    }
  }
}
