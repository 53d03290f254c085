import { formatHostPort } from '../fd/address.js';
import { errorFields, type Logger, quietLogger } from '../fd/logger.js';
import type { Clock } from '../lb/clock.js';
import type { ServerGroup } from '../lb/server-group.js';
import { checkSegment } from './keys.js';
import type { ServiceEntry, ServiceRegistry } from './registry.js';
import { ServiceView, type ViewChange, type ViewState } from './service-view.js';
import { markRegistrySourced, unmarkRegistrySourced } from './sourced.js';

// SmartGroupDelegate: keeps a server group in step with service + zone (the
// reference's `add smart-group-delegate`). It only adds, removes and
// re-weights servers; the group's own health checks still decide UP/DOWN, so
// a registered instance takes traffic once it answers. An outage changes
// nothing: the view keeps its last set and so the group keeps its servers.
// Nor does its end: an outage that cost this daemon its lease lets etcd delete
// the keys of its own node delegates, which it writes again moments later; the
// view of the same registry client does not take those servers out meanwhile
// (a CI run saw the only live server leave for 13 ms that way: a failed request).

export interface SmartGroupDelegateOptions {
  readonly registry: ServiceRegistry;
  readonly service: string;
  readonly zone: string;
  readonly group: ServerGroup;
  /** Name for logs and status (the control plane's alias). */
  readonly name?: string;
  readonly logger?: Logger;
  readonly clock?: Clock;
  /** Retry delays of a failed list (defaults 100 ms doubling to 1000 ms). */
  readonly minRetryMs?: number;
  readonly maxRetryMs?: number;
}

export interface GroupDelegateStatus {
  readonly name: string;
  readonly service: string;
  readonly zone: string;
  readonly group: string;
  /** connecting, connected, reconnecting (a watch being re-established), frozen (registry unreachable: group kept), closed. */
  readonly state: ViewState;
  readonly registry: string;
  readonly revision: number;
  /** Servers this delegate put in the group. */
  readonly servers: number;
  readonly relists: number;
  /** Changes applied to the group (adds, removes, re-weights). */
  readonly changes: number;
  /** Instances not added because the group already had a server of that name. */
  readonly conflicts: number;
  /** Removals skipped: the key was this daemon's own live registration, being rewritten. */
  readonly keptOwn: number;
  readonly lastError: string | undefined;
}

interface Managed {
  readonly serverName: string;
  readonly address: string;
  readonly port: number;
}

export class SmartGroupDelegate {
  readonly name: string;
  readonly service: string;
  readonly zone: string;
  readonly group: ServerGroup;
  readonly #registry: ServiceRegistry;
  readonly #log: Logger;
  readonly #view: ServiceView;
  readonly #managed = new Map<string, Managed>();
  #changes = 0;
  #conflicts = 0;
  #keptOwn = 0;
  #closed = false;

