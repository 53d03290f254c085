import { type Address, toAddress } from '../fd/address.js';
import { HealthCheckClient } from '../lb/health-check-client.js';
import { createChecker } from '../lb/health-checkers.js';
import type { HealthCheckConfig } from '../lb/health-config.js';
import {
  createMethod,
  type MethodName,
  parseMethod,
  type SelectionMethod,
} from '../lb/selection-method.js';
import { Server } from '../lb/server.js';
import { type BackendGroup, Upstream } from '../lb/upstream.js';
import type { Elsewhere, GroupState, ListenerState, ServerTotals } from './protocol.js';

const NO_CHECK: HealthCheckConfig = {
  timeoutMs: 1000,
  periodMs: 1000,
  up: 1,
  down: 1,
  check: { kind: 'none' },
};

/**
 * A worker's server health: what the main process's health check said last.
 * Workers never probe (one check per server for the whole daemon); a connect
 * failure is kept and reported (`onFailure`), and main's check, which counts
 * the failures of every worker, says whether the server goes DOWN.
 */
class MirroredHealth extends HealthCheckClient {
  #up: boolean;
  #lastError: Error | undefined;
  readonly #onFailure: () => void;

  constructor(target: Address, up: boolean, onFailure: () => void) {
    super(target, NO_CHECK, createChecker(NO_CHECK.check, undefined));
    this.#up = up;
    this.#onFailure = onFailure;
  }

  get lastError(): Error | undefined {
    return this.#lastError;
  }

  override get isUp(): boolean {
    return this.#up;
  }

  set(up: boolean): void {
    this.#up = up;
  }

  override start(): void {}

  override reportConnectFailure(error?: Error): void {
    if (error !== undefined) this.#lastError = error;
    this.#onFailure();
  }

  override stats(): ReturnType<HealthCheckClient['stats']> {
    return { ...super.stats(), isUp: this.#up };
  }
}

/** Each server copy's id in this worker, for main's ledger (ServerTotals.id). */
const serverIds = new WeakMap<Server, number>();
let lastServerId = 0;

/** A worker's copy of a server group: the same servers and method, states pushed from main. */
class MirrorGroup implements BackendGroup {
  readonly name: string;
  #methodName: MethodName;
  #method: SelectionMethod<Server>;
  #servers: readonly Server[] = [];
  readonly #health = new Map<Server, MirroredHealth>();
  /** Servers removed: reported until their connections closed, then forgotten. */
  readonly #leaving = new Set<Server>();
  readonly #onFailure: () => void;

  constructor(name: string, method: MethodName, onFailure: () => void) {
    this.name = name;
    this.#methodName = method;
    this.#method = createMethod<Server>(method);
    this.#onFailure = onFailure;
  }

  servers(): readonly Server[] {
    return this.#servers;
  }

