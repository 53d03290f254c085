import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type Address, formatHostPort, toAddress } from '../../fd/address.js';
import { type ErrorCode, isVproxyError, VproxyError } from '../../fd/errors.js';
import type { Registry } from '../../fd/registry.js';
import type { BoundAddress, ServerFD } from '../../fd/server-fd.js';
import type { StreamFD } from '../../fd/stream-fd.js';
import type { CommandExecutor, CommandResult } from '../executor.js';
import { Secret } from '../secret.js';
import { renderJson } from './render-text.js';
import {
  createCommand,
  deleteCommand,
  listCommand,
  openApi,
  parseRestPath,
  updateCommand,
} from './rest-routes.js';

/** An extra page (status page, metrics): return false to fall through to 404. */
export type PageHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
) => boolean | Promise<boolean>;

export interface HttpControllerOptions {
  readonly name: string;
  readonly address: string | Address;
  readonly token: string;
  readonly executor: CommandExecutor;
  readonly registry: Registry;
  readonly version: string;
  readonly pages?: PageHandler;
}

const MAX_BODY = 64 * 1024;

const STATUS_BY_CODE: Partial<Record<ErrorCode, number>> = {
  ERR_NOT_FOUND: 404,
  ERR_ALREADY_EXISTS: 409,
  ERR_IN_USE: 409,
  ERR_FORBIDDEN: 403,
  ERR_NOT_SUPPORTED: 501,
};

function statusOf(err: VproxyError): number {
  return STATUS_BY_CODE[err.code] ?? (err.code.endsWith('_INVALID') ? 400 : 500);
}

