import { StoreExecutor } from '../../../src/control/command-executor.js';
import { VERSION } from '../../../src/control/config.js';
import { HttpController } from '../../../src/control/controllers/http-controller.js';
import { RespController } from '../../../src/control/controllers/resp-controller.js';
import { StatusPages } from '../../../src/control/observability/status-pages.js';
import { ResourceStore } from '../../../src/control/store.js';
import { formatHostPort } from '../../../src/fd/address.js';
import type { Logger } from '../../../src/fd/logger.js';
import type { Registry } from '../../../src/fd/registry.js';
import type { WebsocksAgent } from '../../../src/websocks/agent.js';

export interface AgentControllerFlags {
  readonly httpController?: string;
  readonly httpToken?: string;
  readonly respController?: string;
  readonly respPassword?: string;
}

/**
 * The daemon's RESP / HTTP controllers over the agent's resources, opt-in
 * (off unless a flag names an address): its server lists are the store's
 * server groups and its upstream the store's, so `list-detail server-group`,
 * the status page and `/metrics` show servers, health, connections and bytes
 * exactly as for the daemon, and the same commands change weights.
 */
export async function startAgentControllers(
  agent: WebsocksAgent,
  registry: Registry,
  logger: Logger,
  flags: AgentControllerFlags,
): Promise<{ lines: string[]; close: () => Promise<void> } | null> {
  if (flags.httpController === undefined && flags.respController === undefined) return null;
  if (flags.httpController !== undefined && !flags.httpToken) {
    throw new Error('--http-controller needs --http-token (a bearer token for the pages and API)');
  }
  if (flags.respController !== undefined && !flags.respPassword) {
    throw new Error('--resp-controller needs --resp-password');
  }
  const store = new ResourceStore(registry, logger);
  for (const group of agent.routing.groups()) {
    store.serverGroups.set(group.name, { group, check: 'tcp', elg: '(control-elg)' });
  }
  store.upstreams.set(agent.routing.upstream.name, agent.routing.upstream);
  const executor = new StoreExecutor({ store, logger });
  const lines: string[] = [];
  const closers: (() => Promise<void>)[] = [];
  if (flags.httpController !== undefined) {
    const http = await HttpController.start({
      name: 'agent-http-controller',
      address: flags.httpController,
      token: flags.httpToken as string,
      executor,
      registry,
      version: VERSION,
      pages: new StatusPages(store).handler,
    });
    const a = http.address();
    lines.push(`http-controller listening on ${formatHostPort(a.host, a.port)}`);
    closers.push(() => http.close());
  }
  if (flags.respController !== undefined) {
    const resp = await RespController.start({
      name: 'agent-resp-controller',
      address: flags.respController,
      password: flags.respPassword as string,
      executor,
      registry,
    });
    const a = resp.address();
    lines.push(`resp-controller listening on ${formatHostPort(a.host, a.port)}`);
    closers.push(() => resp.close());
  }
  return {
    lines,
    close: async () => {
      await Promise.all(closers.map((c) => c()));
      // The groups are the agent's: it closes them; the store keeps only its own loops.
      store.serverGroups.clear();
      store.upstreams.clear();
      await store.close();
    },
  };
}
