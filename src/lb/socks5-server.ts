import { type Address, formatHostPort, toAddress } from '../fd/address.js';
import { type Logger, quietLogger } from '../fd/logger.js';
import type { Registry } from '../fd/registry.js';
import type { ServerFD } from '../fd/server-fd.js';
import type { StreamFD } from '../fd/stream-fd.js';
import type { Socks5Auth } from '../protocols/socks5/auth.js';
import type { BackendChoice, BackendPicker, PickContext } from '../proxy/backend-picker.js';
import { ProxyEngine } from '../proxy/proxy.js';
import {
  type Access,
  engineSettings,
  LbListener,
  type ListenerLogging,
  type ListenerSettings,
} from './lb-listener.js';
import { ServerPicker } from './picker.js';
import { SecurityGroup } from './security-group.js';
import type { Server } from './server.js';
import { socks5Front, UdpAssociations } from './socks5-front.js';
import type { BackendGroup, Upstream } from './upstream.js';

export interface Socks5ServerOptions extends Partial<ListenerSettings>, ListenerLogging {
  readonly name: string;
  /** Where to listen: any stream scheme. */
  readonly address: string | Address;
  readonly upstream: Upstream;
  readonly registry: Registry;
  /**
   * Default `none`; a user table or a verify function for RFC 1929
   * username/password. The `auth` setter changes it while the server runs.
   */
  readonly auth?: Socks5Auth;
  /** Let clients reach any target, not only backends of the upstream (default false: no open proxy). */
  readonly allowNonBackend?: boolean;
  /** Serve UDP ASSOCIATE (a relay socket per association on the listener's host); the `udp` setter changes it. */
  readonly udp?: boolean;
  /** UDP associations alive at once (default 256); more are refused (NOT_ALLOWED) and counted. */
  readonly maxAssociations?: number;
  /** An association with no datagram either way for this long is closed (default 60 s). */
  readonly udpIdleTimeoutMs?: number;
  readonly handshakeTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
  /**
   * Bytes the listener's own layer still owes a client (the WebSocks door's
   * 10-byte frame), sent with the handshake's first answer.
   */
  readonly replyPrefix?: (client: StreamFD) => Buffer | null;
}

/** What `update`-style setters change while the server runs; every handshake reads it afresh. */
interface Policy {
  allowNonBackend: boolean;
  auth: Socks5Auth;
  udp: boolean;
}

/** A server's working parts, made by `Socks5Server.parts` for its constructor. */
export interface Socks5Parts {
  readonly address: Address;
  readonly engine: ProxyEngine;
  readonly access: Access;
  readonly policy: Policy;
  readonly associations: UdpAssociations;
}

/** A group that lists its servers (a ServerGroup, a worker's copy of one): backends by address. */
interface ListedGroup extends BackendGroup {
  servers(): readonly Server[];
}

function listed(group: BackendGroup): group is ListedGroup {
  return typeof (group as Partial<ListedGroup>).servers === 'function';
}

/** Where a request goes: a group of the upstream, one backend, anywhere (allowed), or nowhere. */
type Route =
  | { kind: 'group'; group: ListedGroup }
  | { kind: 'server'; server: Server }
  | { kind: 'direct' }
  | null;

/**
 * A socks5 proxy whose targets are, by default, only the backends of its
 * upstream: a domain request `name:port` goes to the server group that name
 * matches (load balanced and health checked), an address request to the
 * backend with that address. With allow-non-backend any other target is
 * reached directly. Failures get the RFC 1928 reply code, then a close.
 * Every policy setter ends in `settingsChanged`, so a server whose sessions
 * run elsewhere sends them each change with no setter of its own.
 */
export class Socks5Server extends LbListener {
  readonly #policy: Policy;
  readonly #associations: UdpAssociations;

  /** A subclass (a server whose sessions run elsewhere: src/workers) builds its parts with `parts`. */
  protected constructor(options: Socks5ServerOptions, parts: Socks5Parts) {
    super(options.name, parts.address, options.upstream, parts.engine, parts.access);
    this.#policy = parts.policy;
    this.#associations = parts.associations;
  }

  static async start(options: Socks5ServerOptions): Promise<Socks5Server> {
    const server = await options.registry.listen(toAddress(options.address));
    return new Socks5Server(options, Socks5Server.parts(options, server));
  }

