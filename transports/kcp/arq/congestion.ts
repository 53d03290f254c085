/** Smallest slow-start threshold (reference IKCP_THRESH_MIN). */
const THRESH_MIN = 2;

/**
 * The reference's congestion window (spec §1.5 growth, §1.7 step 7): slow start / congestion
 * avoidance on every cumulative-ack advance, halving on fast retransmit, collapse to one
 * segment on timeout. Always computed; the sender ignores it when `noCwnd` is set.
 */
export class ClassicWindow {
  cwnd = 0;
  incr = 0;
  ssthresh = THRESH_MIN;

  /** snd_una advanced during an input(). */
  onUnaAdvanced(rmtWnd: number, mss: number): void {
    if (this.cwnd >= rmtWnd) return;
    if (this.cwnd < this.ssthresh) {
      this.cwnd++;
      this.incr += mss;
    } else {
      if (this.incr < mss) this.incr = mss;
      this.incr += Math.floor((mss * mss) / this.incr) + Math.floor(mss / 16);
      if ((this.cwnd + 1) * mss <= this.incr) this.cwnd++;
    }
    if (this.cwnd > rmtWnd) {
      this.cwnd = rmtWnd;
      this.incr = rmtWnd * mss;
    }
  }

  /** A flush fast-retransmitted something. */
  onFastRetransmit(inflight: number, resend: number, mss: number): void {
    this.ssthresh = Math.max(THRESH_MIN, Math.floor(inflight / 2));
    this.cwnd = this.ssthresh + resend;
    this.incr = this.cwnd * mss;
  }

  /** A flush retransmitted something on timeout; `effWnd` is the window that flush used. */
  onTimeout(effWnd: number, mss: number): void {
    this.ssthresh = Math.max(THRESH_MIN, Math.floor(effWnd / 2));
    this.cwnd = 1;
    this.incr = mss;
  }

  /** End of every flush: never below one segment. */
  ensureMinimum(mss: number): void {
    if (this.cwnd < 1) {
      this.cwnd = 1;
      this.incr = mss;
    }
  }
}
