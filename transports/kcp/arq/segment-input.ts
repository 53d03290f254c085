import type { KcpTunables } from './config.js';
import type { ClassicWindow } from './congestion.js';
import { PushOutcome, type Receiver } from './receiver.js';
import type { RttEstimator } from './rtt.js';
import type { Sender } from './sender.js';
import type { KcpStats } from './stats.js';
import type { WindowProbe } from './window-probe.js';
import {
  CMD_ACK,
  CMD_PUSH,
  CMD_WASK,
  OVERHEAD,
  readU8,
  readU16,
  readU32,
  seqDiff,
} from './wire.js';

/** Receive window assumed for the peer until it tells us (reference IKCP_WND_RCV). */
const INITIAL_RMT_WND = 128;
/**
 * The ACKs (sn, ts) of the datagram apply() is reading, for the fast-ack count. One pair of
 * arrays for every block: apply() runs to completion and calls out to nothing. Sized for the
 * largest datagram (a peer's mtu may exceed ours).
 */
const ACK_SNS = new Uint32Array(Math.ceil(0x10000 / OVERHEAD));
const ACK_TSS = new Uint32Array(ACK_SNS.length);

/**
 * The input path of a control block (spec §1.6): the segments of one datagram, already
 * accepted whole by input-check.ts, applied in order — una and ACKs to the sender, PUSH to the
 * receiver, RTT samples to the estimator (and the pacer), WASK to the window probe — then the
 * datagram's fast-ack count and the congestion window's growth when una moved.
 *
 * Two kcp-go disciplines are chosen here by tunables: `kcpGoRtt` samples the RTT once per
 * datagram from its last ACK (kcp-go's estimator) instead of once per ACK, and `fastAckEach`
 * counts every ACK of the datagram toward fast retransmit instead of only its highest.
 */
export class SegmentInput {
  /** The peer's last advertised free window, in segments. */
  rmtWnd = INITIAL_RMT_WND;
  /**
   * The last datagram moved una: our send window slid, so a flush now can send new data
   * (kcp-go flushes at once in Input when it does, with or without acknodelay).
   */
  slid = false;

  private readonly sender: Sender;
  private readonly receiver: Receiver;
  private readonly rtt: RttEstimator;
  private readonly window: ClassicWindow;
  private readonly probe: WindowProbe;
  private readonly stats: KcpStats;

  constructor(
    sender: Sender,
    receiver: Receiver,
    rtt: RttEstimator,
    window: ClassicWindow,
    probe: WindowProbe,
    stats: KcpStats,
  ) {
    this.sender = sender;
    this.receiver = receiver;
    this.rtt = rtt;
    this.window = window;
    this.probe = probe;
    this.stats = stats;
  }

  /** Applies every segment of `datagram` (checked by checkDatagram) at clock `now`. */
  apply(datagram: Uint8Array, now: number, t: KcpTunables): void {
    const s = this.stats;
    const sender = this.sender;
    const prevUna = sender.una;
    const end = datagram.length;
    let ackSeen = false;
    let maxAck = 0;
    let maxAckTs = 0;
    const kcpGoRtt = t.kcpGoRtt;
    const fastAckEach = t.fastAckEach;
    let ackCount = 0;
    let latestTs = -1;
    // Spurious-retransmission check first: any segment's una may release the segments that
    // later ACKs of this datagram name, before those ACKs are read.
    if (sender.resentInFlight > 0) {
      for (let o = 0; o < end; o += OVERHEAD + readU32(datagram, o + 20)) {
        if (readU8(datagram, o + 4) === CMD_ACK) {
          sender.noteAck(readU32(datagram, o + 12), readU32(datagram, o + 8), now);
        }
      }
    }
    for (let o = 0; o < end; ) {
      const cmd = readU8(datagram, o + 4);
      const sn = readU32(datagram, o + 12);
      const ts = readU32(datagram, o + 8);
      const len = readU32(datagram, o + 20);
      this.rmtWnd = readU16(datagram, o + 6);
      sender.onUna(readU32(datagram, o + 16), now);
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
          const rtt = seqDiff(now, ts);
          if (rtt >= 0) {
            this.rtt.sample(rtt);
            if (sender.pacer !== null) sender.pacer.onRtt(rtt, now);
          }
        }
        sender.onAck(sn, now);
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
        const rtt = seqDiff(now, latestTs);
        if (rtt >= 0) {
          this.rtt.sampleKcpGo(rtt);
          if (sender.pacer !== null) sender.pacer.onRtt(rtt, now);
        }
      }
      if (!fastAckEach) {
        // The reference counts the datagram once, at its highest ACK.
        ACK_SNS[0] = maxAck;
        ACK_TSS[0] = maxAckTs;
        ackCount = 1;
      }
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
    this.slid = seqDiff(sender.una, prevUna) > 0;
    if (this.slid) this.window.onUnaAdvanced(this.rmtWnd, sender.mss);
    if (sender.pacer !== null) sender.pacer.endInput(now, sender.inFlight);
  }
}
