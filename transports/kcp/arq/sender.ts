import { KcpError } from '../errors.js';
import { SegmentFifo } from './fifo.js';
import type { Pacer } from './pacer.js';
import type { DatagramPacker } from './packer.js';
import type { Segment, SegmentPool } from './segment.js';
import { SeqRing } from './seq-ring.js';
import type { KcpStats } from './stats.js';
import { CMD_PUSH, seqDiff } from './wire.js';

/**
 * Most fragments one message may have. The C reference refuses count ≥ 128 (its default
 * receive window), so larger messages could never be reassembled by a C peer.
 */
export const MAX_FRAGMENTS = 127;

/** transmit() result bits. */
export const SENT_FAST = 1;
export const SENT_TIMEOUT = 2;

/** Per-flush parameters of transmit(); one reusable object owned by the control block. */
export interface TransmitParams {
  conv: number;
  now: number;
  /** Window advertised in every header. */
  wnd: number;
  /** Our rcv_nxt, advertised as una in every header. */
  una: number;
  /** Sequence span that may be outstanding (min of snd/rmt/congestion windows). */
  window: number;
  /** Pacing: most unacknowledged segments (lost ones hold the span open, not this). */
  inflightCap: number;
  /** The peer's advertised window is what bounds `window` (below our send window). */
  peerLimited: boolean;
  rxRto: number;
  nodelay: boolean;
  resend: number;
  fastLimit: number;
  deadLink: number;
  /** kcp-go's early retransmit (KcpTunables.earlyRetransmit). */
  earlyRetransmit: boolean;
}

export function newTransmitParams(conv: number): TransmitParams {
  return {
    conv,
    now: 0,
    wnd: 0,
    una: 0,
    window: 0,
    inflightCap: 0,
    peerLimited: false,
    rxRto: 0,
    nodelay: false,
    resend: 0,
    fastLimit: 0,
    deadLink: 0,
    earlyRetransmit: false,
  };
}

/**
 * The sending half of a control block: snd_queue (not yet numbered), snd_buf (in flight,
 * addressed by sn), cumulative and selective ACK handling, fast-ack counting, and the
 * retransmission pass of flush (spec §1.4, §1.5, §1.7 steps 4–5).
 */
export class Sender {
  /** Oldest unacknowledged sn. */
  una = 0;
  /** Next sn to assign. */
  nxt = 0;
  mss: number;
  stream: boolean;
  /** Some segment reached the dead-link transmit count. */
  dead = false;
  /** Bytes waiting in snd_queue (not yet numbered). */
  queuedBytes = 0;
  /** Segments in flight that were sent more than once (the spurious check runs only then). */
  resentInFlight = 0;
  /** Set in pacing mode: stamps sends, learns from deliveries. */
  pacer: Pacer | null = null;
  /** Told the RTT of the copy that arrived when a timeout retransmission proves spurious. */
  onSpuriousTimeout: ((rtt: number, now: number) => void) | null = null;
  /** Told of a segment's first timeout retransmission (since it was last sent anew or fast). */
  onTimeout: (() => void) | null = null;
  private readonly pool: SegmentPool;
  private readonly stats: KcpStats;
  private readonly queue = new SegmentFifo();
  private readonly buf: SeqRing;
  /** A lower bound of the earliest resendts in snd_buf (exact after each scan). */
  private nextResendAt = 0;
  /** Some segment's fastack reached the threshold since the last scan. */
  private fastDue = false;
  /** Some segment was passed by a later ACK since the last scan (early retransmit). */
  private earlyDue = false;

  constructor(pool: SegmentPool, stats: KcpStats, mss: number, sndWnd: number, stream: boolean) {
    this.pool = pool;
    this.stats = stats;
    this.mss = mss;
    this.stream = stream;
    this.buf = new SeqRing(sndWnd);
  }

  /** Segments in flight (snd_buf). */
  get inFlight(): number {
    return this.buf.size;
  }