function send(res: ServerResponse, status: number, body?: unknown): void {
  if (body === undefined) {
    res.writeHead(status).end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY)
      throw new VproxyError('ERR_COMMAND_INVALID', `body larger than ${MAX_BODY} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.length === 0) return {};
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new VproxyError('ERR_COMMAND_INVALID', `malformed JSON: ${(err as Error).message}`);
  }
}

/**
 * REST JSON over the command language, on any transport address. `/healthz`
 * is open; everything else needs `Authorization: Bearer TOKEN` (or the cookie
 * the status page sets after `/?token=…`), compared in constant time.
 */
export class HttpController extends EventEmitter<{ error: [Error] }> {
  readonly name: string;
  readonly #options: HttpControllerOptions;
  readonly #secret: Secret;
  readonly #server: ServerFD;
  readonly #http: Server;
  readonly #stats = { requests: 0, authFailures: 0, errors: 0 };

  private constructor(options: HttpControllerOptions, server: ServerFD) {
    super();
    this.name = options.name;
    this.#options = options;
    this.#secret = new Secret(options.token);
    this.#server = server;
    this.#http = createServer(
      { requestTimeout: 30_000, headersTimeout: 10_000, maxHeaderSize: 16 * 1024 },
      (req, res) => {
        this.#handle(req, res).catch((err: unknown) => {
          this.#stats.errors++;
          if (!res.headersSent) send(res, 500, { code: 'ERR_INTERNAL', message: 'internal error' });
          else res.destroy();
          this.emit('error', err as Error);
        });
      },
    );
    // Listeners hand out paused streams (nothing is read before an owner wires
    // them up); node:http expects a flowing socket, so start it first.
    server.on('connection', (fd: StreamFD) => {
      this.#http.emit('connection', fd);
      fd.resume();
    });
    server.on('error', (err) => this.emit('error', err));
  }

  static async start(options: HttpControllerOptions): Promise<HttpController> {
    if (options.token.length === 0) {
      throw new VproxyError(
        'ERR_OPTION_INVALID',
        `http-controller ${options.name}: a token is required`,
      );
    }
    const server = await options.registry.listen(toAddress(options.address));
    return new HttpController(options, server);
  }

  address(): BoundAddress {
    return this.#server.address();
  }

  describe(): string {
    const a = this.address();
    return `${this.name} -> ${formatHostPort(a.host, a.port)}`;
  }

  stats(): { requests: number; authFailures: number; errors: number } {
    return { ...this.#stats };
  }

  async close(): Promise<void> {
    await this.#server.close();
    this.#http.closeAllConnections();
    this.#http.close();
  }

  #authorized(req: IncomingMessage, url: URL, res: ServerResponse): boolean {
    const header = req.headers.authorization;
    if (header?.startsWith('Bearer ') && this.#secret.matches(header.slice(7))) return true;
    const cookie = /(?:^|;\s*)vproxy_token=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
    if (cookie !== undefined && this.#secret.matches(decodeURIComponent(cookie))) return true;
    // A browser cannot send a bearer header: `/?token=…` logs in with a cookie.
    const token = url.searchParams.get('token');
    if (url.pathname === '/' && token !== null && this.#secret.matches(token)) {
      res.writeHead(303, {
        location: '/',
        'set-cookie': `vproxy_token=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`,
      });
      res.end();
      return false;
    }
    this.#stats.authFailures++;
    res.setHeader('www-authenticate', 'Bearer');
    send(res, 401, { code: 'ERR_UNAUTHORIZED', message: 'missing or wrong bearer token' });
    return false;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.#stats.requests++;
    const url = new URL(req.url ?? '/', 'http://controller');
    if (url.pathname === '/healthz') return send(res, 200, { status: 'ok' });
    if (!this.#authorized(req, url, res)) return;
    try {
      if (await this.#route(req, res, url)) return;
      if (this.#options.pages && (await this.#options.pages(req, res, url))) return;
      send(res, 404, { code: 'ERR_NOT_FOUND', message: `Cannot ${req.method} ${url.pathname}` });
    } catch (err) {
      if (!isVproxyError(err)) throw err;
      send(res, statusOf(err), { code: err.code, message: err.message });
    }
  }

  async #route(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    const run = (line: string): Promise<CommandResult> =>
      this.#options.executor.execute(line, 'http');
    const method = req.method ?? 'GET';
    if (url.pathname === '/api/v1/openapi.json' && method === 'GET') {
      send(res, 200, openApi(this.#options.version));
      return true;
    }
    if (url.pathname === '/api/v1/command' && method === 'POST') {
      const body = await readJson(req);
      const command = (body as { command?: unknown }).command;
      if (typeof command !== 'string')
        throw new VproxyError('ERR_COMMAND_INVALID', 'body must be {"command": "..."}');
      send(res, 200, renderJson(await run(command)));
      return true;
    }
    const prefix = '/api/v1/module/';
    if (!url.pathname.startsWith(prefix)) return false;
    const segments = url.pathname
      .slice(prefix.length)
      .split('/')
      .filter(Boolean)
      .map(decodeURIComponent);
    const target = parseRestPath(segments);
    if (method === 'GET') {
      const result = await run(listCommand(target));
      const items = result.kind === 'list' ? result.items : [];
      if (target.name === undefined) {
        send(res, 200, { items });
        return true;
      }
      const item = items.find(
        (i) => typeof i === 'string' && (i === target.name || i.startsWith(`${target.name} ->`)),
      );
      if (item === undefined)
        throw new VproxyError(
          'ERR_NOT_FOUND',
          `Cannot find ${target.type} with name ${target.name}.`,
        );
      send(res, 200, { item });
      return true;
    }
    if (method === 'POST' && target.name === undefined) {
      await run(createCommand(target, await readJson(req)));
      send(res, 201, { ok: true });
      return true;
    }
    if (method === 'PUT' && target.name !== undefined) {
      await run(updateCommand(target, await readJson(req)));
      send(res, 204);
      return true;
    }
    if (method === 'DELETE' && target.name !== undefined) {
      await run(deleteCommand(target, url.searchParams.get('force') === '1'));
      send(res, 204);
      return true;
    }
    return false;
  }
}
