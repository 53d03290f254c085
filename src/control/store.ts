import { VproxyError } from '../fd/errors.js';
import { type Logger, quietLogger } from '../fd/logger.js';
import type { Registry } from '../fd/registry.js';
import { EventLoopGroup } from '../lb/event-loop-group.js';
import type { LbListener } from '../lb/lb-listener.js';
import { SecurityGroup } from '../lb/security-group.js';
import type { ServerGroup } from '../lb/server-group.js';
import type { Socks5Server } from '../lb/socks5-server.js';
import type { UdpLB } from '../lb/udp-lb.js';
import type { Upstream } from '../lb/upstream.js';
import type { SmartGroupDelegate } from '../mesh/group-delegate.js';
import { MemoryRegistry } from '../mesh/memory-registry.js';
import type { IpType } from '../mesh/nic.js';
import type { SmartNodeDelegate } from '../mesh/node-delegate.js';
import type { ServiceRegistry } from '../mesh/registry.js';
import type { WorkerHost } from '../workers/host.js';
import type { ResourceType } from './command/keywords.js';

/** A server group with what its commands said, so `list config` can say it again. */
export interface ServerGroupEntry {
  readonly group: ServerGroup;
  /** The `check` param as given (tcp, none, http:…). */
  check: string;
  readonly elg: string;
}

/** A tcp-lb or socks5-server with the params it was created with (for list-detail and list config). */
export interface ListenerEntry<L extends LbListener> {
  readonly lb: L;
  readonly address: string;
  readonly upstream: string;
  readonly acceptorElg: string;
  readonly elg: string;
  readonly certKeys: readonly string[];
  /** One log line per closed session (`access-log on`); `update` switches it. */
  accessLog: boolean;
}

/** A TcpLB, or a WorkerListener when its event-loop-group is worker processes. */
export type TcpLbEntry = ListenerEntry<LbListener>;

export interface Socks5Entry extends ListenerEntry<Socks5Server> {
  /**
   * The socks5-users (name -> password): the live table the server's
   * credential check reads. One object for the server's life, so its checker
   * (and HMAC key) is built once; the server uses it while it has any user.
   */
  readonly auth: { readonly users: Map<string, string> };
}

/** A udp-lb with the address and upstream as given (for list-detail and list config). */
export interface UdpLbEntry {
  readonly lb: UdpLB;
  readonly address: string;
  readonly upstream: string;
}

export interface CertKeyEntry {
  readonly certs: readonly string[];
  readonly key: string;
}

/** A smart-node-delegate with what its command said (nic or address), for list config. */
export interface NodeDelegateEntry {
  readonly delegate: SmartNodeDelegate;
  /** Given instead of an address; the address is resolved once, at add. */
  readonly nic: string | undefined;
  readonly ipType: IpType;
}

export interface GroupDelegateEntry {
  readonly delegate: SmartGroupDelegate;
  readonly serverGroup: string;
}

export const CONTROL_ELG = '(control-elg)';
export const WORKER_ELG = '(worker-elg)';
export const ACCEPTOR_ELG = '(acceptor-elg)';
export const DEFAULT_ELGS = [CONTROL_ELG, WORKER_ELG, ACCEPTOR_ELG] as const;
export const ALLOW_ALL = '(allow-all)';

/**
 * Every named resource of a running vproxy, by kind. The executor is the only
 * writer; insertion order is creation order, which `list config` relies on.
 */
export class ResourceStore {
  readonly registry: Registry;
  readonly elgs = new Map<string, EventLoopGroup>();
  readonly upstreams = new Map<string, Upstream>();
  readonly serverGroups = new Map<string, ServerGroupEntry>();
  readonly securityGroups = new Map<string, SecurityGroup>();
  readonly certKeys = new Map<string, CertKeyEntry>();
  readonly tcpLbs = new Map<string, TcpLbEntry>();
  readonly socks5Servers = new Map<string, Socks5Entry>();
  /** Not among `listeners()`: no stream engine, sessions or buffers; flows instead. */
  readonly udpLbs = new Map<string, UdpLbEntry>();
  readonly nodeDelegates = new Map<string, NodeDelegateEntry>();
  readonly groupDelegates = new Map<string, GroupDelegateEntry>();
  #mesh: ServiceRegistry | undefined;
  /**
   * Worker processes (set by the daemon): the loops of event-loop-groups added
   * by command are worker processes, and a tcp-lb on such a group runs in them.
   * Unset, every loop is this process's event loop.
   */
  workers: WorkerHost | undefined;