  /** Segments not yet numbered (snd_queue). */
  get queued(): number {
    return this.queue.length;
  }

  /** Queues user data (spec §1.4). */
  send(data: Uint8Array): void {
    const mss = this.mss;
    let pos = 0;
    let rest = data.length;
    if (this.stream) {
      if (rest === 0) return;
      const tail = this.queue.last();
      if (tail !== undefined && tail.len < mss && tail.data.length >= mss) {
        const n = Math.min(mss - tail.len, rest);
        tail.data.set(data.subarray(0, n), tail.len);
        tail.len += n;
        pos = n;
        rest -= n;
        this.queuedBytes += n;
        if (rest === 0) return;
      }
    }
    const count = rest <= mss ? 1 : Math.ceil(rest / mss);
    if (!this.stream && count > MAX_FRAGMENTS) {
      throw new KcpError(
        'ERR_KCP_MESSAGE_TOO_LARGE',
        `KCP message of ${data.length} bytes needs ${count} fragments, at most ${MAX_FRAGMENTS}`,
      );
    }
    for (let i = 0; i < count; i++) {
      const n = Math.min(mss, rest);
      const seg = this.pool.acquire(mss);
      if (n > 0) seg.data.set(data.subarray(pos, pos + n));
      seg.len = n;
      seg.frg = this.stream ? 0 : count - 1 - i;
      this.queue.push(seg);
      this.queuedBytes += n;
      pos += n;
      rest -= n;
    }
  }

  /**
   * Changes the segment size. Stream mode re-cuts what is still queued (not yet numbered) so
   * new datagrams respect a smaller mtu; numbered segments keep their size (their sn is fixed),
   * and message mode keeps its fragments as they are.
   */
  setMss(mss: number): void {
    this.mss = mss;
    if (!this.stream) return;
    const old: Segment[] = [];
    for (let seg = this.queue.shift(); seg !== undefined; seg = this.queue.shift()) old.push(seg);
    this.queuedBytes = 0;
    for (const seg of old) {
      this.send(seg.data.subarray(0, seg.len));
      this.pool.release(seg);
    }
  }

  /** Peer's cumulative ack: everything below `una` arrived. Caller checked una ≤ nxt. */
  onUna(una: number, now: number): void {
    const upTo = seqDiff(una, this.nxt) > 0 ? this.nxt : una; // input() rejects this anyway
    while (seqDiff(upTo, this.una) > 0) {
      const seg = this.buf.take(this.una);
      if (seg !== undefined) this.acked(seg, now);
      this.una = (this.una + 1) >>> 0;
    }
    this.skipAcked();
  }

  /**
   * An ACK of `sn` echoing `ts`, seen before its header's una releases anything: when it
   * acknowledges a copy sent before the segment's last retransmission, that copy had
   * arrived and the retransmission was for nothing (counted; a timeout's raises the floor).
   * The ACK releases the segment in the same input, so it is counted once.
   */
  noteAck(sn: number, ts: number, now: number): void {
    if (seqDiff(sn, this.una) < 0 || seqDiff(sn, this.nxt) >= 0) return;
    const seg = this.buf.get(sn);
    if (seg === undefined || seg.sn !== sn || seg.xmit < 2 || seqDiff(ts, seg.ts) >= 0) return;
    this.stats.retransmitSpurious++;
    if (seg.timedOut) {
      this.stats.retransmitSpuriousTimeout++;
      this.onSpuriousTimeout?.(seqDiff(now, ts), now);
    }
  }

  /** Peer's selective ack of `sn`; ignored outside [una, nxt). */
  onAck(sn: number, now: number): void {
    if (seqDiff(sn, this.una) < 0 || seqDiff(sn, this.nxt) >= 0) return;
    const seg = this.buf.take(sn);
    if (seg !== undefined) this.acked(seg, now);
    if (sn === this.una) this.skipAcked();
  }

  private acked(seg: Segment, now: number): void {
    if (seg.xmit > 1) this.resentInFlight--;
    if (this.pacer !== null) this.pacer.onDelivered(seg, now);
    this.pool.release(seg);
  }

