import type { Segment } from './segment.js';
import { seqDiff } from './wire.js';

/**
 * The `congestion: 'pacing'` sender discipline, an extension beyond the reference: a BBR-like
 * model (after Cardwell et al., "BBR: Congestion-Based Congestion Control", 2016) built on the
 * delivery-rate samples KCP's per-segment ACKs give us.
 *
 * - Delivery rate: every segment remembers how much had been delivered when it was sent; when
 *   it is acknowledged, (delivered now − delivered then) / elapsed is one rate sample. The
 *   bottleneck bandwidth is the max sample over the last 10 round trips that recorded one;
 *   samples taken while the sender had nothing to send, or was held by the peer's receive
 *   window, only count if they raise the estimate.
 * - Min RTT: the smallest ACK RTT of the last 10 s.
 * - Phases: STARTUP (gain 2.885 until the bandwidth stops growing 25 % per round for three
 *   rounds), DRAIN (gain 1/2.885 until in-flight ≤ one BDP), then PROBE_BW cycling the
 *   pacing gain 1.25, 0.75, 1 ×6, one min-RTT per phase. No PROBE_RTT: the min-RTT filter
 *   simply expires.
 * - Output: a token bucket at gain × bandwidth limits what each flush may put on the wire
 *   (retransmissions are never held back, they just spend tokens), and in-flight is capped at
 *   2 × BDP plus an allowance for KCP's delayed, batched ACKs.
 * Losses do not shrink the rate (as in BBR v1): random loss is not congestion. More than that,
 * random loss before the bottleneck (a lossy radio hop, linkem) means a rate equal to the
 * bottleneck's delivers only (1 − loss) of it: while the round's smallest RTT shows no
 * standing queue, the pacing rate is divided by (1 − loss), loss being the share of
 * retransmissions among recent sends (smoothed over rounds, at most MAX_LOSS_COMP). Once a
 * queue builds (the bottleneck is full, or the loss is the queue's), the RTT says so and
 * the compensation stops; the in-flight cap bounds what it can add to a queue meanwhile.
 */

const STARTUP_GAIN = 2.885;
const CYCLE_GAINS = [1.25, 0.75, 1, 1, 1, 1, 1, 1];
const BW_ROUNDS = 10;
const MIN_RTT_WINDOW = 10000;
const INITIAL_WINDOW = 64;
const MIN_WINDOW = 4;
/** Tokens never accumulate beyond this many ms of sending (bounds the burst after a pause). */
const MAX_BURST_MS = 2;
/** Largest loss share the pacing rate makes up for (beyond it the link is just broken). */
const MAX_LOSS_COMP = 0.2;
/** A round whose smallest RTT is within this factor of minRtt (+ the ACK delay) has no queue. */
const NO_QUEUE_RTT = 1.25;
/** Sends in a round below which its loss share is not trusted. */
const LOSS_MIN_SENDS = 32;

const STARTUP = 0;
const DRAIN = 1;
const PROBE_BW = 2;

export class Pacer {
  /** Bytes one full segment occupies on the wire (mtu). */
  packetSize: number;
  /** Ms by which the peer may delay ACKs (its flush interval, assumed equal to ours). */
  ackDelay = 10;

  private delivered = 0;
  private deliveredTime = 0;
  private firstSentTime = 0;
  /** Delivered-bytes mark until which samples are app-limited (0 = not limited). */
  private appLimitedUntil = 0;

  // The rate sample being gathered during one input().
  private samplePrior = -1;
  private samplePriorTime = 0;
  private sampleSendElapsed = 0;
  private sampleAppLimited = false;

  private readonly bwByRound = new Float64Array(BW_ROUNDS);
  /** The round each bwByRound slot holds (its sample is stale once 10 rounds older). */
  private readonly bwRoundOf = new Float64Array(BW_ROUNDS).fill(-BW_ROUNDS);
  /** Bottleneck bandwidth estimate, bytes per ms (0 = none yet). */
  btlBw = 0;
  private round = 0;
  private nextRoundDelivered = 0;
  /** Smallest recent RTT in ms (−1 = none yet). */
  minRtt = -1;
  private minRttStamp = 0;

  private mode = STARTUP;
  private fullBw = 0;
  private fullBwRounds = 0;
  /** Segments sent and retransmitted during the current round trip. */
  private roundSent = 0;
  private roundResent = 0;
  private cycleIndex = 0;
  private cycleStamp = 0;
  private pacingGain = STARTUP_GAIN;
  private cwndGain = STARTUP_GAIN;
  /** Smoothed share of retransmissions among sends (per round). */
  lossRate = 0;
  /** Smallest RTT sample of the current round (−1 = none yet). */
  private roundMinRtt = -1;
  /** 1 / (1 − lossRate) while the last round showed no standing queue, else 1. */
  private lossComp = 1;

  private tokens = 0;
  private lastRefill = 0;
  private started = false;

