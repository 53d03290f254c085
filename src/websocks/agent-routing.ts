import { isIPv6 } from 'node:net';
import type { Address } from '../fd/address.js';
import type { Logger } from '../fd/logger.js';
import type { Registry } from '../fd/registry.js';
import type { HealthCheckConfig } from '../lb/health-config.js';
import type { Server } from '../lb/server.js';
import { ServerGroup } from '../lb/server-group.js';
import { Upstream } from '../lb/upstream.js';
import type { WebsocksServerSpec } from '../lb/websocks-dialer.js';
import { WebsocksTunnels } from '../lb/websocks-tunnels.js';
import type { AbpList } from '../protocols/rules/abp.js';
import { type Route, Router } from '../protocols/rules/router.js';
import { RuleSet, rulesFromEntries } from '../protocols/rules/rule-set.js';
import type { AgentConfig } from '../protocols/websocks/agent-config.js';
import { AgentConfigError } from '../protocols/websocks/errors.js';
import type { ServerEntry } from '../protocols/websocks/server-entry.js';
import type { BackendChoice, BackendPicker, PickContext } from '../proxy/backend-picker.js';
import { EarlyReplies } from './early-reply.js';

/**
 * CDN mode for one server entry: dial the edge at `dial` while TLS says `sni`
 * and HTTP says `hostHeader`, on a secret `path`, with extra headers.
 */
export interface CdnSettings {
  /** `host:port` (or `[v6]:port`) to connect to instead of the entry's address. */
  readonly dial?: string;
  readonly sni?: string;
  readonly hostHeader?: string;
  readonly path?: string;
  readonly headers?: readonly (readonly [string, string])[];
  /**
   * `framed`: standard masked WebSocket frames (the SOCKS5 stage and data in
   * binary messages) for gateways that parse frames; default `raw` (§3.5).
   */
  readonly mode?: 'raw' | 'framed';
}

export interface AgentRoutingOptions {
  readonly config: AgentConfig;
  readonly registry: Registry;
  readonly logger: Logger;
  /** ABP/gfwlist files named by `[path]` entries, already read and parsed (keyed by path). */
  readonly abpFiles?: ReadonlyMap<string, AbpList>;
  /** Targets no list decides: direct (the reference) or through a symbol's servers. */
  readonly otherwise?: 'direct' | { readonly proxy: string };
  /** Health checks of the server groups (default §4.3: tcp, 5 s timeout, every 30 s, up 1, down 2). */
  readonly healthCheck?: Partial<HealthCheckConfig>;
  /** CDN settings by server entry (`scheme://host:port` as written in the list). */
  readonly cdn?: ReadonlyMap<string, CdnSettings>;
  readonly pingTimeoutMs?: number;
  readonly pongIntervalMs?: number;
  readonly poolMaxIdleMs?: number;
  readonly backoffMs?: number;
  /** `agent.early-reply`: answer proxied CONNECTs once the request is on the tunnel (see EarlyReplies). */
  readonly earlyReply?: boolean;
}

/** Where targets went since start, by decision (direct, or per group). */
export interface RouteCounts {
  direct: number;
  readonly proxied: Record<string, number>;
}

function bracket(host: string): string {
  return isIPv6(host) ? `[${host}]` : host;
}

/** `scheme://host:port` of an entry, the key CDN settings use. */
export function entryKey(entry: ServerEntry): string {
  return `${entry.scheme}://${bracket(entry.host)}:${entry.port}`;
}

/**
 * The stream address a server entry dials: `tcp`, `tls+tcp`, `kcp` or
 * `tls+kcp`, with the trust settings of the config on the TLS layer.
 */
export function dialAddressText(
  entry: ServerEntry,
  config: AgentConfig,
  cdn: CdnSettings | undefined,
): string {
  const scheme = `${entry.tls ? 'tls+' : ''}${entry.kcp ? 'kcp' : 'tcp'}`;
  const authority = cdn?.dial ?? `${bracket(entry.host)}:${entry.port}`;
  // §4.3: KCP entries use the client-fast4 preset, as the server's --kcp does.
  const query: string[] = entry.kcp ? ['mode=fast4'] : [];
  if (entry.tls) {
    if (config.cacertsPath !== null) query.push(`ca=${encodeURIComponent(config.cacertsPath)}`);
    if (!config.certVerify) query.push('insecure=1');
    const sni = cdn?.sni ?? (entry.hostType === 'name' ? entry.host : undefined);
    if (sni !== undefined) query.push(`sni=${encodeURIComponent(sni)}`);
  }
  return `${scheme}://${authority}${query.length > 0 ? `?${query.join('&')}` : ''}`;
}

/** Framed mode's stack: `ws+[tls+]tcp|kcp` on the dial authority, lower layers' options prefixed. */
export function framedDial(
  entry: ServerEntry,
  config: AgentConfig,
  cdn: CdnSettings,
): { scheme: string; authority: string; query: string[] } {
  const query: string[] = entry.kcp ? ['kcp.mode=fast4'] : [];
  if (entry.tls) {
    if (config.cacertsPath !== null) query.push(`tls.ca=${encodeURIComponent(config.cacertsPath)}`);
    if (!config.certVerify) query.push('tls.insecure=1');
    const sni = cdn.sni ?? (entry.hostType === 'name' ? entry.host : undefined);
    if (sni !== undefined) query.push(`tls.sni=${encodeURIComponent(sni)}`);
  }
  return {
    scheme: `ws+${entry.tls ? 'tls+' : ''}${entry.kcp ? 'kcp' : 'tcp'}`,
    authority: cdn.dial ?? `${bracket(entry.host)}:${entry.port}`,
    query,
  };
}

