/**
 * # KCP control block (arq)
 *
 * Our own KCP ARQ engine, wire-compatible with the C reference (ikcp.c), written from the
 * protocol description in `shared/spec/apps.md` §1. Pure and deterministic: no sockets, no
 * timers, no clock reads — the caller owns I/O and time. Public API: `./index.ts`.
 *
 * ## Driving it
 * ```ts
 * const kcp = new KcpControlBlock(conv, (dgram, len) => sock.send(dgram.slice(0, len)),
 *   { preset: 'fast3', stream: true });
 * kcp.send(bytes);                       // queue; never blocks: respect writableBytes
 * kcp.input(datagram, now);              // each datagram received; returns an InputStatus
 * for (let n = kcp.recv(buf); n > 0; n = kcp.recv(buf)) use(buf, n);  // peekSize() = bytes ready
 * kcp.update(now);                       // when kcp.delayUntilDue(now) reaches 0 (≤ interval)
 * kcp.flush(now);                        // optional: ACKs / new data out right now
 * ```
 * `now` is any millisecond clock (e.g. `performance.now()`); only its low 32 bits are used and
 * every comparison is a signed 32-bit difference, so wrap-around is harmless. `check(now)`
 * gives the same schedule as an absolute uint32 time, like the reference's ikcp_check.
 * State for the layer above: `waitSnd` (segments unacknowledged), `writableBytes`
 * ((sndWnd − waitSnd) × mss), `readableBytes`, `idle`, `isDead`/`state`, `rto`/`srtt`,
 * `stats` (counters, including every drop by reason); `configure()` changes tunables live.
 *
 * ## Output contract
 * `output(datagram, length)` gets the block's internal buffer, valid only during the call: send
 * synchronously or copy. It must not call back into the same block synchronously (queue it).
 * Datagrams never exceed `mtu` bytes.
 *
 * ## Errors
 * - `input()` never throws. A datagram that fails validation is rejected *whole* (nothing of
 *   it is applied, unlike the reference, which applies the segments before the bad one), the
 *   reason is returned as a negative {@link InputStatus} and counted in `stats`. Beyond the
 *   reference's checks (size, conv, cmd, len) we reject trailing bytes, payload on control
 *   segments, a `una` above our snd_nxt and an ACK for an sn never sent — no honest peer
 *   sends those, and each would corrupt the send state. Whether a rejection is fatal is the
 *   caller's policy (vproxy: fatal; on an open UDP port dropping is kinder). A well-formed
 *   forged PUSH/ACK cannot be detected here: that is the encryption layer's job.
 * - PUSH beyond the receive window, or (message mode) a fragment count our window can never
 *   reassemble, is dropped without an ACK and counted.
 * - API misuse throws `VproxyError`: ERR_KCP_CONFIG (bad tunable), ERR_KCP_MESSAGE_TOO_LARGE
 *   (message mode, more than 127 fragments), ERR_KCP_BUFFER_TOO_SMALL (message mode recv).
 *
 * ## Liveness
 * `isDead` turns true once a segment was transmitted `deadLink` times (reference state −1);
 * the block keeps working, the caller decides to close. KCP has no FIN: a clean close is
 * "flush until `waitSnd === 0`", then stop.
 *
 * ## Differences from the reference (same segments on the wire; some sent at other times)
 * - update() also flushes when a retransmission is due, not only on the interval tick.
 * - O(1) ACK/insert by sn (rings addressed by sn); no retransmission scan unless a timer or a
 *   fast resend is due; check() is O(1). Segments are pooled, never allocated per packet.
 * - Stream mode: recv() fills the caller's buffer across segments, peekSize() is all readable
 *   bytes, an incoming frg is ignored.
 * - Timeout back-off is the classic one: rto += rx_rto (rx_rto/2 with nodelay).
 * - Zero-window probing (window-probe.ts) runs on the RTO, not the reference's 7 s: a WASK one
 *   RTO after the peer's window closed, doubling to 7 s, and a reopening WINS is repeated
 *   until the peer sends again. Same segments, earlier: one lost WINS cost the reference 7 s.
 * - fastAckConserve defaults on (as in current ikcp.c and kcp-go).
 * - Extensions, off by default here (`kcp://` turns both on): `congestion: 'pacing'` (BBR-like
 *   rate/in-flight control, see pacer.ts) and `ackRepeat` (repeat ACKs once while there is a
 *   gap, see receiver.ts).
 *
 * Presets (config.ts): vproxy's normal and fast1–fast4; fast1–3 = kcptun's fast–fast3.
 */
