/** Upper bound of the retransmission timeout (reference IKCP_RTO_MAX). */
export const RTO_MAX = 60000;
/** RTO before the first sample (reference IKCP_RTO_DEF). */
export const RTO_DEFAULT = 200;

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

  constructor(minRto: number, interval: number) {
    this.minRto = minRto;
    this.interval = interval;
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
    const rto = this.srtt + Math.max(this.interval, 4 * this.rttval);
    this.rto = Math.min(RTO_MAX, Math.max(this.minRto, rto));
  }
}
