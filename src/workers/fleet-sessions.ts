import { errorFields, type Logger } from '../fd/logger.js';
import type { SessionInfo } from '../proxy/session.js';
import type { WorkerEventLoop } from './worker-loop.js';

/** A session as a worker reported it, with where it runs. */
export interface WorkerSessionInfo extends SessionInfo {
  /** The worker loop's name and process id. */
  readonly worker: string;
  readonly pid: number | undefined;
}

/**
 * Session ids are per worker: the listener-wide id is the worker loop's slot
 * times this plus the worker's id, which also tells which worker holds it.
 */
const PER_SLOT = 1e9;

export interface FleetSessionsOptions {
  /** The listener's id in the workers' protocol. */
  readonly id: string;
  /** The worker loops the listener runs on, with each one's slot (read live). */
  readonly loops: ReadonlyMap<WorkerEventLoop, number>;
  readonly log: Logger;
  /** A closed listener no longer refreshes on its own. */
  readonly closed: () => boolean;
}

/**
 * The sessions of a listener on workers: fetched from every worker, each with
 * its worker and a listener-wide id, and killed on whichever worker holds it.
 */
export class FleetSessions {
  readonly #o: FleetSessionsOptions;
  #sessions: WorkerSessionInfo[] = [];
  #refreshedAt = Number.NEGATIVE_INFINITY;

  constructor(options: FleetSessionsOptions) {
    this.#o = options;
  }

  /** Fetch the sessions from every worker now. */
  async refresh(): Promise<void> {
    this.#refreshedAt = performance.now();
    const sessions: WorkerSessionInfo[] = [];
    await Promise.all(
      [...this.#o.loops].map(async ([loop, slot]) => {
        const worker = loop.worker;
        // The reply's counters were taken as it arrived (the worker's 'stats' event).
        const reply = await worker.request({ t: 'query' });
        const mine = reply.listeners?.[this.#o.id];
        if (!reply.ok || mine === undefined) return;
        for (const s of mine.sessions ?? []) {
          sessions.push({ ...s, id: slot * PER_SLOT + s.id, worker: loop.name, pid: worker.pid });
        }
      }),
    );
    this.#sessions = sessions.sort((a, b) => a.startedAt - b.startedAt || a.id - b.id);
  }

  /**
   * The sessions as of the last `refresh()`, each with its worker and pid. A
   * list older than a second starts a refresh (a status page polling this sees
   * the workers' sessions at most one poll late); commands refresh first.
   */
  list(): WorkerSessionInfo[] {
    if (performance.now() - this.#refreshedAt > 1000 && !this.#o.closed()) {
      this.#refreshedAt = performance.now();
      this.refresh().catch((err) => this.#o.log.warn('worker-refresh-failed', errorFields(err)));
    }
    return this.#sessions;
  }

  /** Kill a session of the last `refresh()` on whichever worker holds it. */
  kill(id: number): boolean {
    const session = this.#sessions.find((s) => s.id === id);
    if (session === undefined) return false;
    const slot = Math.floor(id / PER_SLOT);
    const loop = [...this.#o.loops].find(([, s]) => s === slot)?.[0];
    if (loop === undefined) return false;
    this.#sessions = this.#sessions.filter((s) => s !== session);
    void loop.worker.request({ t: 'kill', id: this.#o.id, session: id % PER_SLOT });
    return true;
  }

  /** The worker died: its sessions died with it. */
  dropWorker(name: string): void {
    this.#sessions = this.#sessions.filter((s) => s.worker !== name);
  }
}