  /** The engine, policy and associations of a server accepting on `server`. */
  protected static parts(options: Socks5ServerOptions, server: ServerFD): Socks5Parts {
    const address = toAddress(options.address);
    const bound = server.address();
    const access: Access = { group: options.securityGroup ?? SecurityGroup.allowAll() };
    const policy: Policy = {
      allowNonBackend: options.allowNonBackend ?? false,
      auth: options.auth ?? 'none',
      udp: options.udp ?? false,
    };
    const associations = new UdpAssociations({
      registry: options.registry,
      ...(options.maxAssociations === undefined ? {} : { max: options.maxAssociations }),
      ...(options.udpIdleTimeoutMs === undefined
        ? {}
        : { idleTimeoutMs: options.udpIdleTimeoutMs }),
    });
    // The engine's logger, once it exists (the handshake is built before it).
    let log: Logger = quietLogger;
    const route = (host: string, port: number): Route =>
      routeOf(options.upstream, host, port, policy.allowNonBackend);

    const handshake = socks5Front({
      auth: () => policy.auth,
      udp: () => policy.udp,
      associations,
      ...(options.handshakeTimeoutMs === undefined
        ? {}
        : { handshakeTimeoutMs: options.handshakeTimeoutMs }),
      ...(options.replyPrefix === undefined ? {} : { prefix: options.replyPrefix }),
      log: () => log,
      deny: (client, request) => {
        // Without allow-non-backend only the upstream's backends may be reached.
        if (!access.group.allows(client.remoteAddress, 'tcp', bound.port)) {
          return `security group ${access.group.name}`;
        }
        if (request.command === 'connect' && route(request.host, request.port) === null) {
          return 'not a backend';
        }
        return null;
      },
      relay: () => ({ host: bound.host, allowTarget: (h, p) => route(h, p) !== null }),
    });

    const picker: BackendPicker = {
      pick: (ctx: PickContext): BackendChoice | null => {
        const target = ctx.admission.requested;
        if (target === undefined) return null;
        const r = route(target.host, target.port);
        if (r === null) return null;
        if (r.kind === 'direct') return { address: target };
        const source =
          r.kind === 'group' ? r.group : { next: () => (r.server.available ? r.server : null) };
        return new ServerPicker(source).pick(ctx);
      },
      // Only a group has other servers to redispatch to; a named target is final.
      repick: (ctx: PickContext, tried: readonly Address[]): BackendChoice | null => {
        const target = ctx.admission.requested;
        const r = target === undefined ? null : route(target.host, target.port);
        return r?.kind === 'group' ? new ServerPicker(r.group).repick(ctx, tried) : null;
      },
    };
    const engine = new ProxyEngine({
      server,
      registry: options.registry,
      picker,
      handshake,
      // socks5Handshake enforces its own deadline; this one only backs it up.
      handshakeTimeoutMs: (options.handshakeTimeoutMs ?? 10_000) + 1_000,
      ...engineSettings(options),
    });
    log = engine.log;
    return { address, engine, access, policy, associations };
  }

  get allowNonBackend(): boolean {
    return this.#policy.allowNonBackend;
  }

  set allowNonBackend(allow: boolean) {
    this.#policy.allowNonBackend = allow;
    this.settingsChanged();
  }

  get auth(): Socks5Auth {
    return this.#policy.auth;
  }

  /**
   * Applies to handshakes that start from now on; sessions already open are
   * untouched. A user table is read at check time, so changing its entries
   * needs no call here; pass the same object again to keep its cached checker.
   */
  set auth(auth: Socks5Auth) {
    this.#policy.auth = auth;
    this.settingsChanged();
  }

  /** UDP associations alive now. */
  get associations(): number {
    return this.#associations.size;
  }

  /** UDP ASSOCIATE requests refused because `maxAssociations` were alive. */
  get associationsRefused(): number {
    return this.#associations.refused;
  }

  /**
   * UDP associations alive at once in this process; a lower value refuses
   * new ones until enough close (none is cut).
   */
  get maxAssociations(): number {
    return this.#associations.max;
  }

  set maxAssociations(max: number) {
    this.#associations.max = max;
    this.settingsChanged();
  }

  /**
   * How many associations may be alive over the whole server: `maxAssociations`
   * here; each worker process bounds its own (WorkerSocks5Server).
   */
  get associationCapacity(): number {
    return this.maxAssociations;
  }

  /** Idle time before an association closes; applies to associations made from now on. */
  get udpIdleTimeoutMs(): number {
    return this.#associations.idleTimeoutMs;
  }

  set udpIdleTimeoutMs(ms: number) {
    this.#associations.idleTimeoutMs = ms;
    this.settingsChanged();
  }

  /** Whether UDP ASSOCIATE is served; a change applies to handshakes from now on. */
  get udp(): boolean {
    return this.#policy.udp;
  }

  set udp(udp: boolean) {
    this.#policy.udp = udp;
    this.settingsChanged();
  }

  override async close(): Promise<void> {
    await super.close();
    await this.#associations.close();
  }
}

function routeOf(upstream: Upstream, host: string, port: number, allowNonBackend: boolean): Route {
  const member = upstream.match(formatHostPort(host, port));
  if (member !== null && listed(member.group)) return { kind: 'group', group: member.group };
  for (const m of upstream.members()) {
    if (!listed(m.group)) continue;
    const server = m.group
      .servers()
      .find((s) => s.address.host === host && s.address.port === port);
    if (server) return { kind: 'server', server };
  }
  return allowNonBackend ? { kind: 'direct' } : null;
}
