import { EventEmitter } from 'node:events';
import { type Address, toAddress } from '../fd/address.js';
import { VproxyError } from '../fd/errors.js';
import { errorFields, type Logger, quietLogger } from '../fd/logger.js';
import type { Registry } from '../fd/registry.js';
import type { EventLoop, LoopResource } from './event-loop.js';
import { EventLoopGroup, type GroupResource } from './event-loop-group.js';
import { type CheckResult, HealthCheckClient } from './health-check-client.js';
import { createChecker, type HealthChecker } from './health-checkers.js';
import {
  DEFAULT_HEALTH_CHECK,
  type HealthCheckConfig,
  validateHealthCheck,
} from './health-config.js';
import { checkName } from './names.js';
import {
  type ClientAddress,
  createMethod,
  DEFAULT_METHOD,
  type MethodName,
  parseMethod,
  type SelectionMethod,
} from './selection-method.js';
import { checkWeight, DEFAULT_WEIGHT, Server } from './server.js';

export interface ServerGroupOptions {
  readonly name: string;
  /** Default `wrr`. */
  readonly method?: MethodName;
  /** Default: tcp connect, timeout 1 s, period 2 s, up 2, down 3. */
  readonly healthCheck?: HealthCheckConfig;
  /** Carries tcp / http checks, whatever the servers' schemes; required unless the check is `none`. */
  readonly registry?: Registry;
  /**
   * Where the health checks run (spread round robin, moved when a loop goes).
   * Without one the group makes a private one-loop group and closes it with itself.
   */
  readonly eventLoopGroup?: EventLoopGroup;
  /** Randomness for `random` and the wrr tie offset; inject a seeded one in tests. */
  readonly random?: () => number;
  /** Where UP/DOWN transitions are told, at info with their cause (default: quiet). */
  readonly logger?: Logger;
}

export interface ServerGroupEvents {
  /** A server turned UP (edge-triggered). */
  up: [server: Server];
  /** A server turned DOWN (edge-triggered), by an active check or by passive detection. */
  down: [server: Server, error: Error | undefined];
}

interface Placement {
  loop: EventLoop | null;
  readonly resource: LoopResource;
  readonly onUp: () => void;
  readonly onDown: (error: Error | undefined, passive: boolean) => void;
  readonly onResult: (result: CheckResult) => void;
}

let groupIds = 0;

/**
 * A set of backends and how to choose among them. Only healthy servers with
 * weight > 0 are picked; every server runs its own health check on a loop of
 * the group's event loop group.
 */
export class ServerGroup extends EventEmitter<ServerGroupEvents> implements GroupResource {
  readonly name: string;
  /** Identifies this group as a resource of its event loop group. */
  readonly id: string;
  readonly #registry: Registry | undefined;
  readonly #elg: EventLoopGroup;
  readonly #ownsElg: boolean;
  readonly #random: () => number;
  #method: SelectionMethod<Server>;
  #healthCheck: HealthCheckConfig;
  #checker: HealthChecker;
  /** Replaced, never mutated, so a pick iterating it is never disturbed. */
  #servers: readonly Server[] = [];
  readonly #placements = new Map<Server, Placement>();
  #closed = false;
  /** UP/DOWN transitions go here; settable so a daemon can wire its logger after loading. */
  logger: Logger;

