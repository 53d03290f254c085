import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { VERSION } from '../config.js';
import type { PageHandler } from '../controllers/http-controller.js';
import type { ResourceStore } from '../store.js';
import { StoreMetrics } from './metrics.js';
import { buildStatus, type StatusModel } from './status-model.js';
import { renderStatusPage, statusPageCsp } from './status-page.html.js';
import { type ThroughputOptions, ThroughputSampler } from './throughput.js';

export interface StatusPagesOptions {
  readonly version?: string;
  readonly throughput?: ThroughputOptions;
}

/** The paths served here, and what each answers. */
const ROUTES = new Map<string, 'page' | 'status' | 'metrics'>([
  ['/', 'page'],
  ['/status', 'page'],
  ['/api/v1/status', 'status'],
  ['/metrics', 'metrics'],
]);

/** The routes above as OpenAPI path items, for the controller's OpenAPI document. */
export const STATUS_OPENAPI_PATHS: Record<string, unknown> = {
  '/': {
    get: {
      summary: 'live status page (HTML); a browser logs in once with /?token=TOKEN (sets a cookie)',
      responses: { 200: { description: 'the page' }, 303: { description: 'logged in' } },
    },
  },
  '/status': {
    get: {
      summary: 'the live status page (HTML)',
      responses: { 200: { description: 'the page' } },
    },
  },
  '/api/v1/status': {
    get: {
      summary:
        'the status model the page polls: listeners, upstreams, server groups, sessions, throughput',
      responses: { 200: { description: 'StatusModel (JSON)' } },
    },
  },
  '/metrics': {
    get: {
      summary: 'Prometheus metrics (text exposition format 0.0.4)',
      responses: { 200: { description: 'metrics' } },
    },
  },
};

const COMMON_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/**
 * The observability pages of the HTTP controller (which has checked the token
 * before they run): the live status page, its JSON model, and Prometheus
 * metrics. Owns a throughput sampler; `close()` stops it.
 */
export class StatusPages {
  readonly throughput: ThroughputSampler;
  readonly metrics: StoreMetrics;
  readonly #store: ResourceStore;
  readonly #version: string;

  constructor(store: ResourceStore, options: StatusPagesOptions = {}) {
    this.#store = store;
    this.#version = options.version ?? VERSION;
    this.throughput = new ThroughputSampler(store, options.throughput);
    this.metrics = new StoreMetrics(store, this.#version);
  }

  /** The handler to give the HTTP controller (`pages`). */
  readonly handler: PageHandler = (req, res, url) => this.#handle(req, res, url);

  /** The status model as /api/v1/status returns it (reading it keeps the sampler going). */
  status(): StatusModel {
    this.throughput.touch();
    return buildStatus(this.#store, this.throughput, { version: this.#version });
  }

  close(): void {
    this.throughput.close();
  }

  async #handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    const route = ROUTES.get(url.pathname);
    if (route === undefined) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      const body = JSON.stringify({
        code: 'ERR_METHOD_NOT_ALLOWED',
        message: `${url.pathname} only answers GET`,
      });
      res.writeHead(405, {
        ...COMMON_HEADERS,
        allow: 'GET, HEAD',
        'content-type': 'application/json',
      });
      res.end(body);
      return true;
    }
    switch (route) {
      case 'page': {
        const nonce = randomBytes(16).toString('base64');
        reply(res, 'text/html; charset=utf-8', renderStatusPage(this.status(), nonce), {
          'content-security-policy': statusPageCsp(nonce),
          'x-frame-options': 'DENY',
        });
        return true;
      }
      case 'status':
        reply(res, 'application/json', JSON.stringify(this.status()));
        return true;
      case 'metrics':
        reply(res, this.metrics.contentType, await this.metrics.metrics());
        return true;
    }
  }
}

function reply(
  res: ServerResponse,
  contentType: string,
  body: string,
  extra: Record<string, string> = {},
): void {
  res.writeHead(200, {
    ...COMMON_HEADERS,
    ...extra,
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}
