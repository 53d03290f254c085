import { type Cancel, type Clock, systemClock } from '../lb/clock.js';
import { MeshError } from './errors.js';

// An in-process stand-in for an etcd cluster, with the semantics the mesh
// relies on: one revision counter, keys on leases, leases that expire on the
// injected clock, a history to watch from (until compacted), and an outage
// switch. While unavailable nothing is read or written and lease time stands
// still, as in etcd without a leader (a new leader extends every lease).

export interface StoredKv {
  readonly key: string;
  readonly value: string;
  readonly modRevision: number;
  readonly lease: string | undefined;
}

export interface StoreEvent {
  readonly type: 'put' | 'delete';
  readonly key: string;
  readonly value: string;
  readonly revision: number;
}

export interface StoreWatcher {
  readonly prefix: string;
  /** Events of one revision, in order. */
  onEvents(events: readonly StoreEvent[]): void;
  onAvailability(available: boolean): void;
  onEnd(reason: 'compacted' | 'cancelled'): void;
}

/** Revisions of history kept for watches that start in the past. */
const MAX_HISTORY = 10_000;

interface StoredLease {
  readonly id: string;
  readonly ttlMs: number;
  expiresAt: number;
  readonly keys: Set<string>;
  timer: Cancel | undefined;
}

export class MemoryStore {
  readonly clock: Clock;
  #revision = 1;
  #compacted = 0;
  #leaseIds = 0;
  #available = true;
  readonly #kvs = new Map<string, StoredKv>();
  readonly #leases = new Map<string, StoredLease>();
  #history: StoreEvent[][] = [];
  readonly #watchers = new Set<StoreWatcher>();
  readonly #availability = new Set<(available: boolean) => void>();

  constructor(clock: Clock = systemClock) {
    this.clock = clock;
  }

  get revision(): number {
    return this.#revision;
  }

  /** Sizes of what the store holds (all bounded: history by MAX_HISTORY). */
  stats(): { keys: number; leases: number; history: number; watchers: number } {
    return {
      keys: this.#kvs.size,
      leases: this.#leases.size,
      history: this.#history.length,
      watchers: this.#watchers.size,
    };
  }

  get available(): boolean {
    return this.#available;
  }

