/**
 * # KCP control block (arq)
 *
 * Our own KCP ARQ engine, wire-compatible with the C reference (ikcp.c), written from the
 * protocol description in `shared/spec/apps.md` §1. Pure and deterministic: no sockets, no
 * timers, no clock reads — the caller owns I/O and time. Public API: `./index.ts`.
 *
 * This class is the API and the wiring. input() is checked whole by input-check.ts and applied
 * by segment-input.ts; update(), check() and flush() are flush.ts; what they drive lives in
 * sender.ts, receiver.ts, rtt.ts, congestion.ts, pacer.ts and window-probe.ts.
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
import { Flusher } from './flush.js';
import { checkDatagram, countRejection, InputStatus } from './input-check.js';
import { Pacer } from './pacer.js';
import { DatagramPacker, type OutputFn } from './packer.js';
import { Receiver } from './receiver.js';
import { RttEstimator } from './rtt.js';
import { SegmentPool } from './segment.js';
import { SegmentInput } from './segment-input.js';
import { Sender } from './sender.js';
import { KcpStats } from './stats.js';
import { WindowProbe } from './window-probe.js';
import { OVERHEAD } from './wire.js';

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
  private readonly probe = new WindowProbe();
  private readonly segmentInput: SegmentInput;
  private readonly flusher: Flusher;

  private current = 0;

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
    this.segmentInput = new SegmentInput(
      this.sender,
      this.receiver,
      this.rtt,
      this.window,
      this.probe,
      this.stats,
    );
    this.flusher = new Flusher(
      conv,
      this.packer,
      this.sender,
      this.receiver,
      this.rtt,
      this.window,
      this.pacer,
      this.probe,
      this.stats,
    );
    this.applyCongestionMode();
  }

  /** Current tunables (a copy is not made: do not mutate; use configure()). */
  get tunables(): Readonly<KcpTunables> {
    return this.t;
  }

  /** Changes tunables at runtime; the whole result is validated first (ERR_KCP_CONFIG). */
  configure(changes: Partial<KcpTunables>): void {
    const next = updateTunables(this.t, changes); // with the reference's ikcp_nodelay rule
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
    this.segmentInput.apply(datagram, this.current, this.t);
    this.flusher.noteAcksOwed(this.current);
    return InputStatus.Ok;
  }

  /**
   * Advances the clock; flushes when the interval tick is due or a retransmission is.
   * Call it at check(now), or simply every `interval` ms.
   */
  update(now: number): void {
    this.current = now >>> 0;
    this.flusher.update(this.current, this.t, this.segmentInput.rmtWnd);
  }

  /** When update() should next run (uint32 ms, comparable to `now` with seqDiff). */
  check(now: number): number {
    const n = now >>> 0;
    return (n + this.delayUntilDue(n)) >>> 0;
  }

  /** Milliseconds from `now` until update() has work (0 = now), at most `interval`. */
  delayUntilDue(now: number): number {
    return this.flusher.delayUntilDue(now >>> 0, this.t, this.segmentInput.rmtWnd);
  }

  /**
   * Sends pending ACKs, window probes, due retransmissions and whatever new data the windows
   * allow (spec §1.7). `now` (optional) refreshes the clock. No-op before the first update()
   * unless `now` is given.
   */
  flush(now?: number): void {
    if (now !== undefined) {
      this.current = now >>> 0;
      this.flusher.start(this.current);
    }
    this.flusher.flush(this.current, this.t, this.segmentInput.rmtWnd);
  }

  /**
   * Whether the flush that would follow an input may wait (ackDelay): it would carry only
   * ACKs, fewer than a datagram's worth, and the oldest is younger than ackDelay. update()
   * then sends them when the delay is up (delayUntilDue counts it), or a flush carries them
   * with data first.
   */
  holdsAcks(now: number): boolean {
    return this.flusher.holdsAcks(now >>> 0, this.t, this.segmentInput.rmtWnd);
  }

  /**
   * The last input() moved una: our send window slid, so a flush now can send new data (kcp-go
   * flushes at once in Input when it does, with or without acknodelay).
   */
  get inputSlid(): boolean {
    return this.segmentInput.slid;
  }

  /** The ACKs owed to the peer fill a datagram: holding them longer saves nothing. */
  get acksFillDatagram(): boolean {
    return this.flusher.acksFillDatagram(this.t.mtu);
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
    return this.segmentInput.rmtWnd;
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
}
