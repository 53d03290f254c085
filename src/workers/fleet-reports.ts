import type { Server } from '../lb/server.js';
import type { ProxyStats } from '../proxy/proxy.js';
import { AssociationSums } from './fleet-shares.js';
import type { ListenerReport } from './protocol.js';
import { ServerLedger, type ServerLookup } from './server-ledger.js';
import type { WorkerProcess } from './supervisor.js';

const ZERO: ProxyStats = {
  accepted: 0,
  active: 0,
  bytesIn: 0,
  bytesOut: 0,
  noBackend: 0,
  refused: 0,
  connectFailures: 0,
  redispatches: 0,
  idleTimeouts: 0,
  finTimeouts: 0,
  errors: 0,
};

function add(a: ProxyStats, b: ProxyStats, withActive: boolean): ProxyStats {
  const out = { ...a };
  for (const k of Object.keys(ZERO) as (keyof ProxyStats)[]) {
    if (k === 'active' && !withActive) continue;
    out[k] = a[k] + b[k];
  }
  return out;
}

/**
 * What the workers reported of one listener, kept per worker so the listener
 * can show the whole: its counters (summed; a retired worker's stay in the
 * sums, without its open sessions), a socks5-server's UDP associations, and
 * each worker's use of a server, added to main's server (ServerLedger) so
 * main's counts, health and wlc see every worker's connections.
 */
export class WorkerReports {
  readonly #lookup: ServerLookup;
  readonly #stats = new Map<WorkerProcess, ProxyStats>();
  /** Counters of worker processes that died (or left the group). */
  #retired: ProxyStats = ZERO;
  /** A socks5-server's UDP associations, summed over the workers. */
  readonly #udp = new AssociationSums();
  /** Per worker: what its copy added to main's servers (connections, bytes, failures). */
  readonly #ledgers = new Map<WorkerProcess, ServerLedger>();

  /** `lookup` finds main's server for a worker's copy of it. */
  constructor(lookup: ServerLookup) {
    this.#lookup = lookup;
  }

  /** A worker's report: its counters, and what its servers grew by goes to main's servers. */
  take(worker: WorkerProcess, report: ListenerReport): void {
    this.#stats.set(worker, report.stats);
    this.#udp.take(worker, report.udp);
    let ledger = this.#ledgers.get(worker);
    if (ledger === undefined) {
      ledger = new ServerLedger(this.#lookup);
      this.#ledgers.set(worker, ledger);
    }
    ledger.apply(report.servers ?? []);
  }

  /** The worker's copy started: it counts (from zero, or from what it had) before its first report. */
  started(worker: WorkerProcess): void {
    this.#stats.set(worker, this.#stats.get(worker) ?? ZERO);
  }

  /**
   * The worker's copy is gone: its counters stay in the sums, its sessions no
   * longer count as open (on main's servers too).
   */
  retire(worker: WorkerProcess): void {
    const last = this.#stats.get(worker);
    if (last !== undefined) this.#retired = add(this.#retired, last, false);
    this.#stats.delete(worker);
    this.#ledgers.get(worker)?.close();
    this.#ledgers.delete(worker);
    this.#udp.retire(worker);
  }

  /** What the worker's copy holds per server, as of its last report. */
  held(worker: WorkerProcess): ReadonlyMap<Server, number> {
    return this.#ledgers.get(worker)?.held() ?? new Map();
  }

  stats(): ProxyStats {
    let sum = this.#retired;
    for (const s of this.#stats.values()) sum = add(sum, s, true);
    return sum;
  }

  /** A socks5-server's UDP associations alive in its workers now. */
  get associations(): number {
    return this.#udp.associations;
  }

  /** UDP ASSOCIATE requests refused by the workers (at their max), retired ones' included. */
  get associationsRefused(): number {
    return this.#udp.refused;
  }
}
