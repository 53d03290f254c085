import { type Logger, quietLogger } from '../fd/logger.js';
import type { Cancel, Clock } from '../lb/clock.js';
import { MeshError } from './errors.js';
import { encodeInstance, type ServiceInstance } from './record.js';
import type { Registration, RegistrationState, RegistrationStatus } from './registry.js';

// One lease per registry client (as etcd's own "session"): every key this
// client registers rides on it, so a daemon with 1,000 registrations sends one
// keepalive, and losing the lease (expired, revoked, unreachable past its TTL)
// is one event after which everything is written again on a fresh lease.
// The loop below is the only writer: it compares what should be in the
// registry with what it knows it wrote, and retries with backoff until both agree.

/** A granted lease as a backend hands it out. */
export interface SessionLease {
  readonly id: string;
  /** Delete the lease and every key on it. */
  revoke(): Promise<void>;
  /** Stop keepalives and forget it; the registry expires it after its TTL (a crash). */
  release(): void;
}

/** The three writes a session needs from a backend. */
export interface SessionOps {
  /** Grant a lease kept alive until revoked/released; `onLost` fires once if it dies on its own. */
  grant(onLost: (error: Error) => void): Promise<SessionLease>;
  /** Write `value` at `key` on `lease`; resolves with the write's revision. */
  put(lease: SessionLease, key: string, value: string): Promise<number>;
  remove(key: string): Promise<void>;
}

export interface SessionOptions {
  readonly ops: SessionOps;
  readonly clock: Clock;
  readonly logger?: Logger;
  /** First retry delay after a failed write (default 100 ms), doubled up to maxRetryMs. */
  readonly minRetryMs?: number;
  /** Default 1000 ms: an outage's end is noticed within about this long. */
  readonly maxRetryMs?: number;
}

interface Entry {
  value: string;
  writtenLease: SessionLease | undefined;
  writtenValue: string | undefined;
  state: RegistrationState;
  revision: number;
  writes: number;
  lastError: string | undefined;
  readonly listeners: Set<(state: RegistrationState) => void>;
  waiters: Array<{ resolve: () => void; reject: (e: Error) => void }>;
}

/** A function, so that TypeScript does not keep a narrowing across an await. */
const isClosed = (entry: Entry): boolean => entry.state === 'closed';

export class KeySession {
  readonly #ops: SessionOps;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #minRetryMs: number;
  readonly #maxRetryMs: number;
  readonly #entries = new Map<string, Entry>();
  /** Keys to delete, with who waits for it. */
  readonly #deletes = new Map<string, Array<() => void>>();
  #lease: SessionLease | undefined;
  #running = false;
  #dirty = false;
  #retry: Cancel | undefined;
  #retryMs: number;
  #closed = false;

  constructor(options: SessionOptions) {
    this.#ops = options.ops;
    this.#clock = options.clock;
    this.#log = options.logger ?? quietLogger;
    this.#minRetryMs = options.minRetryMs ?? 100;
    this.#maxRetryMs = options.maxRetryMs ?? 1000;
    this.#retryMs = this.#minRetryMs;
  }

  get leaseId(): string | undefined {
    return this.#lease?.id;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** This client keeps `key` registered (it rewrites it after a lease loss). */
  holds(key: string): boolean {
    const entry = this.#entries.get(key);
    return entry !== undefined && entry.state !== 'closed';
  }

  register(key: string, instance: ServiceInstance): Registration {
    const value = encodeInstance(instance);
    if (this.#closed) throw new MeshError('ERR_MESH_CLOSED', 'registry is closed');
    const entry: Entry = {
      value,
      writtenLease: undefined,
      writtenValue: undefined,
      state: 'registering',
      revision: 0,
      writes: 0,
      lastError: undefined,
      listeners: new Set(),
      waiters: [],
    };
    // A new registration of a key being deleted wins over the delete.
    for (const done of this.#deletes.get(key) ?? []) done();
    this.#deletes.delete(key);
    this.#entries.set(key, entry);
    this.#kick();
    return this.#handle(key, entry);
  }

  #handle(key: string, entry: Entry): Registration {
    const session = this;
    return {
      key,
      status: (): RegistrationStatus => ({
        state: entry.state,
        key,
        revision: entry.revision,
        writes: entry.writes,
        lastError: entry.lastError,
      }),
      update(instance) {
        if (entry.state === 'closed') throw new MeshError('ERR_MESH_CLOSED', `${key} deregistered`);
        entry.value = encodeInstance(instance);
        session.#kick();
      },
      written: () => {
        if (entry.state === 'closed') {
          return Promise.reject(new MeshError('ERR_MESH_CLOSED', `${key} deregistered`));
        }
        if (session.#isWritten(entry)) return Promise.resolve();
        return new Promise<void>((resolve, reject) => entry.waiters.push({ resolve, reject }));
      },
      onState(listener) {
        entry.listeners.add(listener);
        return () => entry.listeners.delete(listener);
      },
      deregister: () => session.#deregister(key, entry),
    };
  }

  #isWritten(entry: Entry): boolean {
    return (
      this.#lease !== undefined &&
      entry.writtenLease === this.#lease &&
      entry.writtenValue === entry.value
    );
  }

  #setState(entry: Entry, state: RegistrationState): void {
    if (entry.state === state) return;
    entry.state = state;
    for (const l of entry.listeners) l(state);
  }

  #deregister(key: string, entry: Entry): Promise<void> {
    if (entry.state === 'closed') return Promise.resolve();
    this.#setState(entry, 'closed');
    for (const w of entry.waiters)
      w.reject(new MeshError('ERR_MESH_CLOSED', `${key} deregistered`));
    entry.waiters = [];
    if (this.#entries.get(key) === entry) this.#entries.delete(key);
    if (this.#closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const waiting = this.#deletes.get(key) ?? [];
      waiting.push(resolve);
      this.#deletes.set(key, waiting);
      this.#kick();
    });
  }

