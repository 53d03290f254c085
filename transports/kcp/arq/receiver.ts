import { KcpError } from '../errors.js';
import { AckList } from './ack-list.js';
import { SegmentFifo } from './fifo.js';
import type { DatagramPacker } from './packer.js';
import type { SegmentPool } from './segment.js';
import { SeqRing } from './seq-ring.js';
import type { KcpStats } from './stats.js';
import { CMD_ACK, seqDiff } from './wire.js';

/** Most ACKs held for one flush. */
const MAX_PENDING_ACKS = 16384;

/** What happened to an incoming PUSH segment. */
export const PushOutcome = {
  /** New data, stored. */
  Stored: 0,
  /** Already had it (in rcv_buf or already delivered); acknowledged again. */
  Duplicate: 1,
  /** Beyond the receive window; dropped without an ACK (the sender will retry). */
  BeyondWindow: 2,
  /** Message mode: more fragments than our window can ever hold; dropped without an ACK. */
  Undeliverable: 3,
} as const;
export type PushOutcome = (typeof PushOutcome)[keyof typeof PushOutcome];

/**
 * The receiving half of a control block: rcv_buf (out-of-order segments addressed by sn),
 * rcv_queue (in-order segments ready for the user), the pending ACK list, and reassembly of
 * messages from fragments (spec §1.5 PUSH handling, §1.6).
 */
export class Receiver {
  /** Next sn expected in order (sent to the peer as `una`). */
  rcvNxt = 0;
  rcvWnd: number;
  stream: boolean;
  /** Set when a recv() moved the queue from full to not full: tell the peer (WINS). */
  windowReopened = false;

  private readonly pool: SegmentPool;
  private readonly buf: SeqRing;
  private readonly queue = new SegmentFifo();
  /** Unread payload bytes in rcv_queue. */
  private queueBytes = 0;
  /** Stream mode: bytes of the head segment already handed to the user. */
  private headOffset = 0;
  /** ACKs owed to the peer (and the last ones sent, for ackRepeat). */
  readonly acks = new AckList();

  constructor(pool: SegmentPool, rcvWnd: number, stream: boolean) {
    this.pool = pool;
    this.rcvWnd = rcvWnd;
    this.stream = stream;
    this.buf = new SeqRing(rcvWnd);
  }

  /** Segments waiting out of order (rcv_buf). */
  get outOfOrder(): number {
    return this.buf.size;
  }

  /** Segments delivered in order but not yet read (rcv_queue). */
  get queued(): number {
    return this.queue.length;
  }

  /** Unread in-order bytes. */
  get readableBytes(): number {
    return this.queueBytes;
  }

  /** The window advertised to the peer: rcv_wnd minus what the user has not read yet. */
  freeWindow(): number {
    const q = this.queue.length;
    return q < this.rcvWnd ? this.rcvWnd - q : 0;
  }

  setWindow(rcvWnd: number): void {
    // Entries beyond a shrunk window stay valid: capacity never shrinks, so no collisions.
    this.rcvWnd = rcvWnd;
    this.buf.ensureSpan(rcvWnd);
  }

  /** Handles one PUSH whose payload is `src[off, off+len)`. */
  onPush(
    src: Uint8Array,
    off: number,
    len: number,
    sn: number,
    ts: number,
    frg: number,
  ): PushOutcome {
    if (seqDiff(sn, this.rcvNxt + this.rcvWnd) >= 0) return PushOutcome.BeyondWindow;
    // A message the window can never hold would block rcv_queue forever; refusing it (no ACK)
    // turns a silent hang into a dead link on the sender.
    if (!this.stream && frg >= this.rcvWnd) return PushOutcome.Undeliverable;
    // Bounded so a peer flooding duplicates cannot grow it between two flushes; past this
    // (≈ 20 MB of data per flush interval) an ACK is skipped and the sender retransmits.
    if (this.acks.count < MAX_PENDING_ACKS) this.acks.push(sn, ts);
    if (seqDiff(sn, this.rcvNxt) < 0) return PushOutcome.Duplicate;
    const present = this.buf.get(sn);
    if (present !== undefined) return PushOutcome.Duplicate;
    const seg = this.pool.acquire(len);
    seg.sn = sn;
    seg.ts = ts;
    // Stream mode ignores frg so a bogus fragment count cannot hold bytes back.
    seg.frg = this.stream ? 0 : frg;
    seg.len = len;
    if (len > 0) seg.data.set(src.subarray(off, off + len));
    this.buf.put(seg);
    if (sn === this.rcvNxt) this.moveReady();
    return PushOutcome.Stored;
  }