  constructor(packetSize: number) {
    this.packetSize = packetSize;
  }

  /** Current pacing rate in bytes per ms. */
  get rate(): number {
    const rtt = this.minRtt > 0 ? this.minRtt : 1;
    const initial = (STARTUP_GAIN * INITIAL_WINDOW * this.packetSize) / rtt;
    if (this.btlBw === 0) return initial;
    const rate = this.pacingGain * this.btlBw * this.lossComp;
    // Until the pipe is full, never below the initial rate (Linux BBR only raises its pacing
    // rate before then): see inflightCap.
    return this.mode === STARTUP ? Math.max(initial, rate) : rate;
  }

  /** Segments allowed in flight. */
  inflightCap(sndWnd: number): number {
    const initial = Math.min(sndWnd, INITIAL_WINDOW);
    if (this.btlBw === 0 || this.minRtt < 0) return initial;
    const bdp = this.btlBw * this.minRtt;
    const allowance = this.btlBw * 2 * this.ackDelay;
    const cap = Math.max(
      MIN_WINDOW,
      Math.ceil((this.cwndGain * bdp + allowance) / this.packetSize),
    );
    // A session's first round trips carry the mux handshake, a few bytes: their app-limited
    // samples become the first estimate, and a cap from them (4 segments) made STARTUP grow
    // from there instead of the initial window. Measured in the sim (linkem link, 10 MB after
    // a 40-byte exchange): 1.95 s against 1.76 s without the exchange.
    return this.mode === STARTUP ? Math.max(initial, cap) : cap;
  }

  /** Tops the token bucket up for the time elapsed; called at the start of each flush. */
  refill(now: number): void {
    if (!this.started) {
      this.started = true;
      this.tokens = this.burstCap();
    } else {
      this.tokens = this.tokensAt(now);
    }
    this.lastRefill = now;
  }

  /** Whether the bucket allows one more segment now (it may then go negative by < 1 mtu). */
  canSend(): boolean {
    return this.tokens > 0;
  }

  /** Ms until the bucket allows a segment (0 = now). */
  tokenDelay(now: number): number {
    if (!this.started) return 0;
    const t = this.tokensAt(now);
    return t > 0 ? 0 : Math.max(1, Math.ceil((1 - t) / this.rate));
  }

  /**
   * Lowest sensible retransmission timeout: in-flight never exceeds the cap, so the queue
   * we cause never delays a segment beyond ~cwndGain × minRtt plus the peer's ACK batching.
   * Below this, a mere probing phase (gain 1.25) fires a burst of spurious timeouts.
   */
  rtoFloor(): number {
    return this.minRtt < 0 ? 0 : (this.cwndGain + 0.25) * this.minRtt + 3 * this.ackDelay;
  }

  /** Stamps a segment's delivery state as it goes out and spends tokens for it. */
  onSent(seg: Segment, now: number, inFlightBefore: number): void {
    if (inFlightBefore === 0) {
      this.firstSentTime = now;
      this.deliveredTime = now;
    }
    seg.txDelivered = this.delivered;
    seg.txDeliveredTime = this.deliveredTime;
    seg.txFirstSent = this.firstSentTime;
    seg.txAppLimited = this.appLimitedUntil !== 0;
    this.tokens -= seg.len + 24;
    this.roundSent++;
    if (seg.xmit > 1) this.roundResent++;
  }

  /** A segment was acknowledged (by ACK or una) during the current input(). */
  onDelivered(seg: Segment, now: number): void {
    this.delivered += seg.len + 24;
    this.deliveredTime = now;
    if (this.appLimitedUntil !== 0 && this.delivered > this.appLimitedUntil) {
      this.appLimitedUntil = 0;
    }
    // The most recently sent of the acknowledged segments yields the sample.
    if (seg.txDelivered >= this.samplePrior) {
      this.samplePrior = seg.txDelivered;
      this.samplePriorTime = seg.txDeliveredTime;
      this.sampleSendElapsed = seqDiff(seg.ts, seg.txFirstSent);
      this.sampleAppLimited = seg.txAppLimited;
      this.firstSentTime = seg.ts;
    }
  }

  onRtt(rtt: number, now: number): void {
    if (this.roundMinRtt < 0 || rtt < this.roundMinRtt) this.roundMinRtt = rtt;
    if (this.minRtt < 0 || rtt <= this.minRtt || seqDiff(now, this.minRttStamp) > MIN_RTT_WINDOW) {
      this.minRtt = rtt;
      this.minRttStamp = now;
    }
  }

  /**
   * After a flush: held below the cap by something other than the model (nothing left to
   * send, or the window) means the samples that follow are app-limited.
   */
  onTransmitEnd(held: boolean, inFlight: number, cap: number): void {
    if (held && inFlight < cap) {
      this.appLimitedUntil = Math.max(1, this.delivered + inFlight * this.packetSize);
    }
    // Held back by the window, not the rate: unspent tokens must not turn into a burst the
    // moment ACKs open the window.
    if (inFlight >= cap && this.tokens > 2 * this.packetSize) this.tokens = 2 * this.packetSize;
  }