import { KcpError } from '../errors.js';
import type { KcpOptions, KcpTunables } from './config.js';
import { mssOf, resolveTunables, updateTunables } from './config.js';
import { ClassicWindow } from './congestion.js';
import { checkDatagram, countRejection, InputStatus } from './input-check.js';
import { Pacer } from './pacer.js';
import { DatagramPacker, type OutputFn } from './packer.js';
import { PushOutcome, Receiver } from './receiver.js';
import { RttEstimator } from './rtt.js';
import { SegmentPool } from './segment.js';
import {
  newTransmitParams,
  SENT_FAST,
  SENT_TIMEOUT,
  Sender,
  type TransmitParams,
} from './sender.js';
import { KcpStats } from './stats.js';
import { WindowProbe } from './window-probe.js';
import {
  CMD_ACK,
  CMD_PUSH,
  CMD_WASK,
  CMD_WINS,
  OVERHEAD,
  readU8,
  readU16,
  readU32,
  seqDiff,
} from './wire.js';

/** Receive window assumed for the peer until it tells us (reference IKCP_WND_RCV). */
const INITIAL_RMT_WND = 128;
/**
 * The ACKs (sn, ts) of the datagram input() is reading, for the fast-ack count. One pair of
 * arrays for every block: input() runs to completion and calls out to nothing. Sized for the
 * largest datagram (a peer's mtu may exceed ours).
 */
const ACK_SNS = new Uint32Array(Math.ceil(0x10000 / OVERHEAD));
const ACK_TSS = new Uint32Array(ACK_SNS.length);

export { InputStatus };

export class KcpControlBlock {
  readonly conv: number;
  readonly stats = new KcpStats();

  private t: KcpTunables;
  private readonly pool: SegmentPool;
  private readonly packer: DatagramPacker;
  private readonly sender: Sender;
  private readonly receiver: Receiver;
  private readonly rtt: RttEstimator;
  private readonly window = new ClassicWindow();
  private readonly pacer: Pacer;
  private readonly params: TransmitParams;

  private current = 0;
  private updated = false;
  private tsFlush = 0;
  private rmtWndValue = INITIAL_RMT_WND;
  /** When the oldest ACK still owed was queued (−1 = none owed), for ackDelay. */
  private ackSince = -1;
  private readonly probe = new WindowProbe();

  constructor(conv: number, output: OutputFn, options?: KcpOptions) {
    if (!Number.isInteger(conv) || conv < 0 || conv > 0xffffffff) {
      throw new KcpError('ERR_KCP_CONFIG', `KCP conv must be a uint32, got ${String(conv)}`);
    }
    this.conv = conv;
    this.t = resolveTunables(options);
    const mss = mssOf(this.t.mtu);
    this.pool = new SegmentPool(mss, 2 * (this.t.sndWnd + this.t.rcvWnd));
    this.packer = new DatagramPacker(this.t.mtu, output, this.stats);
    this.sender = new Sender(this.pool, this.stats, mss, this.t.sndWnd, this.t.stream);
    this.receiver = new Receiver(this.pool, this.t.rcvWnd, this.t.stream);
    this.rtt = new RttEstimator(this.t.minRto, this.t.interval);
    if (this.t.stallFloor) {
      this.sender.onSpuriousTimeout = (rtt, now) => this.rtt.spuriousTimeout(rtt, now);
    }
    this.sender.onTimeout = () => this.rtt.timedOut();
    this.pacer = new Pacer(mss + OVERHEAD);
    this.params = newTransmitParams(conv);
    this.applyCongestionMode();
  }

  /** Current tunables (a copy is not made: do not mutate; use configure()). */
  get tunables(): Readonly<KcpTunables> {
    return this.t;
  }

  /** Changes tunables at runtime; the whole result is validated first (ERR_KCP_CONFIG). */
  configure(changes: Partial<KcpTunables>): void {
    const next = updateTunables(this.t, changes);
    if (changes.nodelay !== undefined && changes.minRto === undefined) {
      next.minRto = next.nodelay ? 30 : 100; // the reference's ikcp_nodelay rule
    }
    this.sender.stream = next.stream;
    if (next.mtu !== this.t.mtu) {
      const mss = mssOf(next.mtu);
      this.packer.setMtu(next.mtu);
      this.pool.resize(mss);
      this.sender.setMss(mss);
      this.pacer.packetSize = next.mtu;
    }
    this.receiver.stream = next.stream;
    this.receiver.setWindow(next.rcvWnd);
    this.rtt.minRto = next.minRto;
    this.rtt.interval = next.interval;
    this.t = next;
    this.applyCongestionMode();
  }

