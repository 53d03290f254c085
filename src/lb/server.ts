import { type Address, formatAddress, toAddress } from '../fd/address.js';
import { LbError } from './errors.js';
import type { HealthCheckClient, HealthCheckStats } from './health-check-client.js';
import { checkName } from './names.js';

export const DEFAULT_WEIGHT = 10;
export const MAX_WEIGHT = 1000;

/** Throws ERR_WEIGHT_INVALID unless `weight` is an integer in 0..1000. */
export function checkWeight(weight: number): number {
  if (
    typeof weight !== 'number' ||
    !Number.isInteger(weight) ||
    weight < 0 ||
    weight > MAX_WEIGHT
  ) {
    throw new LbError(
      'ERR_WEIGHT_INVALID',
      `invalid weight ${String(weight)}: expected an integer in 0..${MAX_WEIGHT}`,
    );
  }
  return weight;
}

/** A live connection's byte totals (a StreamFD is one). */
export interface ByteCounts {
  readonly bytesRead: number;
  readonly bytesWritten: number;
}

/** One backend connection made through a server; hand it back with `release()` when it closes. */
export interface ConnectionLease {
  readonly server: Server;
  /** Count traffic as it flows (cumulative deltas), so live sessions show in the server's totals. */
  addBytes(fromServer: number, toServer: number): void;
  /**
   * Read the connection's own totals live until `release()`, so a long transfer shows
   * in the server's bytes while it runs, not only when it closes. Whatever the
   * connection carried must then be handed to `addBytes` after `release()`.
   */
  track(connection: ByteCounts): void;
  /** The connection closed; further calls do nothing. */
  release(): void;
}

export interface ServerStats {
  readonly name: string;
  readonly address: string;
  readonly weight: number;
  readonly healthy: boolean;
  readonly activeConnections: number;
  readonly totalConnections: number;
  /** Bytes received from the server. */
  readonly bytesIn: number;
  /** Bytes sent to the server. */
  readonly bytesOut: number;
  readonly connectFailures: number;
  /** Connects to this server that failed and were retried on another server. */
  readonly redispatches: number;
  readonly health: HealthCheckStats;
}

/** Connection and byte counts of a server, shared with its leases. */
class Counters {
  active = 0;
  total = 0;
  bytesIn = 0;
  bytesOut = 0;
  /** Connections of open leases, read live by stats(). */
  readonly live = new Set<ByteCounts>();

  liveIn(): number {
    let n = this.bytesIn;
    for (const c of this.live) n += c.bytesRead;
    return n;
  }

  liveOut(): number {
    let n = this.bytesOut;
    for (const c of this.live) n += c.bytesWritten;
    return n;
  }
}

/** A backend of a ServerGroup: where it is, how much it gets, whether it is healthy, what it carries. */
export class Server {
  readonly name: string;
  readonly address: Address;
  /** The address as given, canonical form. */
  readonly addressText: string;
  readonly health: HealthCheckClient;
  #weight: number;
  readonly #counters = new Counters();
  #connectFailures = 0;
  #redispatches = 0;
  /**
   * Live connections to this server that other processes hold: set on a
   * worker's copy of main's server to the rest of the group's total (other
   * workers, other listeners, as main last heard), so that wlc balances the
   * total and not only this copy's share. Not in `activeConnections` or the
   * stats (main sums those); always 0 in one process.
   */
  elsewhere = 0;

  constructor(name: string, address: string | Address, weight: number, health: HealthCheckClient) {
    this.name = checkName('server', name);
    this.address = Object.freeze(toAddress(address));
    this.addressText = formatAddress(this.address);
    this.#weight = checkWeight(weight);
    this.health = health;
  }

  get weight(): number {
    return this.#weight;
  }

  /** 0 drains the server: no new connections, existing ones untouched. */
  set weight(weight: number) {
    this.#weight = checkWeight(weight);
  }

  get healthy(): boolean {
    return this.health.isUp;
  }

  /** Can take new connections: healthy and weight > 0. */
  get available(): boolean {
    return this.#weight > 0 && this.health.isUp;
  }

  get activeConnections(): number {
    return this.#counters.active;
  }

  /** Count a new backend connection (wlc reads the live count); release it when it closes. */
  acquire(): ConnectionLease {
    this.#counters.active++;
    this.#counters.total++;
    return new Lease(this, this.#counters);
  }

  /** Passive health: a connect to this server failed (and the client went to another server). */
  reportConnectFailure(error?: Error, redispatched = false): void {
    this.#connectFailures++;
    if (redispatched) this.#redispatches++;
    this.health.reportConnectFailure(error);
  }

  stats(): ServerStats {
    return {
      name: this.name,
      address: this.addressText,
      weight: this.#weight,
      healthy: this.healthy,
      activeConnections: this.#counters.active,
      totalConnections: this.#counters.total,
      bytesIn: this.#counters.liveIn(),
      bytesOut: this.#counters.liveOut(),
      connectFailures: this.#connectFailures,
      redispatches: this.#redispatches,
      health: this.health.stats(),
    };
  }
}

class Lease implements ConnectionLease {
  readonly server: Server;
  readonly #counters: Counters;
  #released = false;
  #tracked: ByteCounts | null = null;

  constructor(server: Server, counters: Counters) {
    this.server = server;
    this.#counters = counters;
  }

  addBytes(fromServer: number, toServer: number): void {
    // Still counted after release: the last bytes are often reported at close.
    this.#counters.bytesIn += fromServer;
    this.#counters.bytesOut += toServer;
  }

  track(connection: ByteCounts): void {
    if (this.#released || this.#tracked !== null) return;
    this.#tracked = connection;
    this.#counters.live.add(connection);
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#counters.active--;
    if (this.#tracked !== null) this.#counters.live.delete(this.#tracked);
    this.#tracked = null;
  }
}
