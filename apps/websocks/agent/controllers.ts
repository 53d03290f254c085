import type { Registry as PromRegistry } from 'prom-client';
import { define } from '../../../src/control/observability/metric-define.js';
import { ResourceStore } from '../../../src/control/store.js';
import { formatHostPort } from '../../../src/fd/address.js';
import type { Logger } from '../../../src/fd/logger.js';
import type { Registry } from '../../../src/fd/registry.js';
import type { WebsocksAgent } from '../../../src/websocks/agent.js';
import {
  type ControllerFlags,
  startWebsocksControllers,
  type WebsocksControllers,
} from '../controllers.js';

export type AgentControllerFlags = ControllerFlags;

/**
 * The daemon's RESP / HTTP controllers over the agent's resources, opt-in
 * (off unless a flag names an address): its server lists are the store's
 * server groups, its upstream the store's, and its front ends (socks5, http,
 * shadowsocks) the store's tcp-lbs `agent-socks5`…, so `list-detail
 * server-group`, the status page and `/metrics` show servers, health,
 * listeners, sessions and bytes exactly as for the daemon, and the same
 * commands change weights. `/api/v1/websocks-agent` and the
 * `vproxy_websocks_agent_*` metrics add routing and tunnel counters.
 */
export async function startAgentControllers(
  agent: WebsocksAgent,
  registry: Registry,
  logger: Logger,
  flags: AgentControllerFlags,
): Promise<WebsocksControllers | null> {
  if (flags.httpController === undefined && flags.respController === undefined) return null;
  const store = new ResourceStore(registry, logger);
  for (const group of agent.routing.groups()) {
    store.serverGroups.set(group.name, { group, check: 'tcp', elg: '(control-elg)' });
  }
  const upstream = agent.routing.upstream;
  store.upstreams.set(upstream.name, upstream);
  for (const front of agent.fronts) {
    store.tcpLbs.set(front.name, {
      lb: front,
      address: formatHostPort(front.address.host, front.address.port),
      upstream: upstream.name,
      acceptorElg: '',
      elg: '',
      certKeys: [],
      accessLog: false,
    });
  }
  return startWebsocksControllers({
    app: 'websocks-agent',
    store,
    registry,
    logger,
    flags,
    routes: new Map([['/api/v1/websocks-agent', () => agentCounters(agent)]]),
    metrics: (prom) => agentMetrics(prom, agent),
    release: () => {
      store.serverGroups.clear();
      store.upstreams.clear();
      store.tcpLbs.clear();
    },
  });
}

/** Routing decisions, tunnels and pools, for `/api/v1/websocks-agent`. */
export function agentCounters(agent: WebsocksAgent) {
  const r = agent.routing;
  return {
    routed: { direct: r.counts.direct, ...r.counts.proxied },
    tunnels: { ...r.tunnels.counts },
    pools: Object.fromEntries(
      r.groups().map((g) => [g.name, { ready: r.tunnels.pool(g.name)?.readyCount ?? 0 }]),
    ),
    listeners: agent.listeners,
  };
}

function agentMetrics(prom: PromRegistry, agent: WebsocksAgent): void {
  const registers = [prom];
  const r = agent.routing;
  define(
    'counter',
    'vproxy_websocks_agent_routed_total',
    'Targets routed since start: direct, or through a server list (the label names it).',
    ['route'],
    registers,
    (emit) => {
      emit({ route: 'direct' }, r.counts.direct);
      for (const [symbol, n] of Object.entries(r.counts.proxied)) emit({ route: symbol }, n);
    },
  );
  define(
    'counter',
    'vproxy_websocks_agent_tunnels_total',
    'Tunnels by outcome: opened on a fresh connection, on a pooled one, pooled ones replaced after a failed ping, failed.',
    ['outcome'],
    registers,
    (emit) => {
      for (const [outcome, n] of Object.entries(r.tunnels.counts)) emit({ outcome }, n);
    },
  );
  define(
    'gauge',
    'vproxy_websocks_agent_pool_ready',
    'Upgraded connections waiting in the warm pool, per server list.',
    ['group'],
    registers,
    (emit) => {
      for (const g of r.groups()) emit({ group: g.name }, r.tunnels.pool(g.name)?.readyCount ?? 0);
    },
  );
}