  /** Outage switch. Back: every lease gets a full TTL again (etcd's lease promotion). */
  setAvailable(available: boolean): void {
    if (this.#available === available) return;
    this.#available = available;
    if (available) {
      for (const lease of this.#leases.values()) this.#arm(lease, this.clock.now() + lease.ttlMs);
    }
    for (const w of [...this.#watchers]) w.onAvailability(available);
    for (const l of [...this.#availability]) l(available);
  }

  onAvailability(listener: (available: boolean) => void): () => void {
    this.#availability.add(listener);
    return () => this.#availability.delete(listener);
  }

  #check(): void {
    if (!this.#available) throw new MeshError('ERR_MESH_UNAVAILABLE', 'memory registry: outage');
  }

  grant(ttlMs: number): string {
    this.#check();
    const id = `m${++this.#leaseIds}`;
    const lease: StoredLease = { id, ttlMs, expiresAt: 0, keys: new Set(), timer: undefined };
    this.#leases.set(id, lease);
    this.#arm(lease, this.clock.now() + ttlMs);
    return id;
  }

  /** False when the lease is gone (expired or revoked): the holder must re-grant. */
  keepAlive(id: string): boolean {
    this.#check();
    const lease = this.#leases.get(id);
    if (lease === undefined) return false;
    lease.expiresAt = this.clock.now() + lease.ttlMs;
    return true;
  }

  hasLease(id: string): boolean {
    return this.#leases.has(id);
  }

  /** Revoke: the lease and every key on it go, in one revision. */
  revoke(id: string): void {
    this.#check();
    this.#dropLease(id);
  }

  #arm(lease: StoredLease, at: number): void {
    lease.timer?.();
    lease.expiresAt = at;
    lease.timer = this.clock.schedule(Math.max(0, at - this.clock.now()), () => {
      lease.timer = undefined;
      if (!this.#leases.has(lease.id)) return;
      // Time stands still for leases in an outage; keepalives moved expiresAt on.
      if (!this.#available) return;
      if (this.clock.now() >= lease.expiresAt) this.#dropLease(lease.id);
      else this.#arm(lease, lease.expiresAt);
    });
  }

  #dropLease(id: string): void {
    const lease = this.#leases.get(id);
    if (lease === undefined) return;
    this.#leases.delete(id);
    lease.timer?.();
    if (lease.keys.size === 0) return;
    const revision = ++this.#revision;
    const events: StoreEvent[] = [];
    for (const key of lease.keys) {
      this.#kvs.delete(key);
      events.push({ type: 'delete', key, value: '', revision });
    }
    this.#publish(events);
  }

  put(key: string, value: string, leaseId?: string): number {
    this.#check();
    if (leaseId !== undefined && !this.#leases.has(leaseId)) {
      throw new MeshError('ERR_MESH_UNAVAILABLE', `memory registry: lease ${leaseId} not found`);
    }
    const old = this.#kvs.get(key);
    if (old?.lease !== undefined) this.#leases.get(old.lease)?.keys.delete(key);
    const revision = ++this.#revision;
    this.#kvs.set(key, { key, value, modRevision: revision, lease: leaseId });
    if (leaseId !== undefined) this.#leases.get(leaseId)?.keys.add(key);
    this.#publish([{ type: 'put', key, value, revision }]);
    return revision;
  }

  delete(key: string): void {
    this.#check();
    const old = this.#kvs.get(key);
    if (old === undefined) return;
    if (old.lease !== undefined) this.#leases.get(old.lease)?.keys.delete(key);
    this.#kvs.delete(key);
    const revision = ++this.#revision;
    this.#publish([{ type: 'delete', key, value: '', revision }]);
  }

  range(prefix: string): { kvs: StoredKv[]; revision: number } {
    this.#check();
    const kvs = [...this.#kvs.values()].filter((kv) => kv.key.startsWith(prefix));
    kvs.sort((a, b) => (a.key < b.key ? -1 : 1));
    return { kvs, revision: this.#revision };
  }

  /** Forget history up to `revision` (default: now): watches from before it end `compacted`. */
  compact(revision: number = this.#revision): void {
    this.#compacted = Math.max(this.#compacted, revision);
    this.#history = this.#history.filter((batch) => (batch[0]?.revision ?? 0) > this.#compacted);
  }

  /**
   * Watch `prefix` from `fromRevision` (inclusive): history first, then live.
   * Delivery is asynchronous, as over a network. Returns the cancel function.
   */
  watch(fromRevision: number, watcher: StoreWatcher): () => void {
    this.#check();
    if (fromRevision <= this.#compacted) {
      queueMicrotask(() => watcher.onEnd('compacted'));
      return () => {};
    }
    const backlog = this.#history
      .filter((batch) => (batch[0]?.revision ?? 0) >= fromRevision)
      .map((batch) => batch.filter((e) => e.key.startsWith(watcher.prefix)))
      .filter((batch) => batch.length > 0);
    this.#watchers.add(watcher);
    queueMicrotask(() => {
      if (!this.#watchers.has(watcher)) return;
      for (const batch of backlog) watcher.onEvents(batch);
    });
    return () => this.#watchers.delete(watcher);
  }

  /** Cancel every watch from the server side (what etcd does on some errors). */
  cancelWatches(): void {
    const all = [...this.#watchers];
    this.#watchers.clear();
    queueMicrotask(() => {
      for (const w of all) w.onEnd('cancelled');
    });
  }

  #publish(events: StoreEvent[]): void {
    this.#history.push(events);
    // Bounded, as etcd's auto-compaction bounds its history.
    if (this.#history.length > MAX_HISTORY) {
      this.compact((this.#history[this.#history.length - MAX_HISTORY]?.[0]?.revision ?? 1) - 1);
    }
    for (const w of this.#watchers) {
      const mine = events.filter((e) => e.key.startsWith(w.prefix));
      if (mine.length === 0) continue;
      queueMicrotask(() => {
        if (this.#watchers.has(w)) w.onEvents(mine);
      });
    }
  }

  /** Stop lease timers (the store is being dropped). */
  close(): void {
    for (const lease of this.#leases.values()) lease.timer?.();
    this.#watchers.clear();
  }
}