  private applyCongestionMode(): void {
    this.sender.pacer = this.t.congestion === 'pacing' ? this.pacer : null;
    this.pacer.ackDelay = this.t.interval;
  }

  /** Payload bytes per segment (mtu − 24). */
  get mss(): number {
    return this.sender.mss;
  }

  /**
   * Queues user data. Stream mode appends to a byte stream; message mode keeps it one message
   * (≤ 127 fragments). Never blocks and never refuses for lack of space: honour writableBytes.
   */
  send(data: Uint8Array): void {
    this.sender.send(data);
  }

  /** Bytes the next recv() returns (message: whole message; stream: all readable), or −1. */
  peekSize(): number {
    return this.receiver.peekSize();
  }

  /** Reads into `into` at `offset`; returns bytes read or −1 when nothing is ready. */
  recv(into: Uint8Array, offset = 0): number {
    const n = this.receiver.recv(into, offset);
    if (this.receiver.windowReopened) {
      this.receiver.windowReopened = false;
      this.probe.tell = true; // the peer may be waiting on a zero window: tell it right away
    }
    return n;
  }

  /** Feeds one received datagram. Never throws; see InputStatus. `now` refreshes the clock. */
  input(datagram: Uint8Array, now?: number): InputStatus {
    if (now !== undefined) this.current = now >>> 0;
    this.stats.inDatagrams++;
    const status = checkDatagram(datagram, this.conv, this.sender.nxt);
    if (status !== InputStatus.Ok) {
      countRejection(this.stats, status);
      return status;
    }
    const s = this.stats;
    const sender = this.sender;
    const prevUna = sender.una;
    const end = datagram.length;
    let ackSeen = false;
    let maxAck = 0;
    let maxAckTs = 0;
    const kcpGoRtt = this.t.kcpGoRtt;
    const fastAckEach = this.t.fastAckEach;
    let ackCount = 0;
    let latestTs = -1;
    // Spurious-retransmission check first: any segment's una may release the segments that
    // later ACKs of this datagram name, before those ACKs are read.
    if (sender.resentInFlight > 0) {
      for (let o = 0; o < end; o += OVERHEAD + readU32(datagram, o + 20)) {
        if (readU8(datagram, o + 4) === CMD_ACK) {
          sender.noteAck(readU32(datagram, o + 12), readU32(datagram, o + 8), this.current);
        }
      }
    }
    for (let o = 0; o < end; ) {
      const cmd = readU8(datagram, o + 4);
      const sn = readU32(datagram, o + 12);
      const ts = readU32(datagram, o + 8);
      const len = readU32(datagram, o + 20);
      this.rmtWndValue = readU16(datagram, o + 6);
      sender.onUna(readU32(datagram, o + 16), this.current);
      s.inSegments++;
      if (cmd === CMD_PUSH) {
        const r = this.receiver.onPush(
          datagram,
          o + OVERHEAD,
          len,
          sn,
          ts,
          readU8(datagram, o + 5),
        );
        if (r === PushOutcome.Stored || r === PushOutcome.Duplicate) this.probe.peerSending();
        if (r === PushOutcome.Stored) {
          s.inPush++;
          s.inBytes += len;
        } else if (r === PushOutcome.Duplicate) s.inPushDuplicate++;
        else if (r === PushOutcome.BeyondWindow) s.inPushBeyondWindow++;
        else s.inPushUndeliverable++;
      } else if (cmd === CMD_ACK) {
        s.inAcks++;
        if (kcpGoRtt) latestTs = ts;
        else {
          const rtt = seqDiff(this.current, ts);
          if (rtt >= 0) {
            this.rtt.sample(rtt);
            if (sender.pacer !== null) sender.pacer.onRtt(rtt, this.current);
          }
        }
        sender.onAck(sn, this.current);
        if (fastAckEach && ackCount < ACK_SNS.length) {
          ACK_SNS[ackCount] = sn;
          ACK_TSS[ackCount++] = ts;
        }
        if (!ackSeen || seqDiff(sn, maxAck) > 0) {
          ackSeen = true;
          maxAck = sn;
          maxAckTs = ts;
        }
      } else if (cmd === CMD_WASK) {
        s.inWask++;
        this.probe.tell = true;
      } else {
        s.inWins++;
      }
      o += OVERHEAD + len;
    }
    if (ackSeen) {
      if (latestTs >= 0) {
        const rtt = seqDiff(this.current, latestTs);
        if (rtt >= 0) {
          this.rtt.sampleKcpGo(rtt);
          if (sender.pacer !== null) sender.pacer.onRtt(rtt, this.current);
        }
      }
      if (!fastAckEach) {
        // The reference counts the datagram once, at its highest ACK.
        ACK_SNS[0] = maxAck;
        ACK_TSS[0] = maxAckTs;
        ackCount = 1;
      }
      const t = this.t;
      sender.countFastAcks(
        ACK_SNS,
        ACK_TSS,
        ackCount,
        maxAck,
        t.fastAckConserve,
        t.resend,
        t.fastLimit,
      );
    }
    this.inputSlid = seqDiff(sender.una, prevUna) > 0;
    if (this.inputSlid) this.window.onUnaAdvanced(this.rmtWndValue, sender.mss);
    if (sender.pacer !== null) sender.pacer.endInput(this.current, sender.inFlight);
    if (this.ackSince < 0 && this.receiver.acks.count > 0) this.ackSince = this.current;
    return InputStatus.Ok;
  }

