import { errorFields, type Logger, quietLogger } from '../fd/logger.js';
import { type Cancel, type Clock, systemClock } from '../lb/clock.js';
import { MeshError } from './errors.js';
import type {
  RegistryConnection,
  RegistryWatch,
  ServiceEntry,
  ServiceRegistry,
  WatchEndReason,
  WatchEvent,
} from './registry.js';

// The live set of instances of one service + zone, kept by list-then-watch
// (what Kubernetes calls an informer): list at revision R, watch from R + 1,
// and whenever the watch ends (compacted, cancelled) or the registry comes back
// from an outage, list again and diff. Errors never clear the set: a view
// that cannot reach the registry keeps what it last knew ("frozen").

export type ViewState = 'connecting' | 'connected' | 'reconnecting' | 'frozen' | 'closed';

export type ViewChange =
  | { readonly type: 'add'; readonly entry: ServiceEntry }
  | { readonly type: 'update'; readonly entry: ServiceEntry; readonly previous: ServiceEntry }
  | { readonly type: 'remove'; readonly entry: ServiceEntry };

export interface ServiceViewStatus {
  readonly state: ViewState;
  /** The registry revision the set reflects. */
  readonly revision: number;
  readonly instances: number;
  /** Lists after the first (compaction, cancelled watch, outage end). */
  readonly relists: number;
  readonly lastError: string | undefined;
}

export interface ServiceViewOptions {
  readonly registry: ServiceRegistry;
  readonly service: string;
  readonly zone: string;
  /** Told every change, in order, after it is applied to `entries()`. */
  readonly onChanges: (changes: readonly ViewChange[]) => void;
  readonly onState?: (state: ViewState) => void;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** First retry delay after a failed list (default 100 ms), doubled up to maxRetryMs (default 1000). */
  readonly minRetryMs?: number;
  readonly maxRetryMs?: number;
}

export class ServiceView {
  readonly service: string;
  readonly zone: string;
  readonly #registry: ServiceRegistry;
  readonly #onChanges: (changes: readonly ViewChange[]) => void;
  readonly #onState: (state: ViewState) => void;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #minRetryMs: number;
  readonly #maxRetryMs: number;
  readonly #entries = new Map<string, ServiceEntry>();
  #state: ViewState = 'connecting';
  #revision = 0;
  #relists = -1;
  #lastError: string | undefined;
  #watch: RegistryWatch | undefined;
  /** Bumped on every (re)list: events of an older watch are dropped. */
  #generation = 0;
  #syncing = false;
  #again = false;
  #retry: Cancel | undefined;
  #retryMs: number;
  readonly #unsubscribe: () => void;

  constructor(options: ServiceViewOptions) {
    this.#registry = options.registry;
    this.service = options.service;
    this.zone = options.zone;
    this.#onChanges = options.onChanges;
    this.#onState = options.onState ?? (() => {});
    this.#clock = options.clock ?? systemClock;
    this.#log = options.logger ?? quietLogger;
    this.#minRetryMs = options.minRetryMs ?? 100;
    this.#maxRetryMs = options.maxRetryMs ?? 1000;
    this.#retryMs = this.#minRetryMs;
    this.#unsubscribe = this.#registry.onConnection((c) => this.#onConnection(c));
    this.#sync();
  }

  get state(): ViewState {
    return this.#state;
  }

  /** The instances by node id (a live map: read, don't keep). */
  entries(): ReadonlyMap<string, ServiceEntry> {
    return this.#entries;
  }

  status(): ServiceViewStatus {
    return {
      state: this.#state,
      revision: this.#revision,
      instances: this.#entries.size,
      relists: Math.max(0, this.#relists),
      lastError: this.#lastError,
    };
  }

  #setState(state: ViewState): void {
    if (this.#state === state || this.#state === 'closed') return;
    const from = this.#state;
    this.#state = state;
    this.#log.info('mesh-view-state', { service: this.service, zone: this.zone, from, to: state });
    this.#onState(state);
  }

  #onConnection(c: RegistryConnection): void {
    if (this.#state === 'closed') return;
    if (c === 'unavailable') this.#setState('frozen');
    // Back from an outage: list again rather than trust a resumed stream.
    else if (c === 'connected' && this.#state === 'frozen') this.#sync();
  }

  /** List, diff, and watch from the listed revision + 1; retried with backoff until it works. */
  #sync(): void {
    if (this.#state === 'closed') return;
    if (this.#syncing) {
      this.#again = true;
      return;
    }
    this.#retry?.();
    this.#retry = undefined;
    this.#syncing = true;
    void this.#syncOnce().finally(() => {
      this.#syncing = false;
      if (this.#again) {
        this.#again = false;
        this.#sync();
      }
    });
  }

