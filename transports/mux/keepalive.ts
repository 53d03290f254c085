export interface KeepaliveHooks {
  /** Send a PING carrying this 8-byte id. */
  ping(id: Buffer): void;
  /** Nothing arrived within the timeout after a PING. */
  dead(silentMs: number): void;
  /** True while the session itself stopped reading (then silence proves nothing). */
  paused(): boolean;
}

/**
 * Dead-peer detection with one timer per session and nothing per chunk but a
 * flag. Every `intervalMs` the timer checks whether anything arrived since the
 * last check; if not, it sends a PING and gives the peer `timeoutMs` to send
 * anything at all (the ACK, or any other frame). A silent peer is therefore
 * detected between `intervalMs + timeoutMs` and `2 × intervalMs + timeoutMs`
 * after its last byte.
 *
 * Unlike the reference (one miss kills a fresh tunnel, later ones are forgiven
 * up to twice), any traffic counts as proof of life and one unanswered PING fails.
 */
export class Keepalive {
  readonly #intervalMs: number;
  readonly #timeoutMs: number;
  readonly #hooks: KeepaliveHooks;
  #timer: NodeJS.Timeout | null = null;
  #heard = false;
  #awaiting = false;
  #nextId = 1n;

  constructor(intervalMs: number, timeoutMs: number, hooks: KeepaliveHooks) {
    this.#intervalMs = intervalMs;
    this.#timeoutMs = timeoutMs;
    this.#hooks = hooks;
  }

  start(): void {
    if (this.#intervalMs <= 0 || this.#timer !== null) return;
    this.#timer = setTimeout(this.#tick, this.#intervalMs).unref();
  }

  /** Called for every chunk from the peer: cheap on purpose. */
  heard(): void {
    this.#heard = true;
  }

  stop(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  readonly #tick = (): void => {
    if (this.#timer === null) return;
    if (this.#heard || this.#hooks.paused()) {
      this.#heard = false;
      this.#awaiting = false;
      this.#rearm(this.#intervalMs);
      return;
    }
    if (!this.#awaiting) {
      this.#awaiting = true;
      const id = Buffer.allocUnsafe(8);
      id.writeBigUInt64BE(this.#nextId++);
      this.#hooks.ping(id);
      this.#rearm(this.#timeoutMs);
      return;
    }
    this.#timer = null;
    this.#hooks.dead(this.#timeoutMs);
  };

  #rearm(ms: number): void {
    this.#timer = setTimeout(this.#tick, ms).unref();
  }
}
