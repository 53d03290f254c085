import type { SessionLimits } from './session.js';
import type { SessionTable } from './session-table.js';

/**
 * The engine's one periodic idle / fin check over all its sessions (a timer per
 * stream would be re-armed on every read and write, a cost per chunk).
 *
 * It runs while there are sessions: every quarter of the shorter of the idle
 * and fin timeouts (at most each second), so a session is closed between 1 and
 * 1.25 timeouts after its last byte (or within a second for long ones), plus
 * one period when the FIN itself is the last event. A session keeps the limits
 * it started with, so the period only shrinks until the sweep stops.
 */
export class IdleSweep {
  readonly #sessions: SessionTable;
  #timer: NodeJS.Timeout | undefined;
  #periodMs = 0;

  constructor(sessions: SessionTable) {
    this.#sessions = sessions;
  }

  /** Make sure the sweep runs often enough for sessions opened with `limits`. */
  ensure(limits: SessionLimits): void {
    const { idleTimeoutMs, finTimeoutMs } = limits;
    const shortest = Math.min(
      idleTimeoutMs > 0 ? idleTimeoutMs : Number.POSITIVE_INFINITY,
      finTimeoutMs > 0 ? finTimeoutMs : Number.POSITIVE_INFINITY,
    );
    if (shortest === Number.POSITIVE_INFINITY) return;
    const period = Math.min(1000, Math.max(10, Math.floor(shortest / 4)));
    if (this.#timer !== undefined && period >= this.#periodMs) return;
    this.stop();
    this.#periodMs = period;
    this.#timer = setInterval(() => {
      const now = performance.now();
      // Backwards: a session that closes here leaves the table and the last one
      // (already checked) takes its place.
      const all = this.#sessions.all;
      for (let i = all.length - 1; i >= 0; i--) all[i]?.checkIdle(now);
    }, period);
    this.#timer.unref();
  }

  get running(): boolean {
    return this.#timer !== undefined;
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
