/**
 * Flows of a datagram listener, keyed by client `ip|port`, bounded and idle-expired.
 *
 * Idle expiry runs on a coarse tick rather than a timestamp per datagram: every
 * datagram only copies an integer (`touch`), and one unref'd interval timer per table
 * (never one per flow) closes the flows that saw no datagram for `idleTimeoutMs`,
 * give or take a quarter of it. At tens of thousands of datagrams a second a
 * `Date.now()` or timer re-arm per datagram would be the hot path's biggest cost.
 */
export interface FlowEntry {
  /** The sweep tick of this flow's last datagram (either way); set by `touch`. */
  seen: number;
  /** Release what the flow holds (its backend socket, its server lease). */
  close(reason: 'idle' | 'closed'): void;
}

export interface FlowTableOptions {
  readonly idleTimeoutMs: number;
  /** New flows beyond this are refused (and counted), existing ones keep flowing. */
  readonly maxFlows: number;
}

/** Ticks per idle timeout: expiry happens between 1 and 1.25 timeouts after the last datagram. */
const TICKS_PER_TIMEOUT = 4;

export class FlowTable<F extends FlowEntry> {
  readonly #flows = new Map<string, F>();
  #idleTimeoutMs: number;
  #maxFlows: number;
  #tick = 0;
  #timer: NodeJS.Timeout | null = null;
  #refused = 0;
  #expired = 0;
  #total = 0;

  constructor(options: FlowTableOptions) {
    this.#idleTimeoutMs = options.idleTimeoutMs;
    this.#maxFlows = options.maxFlows;
    this.#arm();
  }

  get size(): number {
    return this.#flows.size;
  }

  get refused(): number {
    return this.#refused;
  }

  get expired(): number {
    return this.#expired;
  }

  /** Flows ever admitted. */
  get total(): number {
    return this.#total;
  }

  get idleTimeoutMs(): number {
    return this.#idleTimeoutMs;
  }

  get maxFlows(): number {
    return this.#maxFlows;
  }

  /** Applies to the next sweep; flows already over a lowered bound are kept, new ones refused. */
  configure(options: Partial<FlowTableOptions>): void {
    if (options.maxFlows !== undefined) this.#maxFlows = options.maxFlows;
    if (options.idleTimeoutMs !== undefined && options.idleTimeoutMs !== this.#idleTimeoutMs) {
      this.#idleTimeoutMs = options.idleTimeoutMs;
      this.#arm();
    }
  }

  get(key: string): F | undefined {
    return this.#flows.get(key);
  }

  /** Mark activity on a flow (one integer store: called per datagram). */
  touch(flow: F): void {
    flow.seen = this.#tick;
  }

  /** Room for one more flow? Counts a refusal when there is none. */
  admit(): boolean {
    if (this.#flows.size < this.#maxFlows) return true;
    this.#refused++;
    return false;
  }

  /** Count a refusal decided elsewhere (security group, no backend). */
  refuse(): void {
    this.#refused++;
  }

  add(key: string, flow: F): void {
    flow.seen = this.#tick;
    this.#flows.set(key, flow);
    this.#total++;
  }

  /** Forget a flow without closing it (its owner closes it). */
  delete(key: string, flow: F): void {
    if (this.#flows.get(key) === flow) this.#flows.delete(key);
  }

  values(): IterableIterator<F> {
    return this.#flows.values();
  }

  /** Close every flow and stop the sweep. */
  close(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    const flows = [...this.#flows.values()];
    this.#flows.clear();
    for (const f of flows) f.close('closed');
  }

  /** One sweep: expire flows idle for a whole timeout. Public for tests on a fake clock. */
  sweep(): void {
    this.#tick++;
    const oldest = this.#tick - TICKS_PER_TIMEOUT;
    for (const [key, flow] of this.#flows) {
      if (flow.seen > oldest) continue;
      this.#flows.delete(key);
      this.#expired++;
      flow.close('idle');
    }
  }

  #arm(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    const period = Math.max(1, Math.floor(this.#idleTimeoutMs / TICKS_PER_TIMEOUT));
    this.#timer = setInterval(() => this.sweep(), period);
    this.#timer.unref();
  }
}
