import { VproxyError } from '../fd/errors.js';
import { type Logger, quietLogger } from '../fd/logger.js';
import type { Registry } from '../fd/registry.js';
import { EventLoopGroup } from '../lb/event-loop-group.js';
import type { LbListener } from '../lb/lb-listener.js';
import { SecurityGroup } from '../lb/security-group.js';
import type { ServerGroup } from '../lb/server-group.js';
import type { Socks5Server } from '../lb/socks5-server.js';
import type { TcpLB } from '../lb/tcp-lb.js';
import type { Upstream } from '../lb/upstream.js';
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

export type TcpLbEntry = ListenerEntry<TcpLB>;

export interface Socks5Entry extends ListenerEntry<Socks5Server> {
  /**
   * The socks5-users (name -> password): the live table the server's
   * credential check reads. One object for the server's life, so its checker
   * (and HMAC key) is built once; the server uses it while it has any user.
   */
  readonly auth: { readonly users: Map<string, string> };
}

export interface CertKeyEntry {
  readonly certs: readonly string[];
  readonly key: string;
}

export const DEFAULT_ELGS = ['(control-elg)', '(worker-elg)', '(acceptor-elg)'] as const;
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

  /**
   * The daemon's logger: listeners log their failures and sessions through
   * children of it. Quiet unless given (tests, embedders).
   */
  readonly logger: Logger;

  constructor(registry: Registry, logger: Logger = quietLogger) {
    this.registry = registry;
    this.logger = logger;
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

  /** Every tcp-lb and socks5-server, with its type and name (usage checks look at both). */
  *listeners(): Generator<['tcp-lb' | 'socks5-server', string, ListenerEntry<LbListener>]> {
    for (const [name, e] of this.tcpLbs) yield ['tcp-lb', name, e];
    for (const [name, e] of this.socks5Servers) yield ['socks5-server', name, e];
  }

  /** Close everything, listeners first so no new work arrives while the rest goes. */
  async close(): Promise<void> {
    await Promise.all([...this.listeners()].map(([, , e]) => e.lb.close()));
    await Promise.all([...this.serverGroups.values()].map((e) => e.group.close()));
    await Promise.all([...this.elgs.values()].map((e) => e.close()));
    this.tcpLbs.clear();
    this.socks5Servers.clear();
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
