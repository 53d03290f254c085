/** What the deadlines read of an entry: when its dial started (null: not dialling now). */
export interface Dialing {
  readonly dialStartedAt: number | null;
}

/**
 * The connect timeouts of an engine's dials, on one timer instead of one per
 * connect, and with no entry per dial: each session says when its dial started,
 * and the timer, armed only while a dial may be pending, scans the engine's
 * sessions when it fires (once per timeout at most, however many dials). A
 * Map of pending dials was measured to make V8 promote ~1 KB more per short
 * connection to the old generation; a dial that ends needs no bookkeeping here.
 */
export class ConnectDeadlines<K extends Dialing> {
  readonly #timeoutMs: number;
  readonly #entries: () => readonly K[];
  readonly #expire: (key: K) => void;
  #timer: NodeJS.Timeout | undefined;

  /**
   * `entries`: where dials may be pending (read when the timer fires); `expire`
   * runs for each whose dial started `timeoutMs` ago or more; 0 or less: never.
   */
  constructor(timeoutMs: number, entries: () => readonly K[], expire: (key: K) => void) {
    this.#timeoutMs = timeoutMs;
    this.#entries = entries;
    this.#expire = expire;
  }

  /** A dial started: make sure the timer runs. */
  started(): void {
    if (this.#timeoutMs > 0 && this.#timer === undefined) this.#arm(this.#timeoutMs);
  }

  clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(() => this.#fire(), Math.max(1, Math.ceil(ms)));
  }

  #fire(): void {
    this.#timer = undefined;
    const now = performance.now();
    let next = Number.POSITIVE_INFINITY;
    const due: K[] = [];
    for (const key of this.#entries()) {
      const started = key.dialStartedAt;
      if (started === null) continue;
      const at = started + this.#timeoutMs;
      if (at <= now) due.push(key);
      else if (at < next) next = at;
    }
    // Expired after the scan: an expiry may change the entries.
    for (const key of due) this.#expire(key);
    if (next !== Number.POSITIVE_INFINITY) this.#arm(next - now);
  }
}
