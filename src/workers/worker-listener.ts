import type { Address } from '../fd/address.js';
import type { Registry } from '../fd/registry.js';
import type { EventLoopGroup } from '../lb/event-loop-group.js';
import {
  type Access,
  engineSettings,
  LbListener,
  type ListenerLogging,
  type ListenerSettings,
} from '../lb/lb-listener.js';
import { ServerPicker } from '../lb/picker.js';
import { SecurityGroup } from '../lb/security-group.js';
import type { Upstream } from '../lb/upstream.js';
import { ProxyEngine } from '../proxy/proxy.js';
import { type FleetSocket, fleetSocket, WorkerFleet, type WorkerSessionInfo } from './fleet.js';

export { tcpStack, type WorkerSessionInfo } from './fleet.js';

export interface WorkerListenerOptions extends Partial<ListenerSettings>, ListenerLogging {
  readonly name: string;
  readonly address: Address;
  readonly upstream: Upstream;
  /** Main's registry: which stacks run over tcp (and so can share one socket). */
  readonly registry: Registry;
  /** The group whose worker loops run the listener. */
  readonly eventLoopGroup: EventLoopGroup;
  readonly connectTimeoutMs?: number;
  /** Told when the listener closed (its owner forgets it). */
  readonly onClosed?: (lb: WorkerListener) => void;
}

/**
 * A tcp-lb whose sessions run in the worker processes of its event loop group
 * (see WorkerFleet): here, the settings (a ProxyEngine that never accepts),
 * the upstream with its health checks, and the sums of the workers' counters.
 */
export class WorkerListener extends LbListener {
  readonly #fleet: WorkerFleet;
  readonly #onClosed: ((lb: WorkerListener) => void) | undefined;
  #closed = false;

  private constructor(
    options: WorkerListenerOptions,
    engine: ProxyEngine,
    access: Access,
    socket: FleetSocket,
  ) {
    super(options.name, options.address, options.upstream, engine, access);
    this.#onClosed = options.onClosed;
    this.#fleet = new WorkerFleet({ ...options, kind: 'tcp-lb', owner: this, socket });
    this.runRemotely(this.#fleet);
  }

  /** Start on the worker loops of `eventLoopGroup`; undefined when it has none (run in main). */
  static async start(options: WorkerListenerOptions): Promise<WorkerListener | undefined> {
    const socket = await fleetSocket(options.registry, options.eventLoopGroup, options.address);
    if (socket === undefined) return undefined;
    const access: Access = { group: options.securityGroup ?? SecurityGroup.allowAll() };
    const engine = new ProxyEngine({
      server: socket.fd,
      registry: options.registry,
      picker: new ServerPicker(options.upstream),
      ...engineSettings(options),
    });
    const lb = new WorkerListener(options, engine, access, socket);
    await lb.#fleet.start();
    return lb;
  }

  /** Unique in this process (a name can come back after a remove): the workers' key for it. */
  get id(): string {
    return this.#fleet.id;
  }

  /** Listening on every worker (shared socket), or on the first one (own socket). */
  get shared(): boolean {
    return this.#fleet.shared;
  }

  /** The worker processes this listener runs on now. */
  workers(): { readonly loop: string; readonly pid: number | undefined }[] {
    return this.#fleet.workers();
  }

  /** Push the current state to the workers; resolves once they applied it. */
  sync(): Promise<void> {
    return this.#fleet.sync();
  }

  /** Fetch counters and sessions from every worker now. */
  refresh(): Promise<void> {
    return this.#fleet.refresh();
  }

  /** As of the last `refresh()`, each with its worker and pid. */
  override sessions(): WorkerSessionInfo[] {
    return this.#fleet.sessions();
  }

  override async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await super.close();
    this.#onClosed?.(this);
  }
}