  /**
   * The daemon's logger: listeners log their failures and sessions through
   * children of it. Quiet unless given (tests, embedders).
   */
  readonly logger: Logger;

  /**
   * `mesh` is the service registry the delegates use (the daemon's --etcd
   * client); without one an in-process registry is made on first use, so a
   * single daemon still runs delegates and nothing starts before one exists.
   * The store owns it either way: close() closes it.
   */
  constructor(registry: Registry, logger: Logger = quietLogger, mesh?: ServiceRegistry) {
    this.registry = registry;
    this.logger = logger;
    this.#mesh = mesh;
    for (const name of DEFAULT_ELGS) {
      const elg = new EventLoopGroup(name);
      elg.add(name.replace('-elg)', '-el)'));
      this.elgs.set(name, elg);
    }
  }

  /** The security group by name; `(allow-all)` always exists and is never stored. */
  securityGroup(name: string): SecurityGroup {
    if (name === ALLOW_ALL) return SecurityGroup.allowAll();
    return mustGet(this.securityGroups, 'security-group', name);
  }

  /** The service registry of the delegates (created in-process when none was given). */
  get mesh(): ServiceRegistry {
    this.#mesh ??= new MemoryRegistry({ logger: this.logger.child({ registry: 'memory' }) });
    return this.#mesh;
  }

  /** The registry if one exists yet (status pages must not create one). */
  get meshIfAny(): ServiceRegistry | undefined {
    return this.#mesh;
  }

  /** Every tcp-lb and socks5-server, with its type and name (usage checks look at both). */
  *listeners(): Generator<['tcp-lb' | 'socks5-server', string, ListenerEntry<LbListener>]> {
    for (const [name, e] of this.tcpLbs) yield ['tcp-lb', name, e];
    for (const [name, e] of this.socks5Servers) yield ['socks5-server', name, e];
  }

  /** Close everything, listeners first so no new work arrives while the rest goes. */
  async close(): Promise<void> {
    await Promise.all([...this.listeners()].map(([, , e]) => e.lb.close()));
    await Promise.all([...this.udpLbs.values()].map((e) => e.lb.close()));
    // Delegates before the groups they fill and the registry they use: a
    // node delegate deletes its key (graceful: followers drop it at once,
    // not at lease expiry), then the registry revokes the lease.
    await Promise.all([...this.groupDelegates.values()].map((e) => e.delegate.close()));
    await Promise.all([...this.nodeDelegates.values()].map((e) => e.delegate.close()));
    this.groupDelegates.clear();
    this.nodeDelegates.clear();
    await this.#mesh?.close();
    await Promise.all([...this.serverGroups.values()].map((e) => e.group.close()));
    await Promise.all([...this.elgs.values()].map((e) => e.close()));
    this.tcpLbs.clear();
    this.socks5Servers.clear();
    this.udpLbs.clear();
    this.serverGroups.clear();
    this.upstreams.clear();
    this.securityGroups.clear();
    this.certKeys.clear();
    this.elgs.clear();
  }
}

export function mustGet<V>(map: ReadonlyMap<string, V>, type: ResourceType, name: string): V {
  const value = map.get(name);
  if (value === undefined)
    throw new VproxyError('ERR_NOT_FOUND', `Cannot find ${type} with name ${name}.`);
  return value;
}

export function mustBeNew(
  map: ReadonlyMap<string, unknown>,
  type: ResourceType,
  name: string,
): void {
  if (map.has(name))
    throw new VproxyError('ERR_ALREADY_EXISTS', `Duplicated entry for ${type} with ${name}.`);
}