  /** End of an input(): turns what was acknowledged into one rate sample and steps the model. */
  endInput(now: number, inFlight: number): void {
    if (this.samplePrior < 0) return;
    const prior = this.samplePrior;
    this.samplePrior = -1;
    const interval = Math.max(1, this.sampleSendElapsed, seqDiff(now, this.samplePriorTime));
    const rate = (this.delivered - prior) / interval;
    const roundStart = prior >= this.nextRoundDelivered;
    if (roundStart) {
      this.round++;
      this.nextRoundDelivered = this.delivered;
    }
    // DRAIN paces below the estimate on purpose, so its samples measure our own hold-back;
    // recorded, they dragged the estimate down by 1/2.885 per round for as long as DRAIN lasted.
    const limited = this.sampleAppLimited || this.mode === DRAIN;
    if (!limited || rate >= this.btlBw) this.recordBw(rate);
    this.step(now, roundStart, inFlight, this.sampleAppLimited);
  }

  /**
   * Max filter over the last BW_ROUNDS rounds *that recorded a sample* (as Linux's windowed
   * minmax: entries expire only when a newer one is inserted). App-limited rounds record
   * nothing, so they cannot age the estimate out: a receiver that fell behind for a second
   * (zero or tiny window, measured in the sim: 50 → 2 Mbit/s) used to leave the sender
   * pacing at that trickle and regrowing by PROBE_BW's 1.25 for 4 s after it caught up.
   */
  private recordBw(rate: number): void {
    const round = this.round;
    const slot = round % BW_ROUNDS;
    if (this.bwRoundOf[slot] !== round) {
      this.bwRoundOf[slot] = round;
      this.bwByRound[slot] = 0;
    }
    if (rate > (this.bwByRound[slot] as number)) this.bwByRound[slot] = rate;
    let best = 0;
    for (let i = 0; i < BW_ROUNDS; i++) {
      const bw = this.bwByRound[i] as number;
      if (bw > best && (this.bwRoundOf[i] as number) > round - BW_ROUNDS) best = bw;
    }
    this.btlBw = best;
  }

  private step(now: number, roundStart: boolean, inFlight: number, appLimited: boolean): void {
    // An app-limited round (a handshake, a pause) says nothing about whether the pipe is full.
    if (this.mode === STARTUP && roundStart && !appLimited) {
      // Losing > 2 % of a round while the bandwidth no longer grows means our own queue
      // overflows: leave at once rather than after three flat rounds (as BBRv2 does).
      const overflowing = this.roundResent * 50 > this.roundSent;
      if (this.btlBw >= this.fullBw * 1.25) {
        this.fullBw = this.btlBw;
        this.fullBwRounds = 0;
      } else if (++this.fullBwRounds >= 3 || overflowing) {
        this.mode = DRAIN;
        this.pacingGain = 1 / STARTUP_GAIN;
        this.cwndGain = STARTUP_GAIN;
      }
    }
    if (roundStart) {
      if (this.roundSent >= LOSS_MIN_SENDS) {
        const share = this.roundResent / this.roundSent;
        this.lossRate = 0.75 * this.lossRate + 0.25 * share;
      }
      const noQueue =
        this.mode === PROBE_BW &&
        this.roundMinRtt >= 0 &&
        this.roundMinRtt <= NO_QUEUE_RTT * this.minRtt + this.ackDelay;
      this.lossComp = noQueue ? 1 / (1 - Math.min(MAX_LOSS_COMP, this.lossRate)) : 1;
      this.roundSent = 0;
      this.roundResent = 0;
      this.roundMinRtt = -1;
    }
    const bdpSegments = (this.btlBw * Math.max(this.minRtt, 1)) / this.packetSize;
    if (this.mode === DRAIN && inFlight <= bdpSegments) {
      this.mode = PROBE_BW;
      this.cwndGain = 2;
      this.cycleIndex = 2;
      this.cycleStamp = now;
      this.pacingGain = CYCLE_GAINS[this.cycleIndex] as number;
    }
    if (this.mode === PROBE_BW && seqDiff(now, this.cycleStamp) > Math.max(this.minRtt, 1)) {
      this.cycleIndex = (this.cycleIndex + 1) % CYCLE_GAINS.length;
      this.cycleStamp = now;
      this.pacingGain = CYCLE_GAINS[this.cycleIndex] as number;
    }
  }

  private tokensAt(now: number): number {
    const elapsed = Math.max(0, seqDiff(now, this.lastRefill));
    return Math.min(this.burstCap(), this.tokens + elapsed * this.rate);
  }

  private burstCap(): number {
    return Math.max(4 * this.packetSize, this.rate * MAX_BURST_MS);
  }
}
