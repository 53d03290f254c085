import { type Address, formatHostPort } from '../fd/address.js';
import type { Logger } from '../fd/logger.js';
import type { BoundAddress } from '../fd/server-fd.js';
import {
  DEFAULT_FIN_TIMEOUT_MS,
  DEFAULT_RETRIES,
  type ProxyEngine,
  type ProxyStats,
} from '../proxy/proxy.js';
import type { SessionInfo } from '../proxy/session.js';
import type { SecurityGroup } from './security-group.js';
import type { Upstream } from './upstream.js';

/** Settings that `update` may change while a listener runs (they apply to new sessions). */
export interface ListenerSettings {
  readonly idleTimeoutMs: number;
  /** A half-closed session closes after this long without traffic (0 = only the idle timeout). */
  readonly finTimeoutMs: number;
  readonly inBufferSize: number;
  readonly outBufferSize: number;
  readonly securityGroup: SecurityGroup;
  /** A failed backend connect is retried on another server this many times (0 = never). */
  readonly retries: number;
}

/** Where a listener says what happened; both fixed at start (the engine binds its name). */
export interface ListenerLogging {
  /** Failures with their causes, rate-limited per event (default: quiet). */
  readonly logger?: Logger;
  /** Opt-in: one `session` line at info per closed session. */
  readonly accessLog?: Logger;
}

/** A listener's settings unless told otherwise (the command model shows and applies these). */
export const LISTENER_DEFAULTS = Object.freeze({
  idleTimeoutMs: 900_000,
  finTimeoutMs: DEFAULT_FIN_TIMEOUT_MS,
  inBufferSize: 16_384,
  outBufferSize: 16_384,
  retries: DEFAULT_RETRIES,
});

/** The proxy-engine settings every listener takes from its options, defaults filled in. */
export function engineSettings(
  options: Partial<ListenerSettings> &
    ListenerLogging & { readonly name: string; readonly connectTimeoutMs?: number },
): {
  name: string;
  idleTimeoutMs: number;
  finTimeoutMs: number;
  inBufferSize: number;
  outBufferSize: number;
  retries: number;
  connectTimeoutMs?: number;
  logger?: Logger;
  accessLog?: Logger;
} {
  return {
    name: options.name,
    idleTimeoutMs: options.idleTimeoutMs ?? LISTENER_DEFAULTS.idleTimeoutMs,
    finTimeoutMs: options.finTimeoutMs ?? LISTENER_DEFAULTS.finTimeoutMs,
    inBufferSize: options.inBufferSize ?? LISTENER_DEFAULTS.inBufferSize,
    outBufferSize: options.outBufferSize ?? LISTENER_DEFAULTS.outBufferSize,
    retries: options.retries ?? LISTENER_DEFAULTS.retries,
    ...(options.connectTimeoutMs === undefined
      ? {}
      : { connectTimeoutMs: options.connectTimeoutMs }),
    ...(options.logger === undefined ? {} : { logger: options.logger }),
    ...(options.accessLog === undefined ? {} : { accessLog: options.accessLog }),
  };
}

/** The security group a listener's accept handshake reads, shared so `update` applies at once. */
export interface Access {
  group: SecurityGroup;
}

/**
 * Where a listener's sessions run when they do not run in this process
 * (src/workers: the worker processes of its event loop group). The listener
 * keeps the settings and tells the remote of every change; the counters,
 * sessions and kills are the remote's; drain and close reach it too.
 */
export interface RemoteSessions {
  stats(): ProxyStats;
  sessions(): SessionInfo[];
  kill(id: number): boolean;
  /**
   * The settings changed (`update`, or a subclass's own setter such as a
   * socks5 policy; applied here already): the remote copies follow, in order.
   */
  updated(): void;
  /** The access log was turned on or off. */
  accessLogged(on: boolean): void;
  /** The listening socket here closed: stop accepting there too. */
  drain(): Promise<void>;
  /** Called before the engine here closes. */
  close(): Promise<void>;
}

/**
 * What TcpLB and Socks5Server have in common: a proxy engine on a listener,
 * an upstream, a security group, live settings, statistics and sessions.
 */
export abstract class LbListener {
  readonly name: string;
  readonly address: Address;
  readonly upstream: Upstream;
  protected readonly engine: ProxyEngine;
  protected readonly access: Access;
  /** Set when the sessions run elsewhere: this engine then never accepts. */
  #remote: RemoteSessions | undefined;

  protected constructor(
    name: string,
    address: Address,
    upstream: Upstream,
    engine: ProxyEngine,
    access: Access,
  ) {
    this.name = name;
    this.address = address;
    this.upstream = upstream;
    this.engine = engine;
    this.access = access;
  }

  /**
   * From a subclass's constructor (the remote usually needs `this`): from now
   * on the sessions and their counters are `remote`'s, and it hears of every
   * change, drain and close.
   */
  protected runRemotely(remote: RemoteSessions): void {
    this.#remote = remote;
  }

  /** Whichever holds the sessions: the remote, or this process's engine. */
  get #sessionHolder(): Pick<RemoteSessions, 'stats' | 'sessions' | 'kill'> {
    return this.#remote ?? this.engine;
  }

  get securityGroup(): SecurityGroup {
    return this.access.group;
  }

  settings(): ListenerSettings {
    return {
      ...this.engine.limits(),
      securityGroup: this.access.group,
      retries: this.engine.retries,
    };
  }

  update(settings: Partial<ListenerSettings>): void {
    const { securityGroup, retries, ...limits } = settings;
    if (securityGroup) this.access.group = securityGroup;
    if (retries !== undefined) this.engine.retries = retries;
    this.engine.updateLimits(limits);
    this.settingsChanged();
  }

  /**
   * A subclass's setter changed a setting of its own (applied here already):
   * the remote, if any, hears of it as of an `update`.
   */
  protected settingsChanged(): void {
    this.#remote?.updated();
  }

  /** Turn the access log on (a logger) or off (undefined); applies to sessions that close from now on. */
  setAccessLog(accessLog: Logger | undefined): void {
    this.engine.setAccessLog(accessLog);
    this.#remote?.accessLogged(accessLog !== undefined);
  }

  /** The bound address (the port is real when the listener was asked for port 0). */
  bound(): BoundAddress {
    // A listener that stopped accepting still names its address in listings.
    if (this.#stoppedAt === undefined) return this.engine.server.address();
    return this.#stoppedAt;
  }

  #stoppedAt: BoundAddress | undefined;

  /**
   * Close the listening socket and keep the open sessions (a drain: the port
   * goes away so a front balancer moves on, transfers in flight finish).
   */
  async stopAccepting(): Promise<void> {
    if (this.#stoppedAt !== undefined) return;
    this.#stoppedAt = this.engine.server.address();
    await this.engine.server.close();
    await this.#remote?.drain();
  }

  /** `ip:port` of the listener, as inspection commands name it. */
  serverSockId(): string {
    const b = this.bound();
    return formatHostPort(b.host, b.port);
  }

  stats(): ProxyStats {
    return this.#sessionHolder.stats();
  }

  sessions(): SessionInfo[] {
    return this.#sessionHolder.sessions();
  }

  kill(id: number): boolean {
    return this.#sessionHolder.kill(id);
  }

  async close(): Promise<void> {
    await this.#remote?.close();
    await this.engine.close();
  }
}
