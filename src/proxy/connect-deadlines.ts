/**
 * The connect timeouts of an engine's dials, on one timer instead of one per
 * connect. Every dial of an engine has the same timeout, so the order in which
 * they start is the order in which they expire: a Map (insertion-ordered, O(1)
 * delete) is the queue, and the timer is armed for its oldest entry only.
 */
export class ConnectDeadlines<K, V> {
  readonly #timeoutMs: number;
  readonly #expire: (key: K, value: V) => void;
  readonly #due = new Map<K, { readonly at: number; readonly value: V }>();
  #timer: NodeJS.Timeout | undefined;

  /** `expire` runs for a key still here `timeoutMs` after it was added; 0 or less: never. */
  constructor(timeoutMs: number, expire: (key: K, value: V) => void) {
    this.#timeoutMs = timeoutMs;
    this.#expire = expire;
  }

  add(key: K, value: V): void {
    if (this.#timeoutMs <= 0) return;
    this.#due.delete(key);
    this.#due.set(key, { at: performance.now() + this.#timeoutMs, value });
    if (this.#timer === undefined) this.#arm(this.#timeoutMs);
  }

  /** The connect finished (or was given up): no timeout for it. */
  delete(key: K): void {
    this.#due.delete(key);
  }

  clear(): void {
    this.#due.clear();
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(() => this.#fire(), Math.max(1, Math.ceil(ms)));
  }

  #fire(): void {
    this.#timer = undefined;
    const now = performance.now();
    for (const [key, entry] of this.#due) {
      if (entry.at > now) {
        this.#arm(entry.at - now);
        return;
      }
      this.#due.delete(key);
      this.#expire(key, entry.value);
    }
  }
}
