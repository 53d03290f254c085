import type { ServiceInstance } from './record.js';

// What the delegates need from a service registry, and nothing more: keys kept
// alive by a lease, a consistent listing with the revision it was read at, and
// a watch that resumes from a revision. Two backends implement it: etcd (many
// daemons) and memory (one process, unit tests with a fake clock).

/** An instance as read from the registry, with where and when. */
export interface ServiceEntry extends ServiceInstance {
  readonly service: string;
  readonly zone: string;
  readonly key: string;
  /** The registry revision of the write that made this value. */
  readonly modRevision: number;
}

/** Every instance of service + zone, read at one revision. */
export interface ServiceListing {
  readonly entries: readonly ServiceEntry[];
  /** Watch from `revision + 1` to miss nothing and see nothing twice. */
  readonly revision: number;
}

export type WatchEvent =
  | { readonly type: 'put'; readonly revision: number; readonly entry: ServiceEntry }
  | {
      readonly type: 'delete';
      readonly revision: number;
      readonly key: string;
      readonly nodeId: string;
    };

/**
 * Why a watch ended for good: `compacted` (the start revision is gone: re-list),
 * `cancelled` (the server cancelled it), `closed` (the registry or the watch
 * was closed by us).
 */
export type WatchEndReason = 'compacted' | 'cancelled' | 'closed';

export interface WatchListener {
  /** Changes in revision order. Values that cannot be read are skipped (and logged by the backend). */
  onEvents(events: readonly WatchEvent[]): void;
  /** The stream dropped (false; it resumes on its own from the last revision seen) or came back (true). */
  onConnection?(connected: boolean): void;
  /** No more events will come; the owner re-lists and watches again. */
  onEnd(reason: WatchEndReason, error?: Error): void;
}

export interface RegistryWatch {
  /** The last revision this watch delivered (or started after). */
  readonly revision: number;
  cancel(): Promise<void>;
}

/** How this client sees the registry: `unavailable` = it cannot read or write now (no quorum, no endpoint). */
export type RegistryConnection = 'connecting' | 'connected' | 'unavailable' | 'closed';

export type RegistrationState =
  /** Written on the live lease. */
  | 'registered'
  /** Not (or no longer known to be) written: first write, lease lost, or registry unreachable; retrying. */
  | 'registering'
  | 'closed';

export interface RegistrationStatus {
  readonly state: RegistrationState;
  readonly key: string;
  /** Revision of the last successful write of this key, 0 before the first. */
  readonly revision: number;
  /** Successful writes: 1 after the first registration, +1 per re-registration or update. */
  readonly writes: number;
  /** Why the last attempt failed, if it did. */
  readonly lastError: string | undefined;
}

/** A key the registry keeps alive for as long as this client lives (or until deregistered). */
export interface Registration {
  readonly key: string;
  status(): RegistrationStatus;
  /** Change the value (re-weight, new meta); written on the same lease. */
  update(instance: ServiceInstance): void;
  /** Resolves when the current value is written on the current lease. */
  written(): Promise<void>;
  /** Called on every state change. Returns an unsubscribe function. */
  onState(listener: (state: RegistrationState) => void): () => void;
  /** Delete the key (retried until the registry takes it or the client closes). */
  deregister(): Promise<void>;
}

export interface RegistryCloseOptions {
  /**
   * `false` drops the connection without deleting keys or revoking the lease,
   * as a crashed process would: the keys vanish when the lease TTL runs out.
   * Default true: keys deleted, lease revoked.
   */
  readonly graceful?: boolean;
}

/** What a status page shows of a registry client. */
export interface RegistryStatus {
  readonly backend: 'etcd' | 'memory';
  readonly connection: RegistryConnection;
  /** etcd endpoints, or `memory`. */
  readonly endpoints: readonly string[];
  readonly leaseTtlMs: number;
  /** The client's lease, once granted. */
  readonly leaseId: string | undefined;
  /** Keys this client keeps registered. */
  readonly registrations: number;
  /** Watches open now. */
  readonly watches: number;
  /** Connection changes since the client started (a flapping registry shows here). */
  readonly connectionChanges: number;
}

export interface ServiceRegistry {
  readonly backend: 'etcd' | 'memory';
  /** Lease time to live of this client's registrations. */
  readonly leaseTtlMs: number;
  readonly connection: RegistryConnection;
  status(): RegistryStatus;
  /** Called on every connection change; returns an unsubscribe function. */
  onConnection(listener: (state: RegistryConnection) => void): () => void;
  /** The key an instance of service + zone with this node id is stored under. */
  keyOf(service: string, zone: string, nodeId: string): string;
  /**
   * Whether this client keeps `key` registered: its key may vanish from the registry
   * (a lease lost in an outage) but this client writes it again at once.
   */
  holds(key: string): boolean;
  /** Keep `instance` registered under service + zone while this client lives. */
  register(service: string, zone: string, instance: ServiceInstance): Registration;
  /** Every instance of service + zone now. Rejects with ERR_MESH_UNAVAILABLE when unreachable. */
  list(service: string, zone: string): Promise<ServiceListing>;
  /** Changes under service + zone from `fromRevision` on (inclusive). */
  watch(
    service: string,
    zone: string,
    fromRevision: number,
    listener: WatchListener,
  ): RegistryWatch;
  close(options?: RegistryCloseOptions): Promise<void>;
}
