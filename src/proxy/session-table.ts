import type { Session } from './session.js';

/**
 * An engine's live sessions: an array, each session knowing its index, removed
 * by moving the last one into its place. Not a Map: a Map's hash table is
 * reallocated as sessions come and go, and measured over 20,000 short
 * connections it made V8 promote ~850 more bytes per connection to the old
 * generation (each promotion later paid by a major GC) than this array does.
 * Lookup by id is a scan: only the control plane (kill) asks for it.
 */
export class SessionTable {
  readonly #list: Session[] = [];

  get size(): number {
    return this.#list.length;
  }

  /** The live sessions. Changes as sessions come and go: copy it to keep it across a close. */
  get all(): readonly Session[] {
    return this.#list;
  }

  add(session: Session): void {
    session.tableSlot = this.#list.length;
    this.#list.push(session);
  }

  remove(session: Session): void {
    const list = this.#list;
    const slot = session.tableSlot;
    if (slot < 0 || list[slot] !== session) return;
    const last = list.pop() as Session;
    if (last !== session) {
      list[slot] = last;
      last.tableSlot = slot;
    }
    session.tableSlot = -1;
  }

  get(id: number): Session | undefined {
    return this.#list.find((s) => s.id === id);
  }
}