  /**
   * Fast-ack counting for one input datagram's ACKs (sns[i], tss[i], i < n; maxAck the
   * highest): each ACK adds one to every unacknowledged segment before it (sent no later than
   * it, with `conserve`). The reference counts once per datagram, at its highest ACK: the
   * caller passes that one pair; kcp-go (fastAckEach) counts every ACK: the caller passes all.
   */
  countFastAcks(
    sns: Uint32Array,
    tss: Uint32Array,
    n: number,
    maxAck: number,
    conserve: boolean,
    resend: number,
    limit: number,
  ): void {
    if (seqDiff(maxAck, this.una) < 0 || seqDiff(maxAck, this.nxt) >= 0) return;
    for (let sn = this.una; sn !== maxAck; sn = (sn + 1) >>> 0) {
      const seg = this.buf.get(sn);
      if (seg === undefined || seg.sn !== sn) continue;
      let k = 0;
      for (let i = 0; i < n; i++) {
        if (
          seqDiff(sns[i] as number, sn) > 0 &&
          (!conserve || seqDiff(tss[i] as number, seg.ts) >= 0)
        ) {
          k++;
        }
      }
      if (k === 0) continue;
      seg.fastack += k;
      if (resend > 0 && seg.fastack >= resend && (seg.xmit <= limit || limit <= 0)) {
        this.fastDue = true;
      }
      this.earlyDue = true;
    }
  }

  /** True when a retransmission may be due at `now` (timer passed or fast resend pending). */
  retransmitDue(now: number): boolean {
    return this.buf.size > 0 && (this.fastDue || seqDiff(now, this.nextResendAt) >= 0);
  }

  /** ms from `now` until the earliest possible retransmission, or −1 if none is armed. */
  retransmitDelay(now: number): number {
    if (this.buf.size === 0) return -1;
    if (this.fastDue) return 0;
    return Math.max(0, seqDiff(this.nextResendAt, now));
  }

  /**
   * Flush steps 4–5: retransmits what is due, then numbers and sends new segments while the
   * window allows. Returns SENT_FAST | SENT_TIMEOUT bits for the congestion window.
   */
  transmit(out: DatagramPacker, p: TransmitParams): number {
    let result = 0;
    const limit = (this.una + p.window) >>> 0;
    const pacer = this.pacer;
    const rtomin = p.nodelay ? 0 : p.rxRto >>> 3;
    const cap = p.inflightCap;
    // kcp-go resends early only in a flush that numbers no new segment.
    const early =
      p.earlyRetransmit &&
      this.earlyDue &&
      this.buf.size > 0 &&
      (this.queue.length === 0 || seqDiff(this.nxt, limit) >= 0);
    if (early || this.retransmitDue(p.now)) result = this.retransmitPass(out, p, early);
    while (
      seqDiff(this.nxt, limit) < 0 &&
      (pacer === null || (this.buf.size < cap && pacer.canSend()))
    ) {
      const seg = this.queue.shift();
      if (seg === undefined) break;
      this.queuedBytes -= seg.len;
      seg.sn = this.nxt;
      this.nxt = (this.nxt + 1) >>> 0;
      this.buf.ensureSpan(seqDiff(this.nxt, this.una));
      if (pacer !== null) pacer.onSent(seg, p.now, this.buf.size);
      this.buf.put(seg);
      seg.xmit = 1;
      seg.fastack = 0;
      seg.timedOut = false;
      seg.rto = p.rxRto;
      seg.resendts = (p.now + seg.rto + rtomin) >>> 0;
      if (this.buf.size === 1 || seqDiff(seg.resendts, this.nextResendAt) < 0) {
        this.nextResendAt = seg.resendts;
      }
      this.stats.outNewSegments++;
      this.put(out, seg, p);
    }
    if (pacer !== null) {
      // Out of data, or held by the peer's receive window (its application is behind) rather
      // than by the model: rate samples then measure the application, not the path. Not our
      // own window held open by a hole: that is the path's loss, and marking it measured
      // worse (sim, 5 % loss: the estimate's overshoots outlived their 10 rounds).
      const held = this.queue.length === 0 || (p.peerLimited && seqDiff(this.nxt, limit) >= 0);
      pacer.onTransmitEnd(held, this.buf.size, cap);
    }
    return result;
  }

