import { type Logger, quietLogger } from '../fd/logger.js';
import { type Cancel, type Clock, systemClock } from '../lb/clock.js';
import { decodeChange, decodeEntry } from './entries.js';
import { MeshError } from './errors.js';
import { checkRoot, DEFAULT_ROOT, instanceKey, servicePrefix } from './keys.js';
import { MemoryStore, type StoreEvent } from './memory-store.js';
import type { ServiceInstance } from './record.js';
import type {
  Registration,
  RegistryCloseOptions,
  RegistryConnection,
  RegistryStatus,
  RegistryWatch,
  ServiceEntry,
  ServiceListing,
  ServiceRegistry,
  WatchEvent,
  WatchListener,
} from './registry.js';
import { KeySession, type SessionLease, type SessionOps } from './session.js';

// A client of a MemoryStore: what EtcdRegistry is to an etcd cluster, on the
// store's clock. Several clients on one store play several daemons.

export interface MemoryRegistryOptions {
  /** The store to share with other clients; default a private one (single-node use), closed with this client. */
  readonly store?: MemoryStore;
  /** The private store's clock (default the system clock). */
  readonly clock?: Clock;
  /** Default 10 s. */
  readonly leaseTtlMs?: number;
  /** Default /vproxy. */
  readonly root?: string;
  readonly logger?: Logger;
  /** Default 1000 ms. */
  readonly maxRetryMs?: number;
}

export class MemoryRegistry implements ServiceRegistry {
  readonly backend = 'memory';
  readonly leaseTtlMs: number;
  readonly root: string;
  readonly #store: MemoryStore;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #session: KeySession;
  readonly #listeners = new Set<(s: RegistryConnection) => void>();
  readonly #cancels = new Set<() => void>();
  #closed = false;
  readonly #ownsStore: boolean;
  #connectionChanges = 0;
  readonly #unsubscribe: () => void;