  /** No connection open to any of its servers. */
  get idle(): boolean {
    for (const s of this.#servers) if (s.activeConnections > 0) return false;
    return this.#leaving.size === 0;
  }

  get available(): boolean {
    for (const s of this.#servers) if (s.available) return true;
    return false;
  }

  next(
    clientAddress: string | null,
    _hint?: string | null,
    exclude?: (server: Server) => boolean,
  ): Server | null {
    const servers =
      exclude === undefined ? this.#servers : this.#servers.filter((s) => !exclude(s));
    return this.#method.pick(servers, clientAddress);
  }

  /** Bring servers, weights, states and method in line with `state`, in place: sessions keep their servers. */
  apply(state: GroupState): void {
    const method = parseMethod(state.method);
    if (method !== this.#methodName) {
      this.#methodName = method;
      this.#method = createMethod<Server>(method);
    }
    const byName = new Map(this.#servers.map((s) => [s.name, s]));
    const next: Server[] = [];
    for (const s of state.servers) {
      let server = byName.get(s.name);
      if (server !== undefined && server.addressText !== s.address) server = undefined;
      if (server === undefined) {
        const target = Object.freeze(toAddress(s.address));
        const health = new MirroredHealth(target, s.up, this.#onFailure);
        server = new Server(s.name, target, s.weight, health);
        serverIds.set(server, ++lastServerId);
        this.#health.set(server, health);
      } else {
        server.weight = s.weight;
        this.#health.get(server)?.set(s.up);
      }
      next.push(server);
    }
    for (const old of this.#servers) {
      if (!next.includes(old)) {
        this.#method.forget(old);
        // Reported once more (bytes counted at its last close), longer while connections are open.
        this.#leaving.add(old);
      }
    }
    this.#servers = next;
    this.#method.reset();
  }

  /** Each server's connections held elsewhere, by `name address` (absent: none). */
  setElsewhere(counts: ReadonlyMap<string, number>): void {
    for (const s of this.#servers) s.elsewhere = counts.get(`${s.name} ${s.addressText}`) ?? 0;
  }

  /** Each server's counters, for main (servers never used are left out). */
  totals(out: ServerTotals[]): void {
    for (const server of [...this.#servers, ...this.#leaving]) {
      const s = server.stats();
      if (s.totalConnections === 0 && s.connectFailures === 0) continue;
      const error = this.#health.get(server)?.lastError;
      out.push({
        id: serverIds.get(server) ?? 0,
        group: this.name,
        name: s.name,
        address: s.address,
        active: s.activeConnections,
        total: s.totalConnections,
        bytesIn: s.bytesIn,
        bytesOut: s.bytesOut,
        connectFailures: s.connectFailures,
        redispatches: s.redispatches,
        ...(error === undefined ? {} : { lastError: errorOf(error) }),
      });
    }
    for (const server of this.#leaving) {
      // Reported once more with its last connection closed, then forgotten.
      if (server.activeConnections === 0) {
        this.#leaving.delete(server);
        this.#health.delete(server);
      }
    }
  }
}

function errorOf(error: Error): { message: string; code?: string } {
  const code = (error as NodeJS.ErrnoException).code;
  return typeof code === 'string' ? { message: error.message, code } : { message: error.message };
}

/** A worker's copy of an upstream, updated in place by each state from main. */
export class MirrorUpstream {
  readonly upstream: Upstream;
  readonly #groups = new Map<string, MirrorGroup>();
  /** Groups taken out of the upstream: reported until their connections closed. */
  readonly #leaving = new Set<MirrorGroup>();
  readonly #onFailure: () => void;
  /** Main's last word on connections held elsewhere, by group (kept for servers added later). */
  #elsewhere = new Map<string, Map<string, number>>();

  /** `onFailure`: a connect to one of its servers failed (main should hear of it soon). */
  constructor(state: ListenerState['upstream'], onFailure: () => void = () => {}) {
    this.upstream = new Upstream(state.name);
    this.#onFailure = onFailure;
    this.apply(state);
  }

  /** The counters of every server used, for main's servers. */
  serverTotals(): ServerTotals[] {
    const out: ServerTotals[] = [];
    for (const g of this.#groups.values()) g.totals(out);
    for (const g of this.#leaving) {
      g.totals(out);
      if (g.idle) this.#leaving.delete(g);
    }
    return out;
  }

  /** What main says the rest of the daemon holds on each server (wlc adds it to this copy's own). */
  setElsewhere(servers: Elsewhere): void {
    this.#elsewhere = new Map();
    for (const [group, name, address, n] of servers) {
      let byServer = this.#elsewhere.get(group);
      if (byServer === undefined) {
        byServer = new Map();
        this.#elsewhere.set(group, byServer);
      }
      byServer.set(`${name} ${address}`, n);
    }
    for (const [name, g] of this.#groups) g.setElsewhere(this.#elsewhere.get(name) ?? NONE);
  }

  apply(state: ListenerState['upstream']): void {
    const wanted = new Set(state.members.map((m) => m.group.name));
    for (const name of [...this.#groups.keys()]) {
      if (wanted.has(name)) continue;
      this.upstream.remove(name);
      const gone = this.#groups.get(name);
      if (gone !== undefined) this.#leaving.add(gone);
      this.#groups.delete(name);
    }
    for (const m of state.members) {
      let group = this.#groups.get(m.group.name);
      const options = { weight: m.weight, hosts: m.hosts, isDefault: m.isDefault };
      if (group === undefined) {
        group = new MirrorGroup(m.group.name, parseMethod(m.group.method), this.#onFailure);
        group.apply(m.group);
        this.#groups.set(group.name, group);
        this.upstream.add(group, options);
      } else {
        group.apply(m.group);
        this.upstream.update(group.name, options);
      }
      // A server copy made by this state starts with what main said last.
      group.setElsewhere(this.#elsewhere.get(group.name) ?? NONE);
    }
  }
}

const NONE: ReadonlyMap<string, number> = new Map();