  /**
   * Advances the clock; flushes when the interval tick is due or a retransmission is.
   * Call it at check(now), or simply every `interval` ms.
   */
  update(now: number): void {
    this.current = now >>> 0;
    if (!this.updated) {
      this.updated = true;
      this.tsFlush = this.current;
    }
    let slap = seqDiff(this.current, this.tsFlush);
    if (slap >= 10000 || slap < -10000) {
      this.tsFlush = this.current;
      slap = 0;
    }
    if (slap >= 0) {
      this.tsFlush = (this.tsFlush + this.t.interval) >>> 0;
      if (seqDiff(this.current, this.tsFlush) >= 0) {
        this.tsFlush = (this.current + this.t.interval) >>> 0;
      }
      this.flush();
    } else if (this.dataDelay(this.current) === 0 || this.ackDelayLeft(this.current) === 0) {
      this.flush();
    }
  }

  /** When update() should next run (uint32 ms, comparable to `now` with seqDiff). */
  check(now: number): number {
    const n = now >>> 0;
    return (n + this.delayUntilDue(n)) >>> 0;
  }

  /** Milliseconds from `now` until update() has work (0 = now), at most `interval`. */
  delayUntilDue(now: number): number {
    if (!this.updated) return 0;
    const n = now >>> 0;
    let tsFlush = this.tsFlush;
    const slap = seqDiff(n, tsFlush);
    if (slap >= 10000 || slap < -10000) tsFlush = n;
    const toFlush = seqDiff(tsFlush, n);
    if (toFlush <= 0) return 0;
    const delay = Math.min(toFlush, this.t.interval);
    const toData = this.dataDelay(n);
    const toAck = this.ackDelayLeft(n);
    const soonest = toData >= 0 && toData < delay ? toData : delay;
    return toAck >= 0 && toAck < soonest ? toAck : soonest;
  }