  /**
   * Retransmits every segment whose timer expired or that collected enough fast-acks, in sn
   * order, and recomputes the earliest timer. With a pacer, stops when the tokens run out and
   * leaves the rest due for the next flush.
   */
  private retransmitPass(out: DatagramPacker, p: TransmitParams, early: boolean): number {
    let result = 0;
    const now = p.now;
    const pacer = this.pacer;
    let earliest = (now + 0x7fffffff) >>> 0;
    let stalled = false;
    for (let sn = this.una; sn !== this.nxt; sn = (sn + 1) >>> 0) {
      const seg = this.buf.get(sn);
      if (seg === undefined || seg.sn !== sn) continue;
      const due = seqDiff(now, seg.resendts) >= 0;
      const resendHit =
        p.resend > 0 && seg.fastack >= p.resend && (seg.xmit <= p.fastLimit || p.fastLimit <= 0);
      const fastHit = resendHit || (early && seg.fastack > 0);
      // kcp-go checks fast resends before the timer (no back-off for a segment both hit);
      // the reference checks the timer first.
      const timedOut = p.earlyRetransmit ? due && !fastHit : due;
      const fast = !timedOut && fastHit;
      if (timedOut || fast) {
        if (pacer !== null && !pacer.canSend()) {
          stalled = true; // out of tokens: everything from here on waits for the next flush
          break;
        }
        if (seg.xmit === 1) this.resentInFlight++;
        seg.xmit++;
        // A segment timing out again counts once: one spurious finding can answer it.
        if (timedOut && !seg.timedOut) this.onTimeout?.();
        seg.timedOut = timedOut;
        if (timedOut) {
          seg.rto += p.nodelay ? p.rxRto >>> 1 : p.rxRto;
          this.stats.retransmitTimeout++;
          result |= SENT_TIMEOUT;
        } else {
          seg.fastack = 0;
          if (p.earlyRetransmit) seg.rto = p.rxRto; // kcp-go: a fast resend restarts the RTO
          this.stats.retransmitFast++;
          if (!resendHit) this.stats.retransmitEarly++;
          result |= SENT_FAST;
        }
        seg.resendts = (now + seg.rto) >>> 0;
        if (pacer !== null) pacer.onSent(seg, now, this.buf.size);
        this.put(out, seg, p);
        if (pacer !== null && sn === this.una && seqDiff(this.nxt, this.una) * 2 >= p.window) {
          // The oldest hole is holding half the window shut: losing this copy too would stall
          // the sender for another round trip, so send a second one in its own datagram.
          out.emit();
          pacer.onSent(seg, now, this.buf.size);
          this.put(out, seg, p);
          this.stats.retransmitDuplicate++;
        }
      }
      if (seqDiff(seg.resendts, earliest) < 0) earliest = seg.resendts;
    }
    this.nextResendAt = stalled ? now : earliest;
    this.fastDue = stalled;
    this.earlyDue = false;
    return result;
  }

  private put(out: DatagramPacker, seg: Segment, p: TransmitParams): void {
    seg.ts = p.now;
    out.put(p.conv, CMD_PUSH, seg.frg, p.wnd, p.now, seg.sn, p.una, seg.data, seg.len);
    if (seg.xmit >= p.deadLink) this.dead = true;
  }

  /** Advances una past segments already acknowledged out of order. */
  private skipAcked(): void {
    while (this.una !== this.nxt && this.buf.get(this.una)?.sn !== this.una) {
      this.una = (this.una + 1) >>> 0;
    }
  }
}