  constructor(options: ServerGroupOptions) {
    super();
    this.logger = options.logger ?? quietLogger;
    this.name = checkName('server group', options.name);
    this.id = `server-group:${this.name}#${++groupIds}`;
    this.#random = options.random ?? Math.random;
    this.#method = createMethod<Server>(
      parseMethod(options.method ?? DEFAULT_METHOD),
      this.#random,
    );
    this.#healthCheck = validateHealthCheck(options.healthCheck ?? DEFAULT_HEALTH_CHECK);
    this.#registry = options.registry;
    this.#checker = createChecker(this.#healthCheck.check, this.#registry);
    if (options.eventLoopGroup !== undefined) {
      this.#elg = options.eventLoopGroup;
      this.#ownsElg = false;
    } else {
      this.#elg = new EventLoopGroup(`${this.name}-health`);
      this.#elg.add(`${this.name}-health-0`);
      this.#ownsElg = true;
    }
    this.#elg.attach(this);
  }

  get method(): MethodName {
    return this.#method.name;
  }

  /** Switch the selection method; takes effect from the next pick. */
  set method(name: MethodName) {
    this.#method = createMethod<Server>(parseMethod(name), this.#random);
  }

  get healthCheck(): HealthCheckConfig {
    return this.#healthCheck;
  }

  /** New health-check config for every server: states kept, counts reset, checks restarted. */
  setHealthCheck(config: HealthCheckConfig): void {
    const valid = validateHealthCheck(config);
    const checker = createChecker(valid.check, this.#registry);
    this.#healthCheck = valid;
    this.#checker = checker;
    for (const s of this.#servers) s.health.reconfigure(valid, checker);
  }

  get eventLoopGroup(): EventLoopGroup {
    return this.#elg;
  }

  /** The servers in insertion order (a snapshot). */
  servers(): readonly Server[] {
    return this.#servers;
  }

  get(name: string): Server | undefined {
    return this.#servers.find((s) => s.name === name);
  }

  /** Add a backend at any address the registry can reach; it starts DOWN until checked UP. */
  add(name: string, address: string | Address, weight: number = DEFAULT_WEIGHT): Server {
    this.#checkOpen();
    checkName('server', name);
    checkWeight(weight);
    if (this.get(name) !== undefined) {
      throw new VproxyError(
        'ERR_ALREADY_EXISTS',
        `server group ${this.name} already has a server named ${name}`,
      );
    }
    // One frozen Address object shared by the server and its health check.
    const target = Object.freeze(toAddress(address));
    const health = new HealthCheckClient(target, this.#healthCheck, this.#checker);
    const server = new Server(name, target, weight, health);
    this.#servers = [...this.#servers, server];
    this.#method.reset();
    const placement = this.#placementFor(server);
    health.on('up', placement.onUp);
    health.on('down', placement.onDown);
    health.on('result', placement.onResult);
    this.#placements.set(server, placement);
    this.#place(server);
    return server;
  }

  /** Remove a server: no new connections; existing ones are not touched (their leases still release). */
  remove(name: string): Server {
    const server = this.#mustGet(name);
    this.#servers = this.#servers.filter((s) => s !== server);
    this.#method.forget(server);
    this.#method.reset();
    this.#unplace(server);
    return server;
  }

  /** Re-weight a server; 0 drains it. */
  setWeight(name: string, weight: number): void {
    this.#mustGet(name).weight = checkWeight(weight);
    this.#method.reset();
  }

  /**
   * The server for a new connection from `clientAddress`, or null when none is
   * available. A group has no use for the hint (an upstream routed on it
   * already). `exclude` (a redispatch) leaves servers out of this pick; the
   * method then chooses among the rest as it would (source hashing: the
   * client's next choice).
   */
  next(
    clientAddress: ClientAddress = null,
    _hint?: string | null,
    exclude?: (server: Server) => boolean,
  ): Server | null {
    if (exclude === undefined) return this.#method.pick(this.#servers, clientAddress);
    return this.#method.pick(
      this.#servers.filter((s) => !exclude(s)),
      clientAddress,
    );
  }

  /** Whether `next()` could return a server now. */
  get available(): boolean {
    for (const s of this.#servers) if (s.available) return true;
    return false;
  }

  // GroupResource: a new loop takes its share of the health checks.
  onEventLoopAdd(): void {
    for (const s of this.#servers) this.#place(s);
  }

  // GroupResource: the loops are gone; checks stop (states are kept).
  onClose(): void {
    for (const s of this.#servers) {
      const placement = this.#placements.get(s);
      if (placement) placement.loop = null;
      s.health.stop();
    }
  }

  /** Stop every health check and leave the event loop group. Servers keep their last state. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const s of this.#servers) this.#unplace(s);
    this.#elg.detach(this);
    if (this.#ownsElg) await this.#elg.close();
  }

  /** Where a server's health check runs, and what its transitions say (log lines, events). */
  #placementFor(server: Server): Placement {
    return {
      loop: null,
      resource: {
        id: `health-check:${this.id}/${server.name}`,
        onClose: () => this.#place(server),
      },
      onUp: () => {
        // Without checks a server is UP by definition: no news, so only at debug.
        const kind = this.#healthCheck.check.kind;
        const fields = {
          group: this.name,
          server: server.name,
          address: server.addressText,
          check: kind,
          latencyMs: server.health.stats().lastLatencyMs ?? undefined,
        };
        if (kind === 'none') this.logger.debug('server-up', fields);
        else this.logger.info('server-up', fields);
        this.emit('up', server);
      },
      onDown: (error, passive) => {
        // The cause: the failed probe, or the proxy's failed connects (passive);
        // a DOWN server gets no new clients.
        this.logger.info('server-down', {
          group: this.name,
          server: server.name,
          address: server.addressText,
          by: passive ? 'failed-connects' : this.#healthCheck.check.kind,
          ...(error === undefined ? {} : errorFields(error)),
        });
        this.emit('down', server, error);
      },
      // Each failed probe, for a flapping server (the transitions above are the news).
      onResult: (result) => {
        if (result.ok || !this.logger.enabled('debug')) return;
        this.logger.debug('health-check-failed', {
          group: this.name,
          server: server.name,
          address: server.addressText,
          latencyMs: Math.round(result.latencyMs),
          ...(result.error === undefined ? {} : errorFields(result.error)),
        });
      },
    };
  }

  /** (Re)start a server's health check on the next loop of the group. */
  #place(server: Server): void {
    const placement = this.#placements.get(server);
    if (placement === undefined) return;
    placement.loop?.detach(placement.resource);
    placement.loop = null;
    const loop = this.#closed ? null : this.#elg.next();
    if (loop === null) {
      server.health.stop();
      return;
    }
    loop.attach(placement.resource);
    placement.loop = loop;
    server.health.start(loop.clock);
  }

  #unplace(server: Server): void {
    const placement = this.#placements.get(server);
    if (placement === undefined) return;
    this.#placements.delete(server);
    placement.loop?.detach(placement.resource);
    server.health.stop();
    server.health.off('up', placement.onUp);
    server.health.off('down', placement.onDown);
    server.health.off('result', placement.onResult);
  }

  #mustGet(name: string): Server {
    const server = this.get(name);
    if (server === undefined) {
      throw new VproxyError(
        'ERR_NOT_FOUND',
        `server group ${this.name} has no server named ${name}`,
      );
    }
    return server;
  }

  #checkOpen(): void {
    if (this.#closed) throw new VproxyError('ERR_CLOSED', `server group ${this.name} is closed`);
  }
}
