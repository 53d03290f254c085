import { type Logger, quietLogger } from '../fd/logger.js';
import { MeshError } from './errors.js';
import { checkSegment } from './keys.js';
import { type IpType, resolveNic } from './nic.js';
import {
  checkInstance,
  DEFAULT_MESH_WEIGHT,
  defaultNodeId,
  type JsonValue,
  type ServiceInstance,
} from './record.js';
import type { Registration, RegistrationState, ServiceRegistry } from './registry.js';

// SmartNodeDelegate: publishes one local service into the registry (the
// reference's `add smart-node-delegate`), kept there by the registry client's
// lease, written again after a lease loss or an outage, deleted on close.

export type NodeDelegateState = 'connecting' | 'connected' | 'reconnecting' | 'closed';

export interface SmartNodeDelegateOptions {
  readonly registry: ServiceRegistry;
  readonly service: string;
  readonly zone: string;
  /** An IP literal; or give `nic` instead. */
  readonly address?: string;
  /** Interface whose address is published (with `ipType`, default v4). */
  readonly nic?: string;
  readonly ipType?: IpType;
  readonly port: number;
  /** Default 10. */
  readonly weight?: number;
  readonly meta?: Readonly<Record<string, JsonValue>>;
  /** Default `address:port` (the reference's identity). */
  readonly nodeId?: string;
  /** Name for logs and status (the control plane's alias). */
  readonly name?: string;
  readonly logger?: Logger;
  /** How long close() waits for the delete before returning (default 2000 ms). */
  readonly closeTimeoutMs?: number;
}

export interface NodeDelegateStatus {
  readonly name: string;
  readonly service: string;
  readonly zone: string;
  readonly nodeId: string;
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  readonly key: string;
  readonly state: NodeDelegateState;
  readonly registry: string;
  /** Revision of the last write of our key. */
  readonly revision: number;
  /** 1 after the first registration; each re-registration or re-weight adds one. */
  readonly writes: number;
  readonly lastError: string | undefined;
}

export class SmartNodeDelegate {
  readonly name: string;
  readonly service: string;
  readonly zone: string;
  readonly #registry: ServiceRegistry;
  readonly #log: Logger;
  #instance: ServiceInstance;
  readonly #registration: Registration;
  #state: NodeDelegateState = 'connecting';
  readonly #unsubscribe: () => void;
  readonly #closeTimeoutMs: number;

  constructor(options: SmartNodeDelegateOptions) {
    this.service = checkSegment('service', options.service);
    this.zone = checkSegment('zone', options.zone);
    this.#registry = options.registry;
    this.#closeTimeoutMs = options.closeTimeoutMs ?? 2000;
    const address = SmartNodeDelegate.#address(options);
    this.#instance = checkInstance({
      nodeId: options.nodeId ?? defaultNodeId(address, options.port),
      address,
      port: options.port,
      weight: options.weight ?? DEFAULT_MESH_WEIGHT,
      meta: options.meta ?? {},
    });
    this.name = options.name ?? `${this.service}@${this.#instance.nodeId}`;
    this.#log = (options.logger ?? quietLogger).child({ nodeDelegate: this.name });
    this.#registration = this.#registry.register(this.service, this.zone, this.#instance);
    this.#unsubscribe = this.#registration.onState((s) => this.#onState(s));
  }

  static #address(options: SmartNodeDelegateOptions): string {
    if (options.address !== undefined && options.nic !== undefined) {
      throw new MeshError('ERR_MESH_VALUE_INVALID', 'give address or nic, not both');
    }
    if (options.address !== undefined) return options.address;
    if (options.nic !== undefined) return resolveNic(options.nic, options.ipType ?? 'v4');
    throw new MeshError('ERR_MESH_VALUE_INVALID', 'a node delegate needs an address or a nic');
  }

  get state(): NodeDelegateState {
    return this.#state;
  }

  get instance(): ServiceInstance {
    return this.#instance;
  }

  #onState(s: RegistrationState): void {
    if (this.#state === 'closed') return;
    const next: NodeDelegateState =
      s === 'registered' ? 'connected' : s === 'closed' ? 'closed' : 'reconnecting';
    if (next === this.#state) return;
    const { revision, lastError } = this.#registration.status();
    if (next === 'connected') {
      this.#log.info(this.#state === 'connecting' ? 'mesh-registered' : 'mesh-reregistered', {
        key: this.#registration.key,
        revision,
      });
    } else if (next === 'reconnecting') {
      this.#log.warn('mesh-registration-lost', { key: this.#registration.key, error: lastError });
    }
    this.#state = next;
  }

  /** Resolves once the instance is in the registry (first registration, or after a loss). */
  written(): Promise<void> {
    return this.#registration.written();
  }

  /** Re-weight (0 drains): group delegates re-weight their server. */
  setWeight(weight: number): void {
    this.#instance = checkInstance({ ...this.#instance, weight });
    this.#registration.update(this.#instance);
  }

  status(): NodeDelegateStatus {
    const r = this.#registration.status();
    return {
      name: this.name,
      service: this.service,
      zone: this.zone,
      nodeId: this.#instance.nodeId,
      address: this.#instance.address,
      port: this.#instance.port,
      weight: this.#instance.weight,
      key: r.key,
      state: this.#state,
      registry: this.#registry.connection,
      revision: r.revision,
      writes: r.writes,
      lastError: r.lastError,
    };
  }

  /** Deregister (the key is deleted; retried while the registry is reachable) and stop. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#unsubscribe();
    // A registry in an outage must not hold a shutdown: the delete goes on
    // in the background (until the registry client closes) and the lease
    // expires anyway if it never lands.
    let timer: NodeJS.Timeout | undefined;
    const deleted = await Promise.race([
      this.#registration.deregister().then(() => true),
      new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), this.#closeTimeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (deleted) this.#log.info('mesh-deregistered', { key: this.#registration.key });
    else this.#log.warn('mesh-deregister-pending', { key: this.#registration.key });
  }
}
