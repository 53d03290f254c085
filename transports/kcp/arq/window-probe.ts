import { seqDiff } from './wire.js';

/** First zero-window probe delay and its cap (reference IKCP_PROBE_INIT / _LIMIT). */
const PROBE_INIT = 7000;
const PROBE_LIMIT = 120000;

/**
 * Zero-window probing (spec §1.7 steps 2–3): while the peer advertises a zero window, ask it
 * (WASK) after 7 s, then at growing intervals up to 2 min; and answer its asks, or tell it our
 * window reopened, with WINS.
 */
export class WindowProbe {
  /** Send a WASK at the next flush. */
  ask = false;
  /** Send a WINS at the next flush. */
  tell = false;
  private tsProbe = 0;
  private probeWait = 0;

  /** Called at each flush with the peer's window; may set `ask`. */
  schedule(now: number, rmtWnd: number): void {
    if (rmtWnd !== 0) {
      this.tsProbe = 0;
      this.probeWait = 0;
      return;
    }
    if (this.probeWait === 0) {
      this.probeWait = PROBE_INIT;
      this.tsProbe = (now + this.probeWait) >>> 0;
    } else if (seqDiff(now, this.tsProbe) >= 0) {
      if (this.probeWait < PROBE_INIT) this.probeWait = PROBE_INIT;
      this.probeWait = Math.min(PROBE_LIMIT, this.probeWait + Math.floor(this.probeWait / 2));
      this.tsProbe = (now + this.probeWait) >>> 0;
      this.ask = true;
    }
  }

  /** Both requests were sent. */
  clear(): void {
    this.ask = false;
    this.tell = false;
  }
}
