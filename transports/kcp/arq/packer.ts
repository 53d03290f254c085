import type { KcpStats } from './stats.js';
import { OVERHEAD, writeHeader } from './wire.js';

/**
 * Receives each datagram a flush produces. `datagram` is the block's internal buffer and is
 * only valid during the call: copy (or send synchronously) before returning. Must not call
 * back into the same control block synchronously.
 */
export type OutputFn = (datagram: Uint8Array, length: number) => void;

/**
 * Packs segments back to back into datagrams of at most `mtu` bytes (spec §1.2): before a
 * segment that would overflow, the current datagram is emitted. One reusable buffer.
 */
export class DatagramPacker {
  private buf: Uint8Array;
  private off = 0;
  private mtu: number;
  private readonly output: OutputFn;
  private readonly stats: KcpStats;

  constructor(mtu: number, output: OutputFn, stats: KcpStats) {
    this.mtu = mtu;
    this.stats = stats;
    this.buf = new Uint8Array(mtu);
    this.output = output;
  }

  setMtu(mtu: number): void {
    this.emit();
    this.mtu = mtu;
    this.buf = new Uint8Array(mtu);
  }

  /** Appends a header, then `len` bytes of `payload` (from offset 0). */
  put(
    conv: number,
    cmd: number,
    frg: number,
    wnd: number,
    ts: number,
    sn: number,
    una: number,
    payload: Uint8Array | null,
    len: number,
  ): void {
    const size = OVERHEAD + len;
    if (this.off + size > this.mtu) this.emit();
    if (size > this.buf.length) this.buf = growTo(this.buf, size); // a segment larger than mtu
    writeHeader(this.buf, this.off, conv, cmd, frg, wnd, ts, sn, una, len);
    if (payload !== null && len > 0) {
      this.buf.set(
        len === payload.length ? payload : payload.subarray(0, len),
        this.off + OVERHEAD,
      );
    }
    this.off += size;
    this.stats.outSegments++;
  }

  /** Hands the pending datagram, if any, to the output function. */
  emit(): void {
    if (this.off === 0) return;
    const n = this.off;
    this.off = 0;
    this.stats.outDatagrams++;
    this.output(this.buf, n);
  }
}

function growTo(buf: Uint8Array, size: number): Uint8Array {
  const next = new Uint8Array(size);
  next.set(buf);
  return next;
}