  /** The lease died on its own (expired, revoked, unreachable past its TTL): write everything again. */
  #onLost(lease: SessionLease, error: Error): void {
    if (this.#lease !== lease || this.#closed) return;
    this.#log.warn('mesh-lease-lost', {
      lease: lease.id,
      keys: this.#entries.size,
      error: error.message,
    });
    this.#lease = undefined;
    for (const e of this.#entries.values()) this.#setState(e, 'registering');
    this.#kick();
  }

  #kick(): void {
    if (this.#closed) return;
    this.#dirty = true;
    if (this.#running || this.#retry !== undefined) return;
    void this.#run();
  }

  async #run(): Promise<void> {
    this.#running = true;
    try {
      while (this.#dirty && !this.#closed) {
        this.#dirty = false;
        await this.#reconcileOnce();
      }
      this.#retryMs = this.#minRetryMs;
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      for (const e of this.#entries.values()) {
        if (!this.#isWritten(e)) {
          e.lastError = error.message;
          this.#setState(e, 'registering');
        }
      }
      this.#log.debug('mesh-register-retry', { inMs: this.#retryMs, error: error.message });
      if (!this.#closed) {
        this.#dirty = true;
        this.#retry = this.#clock.schedule(this.#retryMs, () => {
          this.#retry = undefined;
          this.#kick();
        });
        this.#retryMs = Math.min(this.#retryMs * 2, this.#maxRetryMs);
      }
    } finally {
      this.#running = false;
    }
  }

  async #reconcileOnce(): Promise<void> {
    for (const [key, waiting] of [...this.#deletes]) {
      if (this.#closed) return;
      await this.#ops.remove(key);
      if (this.#deletes.get(key) === waiting) this.#deletes.delete(key);
      for (const done of waiting) done();
    }
    if (this.#entries.size === 0) return;
    if (this.#lease === undefined) {
      let granted: SessionLease | undefined;
      // A backend may report a loss before the grant resolves: ignored then, as
      // the session only listens to the lease it holds.
      const lease = await this.#ops.grant((error) => {
        if (granted !== undefined) this.#onLost(granted, error);
      });
      granted = lease;
      if (this.#closed) {
        lease.release();
        return;
      }
      this.#lease = lease;
    }
    const lease = this.#lease;
    for (const [key, entry] of [...this.#entries]) {
      // Closed or deregistered while earlier writes were in flight: write no more.
      if (this.#closed) return;
      if (entry.state === 'closed' || this.#isWritten(entry)) continue;
      const value = entry.value;
      const revision = await this.#ops.put(lease, key, value);
      // The state may have changed during the write (a deregister).
      if (this.#lease !== lease || isClosed(entry)) continue;
      entry.writtenLease = lease;
      entry.writtenValue = value;
      entry.revision = revision;
      entry.writes++;
      entry.lastError = undefined;
      if (this.#isWritten(entry)) {
        this.#setState(entry, 'registered');
        for (const w of entry.waiters) w.resolve();
        entry.waiters = [];
      }
    }
  }

  /** Stop writing. Graceful: revoke the lease (its keys go with it). Otherwise leave it to expire. */
  async close(graceful: boolean): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#retry?.();
    this.#retry = undefined;
    const lease = this.#lease;
    this.#lease = undefined;
    for (const [key, e] of this.#entries) {
      this.#setState(e, 'closed');
      for (const w of e.waiters)
        w.reject(new MeshError('ERR_MESH_CLOSED', `${key}: registry closed`));
      e.waiters = [];
    }
    this.#entries.clear();
    for (const waiting of this.#deletes.values()) for (const done of waiting) done();
    this.#deletes.clear();
    if (lease === undefined) return;
    if (!graceful) {
      lease.release();
      return;
    }
    try {
      await lease.revoke();
    } catch (err) {
      // Unreachable: the lease expires on its own after its TTL.
      lease.release();
      this.#log.warn('mesh-revoke-failed', { lease: lease.id, error: String(err) });
    }
  }
}