  async #syncOnce(): Promise<void> {
    const generation = ++this.#generation;
    const old = this.#watch;
    this.#watch = undefined;
    old?.cancel().catch(() => {});
    try {
      const listing = await this.#registry.list(this.service, this.zone);
      if (this.#state === 'closed' || generation !== this.#generation) return;
      this.#relists++;
      this.#replace(listing.entries, listing.revision);
      let dropped = false;
      this.#watch = this.#registry.watch(this.service, this.zone, listing.revision + 1, {
        onEvents: (events) => {
          if (generation === this.#generation) this.#apply(events);
        },
        onConnection: (connected) => {
          if (generation !== this.#generation) return;
          if (!connected) {
            dropped = true;
            this.#setState(this.#registry.connection === 'unavailable' ? 'frozen' : 'reconnecting');
          } else if (dropped) {
            // The stream resumed by itself; a fresh list makes sure nothing fell between.
            this.#sync();
          }
        },
        onEnd: (reason, error) => {
          if (generation === this.#generation) this.#ended(reason, error);
        },
      });
      this.#retryMs = this.#minRetryMs;
      this.#lastError = undefined;
      this.#setState(this.#registry.connection === 'unavailable' ? 'frozen' : 'connected');
    } catch (err) {
      if (this.#state === 'closed') return;
      this.#lastError = err instanceof Error ? err.message : String(err);
      const unreachable =
        (err instanceof MeshError && err.code === 'ERR_MESH_UNAVAILABLE') ||
        this.#registry.connection === 'unavailable';
      // Never clear the set on an error: the group keeps serving what it had.
      this.#setState(unreachable || this.#state !== 'connecting' ? 'frozen' : 'connecting');
      this.#log.debug('mesh-list-failed', {
        service: this.service,
        zone: this.zone,
        retryInMs: this.#retryMs,
        ...errorFields(err),
      });
      this.#retry = this.#clock.schedule(this.#retryMs, () => {
        this.#retry = undefined;
        this.#sync();
      });
      this.#retryMs = Math.min(this.#retryMs * 2, this.#maxRetryMs);
    }
  }

  #ended(reason: WatchEndReason, error: Error | undefined): void {
    if (this.#state === 'closed' || reason === 'closed') return;
    this.#log.info('mesh-watch-ended', {
      service: this.service,
      zone: this.zone,
      reason,
      revision: this.#revision,
      ...(error === undefined ? {} : errorFields(error)),
    });
    this.#watch = undefined;
    this.#setState('reconnecting');
    this.#sync();
  }

  #replace(entries: readonly ServiceEntry[], revision: number): void {
    const changes: ViewChange[] = [];
    const seen = new Set<string>();
    for (const entry of entries) {
      seen.add(entry.nodeId);
      this.#put(entry, changes);
    }
    for (const [nodeId, entry] of [...this.#entries]) {
      if (!seen.has(nodeId)) {
        this.#entries.delete(nodeId);
        changes.push({ type: 'remove', entry });
      }
    }
    this.#revision = revision;
    if (changes.length > 0) this.#onChanges(changes);
  }

  #put(entry: ServiceEntry, changes: ViewChange[]): void {
    const previous = this.#entries.get(entry.nodeId);
    this.#entries.set(entry.nodeId, entry);
    if (previous === undefined) changes.push({ type: 'add', entry });
    else if (previous.modRevision !== entry.modRevision) {
      changes.push({ type: 'update', entry, previous });
    }
  }

  #apply(events: readonly WatchEvent[]): void {
    const changes: ViewChange[] = [];
    const base = this.#revision;
    for (const e of events) {
      // A resumed stream may repeat what a list already showed.
      if (e.revision <= base) continue;
      this.#revision = e.revision;
      if (e.type === 'put') this.#put(e.entry, changes);
      else {
        const entry = this.#entries.get(e.nodeId);
        if (entry !== undefined) {
          this.#entries.delete(e.nodeId);
          changes.push({ type: 'remove', entry });
        }
      }
    }
    if (this.#state === 'reconnecting') this.#setState('connected');
    if (changes.length > 0) this.#onChanges(changes);
  }

  /** Stop watching. The set is left as it is (the owner decides what to do with it). */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#setState('closed');
    this.#state = 'closed';
    this.#generation++;
    this.#unsubscribe();
    this.#retry?.();
    this.#retry = undefined;
    const watch = this.#watch;
    this.#watch = undefined;
    await watch?.cancel().catch(() => {});
  }
}