  /**
   * Flush step 1: one ACK segment per pending (sn, ts). With `repeat`, while a gap keeps una
   * from covering them, the previous flush's ACKs go out once more: if that datagram was lost
   * the sender would otherwise fast-retransmit data we already hold.
   */
  writeAcks(out: DatagramPacker, conv: number, wnd: number, repeat: boolean, s: KcpStats): void {
    const acks = this.acks;
    const una = this.rcvNxt;
    for (let i = 0; i < acks.count; i++) {
      out.put(conv, CMD_ACK, 0, wnd, acks.tsAt(i), acks.snAt(i), una, null, 0);
    }
    s.outAcks += acks.count;
    if (repeat && this.buf.size > 0) {
      for (let i = 0; i < acks.prevCount; i++) {
        const sn = acks.prevSnAt(i);
        if (seqDiff(sn, una) < 0) continue;
        out.put(conv, CMD_ACK, 0, wnd, acks.prevTsAt(i), sn, una, null, 0);
        s.outAckRepeats++;
      }
    }
    acks.rotate();
  }

  /** Size of what recv() would return next, or −1 if nothing is complete (spec peeksize). */
  peekSize(): number {
    if (this.stream) return this.queueBytes > 0 ? this.queueBytes : -1;
    const last = this.messageEnd();
    if (last < 0) return -1;
    let size = 0;
    for (let i = 0; i <= last; i++) size += this.queue.at(i)?.len ?? 0;
    return size;
  }

  /**
   * Copies readable data into `into` at `offset`. Stream mode: as many bytes as fit. Message
   * mode: exactly one whole message, which must fit. Returns the byte count, or −1 if nothing
   * is ready.
   */
  recv(into: Uint8Array, offset: number): number {
    const wasFull = this.queue.length >= this.rcvWnd;
    const n = this.stream ? this.readStream(into, offset) : this.readMessage(into, offset);
    if (n < 0) return n;
    this.moveReady();
    if (wasFull && this.queue.length < this.rcvWnd) this.windowReopened = true;
    return n;
  }

  private readStream(into: Uint8Array, offset: number): number {
    if (this.queueBytes === 0) return -1;
    let room = into.length - offset;
    let copied = 0;
    while (room > 0) {
      const seg = this.queue.first();
      if (seg === undefined) break;
      const n = Math.min(seg.len - this.headOffset, room);
      into.set(seg.data.subarray(this.headOffset, this.headOffset + n), offset + copied);
      copied += n;
      room -= n;
      this.headOffset += n;
      if (this.headOffset === seg.len) {
        this.queue.shift();
        this.pool.release(seg);
        this.headOffset = 0;
      }
    }
    this.queueBytes -= copied;
    return copied;
  }

  private readMessage(into: Uint8Array, offset: number): number {
    const last = this.messageEnd();
    if (last < 0) return -1;
    const size = this.peekSize();
    if (size > into.length - offset) {
      throw new KcpError(
        'ERR_KCP_BUFFER_TOO_SMALL',
        `next KCP message is ${size} bytes, buffer has room for ${into.length - offset}`,
      );
    }
    let at = offset;
    for (let i = 0; i <= last; i++) {
      const seg = this.queue.shift();
      if (seg === undefined) break;
      into.set(seg.data.subarray(0, seg.len), at);
      at += seg.len;
      this.pool.release(seg);
    }
    this.queueBytes -= size;
    return size;
  }

  /**
   * Index in rcv_queue of the last fragment of the head message, or −1 if incomplete. A full
   * queue without any message end (only a broken peer sends that) is returned whole rather
   * than blocking the connection forever.
   */
  private messageEnd(): number {
    const head = this.queue.first();
    if (head === undefined) return -1;
    if (head.frg === 0) return 0;
    if (this.queue.length < head.frg + 1 && this.queue.length < this.rcvWnd) return -1;
    for (let i = 0; i < this.queue.length; i++) {
      if (this.queue.at(i)?.frg === 0) return i;
    }
    return this.queue.length >= this.rcvWnd ? this.queue.length - 1 : -1;
  }

  /** Moves in-order segments from rcv_buf to rcv_queue while the queue has room. */
  private moveReady(): void {
    while (this.queue.length < this.rcvWnd) {
      const seg = this.buf.get(this.rcvNxt);
      if (seg === undefined || seg.sn !== this.rcvNxt) break;
      this.buf.take(this.rcvNxt);
      this.rcvNxt = (this.rcvNxt + 1) >>> 0;
      if (this.stream && seg.len === 0) {
        this.pool.release(seg); // nothing to read; must not occupy a queue slot
        continue;
      }
      this.queue.push(seg);
      this.queueBytes += seg.len;
    }
  }
}
