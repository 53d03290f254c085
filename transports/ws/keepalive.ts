/** What the keepalive needs from a stream; kept this small so it is testable alone. */
export interface LivenessProbe {
  /** A number that changes whenever anything (data, ping, pong, EOF) arrives from the peer. */
  heard(): number;
  /**
   * True while we are not reading (our consumer is slow): the peer's frames sit
   * unread in the kernel, so silence proves nothing.
   */
  readingPaused(): boolean;
  ping(): void;
  dead(silentMs: number): void;
}

/**
 * Ping every `intervalMs`; declare the peer dead once nothing at all has been
 * heard from it for `timeoutMs` of ticks during which we were reading.
 *
 * Why "anything heard" and not "our pong came back": both ends ping on their
 * own clock, and sending a ping needs no reading. So a peer that is alive but
 * not reading (its consumer is slow) still makes itself heard through its own
 * pings, while a peer that vanished (host gone, path black-holed) goes silent.
 * A pong-only rule would kill every slow-but-alive reader. Checking once per
 * tick (no per-message timer work) puts detection between `timeoutMs` and
 * `timeoutMs + intervalMs` after the last frame heard.
 */
export class Keepalive {
  readonly #intervalMs: number;
  readonly #timeoutMs: number;
  readonly #probe: LivenessProbe;
  #timer: NodeJS.Timeout | null = null;
  #lastHeard: number;
  #silentMs = 0;

  /** `intervalMs` must be > 0; `timeoutMs` 0 pings without ever declaring the peer dead. */
  constructor(intervalMs: number, timeoutMs: number, probe: LivenessProbe) {
    this.#intervalMs = intervalMs;
    this.#timeoutMs = timeoutMs;
    this.#probe = probe;
    this.#lastHeard = probe.heard();
  }

  start(): void {
    if (this.#timer === null) this.#timer = setInterval(() => this.tick(), this.#intervalMs);
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** One interval elapsed (the timer calls this; tests call it directly). */
  tick(): void {
    const heard = this.#probe.heard();
    if (heard !== this.#lastHeard || this.#probe.readingPaused()) {
      this.#lastHeard = heard;
      this.#silentMs = 0;
    } else {
      this.#silentMs += this.#intervalMs;
      if (this.#timeoutMs > 0 && this.#silentMs >= this.#timeoutMs) {
        this.stop();
        this.#probe.dead(this.#silentMs);
        return;
      }
    }
    this.#probe.ping();
  }
}
