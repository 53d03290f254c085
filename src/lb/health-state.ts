/**
 * The UP/DOWN decision of a health check, without timers or sockets.
 *
 * A DOWN server needs `up` net successes to become UP, an UP one `down` net
 * failures to become DOWN; a result of the opposite kind first pays back
 * partial progress (so one flap does not reset a nearly finished count).
 * `success()` / `failure()` return true exactly when the state flips, which is
 * what makes the UP/DOWN events edge-triggered.
 */
export class HealthState {
  #up: number;
  #down: number;
  #isUp: boolean;
  #curUp = 0;
  #curDown = 0;

  /** `up` and `down` are ≥ 1 (validated by the health-check config). */
  constructor(up: number, down: number, initiallyUp = false) {
    this.#up = up;
    this.#down = down;
    this.#isUp = initiallyUp;
  }

  get isUp(): boolean {
    return this.#isUp;
  }

  /** Successes collected towards UP. */
  get curUp(): number {
    return this.#curUp;
  }

  /** Failures collected towards DOWN. */
  get curDown(): number {
    return this.#curDown;
  }

  success(): boolean {
    if (this.#curDown > 0) {
      this.#curDown--;
      return false;
    }
    if (this.#isUp) return false;
    if (this.#curUp >= this.#up - 1) {
      this.#isUp = true;
      this.#curUp = 0;
      return true;
    }
    this.#curUp++;
    return false;
  }

  failure(): boolean {
    if (this.#curUp > 0) {
      this.#curUp--;
      return false;
    }
    if (!this.#isUp) return false;
    if (this.#curDown >= this.#down - 1) {
      this.#isUp = false;
      this.#curDown = 0;
      return true;
    }
    this.#curDown++;
    return false;
  }

  /** New thresholds (config change, loop move): the state is kept, partial counts restart. */
  reset(up: number, down: number): void {
    this.#up = up;
    this.#down = down;
    this.#curUp = 0;
    this.#curDown = 0;
  }

  /** Set the state directly (`none` checks are UP by definition); true when it changed. */
  force(isUp: boolean): boolean {
    const changed = this.#isUp !== isUp;
    this.#isUp = isUp;
    this.#curUp = 0;
    this.#curDown = 0;
    return changed;
  }
}