/**
 * The agent's routing: each server list a real ServerGroup (health checks,
 * wrr, visible like any group), gathered in an Upstream whose hint matching
 * finds a list's group by its symbol; domain lists compiled into a Router
 * with ABP precedence; and the BackendPicker the front ends share — direct
 * targets as plain `tcp://`, proxied ones as tunnel choices.
 */
export class AgentRouting {
  readonly router: Router;
  readonly upstream: Upstream;
  readonly tunnels: WebsocksTunnels;
  readonly counts: RouteCounts = { direct: 0, proxied: {} };
  readonly picker: BackendPicker;
  /** With agent.early-reply: the front ends' handshakes go through it (null: off). */
  readonly earlyReplies: EarlyReplies | null;
  readonly #groups: ServerGroup[] = [];

  constructor(options: AgentRoutingOptions) {
    const { config, registry, logger } = options;
    this.earlyReplies = options.earlyReply === true ? new EarlyReplies() : null;
    this.tunnels = new WebsocksTunnels({
      registry,
      strict: config.strict,
      logger,
      ...(options.pingTimeoutMs === undefined ? {} : { pingTimeoutMs: options.pingTimeoutMs }),
      pool: {
        size: config.poolSize,
        ...(options.pongIntervalMs === undefined ? {} : { pongIntervalMs: options.pongIntervalMs }),
        ...(options.poolMaxIdleMs === undefined ? {} : { maxIdleMs: options.poolMaxIdleMs }),
        ...(options.backoffMs === undefined ? {} : { backoffMs: options.backoffMs }),
      },
    });
    registry.registerTransport(this.tunnels.transport);
    this.upstream = new Upstream('websocks-agent');
    const health: HealthCheckConfig = config.healthCheck
      ? {
          timeoutMs: 5_000,
          periodMs: 30_000,
          up: 1,
          down: 2,
          check: { kind: 'tcp' },
          ...options.healthCheck,
        }
      : { timeoutMs: 1_000, periodMs: 30_000, up: 1, down: 1, check: { kind: 'none' } };
    for (const list of config.serverLists) {
      const group = new ServerGroup({
        name: list.symbol,
        method: 'wrr',
        healthCheck: health,
        registry,
        logger,
      });
      this.#groups.push(group);
      const specs = new Map<Server, WebsocksServerSpec>();
      list.servers.forEach((entry, i) => {
        const cdn = options.cdn?.get(entryKey(entry));
        const dial = registry.parse(dialAddressText(entry, config, cdn));
        const name =
          list.servers.findIndex((e) => entryKey(e) === entryKey(entry)) === i
            ? entryKey(entry)
            : `${entryKey(entry)}#${i}`;
        const server = group.add(name, dial, 10);
        specs.set(server, {
          dial,
          host: entry.host,
          port: entry.port,
          tls: entry.tls,
          user: config.auth.user,
          password: config.auth.password,
          ...(cdn?.path === undefined ? {} : { path: cdn.path }),
          ...(cdn?.hostHeader === undefined ? {} : { hostHeader: cdn.hostHeader }),
          ...(cdn?.headers === undefined ? {} : { extraHeaders: cdn.headers }),
          ...(cdn?.mode === 'framed' ? { framed: framedDial(entry, config, cdn) } : {}),
        });
      });
      this.upstream.add(group, { hosts: [] });
      this.tunnels.addGroup(list.symbol, group, specs);
      this.counts.proxied[list.symbol] = 0;
    }
    const lists = config.domainLists.map((l) => ({
      symbol: l.symbol,
      rules: new RuleSet(rulesFromEntries(l.entries, `domain list ${l.symbol}`, options.abpFiles)),
    }));
    const otherwise = options.otherwise ?? 'direct';
    if (otherwise !== 'direct' && this.tunnels.group(otherwise.proxy) === undefined) {
      throw new AgentConfigError(
        0,
        `the default route names server list ${otherwise.proxy}, which does not exist`,
      );
    }
    this.router = new Router(lists, { otherwise });
    this.picker = {
      pick: (ctx) => this.#pick(ctx, []),
      repick: (ctx, tried) => this.#pick(ctx, tried),
    };
  }

  groups(): readonly ServerGroup[] {
    return this.#groups;
  }

  route(host: string, port: number): Route {
    return this.router.route(host, port);
  }

  /** The group a proxied route names, found by the upstream's hint matching on its symbol. */
  groupFor(symbol: string): ServerGroup | undefined {
    const member = this.upstream.match(symbol);
    const group = member?.group;
    return group instanceof ServerGroup && group.name === symbol
      ? group
      : this.tunnels.group(symbol);
  }

  #pick(ctx: PickContext, tried: readonly Address[]): BackendChoice | null {
    const target = ctx.admission.requested;
    if (target === undefined) return null;
    const route = this.router.route(target.host, target.port);
    if (route.action === 'direct') {
      if (tried.length > 0) return null; // one direct target: nothing else to try
      this.counts.direct++;
      return { address: { ...target, scheme: 'tcp' } };
    }
    const group = this.groupFor(route.symbol);
    if (group === undefined) return null;
    const early = this.earlyReplies?.answerFor(ctx.admission);
    const choice = this.tunnels.choose(group.name, target.host, target.port, tried, early);
    if (choice !== null && tried.length === 0) {
      this.counts.proxied[route.symbol] = (this.counts.proxied[route.symbol] ?? 0) + 1;
    }
    return choice;
  }

  async close(): Promise<void> {
    this.tunnels.close();
    await Promise.all(this.#groups.map((g) => g.close()));
  }
}
