import { formatHostPort } from '../../fd/address.js';
import type { ServerGroup } from '../../lb/server-group.js';
import { Socks5Server } from '../../lb/socks5-server.js';
import type { GroupDelegateStatus } from '../../mesh/group-delegate.js';
import type { NodeDelegateStatus } from '../../mesh/node-delegate.js';
import type { RegistryStatus } from '../../mesh/registry.js';
import { registrySource } from '../../mesh/sourced.js';
import type { SessionInfo } from '../../proxy/session.js';
import type { ResourceStore } from '../store.js';
import type { ListenerType, ThroughputSampler, ThroughputSnapshot } from './throughput.js';

// The one model behind the status page: the page embeds it at first paint and
// polls it from GET /api/v1/status every second. Plain JSON data, no methods.

export interface ListenerStatus {
  /** A udp-lb's row counts flows as sessions (opened = accepted, idle-expired = idle timeouts). */
  readonly type: ListenerType | 'udp-lb';
  readonly name: string;
  /** The address as configured (scheme and options included). */
  readonly address: string;
  /** `ip:port` actually bound. */
  readonly bound: string;
  readonly upstream: string;
  readonly securityGroup: string;
  readonly activeSessions: number;
  readonly accepted: number;
  /** Bytes received from clients. */
  readonly bytesIn: number;
  /** Bytes sent to clients. */
  readonly bytesOut: number;
  readonly refused: number;
  readonly noBackend: number;
  readonly connectFailures: number;
  readonly idleTimeouts: number;
  readonly errors: number;
  /** A socks5-server's UDP ASSOCIATE relays; absent on other listeners. */
  readonly udp?: UdpAssociationStatus;
}

/** On worker processes the counts are the workers' sums; each worker has its own `max`. */
export interface UdpAssociationStatus {
  /** allow-udp: new associations are served. */
  readonly allowed: boolean;
  /** Associations alive now. */
  readonly live: number;
  /** max-associations: alive at once in one process. */
  readonly max: number;
  /** Alive at once over the whole server: `max` times its processes. */
  readonly capacity: number;
  /** Refused because the process holding the request was at its max. */
  readonly refused: number;
}

export interface UpstreamGroupStatus {
  readonly name: string;
  readonly weight: number;
  readonly isDefault: boolean;
  readonly hosts: readonly string[];
  readonly serversUp: number;
  readonly serversTotal: number;
}

export interface UpstreamStatus {
  readonly name: string;
  /** Some group with weight > 0 has an available server. */
  readonly available: boolean;
  readonly groups: readonly UpstreamGroupStatus[];
}

export interface ServerStatus {
  readonly name: string;
  readonly address: string;
  readonly weight: number;
  readonly state: 'UP' | 'DOWN';
  readonly activeConnections: number;
  readonly totalConnections: number;
  /** Bytes received from the server. */
  readonly bytesIn: number;
  /** Bytes sent to the server. */
  readonly bytesOut: number;
  readonly connectFailures: number;
  readonly checks: number;
  readonly checkFailures: number;
  readonly lastLatencyMs: number | null;
  readonly avgLatencyMs: number | null;
  readonly lastError: string | null;
  /** The smart-group-delegate that put it in the group from the registry; null if added by hand. */
  readonly source: string | null;
}

/** The service registry and its delegates (issue 17): what a mesh operator looks at first. */
export interface MeshStatus {
  readonly registry: RegistryStatus;
  readonly nodeDelegates: readonly NodeDelegateStatus[];
  readonly groupDelegates: readonly GroupDelegateStatus[];
}

export interface ServerGroupStatus {
  readonly name: string;
  readonly method: string;
  /** The `check` param as configured (tcp, none, http:…). */
  readonly check: string;
  readonly eventLoopGroup: string;
  readonly timeoutMs: number;
  readonly periodMs: number;
  readonly up: number;
  readonly down: number;
  readonly serversUp: number;
  readonly servers: readonly ServerStatus[];
}

