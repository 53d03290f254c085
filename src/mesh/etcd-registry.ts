import {
  Etcd3,
  EtcdLeaseInvalidError,
  type IKeyValue,
  type IWatchResponse,
  isRecoverableError,
  type Lease,
  type Watcher,
} from 'etcd3';
import { errorFields, type Logger, quietLogger } from '../fd/logger.js';
import { systemClock } from '../lb/clock.js';
import { decodeChange, decodeEntry } from './entries.js';
import { MeshError } from './errors.js';
import { type EtcdConnectionOptions, toEtcd3Options } from './etcd-options.js';
import { checkRoot, DEFAULT_ROOT, instanceKey, servicePrefix } from './keys.js';
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

// The registry on an etcd cluster (v3 API, through the etcd3 client): one
// lease per client kept alive by etcd3, keys put on it, prefix ranges read
// linearizably (so an answer means quorum), prefix watches resumed by etcd3
// from the last revision after a dropped stream. Whether the cluster can be
// used at all is probed on a timer with a linearizable read, because a watch
// stream on a member that lost quorum stays open and silent.

export interface EtcdRegistryOptions extends EtcdConnectionOptions {
  /** Lease TTL in whole seconds, as etcd counts them (default 10). */
  readonly leaseTtlSeconds?: number;
  /** Default /vproxy. */
  readonly root?: string;
  /** How often reachability is probed (default 1000 ms). */
  readonly probeIntervalMs?: number;
  /** Longest pause between attempts to write after a failure (default 1000 ms). */
  readonly maxRetryMs?: number;
  readonly logger?: Logger;
}

