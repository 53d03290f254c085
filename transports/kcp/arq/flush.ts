import type { KcpTunables } from './config.js';
import type { ClassicWindow } from './congestion.js';
import type { Pacer } from './pacer.js';
import type { DatagramPacker } from './packer.js';
import type { Receiver } from './receiver.js';
import type { RttEstimator } from './rtt.js';
import {
  newTransmitParams,
  SENT_FAST,
  SENT_TIMEOUT,
  type Sender,
  type TransmitParams,
} from './sender.js';
import type { KcpStats } from './stats.js';
import type { WindowProbe } from './window-probe.js';
import { CMD_WASK, CMD_WINS, OVERHEAD, seqDiff } from './wire.js';

/**
 * The output side of a control block: when it flushes — the interval tick, a due
 * retransmission, held ACKs coming due (ackDelay) — and what a flush sends, in order: ACKs,
 * window probes, due retransmissions and whatever new data the windows allow (spec §1.7),
 * then the congestion window's reaction to what was resent. Times are uint32 ms; `rmtWnd` is
 * the peer's last advertised window (SegmentInput), passed in by the control block.
 */
export class Flusher {
  private readonly conv: number;
  private readonly packer: DatagramPacker;
  private readonly sender: Sender;
  private readonly receiver: Receiver;
  private readonly rtt: RttEstimator;
  private readonly window: ClassicWindow;
  private readonly pacer: Pacer;
  private readonly probe: WindowProbe;
  private readonly stats: KcpStats;
  private readonly params: TransmitParams;

  /** A clock was given to update() or flush(now): flushing may start. */
  private updated = false;
  /** When the next interval tick is due. */
  private tsFlush = 0;
  /** When the oldest ACK still owed was queued (−1 = none owed), for ackDelay. */
  private ackSince = -1;

  constructor(
    conv: number,
    packer: DatagramPacker,
    sender: Sender,
    receiver: Receiver,
    rtt: RttEstimator,
    window: ClassicWindow,
    pacer: Pacer,
    probe: WindowProbe,
    stats: KcpStats,
  ) {
    this.conv = conv;
    this.packer = packer;
    this.sender = sender;
    this.receiver = receiver;
    this.rtt = rtt;
    this.window = window;
    this.pacer = pacer;
    this.probe = probe;
    this.stats = stats;
    this.params = newTransmitParams(conv);
  }

  /** The first clock given starts the interval ticks. */
  start(now: number): void {
    if (!this.updated) {
      this.updated = true;
      this.tsFlush = now;
    }
  }

  /** After an input at `now`: the ACKs it queued start the ackDelay clock. */
  noteAcksOwed(now: number): void {
    if (this.ackSince < 0 && this.receiver.acks.count > 0) this.ackSince = now;
  }

  /** Flushes when the interval tick is due or a retransmission (or held ACKs) is. */
  update(now: number, t: KcpTunables, rmtWnd: number): void {
    this.start(now);
    let slap = seqDiff(now, this.tsFlush);
    if (slap >= 10000 || slap < -10000) {
      this.tsFlush = now;
      slap = 0;
    }
    if (slap >= 0) {
      this.tsFlush = (this.tsFlush + t.interval) >>> 0;
      if (seqDiff(now, this.tsFlush) >= 0) {
        this.tsFlush = (now + t.interval) >>> 0;
      }
      this.flush(now, t, rmtWnd);
    } else if (this.dataDelay(now, t, rmtWnd) === 0 || this.ackDelayLeft(now, t) === 0) {
      this.flush(now, t, rmtWnd);
    }
  }

  /** Milliseconds from `now` until update() has work (0 = now), at most `interval`. */
  delayUntilDue(now: number, t: KcpTunables, rmtWnd: number): number {
    if (!this.updated) return 0;
    let tsFlush = this.tsFlush;
    const slap = seqDiff(now, tsFlush);
    if (slap >= 10000 || slap < -10000) tsFlush = now;
    const toFlush = seqDiff(tsFlush, now);
    if (toFlush <= 0) return 0;
    const delay = Math.min(toFlush, t.interval);
    const toData = this.dataDelay(now, t, rmtWnd);
    const toAck = this.ackDelayLeft(now, t);
    const soonest = toData >= 0 && toData < delay ? toData : delay;
    return toAck >= 0 && toAck < soonest ? toAck : soonest;
  }