export interface SessionStatus {
  readonly listenerType: ListenerType;
  readonly listener: string;
  readonly id: number;
  readonly client: string;
  readonly target: string;
  readonly state: string;
  readonly bytesFromClient: number;
  readonly bytesToClient: number;
  readonly ageMs: number;
  /** The worker process holding the session; absent when it runs in this process. */
  readonly pid?: number;
}

export interface StatusSummary {
  readonly listeners: number;
  readonly activeSessions: number;
  readonly accepted: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly serversUp: number;
  readonly serversTotal: number;
}

export interface StatusModel {
  readonly version: string;
  /** When the model was built (ms since the epoch). */
  readonly now: number;
  readonly uptimeSeconds: number;
  readonly summary: StatusSummary;
  readonly listeners: readonly ListenerStatus[];
  readonly upstreams: readonly UpstreamStatus[];
  readonly serverGroups: readonly ServerGroupStatus[];
  /** Null until a delegate made the daemon use its registry (or none was configured). */
  readonly mesh: MeshStatus | null;
  /** How many sessions are open, and the most recent ones (newest first). */
  readonly sessions: { readonly total: number; readonly recent: readonly SessionStatus[] };
  readonly throughput: ThroughputSnapshot;
}

export interface StatusOptions {
  readonly version: string;
  readonly now?: number;
  /** How many sessions the table shows; default 50. */
  readonly recentSessions?: number;
  /** Samples per listener sparkline; default 60. */
  readonly listenerSamples?: number;
}

export function buildStatus(
  store: ResourceStore,
  throughput: ThroughputSampler,
  options: StatusOptions,
): StatusModel {
  const now = options.now ?? Date.now();
  const listeners: ListenerStatus[] = [];
  const recent = new RecentSessions(options.recentSessions ?? 50);
  let total = 0;
  for (const [type, name, e] of store.listeners()) {
    const s = e.lb.stats();
    listeners.push({
      type,
      name,
      address: e.address,
      bound: e.lb.serverSockId(),
      upstream: e.upstream,
      securityGroup: e.lb.securityGroup.name,
      activeSessions: s.active,
      accepted: s.accepted,
      bytesIn: s.bytesIn,
      bytesOut: s.bytesOut,
      refused: s.refused,
      noBackend: s.noBackend,
      connectFailures: s.connectFailures,
      idleTimeouts: s.idleTimeouts,
      errors: s.errors,
      ...(e.lb instanceof Socks5Server ? { udp: udpStatus(e.lb) } : {}),
    });
    const sessions = e.lb.sessions();
    total += sessions.length;
    for (const info of sessions) recent.offer(type, name, info);
  }
  for (const [name, e] of store.udpLbs) {
    const s = e.lb.stats();
    const bound = e.lb.bound();
    listeners.push({
      type: 'udp-lb',
      name,
      address: e.address,
      bound: formatHostPort(bound.host, bound.port),
      upstream: e.upstream,
      securityGroup: e.lb.securityGroup.name,
      activeSessions: s.flows,
      accepted: s.totalFlows,
      bytesIn: s.bytesIn,
      bytesOut: s.bytesOut,
      refused: s.refused,
      noBackend: 0,
      connectFailures: 0,
      idleTimeouts: s.expiredFlows,
      errors: s.dropped + s.droppedOversize,
    });
  }
  const serverGroups = [...store.serverGroups].map(([name, e]) => groupStatus(name, e.group, e));
  const byName = new Map(serverGroups.map((g) => [g.name, g]));
  const upstreams: UpstreamStatus[] = [...store.upstreams].map(([name, u]) => ({
    name,
    available: u.available,
    groups: u.members().map((m) => {
      const g = byName.get(m.group.name);
      return {
        name: m.group.name,
        weight: m.weight,
        isDefault: m.isDefault,
        hosts: [...m.hosts],
        serversUp: g?.serversUp ?? 0,
        serversTotal: g?.servers.length ?? 0,
      };
    }),
  }));
  return {
    version: options.version,
    now,
    uptimeSeconds: Math.round(process.uptime()),
    summary: {
      listeners: listeners.length,
      activeSessions: total,
      accepted: sum(listeners, (l) => l.accepted),
      bytesIn: sum(listeners, (l) => l.bytesIn),
      bytesOut: sum(listeners, (l) => l.bytesOut),
      serversUp: sum(serverGroups, (g) => g.serversUp),
      serversTotal: sum(serverGroups, (g) => g.servers.length),
    },
    listeners,
    upstreams,
    serverGroups,
    mesh: meshStatus(store),
    sessions: { total, recent: recent.list(now) },
    throughput: throughput.snapshot(options.listenerSamples ?? 60),
  };
}

