import type { Server } from '../lb/server.js';
import type { ServerGroup } from '../lb/server-group.js';
import { type Elsewhere, type ListenerReport, STATS_PUSH_MS } from './protocol.js';
import type { WorkerProcess } from './supervisor.js';

// Two things of a listener on workers that are about the whole group rather
// than one worker's share: a socks5-server's UDP association counts (summed
// here, as WorkerFleet sums the other counters), and, for wlc, the
// connections each worker's copy does not see (pushed to it).

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

export interface ElsewhereOptions {
  /** The wlc server groups of the listener's upstream now. */
  readonly groups: () => Iterable<ServerGroup>;
  /** The worker processes running the listener, up now, with what their copy holds per server. */
  readonly workers: () => Iterable<[WorkerProcess, ReadonlyMap<Server, number>]>;
  /** Send one worker its view; resolves when it applied it (false: not sent, try again later). */
  readonly send: (worker: WorkerProcess, servers: Elsewhere) => Promise<boolean>;
}

/**
 * Tells each worker how many connections to each wlc server are held outside
 * its copy of the listener: main's server counts every worker's connections
 * (their ledgers) and main's own, so that is its live count minus what this
 * worker's copy reported. A worker hears only of a change, and at most once per
 * STATS_PUSH_MS (the rate its peers report at, so nothing fresher exists).
 */
export class ElsewherePusher {
  readonly #o: ElsewhereOptions;
  readonly #sent = new Map<WorkerProcess, string>();
  #timer: NodeJS.Timeout | undefined;
  #lastPush = Number.NEGATIVE_INFINITY;
  #pushing: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(options: ElsewhereOptions) {
    this.#o = options;
  }

  /** Something may have changed (a worker reported): push within the rate limit. */
  soon(): void {
    if (this.#timer !== undefined || this.#closed) return;
    const wait = Math.max(0, this.#lastPush + STATS_PUSH_MS - performance.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      // A failed send is retried with the next change (its view is forgotten).
      this.push().catch(() => {});
    }, wait);
    this.#timer.unref();
  }

  /** Push every changed view now; resolves when the workers applied them. */
  push(): Promise<void> {
    const next = this.#pushing.then(() => this.#push());
    this.#pushing = next.catch(() => {});
    return next;
  }

  /** A worker (re)started or left: its next view goes out whatever it was. */
  forget(worker: WorkerProcess): void {
    this.#sent.delete(worker);
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  async #push(): Promise<void> {
    if (this.#closed) return;
    this.#lastPush = performance.now();
    const servers: Server[] = [];
    const names = new Map<Server, string>();
    for (const g of this.#o.groups()) {
      for (const s of g.servers()) {
        servers.push(s);
        names.set(s, g.name);
      }
    }
    const sends: Promise<void>[] = [];
    for (const [worker, held] of this.#o.workers()) {
      const view: [string, string, string, number][] = [];
      for (const s of servers) {
        const n = s.activeConnections - (held.get(s) ?? 0);
        if (n > 0) view.push([names.get(s) ?? '', s.name, s.addressText, n]);
      }
      const json = JSON.stringify(view);
      // A copy starts with none elsewhere (a new or restarted worker needs no empty view).
      if ((this.#sent.get(worker) ?? '[]') === json) continue;
      this.#sent.set(worker, json);
      sends.push(
        this.#o.send(worker, view).then((ok) => {
          if (!ok && this.#sent.get(worker) === json) this.#sent.delete(worker);
        }),
      );
    }
    await Promise.all(sends);
  }
}
