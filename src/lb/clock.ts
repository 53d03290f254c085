/** Cancels a scheduled task; calling it after the task ran (or twice) does nothing. */
export type Cancel = () => void;

/**
 * Time and timers, injected so that time-driven state machines (health checks)
 * can be driven by a fake clock in unit tests. One instance per event loop.
 */
export interface Clock {
  /** Milliseconds on a monotonic scale (only differences are meaningful). */
  now(): number;
  /** Run `task` once, `delayMs` from now. */
  schedule(delayMs: number, task: () => void): Cancel;
}

/**
 * The process clock. Timers are unref'd: health checks and other background
 * work must never be what keeps a process alive; listeners and sockets do that.
 */
export const systemClock: Clock = {
  now: () => performance.now(),
  schedule(delayMs, task) {
    const timer = setTimeout(task, delayMs);
    timer.unref();
    return () => clearTimeout(timer);
  },
};
