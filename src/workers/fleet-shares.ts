import type { ListenerReport } from './protocol.js';
import type { WorkerProcess } from './supervisor.js';

// What a listener on workers knows about the whole group rather than one
// worker's share: a socks5-server's UDP association counts (summed here, as
// WorkerFleet sums the other counters).

type Udp = NonNullable<ListenerReport['udp']>;

/**
 * A socks5-server's UDP associations over its workers: live ones are those of
 * the workers up now (a dead worker's relays died with it), refusals count
 * for good, as the other counters do.
 */
export class AssociationSums {
  readonly #byWorker = new Map<WorkerProcess, Udp>();
  #retiredRefused = 0;

  take(worker: WorkerProcess, udp: Udp | undefined): void {
    if (udp !== undefined) this.#byWorker.set(worker, udp);
  }

  /** The worker's copy is gone: its associations closed, its refusals stay in the sum. */
  retire(worker: WorkerProcess): void {
    this.#retiredRefused += this.#byWorker.get(worker)?.refused ?? 0;
    this.#byWorker.delete(worker);
  }

  get associations(): number {
    let n = 0;
    for (const u of this.#byWorker.values()) n += u.associations;
    return n;
  }

  get refused(): number {
    let n = this.#retiredRefused;
    for (const u of this.#byWorker.values()) n += u.refused;
    return n;
  }
}
