import { type Logger, quietLogger } from '../fd/logger.js';
import { type Clock, systemClock } from '../lb/clock.js';
import { MeshError } from './errors.js';
import { checkSegment } from './keys.js';
import { LocalCheck, type LocalCheckOptions, type Probe } from './local-check.js';
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
// With a local check it is published only while the service accepts TCP
// connections (the reference's behaviour): each failed probe deregisters it,
// each successful one registers it if it is not.

/**
 * `connecting` first write pending; `connected` written on the live lease;
 * `reconnecting` lease lost or writes failing, retrying; `down` the local
 * check fails, so not published; `closed`.
 */
export type NodeDelegateState = 'connecting' | 'connected' | 'reconnecting' | 'down' | 'closed';

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
  /** Publish only while address:port accepts connections (true: every 10 s, 1 s timeout). Default off. */
  readonly localCheck?: boolean | LocalCheckOptions;
  /** For the local check (tests inject fakes). */
  readonly clock?: Clock;
  readonly probe?: Probe;
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
  /** 'unchecked' without a local check. */
  readonly local: 'unchecked' | 'up' | 'down';
  /** Revision of the last write of our key (0 before the first). */
  readonly revision: number;
  /** Successful writes: registrations, re-registrations and re-weights. */
  readonly writes: number;
  readonly lastError: string | undefined;
}

export class SmartNodeDelegate {
  readonly name: string;
  readonly service: string;
  readonly zone: string;
  readonly key: string;
  readonly #registry: ServiceRegistry;
  readonly #log: Logger;
  readonly #closeTimeoutMs: number;
  #instance: ServiceInstance;
  #registration: Registration | undefined;
  #unsubscribe: () => void = () => {};
  #state: NodeDelegateState = 'connecting';
  #local: 'unchecked' | 'up' | 'down' = 'unchecked';
  readonly #check: LocalCheck | undefined;
  /** Writes of registrations already gone (a local-check cycle makes a new one). */
  #pastWrites = 0;
  #lastRevision = 0;
  #waiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];

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
    this.key = this.#registry.keyOf(this.service, this.zone, this.#instance.nodeId);
    this.name = options.name ?? `${this.service}@${this.#instance.nodeId}`;
    this.#log = (options.logger ?? quietLogger).child({ nodeDelegate: this.name });
    const check = options.localCheck ?? false;
    if (check === false) {
      this.#publish();
      return;
    }
    this.#check = new LocalCheck({
      ...(check === true ? {} : check),
      host: address,
      port: options.port,
      clock: options.clock ?? systemClock,
      ...(options.probe === undefined ? {} : { probe: options.probe }),
      onResult: (ok) => this.#onLocal(ok),
    });
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

  #onLocal(ok: boolean): void {
    if (this.#state === 'closed') return;
    const was = this.#local;
    this.#local = ok ? 'up' : 'down';
    if (ok && this.#registration === undefined) this.#publish();
    if (!ok) {
      if (was !== 'down')
        this.#log.info('mesh-local-down', {
          address: this.#instance.address,
          port: this.#instance.port,
        });
      this.#state = 'down';
      void this.#unpublish();
    }
  }

  #publish(): void {
    const registration = this.#registry.register(this.service, this.zone, this.#instance);
    this.#registration = registration;
    this.#state = 'connecting';
    this.#unsubscribe = registration.onState((s) => this.#onState(registration, s));
    for (const w of this.#waiters) registration.written().then(w.resolve, w.reject);
    this.#waiters = [];
  }

  /** Take the instance out of the registry; resolves true when the delete landed in time. */
  async #unpublish(): Promise<boolean> {
    const registration = this.#registration;
    if (registration === undefined) return true;
    this.#registration = undefined;
    this.#unsubscribe();
    const s = registration.status();
    this.#pastWrites += s.writes;
    this.#lastRevision = Math.max(this.#lastRevision, s.revision);
    // A registry in an outage must not hold a shutdown: the delete goes on
    // in the background (until the registry client closes) and the lease
    // expires anyway if it never lands.
    let timer: NodeJS.Timeout | undefined;
    const deleted = await Promise.race([
      registration.deregister().then(() => true),
      new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), this.#closeTimeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (deleted) this.#log.info('mesh-deregistered', { key: this.key });
    else this.#log.warn('mesh-deregister-pending', { key: this.key });
    return deleted;
  }

  #onState(registration: Registration, s: RegistrationState): void {
    if (this.#state === 'closed' || registration !== this.#registration) return;
    const next: NodeDelegateState =
      s === 'registered' ? 'connected' : s === 'closed' ? 'closed' : 'reconnecting';
    if (next === this.#state) return;
    const { revision, lastError } = registration.status();
    if (next === 'connected') {
      const first = this.#state === 'connecting';
      this.#log.info(first ? 'mesh-registered' : 'mesh-reregistered', { key: this.key, revision });
    } else if (next === 'reconnecting') {
      this.#log.warn('mesh-registration-lost', { key: this.key, error: lastError });
    }
    this.#state = next;
  }

  /** Resolves once the instance is in the registry (first registration, or after a loss). */
  written(): Promise<void> {
    if (this.#state === 'closed')
      return Promise.reject(new MeshError('ERR_MESH_CLOSED', `${this.name} is closed`));
    if (this.#registration !== undefined) return this.#registration.written();
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** Re-weight (0 drains): group delegates re-weight their server. */
  setWeight(weight: number): void {
    this.#instance = checkInstance({ ...this.#instance, weight });
    this.#registration?.update(this.#instance);
  }

  status(): NodeDelegateStatus {
    const r = this.#registration?.status();
    return {
      name: this.name,
      service: this.service,
      zone: this.zone,
      nodeId: this.#instance.nodeId,
      address: this.#instance.address,
      port: this.#instance.port,
      weight: this.#instance.weight,
      key: this.key,
      state: this.#state,
      registry: this.#registry.connection,
      local: this.#local,
      revision: Math.max(this.#lastRevision, r?.revision ?? 0),
      writes: this.#pastWrites + (r?.writes ?? 0),
      lastError: r?.lastError,
    };
  }

  /** Stop checking, deregister (the key is deleted; waits at most closeTimeoutMs). */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#check?.stop();
    for (const w of this.#waiters)
      w.reject(new MeshError('ERR_MESH_CLOSED', `${this.name} is closed`));
    this.#waiters = [];
    await this.#unpublish();
  }
}
