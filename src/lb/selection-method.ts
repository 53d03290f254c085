import { clientHashKey, type HashKey, nameHashKey, rendezvousScore } from './client-hash.js';
import { LbError } from './errors.js';
import { SmoothWeighted } from './smooth-weighted.js';

export type MethodName = 'wrr' | 'wlc' | 'source' | 'random';
export const METHOD_NAMES: readonly MethodName[] = ['wrr', 'wlc', 'source', 'random'];
/** What a server group balances with unless told otherwise. */
export const DEFAULT_METHOD: MethodName = 'wrr';

/** What a selection method needs to know about a server. */
export interface Selectable {
  readonly name: string;
  readonly weight: number;
  /** Healthy and weight > 0. */
  readonly available: boolean;
  /** Live backend connections (wlc). */
  readonly activeConnections: number;
  /** Live connections held by other processes (a worker's copy of a server), which wlc counts too. */
  readonly elsewhere?: number;
}

/**
 * A new connection's client address, or how to read it: only a method that
 * hashes it (source) asks, so the others never pay for it (an accepted socket's
 * address is a getpeername syscall).
 */
export type ClientAddress = string | null | (() => string | null);

/**
 * Chooses one available server per new connection. Methods read weights,
 * health and connection counts at pick time, so servers can be added, removed
 * and re-weighted between any two picks with no table to rebuild.
 */
export interface SelectionMethod<S extends Selectable = Selectable> {
  readonly name: MethodName;
  pick(servers: readonly S[], clientAddress: ClientAddress): S | null;
  /** The server was removed: drop any state kept for it. */
  forget(server: S): void;
  /** Weights or membership changed. */
  reset(): void;
}

export function parseMethod(text: string): MethodName {
  if ((METHOD_NAMES as readonly string[]).includes(text)) return text as MethodName;
  throw new LbError(
    'ERR_METHOD_INVALID',
    `invalid method ${JSON.stringify(text)}: expected one of ${METHOD_NAMES.join(', ')}`,
  );
}

/** `random` drives the wrr tie offset and the `random` method (inject a seeded one in tests). */
export function createMethod<S extends Selectable>(
  name: MethodName,
  random: () => number = Math.random,
): SelectionMethod<S> {
  switch (name) {
    case 'wrr':
      return new WeightedRoundRobin<S>(random);
    case 'wlc':
      return new WeightedLeastConnections<S>(random);
    case 'source':
      return new SourceHash<S>();
    case 'random':
      return new WeightedRandom<S>(random);
    default:
      // Unreachable for typed callers; a config string that slipped through gets the typed error.
      parseMethod(name);
      throw new LbError('ERR_METHOD_INVALID', `invalid method ${String(name)}`);
  }
}

/** Smooth weighted round robin over the available servers. */
class WeightedRoundRobin<S extends Selectable> implements SelectionMethod<S> {
  readonly name = 'wrr';
  readonly #swrr: SmoothWeighted<S>;

  constructor(random: () => number) {
    this.#swrr = new SmoothWeighted<S>(random);
  }

  pick(servers: readonly S[]): S | null {
    return this.#swrr.pick(servers);
  }

  forget(server: S): void {
    this.#swrr.forget(server);
  }

  reset(): void {
    this.#swrr.reset();
  }
}

/**
 * Weighted least connections (LVS): the server with the lowest
 * connections / weight (a worker counts its copy's connections and those the
 * other workers hold, `elsewhere`), compared as C(a)·W(b) < C(b)·W(a) to stay in integers.
 * Ties (an idle group, or equal load) go by smooth weighted round robin among
 * the tied servers, not to the first in the list: an idle group then spreads
 * as wrr does instead of piling onto one server.
 */
class WeightedLeastConnections<S extends Selectable> implements SelectionMethod<S> {
  readonly name = 'wlc';
  readonly #swrr: SmoothWeighted<S>;
  readonly #tied: S[] = [];

  constructor(random: () => number) {
    this.#swrr = new SmoothWeighted<S>(random);
  }

  pick(servers: readonly S[]): S | null {
    let best: S | null = null;
    let bestLoad = 0;
    for (const s of servers) {
      if (!s.available) continue;
      const load = connections(s);
      if (best === null || load * best.weight < bestLoad * s.weight) {
        best = s;
        bestLoad = load;
      }
    }
    if (best === null) return null;
    const tied = this.#tied;
    tied.length = 0;
    for (const s of servers) {
      if (s.available && connections(s) * best.weight === bestLoad * s.weight) tied.push(s);
    }
    const picked = tied.length === 1 ? best : this.#swrr.pick(tied);
    tied.length = 0;
    return picked;
  }

  forget(server: S): void {
    this.#swrr.forget(server);
  }

  reset(): void {
    this.#swrr.reset();
  }
}

/** A server's live connections for wlc: this process's, plus those held elsewhere (workers). */
function connections(s: Selectable): number {
  return s.activeConnections + (s.elsewhere ?? 0);
}

/**
 * Client-address affinity by weighted rendezvous hashing (see
 * `rendezvousScore`): shares follow weights, and a server joining or leaving
 * moves only the clients that go to (or went to) that server. A DOWN or
 * drained server's clients move to their second choice and come back when it
 * returns. Servers are identified by name, so re-addressing one keeps its clients.
 */
class SourceHash<S extends Selectable> implements SelectionMethod<S> {
  readonly name = 'source';
  readonly #keys = new WeakMap<S, HashKey>();

  pick(servers: readonly S[], clientAddress: ClientAddress): S | null {
    const client = clientHashKey(
      typeof clientAddress === 'function' ? clientAddress() : clientAddress,
    );
    let best: S | null = null;
    let bestScore = Number.NEGATIVE_INFINITY;
    for (const s of servers) {
      if (!s.available) continue;
      let key = this.#keys.get(s);
      if (key === undefined) {
        key = nameHashKey(s.name);
        this.#keys.set(s, key);
      }
      const score = rendezvousScore(client, key, s.weight);
      // Exact ties are astronomically rare; the name order keeps even those
      // independent of the order servers were added in.
      if (best === null || score > bestScore || (score === bestScore && s.name < best.name)) {
        best = s;
        bestScore = score;
      }
    }
    return best;
  }

  forget(): void {}

  reset(): void {}
}

/** Weighted random: each available server with probability weight / Σweight. */
class WeightedRandom<S extends Selectable> implements SelectionMethod<S> {
  readonly name = 'random';
  readonly #random: () => number;

  constructor(random: () => number) {
    this.#random = random;
  }

  pick(servers: readonly S[]): S | null {
    let total = 0;
    for (const s of servers) if (s.available) total += s.weight;
    if (total === 0) return null;
    let r = this.#random() * total;
    let last: S | null = null;
    for (const s of servers) {
      if (!s.available) continue;
      last = s;
      r -= s.weight;
      if (r < 0) return s;
    }
    return last; // only reached through rounding at the very top of the range
  }

  forget(): void {}

  reset(): void {}
}