  /** One flush at `now`; nothing before the first clock (start()). */
  flush(now: number, t: KcpTunables, rmtWnd: number): void {
    if (!this.updated) return;
    const rcv = this.receiver;
    const wnd = rcv.freeWindow();
    const una = rcv.rcvNxt;
    const out = this.packer;
    const s = this.stats;

    rcv.writeAcks(out, this.conv, wnd, t.ackRepeat, s);
    this.ackSince = -1;

    const pacing = this.sender.pacer !== null;
    const rto = this.rtt.rtoAt(now);
    const rxRto = pacing ? Math.max(rto, this.pacer.rtoFloor()) : rto;
    const probe = this.probe;
    probe.schedule(now, rmtWnd, wnd, rxRto);
    if (probe.ask) {
      out.put(this.conv, CMD_WASK, 0, wnd, 0, 0, una, null, 0);
      s.outWask++;
    }
    if (probe.tell) {
      out.put(this.conv, CMD_WINS, 0, wnd, 0, 0, una, null, 0);
      s.outWins++;
    }
    probe.clear();

    const eff = this.effectiveWindow(t, rmtWnd);
    if (pacing) this.pacer.refill(now);
    const p = this.params;
    p.now = now;
    p.wnd = wnd;
    p.una = una;
    p.window = eff;
    p.inflightCap = pacing ? this.pacer.inflightCap(t.sndWnd) : Number.POSITIVE_INFINITY;
    // Held by the peer's window only when it is below what the model wants in flight: a
    // reader a few segments behind advertises 1015 of 1024, which binds only when a hole holds
    // the span open (the path's loss, not the reader).
    p.peerLimited = rmtWnd < Math.min(t.sndWnd, p.inflightCap);
    p.rxRto = rxRto;
    p.nodelay = t.nodelay;
    p.resend = t.resend;
    p.fastLimit = t.fastLimit;
    p.deadLink = t.deadLink;
    p.earlyRetransmit = t.earlyRetransmit;
    const sent = this.sender.transmit(out, p);
    out.emit();

    const mss = this.sender.mss;
    if (sent & SENT_FAST) {
      this.window.onFastRetransmit(seqDiff(this.sender.nxt, this.sender.una), t.resend, mss);
    }
    if (sent & SENT_TIMEOUT) this.window.onTimeout(eff, mss);
    this.window.ensureMinimum(mss);
  }

  /** See KcpControlBlock.holdsAcks. */
  holdsAcks(now: number, t: KcpTunables, rmtWnd: number): boolean {
    if (t.ackDelay <= 0 || this.probe.tell || this.probe.ask) return false;
    if (this.acksFillDatagram(t.mtu)) return false;
    return this.dataDelay(now, t, rmtWnd) !== 0 && this.ackDelayLeft(now, t) !== 0;
  }

  /** The ACKs owed to the peer fill a datagram of `mtu` bytes. */
  acksFillDatagram(mtu: number): boolean {
    return this.receiver.acks.count >= Math.floor(mtu / OVERHEAD);
  }

  /** Sequence span that may be outstanding: send/remote windows, and cwnd when in force. */
  private effectiveWindow(t: KcpTunables, rmtWnd: number): number {
    const eff = Math.min(t.sndWnd, rmtWnd);
    return t.noCwnd || this.sender.pacer !== null ? eff : Math.min(eff, this.window.cwnd);
  }

  /** Ms until held ACKs are due (0 = now), or −1 when none are owed or none are held. */
  private ackDelayLeft(now: number, t: KcpTunables): number {
    if (this.ackSince < 0 || t.ackDelay <= 0) return -1;
    return Math.max(0, t.ackDelay - seqDiff(now, this.ackSince));
  }

  /**
   * Ms until a flush would put data on the wire (a retransmission, or new data under pacing,
   * once the token bucket allows), or −1 if none is pending. Classic mode sends new data on
   * the interval tick (or an explicit flush), as the reference does.
   */
  private dataDelay(now: number, t: KcpTunables, rmtWnd: number): number {
    const sender = this.sender;
    let want = sender.retransmitDelay(now);
    if (sender.pacer === null) return want;
    if (
      sender.queued > 0 &&
      sender.inFlight < this.pacer.inflightCap(t.sndWnd) &&
      seqDiff(sender.nxt, (sender.una + this.effectiveWindow(t, rmtWnd)) >>> 0) < 0
    ) {
      want = 0;
    }
    return want < 0 ? -1 : Math.max(want, this.pacer.tokenDelay(now));
  }
}
