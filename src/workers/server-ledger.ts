import type { ConnectionLease, Server } from '../lb/server.js';
import type { ServerTotals } from './protocol.js';

/** Finds main's Server for a worker's copy of it (group, name and address). */
export type ServerLookup = (group: string, name: string, address: string) => Server | undefined;

interface Entry {
  /** Main's server, once found. */
  server: Server | undefined;
  /** Leases held for the worker's open connections: main's active count includes them. */
  readonly leases: ConnectionLease[];
  /** The lease bytes are added to (released or not: a lease counts bytes after release). */
  last: ConnectionLease | undefined;
  /** What has been added to `server` so far (the worker's totals as of then). */
  total: number;
  bytesIn: number;
  bytesOut: number;
  connectFailures: number;
  redispatches: number;
}

/**
 * What one worker's copy of a listener has added to the main process's
 * servers. Each report of the worker's cumulative totals (ServerTotals) is
 * turned into the growth since the previous one and replayed through the
 * server's own API: an acquire per new connection (a lease held while the
 * worker says it is open, so `activeConnections` and wlc see it), the bytes
 * through a lease, and each connect failure through `reportConnectFailure` —
 * which is main's passive health check: failures of every worker count
 * towards DOWN, and the DOWN is pushed back to every worker.
 */
export class ServerLedger {
  readonly #lookup: ServerLookup;
  /** By the worker's server id. */
  readonly #entries = new Map<number, Entry>();

  constructor(lookup: ServerLookup) {
    this.#lookup = lookup;
  }

  /** A report of the worker's totals, every server it has used (those left out are gone). */
  apply(reported: readonly ServerTotals[]): void {
    const seen = new Set<number>();
    for (const t of reported) {
      seen.add(t.id);
      let entry = this.#entries.get(t.id);
      if (entry === undefined) {
        entry = {
          server: undefined,
          leases: [],
          last: undefined,
          total: 0,
          bytesIn: 0,
          bytesOut: 0,
          connectFailures: 0,
          redispatches: 0,
        };
        this.#entries.set(t.id, entry);
      }
      entry.server ??= this.#lookup(t.group, t.name, t.address);
      // Until main's server is found (it may be added after its first use) the growth waits.
      if (entry.server !== undefined) add(entry, entry.server, t);
    }
    for (const [id, entry] of this.#entries) {
      if (seen.has(id)) continue;
      release(entry, 0);
      this.#entries.delete(id);
    }
  }

  /** Connections this copy holds on each of main's servers, as of its last report. */
  held(): Map<Server, number> {
    const out = new Map<Server, number>();
    for (const { server, leases } of this.#entries.values()) {
      if (server !== undefined) out.set(server, (out.get(server) ?? 0) + leases.length);
    }
    return out;
  }

  /** The worker's copy is gone (the worker died, or the listener stopped): its connections closed. */
  close(): void {
    for (const entry of this.#entries.values()) release(entry, 0);
    this.#entries.clear();
  }
}

function add(entry: Entry, server: Server, t: ServerTotals): void {
  for (; entry.total < t.total; entry.total++) {
    const lease = server.acquire();
    entry.leases.push(lease);
    entry.last = lease;
  }
  if (entry.last !== undefined) {
    entry.last.addBytes(t.bytesIn - entry.bytesIn, t.bytesOut - entry.bytesOut);
    entry.bytesIn = t.bytesIn;
    entry.bytesOut = t.bytesOut;
  }
  const failures = t.connectFailures - entry.connectFailures;
  if (failures > 0) {
    const redispatched = t.redispatches - entry.redispatches;
    const error = remote(t.lastError);
    for (let i = 0; i < failures; i++) server.reportConnectFailure(error, i < redispatched);
    entry.connectFailures = t.connectFailures;
    entry.redispatches = t.redispatches;
  }
  release(entry, t.active);
}

/** Release leases until `active` are held. */
function release(entry: Entry, active: number): void {
  while (entry.leases.length > active) entry.leases.pop()?.release();
}

function remote(error: ServerTotals['lastError']): Error {
  const e = new Error(error?.message ?? 'connect failed (in a worker process)');
  return error?.code === undefined ? e : Object.assign(e, { code: error.code });
}