function udpStatus(lb: Socks5Server): UdpAssociationStatus {
  return {
    allowed: lb.udp,
    live: lb.associations,
    max: lb.maxAssociations,
    capacity: lb.associationCapacity,
    refused: lb.associationsRefused,
  };
}

function groupStatus(
  name: string,
  group: ServerGroup,
  entry: { check: string; elg: string },
): ServerGroupStatus {
  const servers = group.servers().map((server): ServerStatus => {
    const s = server.stats();
    return {
      name: s.name,
      address: s.address,
      weight: s.weight,
      state: s.healthy ? 'UP' : 'DOWN',
      activeConnections: s.activeConnections,
      totalConnections: s.totalConnections,
      bytesIn: s.bytesIn,
      bytesOut: s.bytesOut,
      connectFailures: s.connectFailures,
      checks: s.health.checks,
      checkFailures: s.health.failures,
      lastLatencyMs: s.health.lastLatencyMs,
      avgLatencyMs: s.health.avgLatencyMs,
      lastError: s.health.lastError,
      source: registrySource(server)?.delegate ?? null,
    };
  });
  const h = group.healthCheck;
  return {
    name,
    method: group.method,
    check: entry.check,
    eventLoopGroup: entry.elg,
    timeoutMs: h.timeoutMs,
    periodMs: h.periodMs,
    up: h.up,
    down: h.down,
    serversUp: servers.filter((s) => s.state === 'UP').length,
    servers,
  };
}

function meshStatus(store: ResourceStore): MeshStatus | null {
  const registry = store.meshIfAny;
  if (registry === undefined) return null;
  return {
    registry: registry.status(),
    nodeDelegates: [...store.nodeDelegates.values()].map((e) => e.delegate.status()),
    groupDelegates: [...store.groupDelegates.values()].map((e) => e.delegate.status()),
  };
}

function sum<T>(items: readonly T[], of: (item: T) => number): number {
  let total = 0;
  for (const item of items) total += of(item);
  return total;
}

/**
 * The newest `limit` sessions across listeners, without sorting them all:
 * a small array kept newest first, where an older session than the last kept
 * one costs a single comparison.
 */
class RecentSessions {
  readonly #limit: number;
  readonly #kept: { type: ListenerType; listener: string; info: SessionInfo }[] = [];

  constructor(limit: number) {
    this.#limit = limit;
  }

  offer(type: ListenerType, listener: string, info: SessionInfo): void {
    const kept = this.#kept;
    const last = kept[kept.length - 1];
    if (kept.length >= this.#limit && last !== undefined && !newer(info, last.info)) return;
    let i = kept.length;
    while (i > 0 && newer(info, (kept[i - 1] as { info: SessionInfo }).info)) i--;
    kept.splice(i, 0, { type, listener, info });
    if (kept.length > this.#limit) kept.pop();
  }

  list(now: number): SessionStatus[] {
    return this.#kept.map(({ type, listener, info }) => ({
      listenerType: type,
      listener,
      id: info.id,
      client: info.client,
      target: info.target,
      state: info.state,
      bytesFromClient: info.bytesFromClient,
      bytesToClient: info.bytesToClient,
      ageMs: Math.max(0, now - info.startedAt),
      ...workerPid(info),
    }));
  }
}

/** A worker listener's sessions carry their process id (WorkerSessionInfo). */
function workerPid(info: SessionInfo): { pid?: number } {
  const pid = (info as SessionInfo & { pid?: unknown }).pid;
  return typeof pid === 'number' ? { pid } : {};
}

/** Later start wins; ids break ties (they grow per listener). */
function newer(a: SessionInfo, b: SessionInfo): boolean {
  return a.startedAt > b.startedAt || (a.startedAt === b.startedAt && a.id > b.id);
}
