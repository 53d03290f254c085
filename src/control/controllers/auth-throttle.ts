import { isIPv4, isIPv6 } from 'node:net';

export interface AuthThrottleOptions {
  /** Failed attempts an address may make in a burst (default 10). */
  readonly burst?: number;
  /** Failed attempts regained per second (default 1). */
  readonly refillPerSecond?: number;
  /** Addresses tracked at most (default 4,096); past that, new ones share one bucket. */
  readonly maxAddresses?: number;
  /** Clock in ms (tests pass a fake one). */
  readonly now?: () => number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** The key of the bucket shared by every address once the table is full. */
export const OVERFLOW_KEY = '*';

function expandIPv6(host: string): string[] | null {
  const halves = host.split('::');
  if (halves.length > 2) return null;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  // An embedded IPv4 tail (::ffff:1.2.3.4, 64:ff9b::1.2.3.4) is two groups.
  const last = tail.length > 0 ? tail : head;
  const v4 = last[last.length - 1];
  if (v4?.includes('.')) {
    const o = v4.split('.').map(Number);
    last.splice(last.length - 1, 1, ((o[0] ?? 0) * 256 + (o[1] ?? 0)).toString(16));
    last.push(((o[2] ?? 0) * 256 + (o[3] ?? 0)).toString(16));
  }
  const missing = 8 - head.length - tail.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return null;
  return [...head, ...Array<string>(missing).fill('0'), ...tail].map((g) =>
    Number.parseInt(g, 16).toString(16),
  );
}

/**
 * The throttling key of a client address: an IPv4 address as is (also when
 * IPv4-mapped), an IPv6 address by its /64, since one host usually holds a
 * whole /64 and could otherwise rotate through addresses for fresh buckets.
 * Anything else (no address: a non-IP transport) shares the key `unknown`.
 */
export function throttleKey(address: string | undefined): string {
  if (address === undefined) return 'unknown';
  const host = address.replace(/%.*$/, '');
  if (isIPv4(host)) return host;
  if (!isIPv6(host)) return 'unknown';
  const groups = expandIPv6(host.toLowerCase());
  if (groups === null) return 'unknown';
  if (groups.slice(0, 5).every((g) => g === '0') && groups[5] === 'ffff') {
    const hi = Number.parseInt(groups[6] ?? '0', 16);
    const lo = Number.parseInt(groups[7] ?? '0', 16);
    return [hi >> 8, hi & 255, lo >> 8, lo & 255].join('.');
  }
  return `${groups.slice(0, 4).join(':')}::/64`;
}

/**
 * A token bucket per client address for failed authentications: each failure
 * takes a token, tokens come back at a steady rate, and an address with no
 * token left is refused without its password being checked — so a guesser
 * gets `refillPerSecond` guesses a second however fast it sends. The table is
 * bounded: a full bucket is the same as none and is dropped first, and when
 * every slot holds a draining bucket new addresses share one overflow bucket,
 * so flooding from many addresses cannot grow memory or reset anyone's limit.
 */
export class AuthThrottle {
  readonly #burst: number;
  readonly #refillPerMs: number;
  readonly #max: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();
  #prunedAt = Number.NEGATIVE_INFINITY;

  constructor(options: AuthThrottleOptions = {}) {
    this.#burst = options.burst ?? 10;
    this.#refillPerMs = (options.refillPerSecond ?? 1) / 1000;
    this.#max = options.maxAddresses ?? 4096;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Addresses with a bucket now (the overflow bucket included). */
  get size(): number {
    return this.#buckets.size;
  }

  /** Whether a guess from `address` may be checked now. */
  allows(address: string | undefined): boolean {
    const b = this.#bucket(this.#keyOf(address), false);
    return b === undefined || b.tokens >= 1;
  }

  /** Milliseconds until `address` may guess again (0: now). */
  retryAfterMs(address: string | undefined): number {
    const b = this.#bucket(this.#keyOf(address), false);
    if (b === undefined || b.tokens >= 1) return 0;
    return Math.ceil((1 - b.tokens) / this.#refillPerMs);
  }

  /** Record a failed guess from `address`. */
  fail(address: string | undefined): void {
    const b = this.#bucket(this.#keyOf(address), true);
    if (b !== undefined) b.tokens = Math.max(0, b.tokens - 1);
  }

  /** The bucket key: the address's own, or the overflow key when the table is full. */
  #keyOf(address: string | undefined): string {
    const key = throttleKey(address);
    if (this.#buckets.has(key) || this.#buckets.size < this.#max) return key;
    // A full table is swept at most once a second, so a flood from many
    // addresses costs one pass over the table a second, not one per attempt.
    if (this.#now() - this.#prunedAt >= 1000) this.#prune();
    return this.#buckets.size < this.#max ? key : OVERFLOW_KEY;
  }

  #bucket(key: string, create: boolean): Bucket | undefined {
    const now = this.#now();
    let b = this.#buckets.get(key);
    if (b === undefined) {
      if (!create) return undefined;
      b = { tokens: this.#burst, at: now };
      // The overflow bucket may exceed the table by one: it is what bounds it.
      this.#buckets.set(key, b);
      return b;
    }
    b.tokens = Math.min(this.#burst, b.tokens + (now - b.at) * this.#refillPerMs);
    b.at = now;
    return b;
  }

  /** Drop every bucket that has refilled: it is indistinguishable from none. */
  #prune(): void {
    const now = this.#now();
    this.#prunedAt = now;
    for (const [key, b] of this.#buckets) {
      if (b.tokens + (now - b.at) * this.#refillPerMs >= this.#burst) this.#buckets.delete(key);
    }
  }
}
