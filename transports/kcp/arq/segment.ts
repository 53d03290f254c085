/**
 * A segment's bookkeeping plus its payload bytes. Segments are recycled through a
 * SegmentPool, so steady-state traffic creates no objects: each one owns a payload buffer of
 * the pool's standard size that is reused with the segment.
 */
export class Segment {
  sn = 0;
  ts = 0;
  frg = 0;
  /** Payload bytes used in `data`. */
  len = 0;
  /** Current retransmission timeout of this segment (sender side). */
  rto = 0;
  /** When it is next due for retransmission (uint32 ms). */
  resendts = 0;
  /** How many later segments were acknowledged since it was last sent. */
  fastack = 0;
  /** How many times it has been transmitted. */
  xmit = 0;
  /** Its last transmission was a retransmission on timeout (for spurious-timeout detection). */
  timedOut = false;
  /** Pacing mode: the pacer's delivery state when this segment was last sent. */
  txDelivered = 0;
  txDeliveredTime = 0;
  txFirstSent = 0;
  txAppLimited = false;
  data: Uint8Array;

  constructor(capacity: number) {
    this.data = new Uint8Array(capacity);
  }
}

/**
 * Free list of segments. Buffers larger than the standard size (a peer with a bigger mtu) are
 * dropped on release so a burst of oversized segments does not pin memory; the free list is
 * capped so a one-off huge send does not keep its segments forever.
 */
export class SegmentPool {
  private readonly free: Segment[] = [];
  private standard: number;
  private readonly maxFree: number;

  constructor(standardSize: number, maxFree: number) {
    this.standard = standardSize;
    this.maxFree = maxFree;
  }

  /** Standard payload capacity (the mss). */
  get segmentSize(): number {
    return this.standard;
  }

  /** Changes the standard size; pooled segments with other sizes are discarded. */
  resize(standardSize: number): void {
    if (standardSize === this.standard) return;
    this.standard = standardSize;
    this.free.length = 0;
  }

  /** A cleared segment whose buffer holds at least `capacity` bytes. */
  acquire(capacity: number): Segment {
    const seg = this.free.pop() ?? new Segment(this.standard);
    if (seg.data.length < capacity) seg.data = new Uint8Array(capacity);
    seg.len = 0;
    seg.frg = 0;
    seg.fastack = 0;
    seg.xmit = 0;
    seg.timedOut = false;
    return seg;
  }

  release(seg: Segment): void {
    // Oversized buffers (or ones from before a resize) go back to the GC with their segment.
    if (this.free.length >= this.maxFree || seg.data.length !== this.standard) return;
    this.free.push(seg);
  }
}
