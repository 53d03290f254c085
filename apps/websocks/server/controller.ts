import { StoreExecutor } from '../../../src/control/command-executor.js';
import { VERSION } from '../../../src/control/config.js';
import {
  HttpController,
  type PageHandler,
} from '../../../src/control/controllers/http-controller.js';
import { StatusPages } from '../../../src/control/observability/status-pages.js';
import { ResourceStore } from '../../../src/control/store.js';
import { VproxyError } from '../../../src/fd/errors.js';
import type { Logger } from '../../../src/fd/logger.js';
import type { Registry } from '../../../src/fd/registry.js';
import type { WebsocksServer } from '../../../src/websocks/server/websocks-server.js';

/**
 * `--http-controller`: the daemon's HTTP controller over a store holding the
 * server's socks5 stage as socks5-server `websocks` (upstream `websocks`), so
 * the status page, `/api/v1/status`, `/metrics` and the REST/command API show
 * its sessions and bytes like any daemon listener. `/api/v1/websocks` adds the
 * door's own counters (tunnels, web connections, refusals by check). Off by
 * default; it listens where it is told, loopback advised (it can change the
 * server).
 */
export async function startHttpController(
  server: WebsocksServer,
  address: string,
  token: string | undefined,
  registry: Registry,
  logger: Logger,
): Promise<HttpController> {
  if (token === undefined || token.length === 0) {
    throw new VproxyError(
      'ERR_OPTION_INVALID',
      '--http-controller needs --http-token (or $VPROXY_HTTP_TOKEN)',
    );
  }
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
  const status = new StatusPages(store).handler;
  const pages: PageHandler = (req, res, url) => {
    if (url.pathname !== '/api/v1/websocks') return status(req, res, url);
    const body = JSON.stringify(server.stats());
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
    return true;
  };
  return HttpController.start({
    name: 'http-controller',
    address,
    token,
    executor: new StoreExecutor({ store, logger }),
    registry,
    version: VERSION,
    pages,
  });
}
