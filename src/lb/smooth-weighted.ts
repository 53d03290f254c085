/** What smooth weighted round robin picks from: servers, or an upstream's groups. */
export interface WeightedCandidate {
  readonly weight: number;
  /** Takes part in this pick (healthy, has servers…). Weight 0 never does. */
  readonly available: boolean;
}

/**
 * Smooth weighted round robin (nginx): each pick, every available candidate
 * gains its weight; the one with the most is picked and pays back the total.
 * Over any window of Σw picks each candidate gets exactly its weight, spread
 * out (5/1/1 gives A A B A C A A), and candidates joining or leaving between
 * picks need no rebuilt table: the state is a number per candidate.
 *
 * Ties go to the first candidate in list order counted from a per-instance
 * random offset, so identical LBs do not all send their first connections to
 * the same server (the reference rotates its precomputed sequence instead).
 */
export class SmoothWeighted<T extends WeightedCandidate> {
  readonly #current = new Map<T, number>();
  readonly #offset: number;

  constructor(random: () => number = Math.random) {
    this.#offset = Math.floor(random() * 0x7fffffff);
  }

  /** Pick among `candidates` (those available with weight > 0); null when none is. */
  pick(candidates: readonly T[], filter?: (candidate: T) => boolean): T | null {
    const n = candidates.length;
    if (n === 0) return null;
    const start = this.#offset % n;
    let total = 0;
    let best: T | null = null;
    let bestCurrent = 0;
    for (let k = 0; k < n; k++) {
      const c = candidates[(start + k) % n] as T;
      const w = c.weight;
      if (w <= 0 || !c.available || (filter !== undefined && !filter(c))) continue;
      const current = (this.#current.get(c) ?? 0) + w;
      this.#current.set(c, current);
      total += w;
      if (best === null || current > bestCurrent) {
        best = c;
        bestCurrent = current;
      }
    }
    if (best !== null) this.#current.set(best, bestCurrent - total);
    return best;
  }

  /** Drop a candidate's state (it was removed). */
  forget(candidate: T): void {
    this.#current.delete(candidate);
  }

  /** Start over (weights or membership changed): everyone back to zero. */
  reset(): void {
    this.#current.clear();
  }
}
