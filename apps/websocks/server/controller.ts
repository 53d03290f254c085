import type { Registry as PromRegistry } from 'prom-client';
import { define } from '../../../src/control/observability/metric-define.js';
import { ResourceStore } from '../../../src/control/store.js';
import type { Logger } from '../../../src/fd/logger.js';
import type { Registry } from '../../../src/fd/registry.js';
import type { WebsocksServer } from '../../../src/websocks/server/websocks-server.js';
import {
  type ControllerFlags,
  startWebsocksControllers,
  type WebsocksControllers,
} from '../controllers.js';

/**
 * `--http-controller` / `--resp-controller`: the daemon's controllers over a
 * store holding the server's socks5 stage as socks5-server `websocks`
 * (upstream `websocks`), so the status page, `/api/v1/status`, `/metrics` and
 * the command language (REST and RESP) show its sessions and bytes like any
 * daemon listener. The door's own counters (tunnels, web connections, TLS
 * failures, refusals by check) are `/api/v1/websocks` and the
 * `vproxy_websocks_door_*` metrics. Off by default; they listen where they
 * are told, loopback advised (they can change the server).
 */
export async function startServerControllers(
  server: WebsocksServer,
  flags: ControllerFlags,
  registry: Registry,
  logger: Logger,
): Promise<WebsocksControllers | null> {
  if (flags.httpController === undefined && flags.respController === undefined) return null;
  const store = new ResourceStore(registry, logger);
  store.upstreams.set('websocks', server.upstream);
  store.socks5Servers.set('websocks', {
    lb: server.socks,
    address: server.lines[0]?.address ?? '',
    upstream: 'websocks',
    acceptorElg: '',
    elg: '',
    certKeys: [],
    accessLog: false,
    auth: { users: new Map() },
  });
  return startWebsocksControllers({
    app: 'websocks-server',
    store,
    registry,
    logger,
    flags,
    routes: new Map([['/api/v1/websocks', () => server.stats()]]),
    metrics: (prom) => doorMetrics(prom, server),
    release: () => {
      store.socks5Servers.clear();
      store.upstreams.clear();
    },
  });
}

function doorMetrics(prom: PromRegistry, server: WebsocksServer): void {
  const registers = [prom];
  const counters: [string, string, (s: ReturnType<WebsocksServer['stats']>) => number][] = [
    [
      'vproxy_websocks_door_tunnels_total',
      'Connections that passed the WebSocks handshake.',
      (s) => s.tunnels,
    ],
    [
      'vproxy_websocks_door_web_connections_total',
      'Connections that ended as web clients (browsers, probers, refused upgrades).',
      (s) => s.webConnections,
    ],
    [
      'vproxy_websocks_door_tls_failures_total',
      'TLS handshakes that failed or timed out.',
      (s) => s.tlsFailures,
    ],
    [
      'vproxy_websocks_door_dropped_total',
      'Connections at the door dropped because too many were waiting.',
      (s) => s.dropped,
    ],
  ];
  for (const [name, help, value] of counters) {
    define('counter', name, help, [], registers, (emit) => emit({}, value(server.stats())));
  }
  define(
    'counter',
    'vproxy_websocks_door_refused_total',
    'Refused upgrades (answered as the web site), by the check that refused them.',
    ['check'],
    registers,
    (emit) => {
      for (const [check, n] of Object.entries(server.stats().refused)) emit({ check }, n ?? 0);
    },
  );
}