  /**
   * Sends pending ACKs, window probes, due retransmissions and whatever new data the windows
   * allow (spec §1.7). `now` (optional) refreshes the clock. No-op before the first update()
   * unless `now` is given.
   */
  flush(now?: number): void {
    if (now !== undefined) {
      this.current = now >>> 0;
      if (!this.updated) {
        this.updated = true;
        this.tsFlush = this.current;
      }
    }
    if (!this.updated) return;
    const cur = this.current;
    const t = this.t;
    const rcv = this.receiver;
    const wnd = rcv.freeWindow();
    const una = rcv.rcvNxt;
    const out = this.packer;
    const s = this.stats;

    rcv.writeAcks(out, this.conv, wnd, t.ackRepeat, s);
    this.ackSince = -1;

    const pacing = this.sender.pacer !== null;
    const rto = this.rtt.rtoAt(cur);
    const rxRto = pacing ? Math.max(rto, this.pacer.rtoFloor()) : rto;
    const probe = this.probe;
    probe.schedule(cur, this.rmtWndValue, wnd, rxRto);
    if (probe.ask) {
      out.put(this.conv, CMD_WASK, 0, wnd, 0, 0, una, null, 0);
      s.outWask++;
    }
    if (probe.tell) {
      out.put(this.conv, CMD_WINS, 0, wnd, 0, 0, una, null, 0);
      s.outWins++;
    }
    probe.clear();

    const eff = this.effectiveWindow();
    if (pacing) this.pacer.refill(cur);
    const p = this.params;
    p.now = cur;
    p.wnd = wnd;
    p.una = una;
    p.window = eff;
    p.inflightCap = pacing ? this.pacer.inflightCap(t.sndWnd) : Number.POSITIVE_INFINITY;
    // Held by the peer's window only when it is below what the model wants in flight: a
    // reader a few segments behind advertises 1015 of 1024, which binds only when a hole holds
    // the span open (the path's loss, not the reader).
    p.peerLimited = this.rmtWndValue < Math.min(t.sndWnd, p.inflightCap);
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

  /**
   * Whether the flush that would follow an input may wait (ackDelay): it would carry only
   * ACKs, fewer than a datagram's worth, and the oldest is younger than ackDelay. update()
   * then sends them when the delay is up (delayUntilDue counts it), or a flush carries them
   * with data first.
   */
  holdsAcks(now: number): boolean {
    if (this.t.ackDelay <= 0 || this.probe.tell || this.probe.ask) return false;
    if (this.acksFillDatagram) return false;
    const n = now >>> 0;
    return this.dataDelay(n) !== 0 && this.ackDelayLeft(n) !== 0;
  }

  /**
   * The last input() moved una: our send window slid, so a flush now can send new data (kcp-go
   * flushes at once in Input when it does, with or without acknodelay).
   */
  inputSlid = false;

  /** The ACKs owed to the peer fill a datagram: holding them longer saves nothing. */
  get acksFillDatagram(): boolean {
    return this.receiver.acks.count >= Math.floor(this.t.mtu / OVERHEAD);
  }

  /** Segments not yet acknowledged: in flight plus queued (reference ikcp_waitsnd). */
  get waitSnd(): number {
    return this.sender.inFlight + this.sender.queued;
  }

  /** Bytes queued by send() but not yet transmitted even once. */
  get queuedBytes(): number {
    return this.sender.queuedBytes;
  }

  /** What a writer may add now without exceeding the send window: (sndWnd − waitSnd) × mss. */
  get writableBytes(): number {
    return Math.max(0, this.t.sndWnd - this.waitSnd) * this.sender.mss;
  }

  /** Unread in-order payload bytes. */
  get readableBytes(): number {
    return this.receiver.readableBytes;
  }

  /** Some segment was transmitted `deadLink` times. */
  get isDead(): boolean {
    return this.sender.dead;
  }

  /** The reference's state field: 0 alive, −1 dead link. */
  get state(): number {
    return this.sender.dead ? -1 : 0;
  }

  /** Nothing queued, in flight or waiting to be acknowledged to the peer. */
  get idle(): boolean {
    return this.waitSnd === 0 && this.receiver.acks.count === 0 && !this.probe.tell;
  }

  get rto(): number {
    return this.rtt.rto;
  }
  get srtt(): number {
    return this.rtt.srtt;
  }
  get rttvar(): number {
    return this.rtt.rttval;
  }
  get cwnd(): number {
    return this.window.cwnd;
  }
  get ssthresh(): number {
    return this.window.ssthresh;
  }
  /** Peer's last advertised free window, in segments. */
  get rmtWnd(): number {
    return this.rmtWndValue;
  }
  get sndUna(): number {
    return this.sender.una;
  }
  get sndNxt(): number {
    return this.sender.nxt;
  }
  get rcvNxt(): number {
    return this.receiver.rcvNxt;
  }
  /** Segments received out of order, waiting for a gap to fill. */
  get rcvBufCount(): number {
    return this.receiver.outOfOrder;
  }
  /** The clock as last given (uint32). */
  get now(): number {
    return this.current;
  }

  /** Sequence span that may be outstanding: send/remote windows, and cwnd when in force. */
  private effectiveWindow(): number {
    const t = this.t;
    const eff = Math.min(t.sndWnd, this.rmtWndValue);
    return t.noCwnd || this.sender.pacer !== null ? eff : Math.min(eff, this.window.cwnd);
  }

  /** Ms until held ACKs are due (0 = now), or −1 when none are owed or none are held. */
  private ackDelayLeft(now: number): number {
    if (this.ackSince < 0 || this.t.ackDelay <= 0) return -1;
    return Math.max(0, this.t.ackDelay - seqDiff(now, this.ackSince));
  }

  /**
   * Ms until a flush would put data on the wire (a retransmission, or new data under pacing,
   * once the token bucket allows), or −1 if none is pending. Classic mode sends new data on
   * the interval tick (or an explicit flush), as the reference does.
   */
  private dataDelay(now: number): number {
    const sender = this.sender;
    let want = sender.retransmitDelay(now);
    if (sender.pacer === null) return want;
    if (
      sender.queued > 0 &&
      sender.inFlight < this.pacer.inflightCap(this.t.sndWnd) &&
      seqDiff(sender.nxt, (sender.una + this.effectiveWindow()) >>> 0) < 0
    ) {
      want = 0;
    }
    return want < 0 ? -1 : Math.max(want, this.pacer.tokenDelay(now));
  }
}