function unavailable(err: unknown, what: string): MeshError {
  if (err instanceof MeshError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new MeshError('ERR_MESH_UNAVAILABLE', `etcd ${what}: ${message}`, { cause: err });
}

export class EtcdRegistry implements ServiceRegistry {
  readonly backend = 'etcd';
  readonly leaseTtlMs: number;
  readonly root: string;
  readonly endpoints: readonly string[];
  readonly #ttlSeconds: number;
  readonly #client: Etcd3;
  readonly #log: Logger;
  readonly #session: KeySession;
  readonly #listeners = new Set<(s: RegistryConnection) => void>();
  readonly #watchers = new Set<Watcher>();
  readonly #probeIntervalMs: number;
  #probeTimer: NodeJS.Timeout | undefined;
  #connection: RegistryConnection = 'connecting';
  #connectionChanges = 0;
  #closed = false;

  constructor(options: EtcdRegistryOptions) {
    const ttl = options.leaseTtlSeconds ?? 10;
    if (!Number.isInteger(ttl) || ttl < 1) {
      throw new MeshError(
        'ERR_MESH_VALUE_INVALID',
        `lease TTL must be a whole number of seconds >= 1, not ${ttl}`,
      );
    }
    this.#ttlSeconds = ttl;
    this.leaseTtlMs = ttl * 1000;
    this.root = checkRoot(options.root ?? DEFAULT_ROOT);
    this.#client = new Etcd3(toEtcd3Options(options));
    this.endpoints = [...options.endpoints];
    this.#log = (options.logger ?? quietLogger).child({ registry: 'etcd' });
    this.#probeIntervalMs = options.probeIntervalMs ?? 1000;
    this.#session = new KeySession({
      ops: this.#ops(),
      clock: systemClock,
      logger: this.#log,
      ...(options.maxRetryMs === undefined ? {} : { maxRetryMs: options.maxRetryMs }),
    });
    this.#probe();
  }

  get connection(): RegistryConnection {
    return this.#connection;
  }

  status(): RegistryStatus {
    return {
      backend: 'etcd',
      connection: this.#connection,
      endpoints: this.endpoints,
      leaseTtlMs: this.leaseTtlMs,
      leaseId: this.#session.leaseId,
      registrations: this.#session.size,
      watches: this.#watchers.size,
      connectionChanges: this.#connectionChanges,
    };
  }

  /** The client's lease id (decimal), once granted: what `etcdctl lease` shows. */
  get leaseId(): string | undefined {
    return this.#session.leaseId;
  }

  onConnection(listener: (state: RegistryConnection) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #setConnection(state: RegistryConnection, error?: unknown): void {
    if (this.#connection === state || this.#connection === 'closed') return;
    const from = this.#connection;
    this.#connection = state;
    this.#connectionChanges++;
    const fields = {
      from,
      to: state,
      endpoints: this.endpoints.join(','),
      ...(error === undefined ? {} : errorFields(error)),
    };
    if (state === 'unavailable') this.#log.warn('mesh-registry-unavailable', fields);
    else this.#log.info('mesh-registry-state', fields);
    for (const l of [...this.#listeners]) l(state);
  }

  /** Any answer proves the cluster usable; any failure of a read or write says otherwise. */
  #observe<T>(p: Promise<T>, what: string, probe = false): Promise<T> {
    return p.then(
      (v) => {
        this.#setConnection('connected');
        return v;
      },
      (err: unknown) => {
        // Only transport-level failures (unreachable, deadline, no leader) say
        // the cluster is unusable; a refused lease or permission does not.
        // The probe itself failing for any reason (bad credentials too) is the answer.
        if (!this.#closed && (probe || (err instanceof Error && isRecoverableError(err)))) {
          this.#setConnection('unavailable', err);
        }
        throw unavailable(err, what);
      },
    );
  }

  /** A linearizable read needs a leader and quorum: exactly "can the registry be used now". */
  #probe(): void {
    if (this.#closed) return;
    this.#observe(this.#client.get(`${this.root}/.probe`).exec(), 'probe', true)
      .catch(() => {})
      .finally(() => {
        if (this.#closed) return;
        this.#probeTimer = setTimeout(() => this.#probe(), this.#probeIntervalMs);
        this.#probeTimer.unref();
      });
  }

  #ops(): SessionOps {
    const lossHandlers = new Map<string, (error: Error) => void>();
    return {
      grant: async (onLost) => {
        if (this.#closed) throw new MeshError('ERR_MESH_CLOSED', 'registry is closed');
        const lease: Lease = this.#client.lease(this.#ttlSeconds);
        let id: string;
        try {
          id = await this.#observe(lease.grant(), 'lease grant');
        } catch (err) {
          lease.release();
          throw err;
        }
        // etcd3 reports a lease lost when etcd says it is gone, or when no
        // keepalive got through for two TTLs (it has surely expired by then).
        const lost = (err: Error) => {
          lossHandlers.delete(id);
          onLost(unavailable(err, `lease ${id} lost`));
        };
        lease.on('lost', lost);
        lossHandlers.set(id, lost);
        const session: SessionLease = {
          id,
          revoke: async () => {
            lossHandlers.delete(id);
            await this.#observe(lease.revoke(), 'lease revoke');
          },
          release: () => {
            lossHandlers.delete(id);
            lease.removeListener('lost', lost);
            lease.release();
          },
        };
        return session;
      },
      put: async (lease, key, value) => {
        try {
          const res = await this.#observe(
            this.#client.put(key).value(value).lease(lease.id).exec(),
            'put',
          );
          return Number(res.header.revision);
        } catch (err) {
          if ((err as { cause?: unknown }).cause instanceof EtcdLeaseInvalidError) {
            lossHandlers.get(lease.id)?.(err as Error);
          }
          throw err;
        }
      },
      remove: async (key) => {
        await this.#observe(this.#client.delete().key(key).exec(), 'delete');
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
    return this.#session.register(instanceKey(this.root, service, zone, instance.nodeId), instance);
  }

  async list(service: string, zone: string): Promise<ServiceListing> {
    if (this.#closed) throw new MeshError('ERR_MESH_CLOSED', 'registry is closed');
    const res = await this.#observe(
      this.#client
        .getAll()
        .prefix(servicePrefix(this.root, service, zone))
        .exec(),
      'list',
    );
    const entries: ServiceEntry[] = [];
    for (const kv of res.kvs) {
      const entry = this.#entry(kv);
      if (entry !== undefined) entries.push(entry);
    }
    return { entries, revision: Number(res.header.revision) };
  }

  #entry(kv: IKeyValue): ServiceEntry | undefined {
    const key = kv.key.toString();
    return decodeEntry(this.root, key, kv.value.toString(), Number(kv.mod_revision), this.#log);
  }

  watch(
    service: string,
    zone: string,
    fromRevision: number,
    listener: WatchListener,
  ): RegistryWatch {
    if (this.#closed) throw new MeshError('ERR_MESH_CLOSED', 'registry is closed');
    const watcher = this.#client
      .watch()
      .prefix(servicePrefix(this.root, service, zone))
      .startRevision(String(fromRevision))
      .watcher();
    this.#watchers.add(watcher);
    let revision = fromRevision - 1;
    let dropped = false;
    let ended = false;
    const end = (reason: 'compacted' | 'cancelled' | 'closed', error?: Error) => {
      if (ended) return;
      ended = true;
      this.#watchers.delete(watcher);
      watcher.removeAllListeners('data');
      listener.onEnd(reason, error);
    };
    watcher.on('data', (res: IWatchResponse) => {
      const events: WatchEvent[] = [];
      for (const ev of res.events) {
        const rev = Number(ev.kv.mod_revision);
        revision = Math.max(revision, rev);
        const change = {
          type: ev.type === 'Delete' ? ('delete' as const) : ('put' as const),
          key: ev.kv.key.toString(),
          value: ev.type === 'Delete' ? '' : ev.kv.value.toString(),
        };
        const event = decodeChange(this.root, change, rev, this.#log);
        if (event) events.push(event);
      }
      if (events.length > 0 && !ended) listener.onEvents(events);
    });
    watcher.on('disconnected', () => {
      if (ended) return;
      dropped = true;
      listener.onConnection?.(false);
    });
    watcher.on('connected', () => {
      if (ended || !dropped) return;
      dropped = false;
      listener.onConnection?.(true);
    });
    // The server cancelled the watch (its start revision was compacted, or
    // another reason): etcd3 has dropped it; the owner lists again.
    watcher.on('error', (err: Error) => {
      if (ended) return;
      void this.#cancelReason(err, revision + 1).then((reason) => end(reason, err));
    });
    return {
      get revision() {
        return revision;
      },
      cancel: async () => {
        if (ended) return;
        end('closed');
        await this.#cancelWatcher(watcher);
      },
    };
  }

  /**
   * etcd cancels a watch whose start revision was compacted without a reason
   * text, and etcd3 drops the compact revision; a read at that revision tells.
   */
  async #cancelReason(err: Error, startRevision: number): Promise<'compacted' | 'cancelled'> {
    if (/compact/i.test(err.message)) return 'compacted';
    try {
      await this.#client.get(`${this.root}/.probe`).revision(startRevision).exec();
      return 'cancelled';
    } catch (readErr) {
      return /compact/i.test(String(readErr)) ? 'compacted' : 'cancelled';
    }
  }

  /** etcd3's cancel waits for the server's answer; an unreachable one must not hold us. */
  async #cancelWatcher(watcher: Watcher): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      watcher.cancel().catch(() => {}),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 1000);
      }),
    ]);
    clearTimeout(timer);
  }

  /**
   * Graceful (default): revoke the lease, which deletes every key on it in one
   * revision. `graceful: false`: stop keepalives and drop the connections, as
   * a killed process would; etcd expires the keys after the lease TTL.
   */
  async close(options: RegistryCloseOptions = {}): Promise<void> {
    if (this.#closed) return;
    await this.#session.close(options.graceful ?? true);
    this.#closed = true;
    clearTimeout(this.#probeTimer);
    await Promise.all([...this.#watchers].map((w) => this.#cancelWatcher(w)));
    this.#watchers.clear();
    this.#client.close();
    this.#setConnection('closed');
    this.#listeners.clear();
  }
}