  constructor(options: MemoryRegistryOptions) {
    this.#ownsStore = options.store === undefined;
    this.#store = options.store ?? new MemoryStore(options.clock ?? systemClock);
    this.#clock = this.#store.clock;
    this.#log = options.logger ?? quietLogger;
    this.leaseTtlMs = options.leaseTtlMs ?? 10_000;
    this.root = checkRoot(options.root ?? DEFAULT_ROOT);
    this.#session = new KeySession({
      ops: this.#ops(),
      clock: this.#clock,
      logger: this.#log,
      ...(options.maxRetryMs === undefined ? {} : { maxRetryMs: options.maxRetryMs }),
    });
    this.#unsubscribe = this.#store.onAvailability(() => this.#emitConnection());
  }

  get connection(): RegistryConnection {
    if (this.#closed) return 'closed';
    return this.#reachable() ? 'connected' : 'unavailable';
  }

  status(): RegistryStatus {
    return {
      backend: 'memory',
      connection: this.connection,
      endpoints: ['memory'],
      leaseTtlMs: this.leaseTtlMs,
      leaseId: this.#session.leaseId,
      registrations: this.#session.size,
      watches: this.#cancels.size,
      connectionChanges: this.#connectionChanges,
    };
  }

  /** The session lease's id, if granted (tests revoke it to simulate lease loss). */
  get leaseId(): string | undefined {
    return this.#session.leaseId;
  }

  #reachable(): boolean {
    return this.#store.available;
  }

  #check(): void {
    if (this.#closed) throw new MeshError('ERR_MESH_CLOSED', 'registry is closed');
    if (!this.#reachable())
      throw new MeshError('ERR_MESH_UNAVAILABLE', 'memory registry: unreachable');
  }

  #emitConnection(): void {
    const state = this.connection;
    this.#connectionChanges++;
    for (const l of this.#listeners) l(state);
  }

  onConnection(listener: (state: RegistryConnection) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #ops(): SessionOps {
    const store = this.#store;
    return {
      grant: async (onLost) => {
        this.#check();
        const id = store.grant(this.leaseTtlMs);
        let lastOk = this.#clock.now();
        let timer: Cancel | undefined;
        let done = false;
        const stop = () => {
          done = true;
          timer?.();
        };
        // Keep alive every TTL/3 (the Go client's rhythm); silent for a whole
        // TTL means the store has dropped it by now: lost.
        const tick = () => {
          if (done) return;
          try {
            this.#check();
            if (!store.keepAlive(id)) {
              stop();
              onLost(new MeshError('ERR_MESH_UNAVAILABLE', `lease ${id} expired or revoked`));
              return;
            }
            lastOk = this.#clock.now();
          } catch {
            if (this.#clock.now() - lastOk >= this.leaseTtlMs) {
              stop();
              onLost(new MeshError('ERR_MESH_UNAVAILABLE', `lease ${id}: no keepalive for a TTL`));
              return;
            }
          }
          timer = this.#clock.schedule(this.leaseTtlMs / 3, tick);
        };
        timer = this.#clock.schedule(this.leaseTtlMs / 3, tick);
        const lease: SessionLease = {
          id,
          revoke: async () => {
            stop();
            this.#check();
            store.revoke(id);
          },
          release: stop,
        };
        return lease;
      },
      put: async (lease, key, value) => {
        this.#check();
        return store.put(key, value, lease.id);
      },
      remove: async (key) => {
        this.#check();
        store.delete(key);
      },
    };
  }

  keyOf(service: string, zone: string, nodeId: string): string {
    return instanceKey(this.root, service, zone, nodeId);
  }

  holds(key: string): boolean {
    return this.#session.holds(key);
  }

  register(service: string, zone: string, instance: ServiceInstance): Registration {
    const key = instanceKey(this.root, service, zone, instance.nodeId);
    return this.#session.register(key, instance);
  }

  async list(service: string, zone: string): Promise<ServiceListing> {
    this.#check();
    const { kvs, revision } = this.#store.range(servicePrefix(this.root, service, zone));
    const entries: ServiceEntry[] = [];
    for (const kv of kvs) {
      const entry = decodeEntry(this.root, kv.key, kv.value, kv.modRevision, this.#log);
      if (entry !== undefined) entries.push(entry);
    }
    return { entries, revision };
  }

  watch(
    service: string,
    zone: string,
    fromRevision: number,
    listener: WatchListener,
  ): RegistryWatch {
    this.#check();
    const prefix = servicePrefix(this.root, service, zone);
    let revision = fromRevision - 1;
    let ended = false;
    const end = (reason: 'compacted' | 'cancelled' | 'closed') => {
      if (ended) return;
      ended = true;
      cancel();
      this.#cancels.delete(closer);
      listener.onEnd(reason);
    };
    const cancel = this.#store.watch(fromRevision, {
      prefix,
      onEvents: (events: readonly StoreEvent[]) => {
        if (ended) return;
        const out: WatchEvent[] = [];
        for (const e of events) {
          revision = e.revision;
          const event = decodeChange(this.root, e, e.revision, this.#log);
          if (event) out.push(event);
        }
        if (out.length > 0) listener.onEvents(out);
      },
      onAvailability: (available) => {
        if (!ended) listener.onConnection?.(available);
      },
      onEnd: end,
    });
    const closer = () => end('closed');
    this.#cancels.add(closer);
    return {
      get revision() {
        return revision;
      },
      cancel: async () => end('closed'),
    };
  }

  async close(options: RegistryCloseOptions = {}): Promise<void> {
    if (this.#closed) return;
    const graceful = (options.graceful ?? true) && this.#reachable();
    await this.#session.close(graceful);
    this.#closed = true;
    this.#unsubscribe();
    for (const c of [...this.#cancels]) c();
    if (this.#ownsStore) this.#store.close();
    this.#emitConnection();
    this.#listeners.clear();
  }
}
