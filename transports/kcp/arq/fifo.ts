import type { Segment } from './segment.js';

/** A growable ring-buffer FIFO of segments (snd_queue, rcv_queue); no per-push allocation. */
export class SegmentFifo {
  private items: (Segment | undefined)[] = new Array<Segment | undefined>(16).fill(undefined);
  private head = 0;
  /** Segments queued. */
  length = 0;

  /** Oldest segment, or undefined. */
  first(): Segment | undefined {
    return this.length === 0 ? undefined : this.items[this.head];
  }

  /** Newest segment, or undefined. */
  last(): Segment | undefined {
    if (this.length === 0) return undefined;
    return this.items[(this.head + this.length - 1) & (this.items.length - 1)];
  }

  /** The i-th segment from the head (0 = oldest), or undefined. */
  at(i: number): Segment | undefined {
    if (i < 0 || i >= this.length) return undefined;
    return this.items[(this.head + i) & (this.items.length - 1)];
  }

  push(seg: Segment): void {
    if (this.length === this.items.length) this.grow();
    this.items[(this.head + this.length) & (this.items.length - 1)] = seg;
    this.length++;
  }

  shift(): Segment | undefined {
    if (this.length === 0) return undefined;
    const seg = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) & (this.items.length - 1);
    this.length--;
    return seg;
  }

  private grow(): void {
    const next = new Array<Segment | undefined>(this.items.length * 2).fill(undefined);
    for (let i = 0; i < this.length; i++) {
      next[i] = this.items[(this.head + i) & (this.items.length - 1)];
    }
    this.items = next;
    this.head = 0;
  }
}