  constructor(options: SmartGroupDelegateOptions) {
    this.service = checkSegment('service', options.service);
    this.zone = checkSegment('zone', options.zone);
    this.group = options.group;
    this.#registry = options.registry;
    this.name = options.name ?? `${this.group.name}<-${this.service}/${this.zone}`;
    this.#log = (options.logger ?? quietLogger).child({ groupDelegate: this.name });
    this.#view = new ServiceView({
      registry: options.registry,
      service: this.service,
      zone: this.zone,
      logger: this.#log,
      onChanges: (changes) => this.#apply(changes),
      ...(options.clock === undefined ? {} : { clock: options.clock }),
      ...(options.minRetryMs === undefined ? {} : { minRetryMs: options.minRetryMs }),
      ...(options.maxRetryMs === undefined ? {} : { maxRetryMs: options.maxRetryMs }),
    });
  }

  get state(): ViewState {
    return this.#view.state;
  }

  /** Names of the servers this delegate manages in the group. */
  serverNames(): string[] {
    return [...this.#managed.values()].map((m) => m.serverName);
  }

  status(): GroupDelegateStatus {
    const v = this.#view.status();
    return {
      name: this.name,
      service: this.service,
      zone: this.zone,
      group: this.group.name,
      state: v.state,
      registry: this.#registry.connection,
      revision: v.revision,
      servers: this.#managed.size,
      relists: v.relists,
      changes: this.#changes,
      conflicts: this.#conflicts,
      keptOwn: this.#keptOwn,
      lastError: v.lastError,
    };
  }

  #apply(changes: readonly ViewChange[]): void {
    if (this.#closed) return;
    for (const c of changes) {
      try {
        if (c.type === 'remove') this.#remove(c.entry);
        // #update adds what it does not manage yet, and treats an add of a kept server
        // (its key written again) as the update it is.
        else this.#update(c.entry);
      } catch (err) {
        // One bad instance must not stop the others from being applied.
        this.#log.warn('mesh-apply-failed', {
          change: c.type,
          node: c.entry.nodeId,
          ...errorFields(err),
        });
      }
    }
  }

  /** The reference's server name: `service@address:port` (with the default node id). */
  #serverName(entry: ServiceEntry): string {
    return `${this.service}@${entry.nodeId}`;
  }

  #add(entry: ServiceEntry): void {
    const serverName = this.#serverName(entry);
    if (this.group.get(serverName) !== undefined && !this.#managed.has(entry.nodeId)) {
      this.#conflicts++;
      this.#log.warn('mesh-server-conflict', { server: serverName, group: this.group.name });
      return;
    }
    const server = this.group.add(
      serverName,
      formatHostPort(entry.address, entry.port),
      entry.weight,
    );
    markRegistrySourced(server, {
      delegate: this.name,
      service: this.service,
      zone: this.zone,
      nodeId: entry.nodeId,
      key: entry.key,
    });
    this.#managed.set(entry.nodeId, { serverName, address: entry.address, port: entry.port });
    this.#changes++;
    this.#log.info('mesh-server-added', {
      server: serverName,
      address: formatHostPort(entry.address, entry.port),
      weight: entry.weight,
      revision: entry.modRevision,
    });
  }

  #remove(entry: ServiceEntry): void {
    if (!this.#managed.has(entry.nodeId)) return;
    if (this.#registry.holds(entry.key)) {
      this.#keptOwn++;
      this.#log.info('mesh-server-kept', {
        server: this.#serverName(entry),
        reason: 'own registration, being written again',
      });
      return;
    }
    this.#removeNow(entry.nodeId);
  }

  #removeNow(nodeId: string): void {
    const managed = this.#managed.get(nodeId);
    if (managed === undefined) return;
    this.#managed.delete(nodeId);
    if (this.group.get(managed.serverName) !== undefined) {
      unmarkRegistrySourced(this.group.remove(managed.serverName));
    }
    this.#changes++;
    this.#log.info('mesh-server-removed', { server: managed.serverName });
  }

  #update(entry: ServiceEntry): void {
    const managed = this.#managed.get(entry.nodeId);
    if (managed === undefined) {
      this.#add(entry);
      return;
    }
    if (managed.address !== entry.address || managed.port !== entry.port) {
      // Moved: a new server (its health starts over, as it should for a new address).
      this.#removeNow(entry.nodeId);
      this.#add(entry);
      return;
    }
    const server = this.group.get(managed.serverName);
    if (server === undefined) {
      // Someone removed it by hand; the registry says it exists: put it back.
      this.#managed.delete(entry.nodeId);
      this.#add(entry);
      return;
    }
    if (server.weight !== entry.weight) {
      this.group.setWeight(managed.serverName, entry.weight);
      this.#changes++;
      this.#log.info('mesh-server-reweighted', {
        server: managed.serverName,
        weight: entry.weight,
      });
    }
  }

  /**
   * Stop following the registry and take this delegate's servers out of the
   * group (the reference's destroy); servers added by hand stay.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#view.close();
    this.#closed = true;
    for (const nodeId of [...this.#managed.keys()]) {
      const managed = this.#managed.get(nodeId);
      this.#managed.delete(nodeId);
      if (managed && this.group.get(managed.serverName) !== undefined) {
        try {
          unmarkRegistrySourced(this.group.remove(managed.serverName));
        } catch {
          // The group was closed under us: nothing left to remove.
        }
      }
    }
  }
}
