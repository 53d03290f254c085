/**
 * (sn, ts) pairs waiting to be acknowledged at the next flush, plus the pairs sent by the
 * previous flush so they can be repeated once (the `ackRepeat` tunable). Two pairs of typed
 * arrays swapped each flush: no allocation once grown.
 */
export class AckList {
  private sn = new Uint32Array(64);
  private ts = new Uint32Array(64);
  private prevSn = new Uint32Array(64);
  private prevTs = new Uint32Array(64);
  /** Pending pairs. */
  count = 0;
  /** Pairs the previous flush sent. */
  prevCount = 0;

  push(sn: number, ts: number): void {
    if (this.count === this.sn.length) {
      this.sn = grow(this.sn);
      this.ts = grow(this.ts);
    }
    this.sn[this.count] = sn;
    this.ts[this.count] = ts;
    this.count++;
  }

  snAt(i: number): number {
    return this.sn[i] as number;
  }

  tsAt(i: number): number {
    return this.ts[i] as number;
  }

  prevSnAt(i: number): number {
    return this.prevSn[i] as number;
  }

  prevTsAt(i: number): number {
    return this.prevTs[i] as number;
  }

  /** After a flush sent the pending pairs: they become the previous ones. */
  rotate(): void {
    const sn = this.prevSn;
    const ts = this.prevTs;
    this.prevSn = this.sn;
    this.prevTs = this.ts;
    this.prevCount = this.count;
    this.sn = sn;
    this.ts = ts;
    this.count = 0;
  }
}

function grow(a: Uint32Array): Uint32Array<ArrayBuffer> {
  const b = new Uint32Array(a.length * 2);
  b.set(a);
  return b;
}
