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
import type { GroupState, ListenerState } from './protocol.js';

const NO_CHECK: HealthCheckConfig = {
  timeoutMs: 1000,
  periodMs: 1000,
  up: 1,
  down: 1,
  check: { kind: 'none' },
};

/**
 * A worker's server health: what the main process's health check said last.
 * Workers never probe (one check per server for the whole daemon) and leave
 * passive detection to main's checks.
 */
class MirroredHealth extends HealthCheckClient {
  #up: boolean;

  constructor(target: Address, up: boolean) {
    super(target, NO_CHECK, createChecker(NO_CHECK.check, undefined));
    this.#up = up;
  }

  override get isUp(): boolean {
    return this.#up;
  }

  set(up: boolean): void {
    this.#up = up;
  }

  override start(): void {}

  override reportConnectFailure(): void {}

  override stats(): ReturnType<HealthCheckClient['stats']> {
    return { ...super.stats(), isUp: this.#up };
  }
}

/** A worker's copy of a server group: the same servers and method, states pushed from main. */
class MirrorGroup implements BackendGroup {
  readonly name: string;
  #methodName: MethodName;
  #method: SelectionMethod<Server>;
  #servers: readonly Server[] = [];
  readonly #health = new Map<Server, MirroredHealth>();

  constructor(name: string, method: MethodName) {
    this.name = name;
    this.#methodName = method;
    this.#method = createMethod<Server>(method);
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
        const health = new MirroredHealth(target, s.up);
        server = new Server(s.name, target, s.weight, health);
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
        this.#health.delete(old);
      }
    }
    this.#servers = next;
    this.#method.reset();
  }
}

/** A worker's copy of an upstream, updated in place by each state from main. */
export class MirrorUpstream {
  readonly upstream: Upstream;
  readonly #groups = new Map<string, MirrorGroup>();

  constructor(state: ListenerState['upstream']) {
    this.upstream = new Upstream(state.name);
    this.apply(state);
  }

  apply(state: ListenerState['upstream']): void {
    const wanted = new Set(state.members.map((m) => m.group.name));
    for (const name of [...this.#groups.keys()]) {
      if (wanted.has(name)) continue;
      this.upstream.remove(name);
      this.#groups.delete(name);
    }
    for (const m of state.members) {
      let group = this.#groups.get(m.group.name);
      const options = { weight: m.weight, hosts: m.hosts, isDefault: m.isDefault };
      if (group === undefined) {
        group = new MirrorGroup(m.group.name, parseMethod(m.group.method));
        group.apply(m.group);
        this.#groups.set(group.name, group);
        this.upstream.add(group, options);
      } else {
        group.apply(m.group);
        this.upstream.update(group.name, options);
      }
    }
  }
}
