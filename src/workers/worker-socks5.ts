import { toAddress } from '../fd/address.js';
import { VproxyError } from '../fd/errors.js';
import type { EventLoopGroup } from '../lb/event-loop-group.js';
import { Socks5Server, type Socks5ServerOptions } from '../lb/socks5-server.js';
import type { Socks5Auth } from '../protocols/socks5/auth.js';
import { fleetSocket, WorkerFleet, type WorkerSessionInfo } from './fleet.js';
import type { Socks5State } from './protocol.js';

export interface WorkerSocks5Options extends Socks5ServerOptions {
  /** The group whose worker loops run the server. */
  readonly eventLoopGroup: EventLoopGroup;
  /** Told when the server closed (its owner forgets it). */
  readonly onClosed?: (lb: WorkerSocks5Server) => void;
}

/**
 * A socks5-server whose sessions run in the worker processes of its event
 * loop group, as a tcp-lb's do (WorkerFleet). It is a Socks5Server to the
 * control plane (the same setters, list config and details): its own engine
 * never accepts, and its policy — allow-non-backend, allow-udp and the user
 * table, whose entries the socks5-user commands change in place — goes to the
 * workers with the rest of the state after every change. A UDP ASSOCIATE is
 * served by the worker that holds its control connection; `maxAssociations`
 * (sent with the policy, so an update reaches them) bounds each worker's, and
 * the association counts are the workers' sums.
 */
export class WorkerSocks5Server extends Socks5Server {
  readonly #fleet: WorkerFleet;
  readonly #onClosed: ((lb: WorkerSocks5Server) => void) | undefined;
  #closed = false;

  private constructor(
    options: WorkerSocks5Options,
    socket: NonNullable<Awaited<ReturnType<typeof fleetSocket>>>,
  ) {
    super(options, Socks5Server.parts(options, socket.fd));
    this.#onClosed = options.onClosed;
    this.#fleet = new WorkerFleet({
      ...options,
      kind: 'socks5-server',
      owner: this,
      socket,
      socks5: () => this.#policyState(),
    });
    this.runRemotely(this.#fleet);
  }

  /** Start on the worker loops of `eventLoopGroup`; undefined when it has none (run in main). */
  static async startOnWorkers(
    options: WorkerSocks5Options,
  ): Promise<WorkerSocks5Server | undefined> {
    checkAuth(options.auth);
    const address = toAddress(options.address);
    const socket = await fleetSocket(options.registry, options.eventLoopGroup, address);
    if (socket === undefined) return undefined;
    const lb = new WorkerSocks5Server(options, socket);
    await lb.#fleet.start();
    return lb;
  }

  #policyState(): Socks5State {
    const auth = this.auth;
    let users: [string, string][] = [];
    if (auth !== 'none' && 'users' in auth) {
      users =
        auth.users instanceof Map
          ? [...(auth.users as ReadonlyMap<string, string>)]
          : Object.entries(auth.users);
    }
    return {
      allowNonBackend: this.allowNonBackend,
      udp: this.udp,
      users,
      maxAssociations: this.maxAssociations,
      udpIdleTimeoutMs: this.udpIdleTimeoutMs,
    };
  }

  override get auth(): Socks5Auth {
    return super.auth;
  }

  /**
   * A user table (sent to the workers, as every setter's change is: LbListener
   * tells the fleet); a verify function cannot leave this process.
   */
  override set auth(auth: Socks5Auth) {
    checkAuth(auth);
    super.auth = auth;
  }

  /** Every worker may hold `maxAssociations`. */
  override get associationCapacity(): number {
    return this.maxAssociations * this.#fleet.workers().length;
  }

  /** The workers' associations (main's own relay set never serves one). */
  override get associations(): number {
    return this.#fleet.associations;
  }

  override get associationsRefused(): number {
    return this.#fleet.associationsRefused;
  }

  /** The workers' key for it, unique in this process (see WorkerListener). */
  get id(): string {
    return this.#fleet.id;
  }

  get shared(): boolean {
    return this.#fleet.shared;
  }

  workers(): { readonly loop: string; readonly pid: number | undefined }[] {
    return this.#fleet.workers();
  }

  /** Resolves when the workers have every change made so far (a setter pushes at once). */
  sync(): Promise<void> {
    return this.#fleet.sync();
  }

  refresh(): Promise<void> {
    return this.#fleet.refresh();
  }

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

function checkAuth(auth: Socks5Auth | undefined): void {
  if (auth !== undefined && auth !== 'none' && 'verify' in auth) {
    throw new VproxyError(
      'ERR_NOT_SUPPORTED',
      'a socks5-server on worker processes takes a user table, not a verify function',
    );
  }
}
