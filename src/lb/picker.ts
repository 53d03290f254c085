import type { Address } from '../fd/address.js';
import type { StreamFD } from '../fd/stream-fd.js';
import type {
  BackendChoice,
  BackendPicker,
  PickContext,
  SessionOutcome,
} from '../proxy/backend-picker.js';
import type { ClientAddress } from './selection-method.js';
import type { ByteCounts, ConnectionLease, Server } from './server.js';

/** A ServerGroup or an Upstream, as the proxy sees them. */
export interface ServerSource {
  /** `exclude`: servers not to return (a redispatch skips those that already failed). */
  next(
    clientAddress: ClientAddress,
    hint?: string | null,
    exclude?: (server: Server) => boolean,
  ): Server | null;
}

/**
 * Adapts a ServerGroup or an Upstream to the proxy engine's BackendPicker.
 * Picks by the client's address (the real one when a PROXY header gave it)
 * and the admission's hint; each choice holds a connection lease on its
 * server from the pick to the end of the session, so wlc sees connections
 * still connecting; a failed connect feeds the server's passive health check;
 * the session's bytes go to the server's counters.
 */
export class ServerPicker implements BackendPicker {
  readonly source: ServerSource;

  constructor(source: ServerSource) {
    this.source = source;
  }

  pick(context: PickContext): BackendChoice | null {
    const server = this.pickServer(context);
    return server === null ? null : new LeasedChoice(server.acquire());
  }

  /**
   * Redispatch: another server of the same source (the hint still routes), by
   * its own method among the servers not yet tried for this client.
   */
  repick(context: PickContext, tried: readonly Address[]): BackendChoice | null {
    const server = this.pickServer(context, (s) => tried.includes(s.address));
    return server === null ? null : new LeasedChoice(server.acquire());
  }

  /** The server a context would go to, without taking a lease. */
  pickServer(context: PickContext, exclude?: (server: Server) => boolean): Server | null {
    const admission = context.admission;
    const source = admission.source;
    // Read (a syscall for an accepted socket) only by a method that hashes the client.
    const client: ClientAddress =
      source === undefined ? () => context.client.remoteAddress ?? null : source.host;
    return this.source.next(client, admission.hint ?? null, exclude);
  }
}

/**
 * A pick's lease on its server. It is also what the server's live byte counts
 * read while the session runs (`track(this)`), not the backend stream itself:
 * the server's set of live connections is a hash table whose reallocated
 * copies keep what they held reachable until a major GC, and a stream would
 * keep its whole session (both sockets, their buffers and listeners) with it;
 * this object lets go of the stream when the lease is released.
 */
class LeasedChoice implements BackendChoice, ByteCounts {
  readonly address: Address;
  readonly #lease: ConnectionLease;
  #backend: StreamFD | null = null;

  constructor(lease: ConnectionLease) {
    this.#lease = lease;
    this.address = lease.server.address;
  }

  get bytesRead(): number {
    return this.#backend?.bytesRead ?? 0;
  }

  get bytesWritten(): number {
    return this.#backend?.bytesWritten ?? 0;
  }

  release(outcome: SessionOutcome): void {
    // connected=false without an error means the client left first: not the server's fault.
    if (!outcome.connected && outcome.connectError !== undefined) {
      this.#lease.server.reportConnectFailure(outcome.connectError, outcome.redispatched);
    }
    // Release first: it stops the live count that the final totals replace.
    this.#lease.release();
    this.#lease.addBytes(outcome.bytesFromBackend, outcome.bytesToBackend);
    this.#backend = null;
  }

  connected(backend: StreamFD): void {
    this.#backend = backend;
    this.#lease.track(this);
  }
}
