import type { Segment } from './segment.js';

/**
 * Segments addressed directly by sequence number: slot = sn mod capacity. Both in-flight
 * (snd_buf) and out-of-order received (rcv_buf) segments occupy a contiguous sn span no wider
 * than a window, so with capacity ≥ that span there are no collisions, and lookup, insert and
 * removal by sn are O(1) instead of the reference's linked-list scans.
 */
export class SeqRing {
  private slots: (Segment | undefined)[];
  private mask: number;
  /** Occupied slots. */
  size = 0;

  constructor(minSpan: number) {
    const cap = pow2AtLeast(minSpan);
    this.slots = new Array<Segment | undefined>(cap).fill(undefined);
    this.mask = cap - 1;
  }

  get capacity(): number {
    return this.mask + 1;
  }

  get(sn: number): Segment | undefined {
    return this.slots[sn & this.mask];
  }

  /** Stores `seg` at `seg.sn`; the caller guarantees the slot is free and within span. */
  put(seg: Segment): void {
    this.slots[seg.sn & this.mask] = seg;
    this.size++;
  }

  /** Removes and returns the segment at `sn`, if any. */
  take(sn: number): Segment | undefined {
    const i = sn & this.mask;
    const seg = this.slots[i];
    if (seg !== undefined) {
      this.slots[i] = undefined;
      this.size--;
    }
    return seg;
  }

  /** Grows (never shrinks) so that a span of `span` consecutive sns fits without collisions. */
  ensureSpan(span: number): void {
    if (span <= this.mask + 1) return;
    const cap = pow2AtLeast(span);
    const next = new Array<Segment | undefined>(cap).fill(undefined);
    const mask = cap - 1;
    for (const seg of this.slots) if (seg !== undefined) next[seg.sn & mask] = seg;
    this.slots = next;
    this.mask = mask;
  }
}

function pow2AtLeast(n: number): number {
  let cap = 16;
  while (cap < n) cap *= 2;
  return cap;
}
