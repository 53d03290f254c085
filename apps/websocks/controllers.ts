import type { Registry as PromRegistry } from 'prom-client';
import { StoreExecutor } from '../../src/control/command-executor.js';
import { VERSION } from '../../src/control/config.js';
import { HttpController, type PageHandler } from '../../src/control/controllers/http-controller.js';
import { RespController } from '../../src/control/controllers/resp-controller.js';
import { StatusPages } from '../../src/control/observability/status-pages.js';
import type { ResourceStore } from '../../src/control/store.js';
import { formatHostPort } from '../../src/fd/address.js';
import { VproxyError } from '../../src/fd/errors.js';
import type { Logger } from '../../src/fd/logger.js';
import type { Registry } from '../../src/fd/registry.js';

/** `--http-controller` / `--resp-controller` and their secrets, as typed (both off by default). */
export interface ControllerFlags {
  readonly httpController?: string;
  readonly httpToken?: string;
  readonly respController?: string;
  readonly respPassword?: string;
}

export interface WebsocksControllersOptions {
  /** `websocks-server` or `websocks-agent`: names the controllers and the error messages. */
  readonly app: string;
  /** The app's resources as the daemon's store holds them (groups, upstream, listeners). */
  readonly store: ResourceStore;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly flags: ControllerFlags;
  /** More JSON routes of the HTTP controller (`/api/v1/websocks`…): path → body at request time. */
  readonly routes?: ReadonlyMap<string, () => unknown>;
  /** The app's own metrics, defined on the `/metrics` registry. */
  readonly metrics?: (registry: PromRegistry) => void;
  /** Before the store closes: take the app's own resources out (the app closes them). */
  readonly release: () => void;
}

export interface WebsocksControllers {
  /** One start-up line per controller. */
  readonly lines: string[];
  close(): Promise<void>;
}

/**
 * The daemon's RESP and HTTP controllers over a websocks app's store, opt-in:
 * the same command language, REST API, status page and `/metrics` as the
 * daemon, plus the app's own routes and metrics. Null when no flag asked for one.
 */
export async function startWebsocksControllers(
  o: WebsocksControllersOptions,
): Promise<WebsocksControllers | null> {
  const { flags } = o;
  if (flags.httpController === undefined && flags.respController === undefined) return null;
  if (flags.httpController !== undefined && !flags.httpToken) {
    throw new VproxyError(
      'ERR_OPTION_INVALID',
      '--http-controller needs --http-token (or $VPROXY_HTTP_TOKEN)',
    );
  }
  if (flags.respController !== undefined && !flags.respPassword) {
    throw new VproxyError(
      'ERR_OPTION_INVALID',
      '--resp-controller needs --resp-password (or $VPROXY_RESP_PASSWORD)',
    );
  }
  const executor = new StoreExecutor({ store: o.store, logger: o.logger });
  const lines: string[] = [];
  const closers: (() => Promise<void> | void)[] = [];
  try {
    if (flags.httpController !== undefined) {
      const status = new StatusPages(o.store);
      closers.push(() => status.close());
      o.metrics?.(status.metrics.registry);
      const routes = o.routes ?? new Map<string, () => unknown>();
      const pages: PageHandler = (req, res, url) => {
        const route = routes.get(url.pathname);
        if (route === undefined) return status.handler(req, res, url);
        const body = JSON.stringify(route());
        res.writeHead(200, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          'cache-control': 'no-store',
        });
        res.end(body);
        return true;
      };
      const http = await HttpController.start({
        name: `${o.app}-http-controller`,
        address: flags.httpController,
        token: flags.httpToken as string,
        executor,
        registry: o.registry,
        version: VERSION,
        pages,
      });
      closers.push(() => http.close());
      const a = http.address();
      lines.push(`http-controller listening on http://${formatHostPort(a.host, a.port)}/`);
    }
    if (flags.respController !== undefined) {
      const resp = await RespController.start({
        name: `${o.app}-resp-controller`,
        address: flags.respController,
        password: flags.respPassword as string,
        executor,
        registry: o.registry,
      });
      closers.push(() => resp.close());
      const a = resp.address();
      lines.push(`resp-controller listening on ${formatHostPort(a.host, a.port)}`);
    }
  } catch (err) {
    for (const c of closers.reverse()) await c();
    o.release();
    await o.store.close();
    throw err;
  }
  return {
    lines,
    close: async () => {
      for (const c of closers.reverse()) await c();
      // The groups, upstreams and listeners are the app's: it closes them.
      o.release();
      await o.store.close();
    },
  };
}
