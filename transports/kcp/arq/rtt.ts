/** Upper bound of the retransmission timeout (reference IKCP_RTO_MAX). */
export const RTO_MAX = 60000;
/** RTO before the first sample (reference IKCP_RTO_DEF). */
export const RTO_DEFAULT = 200;
/** Highest stall floor a spurious timeout can set. */
const STALL_FLOOR_MAX = 1000;
/** The stall floor halves after this long without another spurious timeout. */
const STALL_DECAY_MS = 10_000;

/**
 * Smoothed RTT and RTO, Jacobson/Karels in integer milliseconds exactly as the reference
 * computes them (spec §1.5), so our timers match a C peer's.
 */
export class RttEstimator {
  srtt = 0;
  rttval = 0;
  rto = RTO_DEFAULT;
  minRto: number;
  interval: number;
  private sampled = false;
  /**
   * Our extension: a floor learnt from spurious timeouts. A copy sent before a timeout
   * retransmission was acknowledged after all, `rtt` ms after it left: the peer (or we) had
   * stalled that long (a busy event loop, GC) and an RTO below that fires for nothing. The
   * next RTOs stay above it; it halves every STALL_DECAY_MS without another such event.
   */
  stallFloor = 0;
  private stallStamp = 0;
  /** Timeout retransmissions and those of them found spurious, since the last decay. */
  private timeouts = 0;
  private spurious = 0;

  constructor(minRto: number, interval: number) {
    this.minRto = minRto;
    this.interval = interval;
  }

  /** A segment was retransmitted on timeout. */
  timedOut(): void {
    this.timeouts++;
  }

  /**
   * A timeout retransmission proved spurious: the acknowledged copy took `rtt` ms. The floor
   * rises only while most timeouts are spurious: on a lossy link most are real, and a floor
   * there would hold every lost retransmission back (measured: a 5 %-loss loopback transfer
   * 3× slower on a loaded machine, the floor pushed up by scheduling stalls).
   */
  spuriousTimeout(rtt: number, now: number): void {
    this.spurious++;
    if (this.spurious * 4 < this.timeouts * 3) return;
    const floor = Math.min(STALL_FLOOR_MAX, rtt + this.interval);
    if (floor > this.stallFloor) this.stallFloor = floor;
    this.stallStamp = now;
  }

  /** The RTO to use at `now`: the reference's, raised to the stall floor (which decays). */
  rtoAt(now: number): number {
    if (((now - this.stallStamp) | 0) > STALL_DECAY_MS) {
      this.stallFloor = this.stallFloor >= 2 * this.minRto ? this.stallFloor >>> 1 : 0;
      this.stallStamp = now;
      this.timeouts >>>= 1;
      this.spurious >>>= 1;
    }
    return Math.max(this.stallFloor, this.rto);
  }

  /**
   * kcp-go's update_ack (v5.6.1): RFC 6298 in integer ms, except that a sample below
   * srtt − rttvar moves rttvar with weight 1/32 (a queue draining must not shrink the RTO's
   * margin as fast as one filling widens it). `>>` floors like Go's shift of an int32.
   */
  sampleKcpGo(rtt: number): void {
    if (this.srtt === 0) {
      this.srtt = rtt;
      this.rttval = rtt >> 1;
    } else {
      let delta = rtt - this.srtt;
      this.srtt += delta >> 3;
      if (delta < 0) delta = -delta;
      if (rtt < this.srtt - this.rttval) this.rttval += (delta - this.rttval) >> 5;
      else this.rttval += (delta - this.rttval) >> 2;
    }
    this.sampled = true;
    this.updateRto();
  }

  /** Feeds one RTT sample (ms, ≥ 0). */
  sample(rtt: number): void {
    if (!this.sampled) {
      this.sampled = true;
      this.srtt = rtt;
      this.rttval = Math.floor(rtt / 2);
    } else {
      const delta = Math.abs(rtt - this.srtt);
      this.rttval = Math.floor((3 * this.rttval + delta) / 4);
      this.srtt = Math.max(1, Math.floor((7 * this.srtt + rtt) / 8));
    }
    this.updateRto();
  }

  /** Both estimators: srtt plus four deviations (at least one interval), within the bounds. */
  private updateRto(): void {
    const rto = this.srtt + Math.max(this.interval, 4 * this.rttval);
    this.rto = Math.min(RTO_MAX, Math.max(this.minRto, rto));
  }
}
