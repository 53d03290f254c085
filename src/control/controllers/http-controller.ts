import { createHmac, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type Address, formatHostPort, toAddress } from '../../fd/address.js';
import { isVproxyError, VproxyError } from '../../fd/errors.js';
import type { Registry } from '../../fd/registry.js';
import type { BoundAddress, ServerFD } from '../../fd/server-fd.js';
import type { StreamFD } from '../../fd/stream-fd.js';
import { ControlError } from '../errors.js';
import type { CommandExecutor, CommandResult } from '../executor.js';
import { exportControllerMetrics } from '../observability/metrics.js';
import { Secret } from '../secret.js';
import { AuthThrottle } from './auth-throttle.js';
import {
  DEFAULT_MAX_CLIENTS,
  type RefusalCounts,
  type RefusalReason,
  zeroRefusals,
} from './connection-guard.js';
import { DEFAULT_HTTP_TIMEOUTS, HttpConnectionGuard } from './http-guard.js';
import { renderJson } from './render-text.js';
import {
  checkJsonBody,
  checkOrigin,
  cookieToken,
  decodeComponent,
  isWrite,
  requestUrl,
} from './request-policy.js';
import {
  createCommand,
  deleteCommand,
  getAnswer,
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
  /** Time to send complete request headers (default 10 s, as socks5/ws handshakes). */
  readonly headersTimeoutMs?: number;
  /** Time from complete headers to the end of the response (default 30 s). */
  readonly requestTimeoutMs?: number;
  /** Idle time allowed between keep-alive requests (default 5 s). */
  readonly keepAliveTimeoutMs?: number;
  /** Clients served at once; more are closed on accept (default 256). */
  readonly maxClients?: number;
  /** Failed-token limiter per client address (default: one of this controller's own). */
  readonly throttle?: AuthThrottle;
}

export interface HttpControllerStats {
  readonly requests: number;
  readonly authFailures: number;
  /** Authentication attempts refused unchecked because the address failed too often. */
  readonly authThrottled: number;
  readonly errors: number;
  readonly connections: number;
  /** Clients connected now. */
  readonly clients: number;
  readonly refused: RefusalCounts;
}

// The status-page session cookie. Its value is not the token but an HMAC of it
// under a key drawn per controller: a leaked cookie (a browser profile, a
// proxy log) reads status until the daemon restarts and never grants writes
// or reveals the token.
const COOKIE = 'vproxy_session';

const MAX_BODY = 64 * 1024;

const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  ERR_NOT_FOUND: 404,
  ERR_ALREADY_EXISTS: 409,
  ERR_IN_USE: 409,
  ERR_ADDRESS_IN_USE: 409,
  ERR_PERMISSION_DENIED: 403,
  ERR_FORBIDDEN: 403,
  ERR_NOT_SUPPORTED: 501,
  ERR_CONTENT_TYPE_INVALID: 415,
  ERR_AUTH_THROTTLED: 429,
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
  checkJsonBody(req);
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY)
      throw new ControlError('ERR_COMMAND_INVALID', `body larger than ${MAX_BODY} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.length === 0) return {};
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ControlError('ERR_COMMAND_INVALID', `malformed JSON: ${(err as Error).message}`);
  }
}

/** How a request authenticated, or why it did not (and was answered already). */
type AuthOutcome = 'bearer' | 'cookie' | 'answered';

/**
 * REST JSON over the command language, on any transport address. `/healthz`
 * is open; everything else needs `Authorization: Bearer TOKEN`, or for reads
 * only the cookie the status page sets after `/?token=…`, compared in
 * constant time. Writes must be JSON from the controller's own origin (see
 * request-policy.ts); clients are held to header, request and keep-alive
 * deadlines (http-guard.ts); failed tokens are rate-limited per address.
 */
export class HttpController extends EventEmitter<{ error: [Error] }> {
  readonly name: string;
  readonly #options: HttpControllerOptions;
  readonly #secret: Secret;
  /** The session cookie's value (an HMAC of the token, see COOKIE) and its checker. */
  readonly #sessionValue: string;
  readonly #session: Secret;
  readonly #server: ServerFD;
  readonly #http: Server;
  readonly #throttle: AuthThrottle;
  readonly #clients = new Set<StreamFD>();
  readonly #stats = { requests: 0, authFailures: 0, authThrottled: 0, errors: 0, connections: 0 };
  readonly #refused = zeroRefusals();
  readonly #unexport: () => void;

  private constructor(options: HttpControllerOptions, server: ServerFD) {
    super();
    this.name = options.name;
    this.#options = options;
    this.#secret = new Secret(options.token);
    this.#sessionValue = createHmac('sha256', randomBytes(32))
      .update(options.token, 'utf8')
      .digest('base64url');
    this.#session = new Secret(this.#sessionValue);
    this.#server = server;
    this.#throttle = options.throttle ?? new AuthThrottle();
    // Node's own headersTimeout/requestTimeout checks only run after listen(),
    // which this server never calls; HttpConnectionGuard enforces them.
    this.#http = createServer({ maxHeaderSize: 16 * 1024 }, (req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        // A client that went away (or was timed out) mid-body is not our error.
        if (req.socket.destroyed) return;
        this.#stats.errors++;
        if (!res.headersSent) send(res, 500, { code: 'ERR_INTERNAL', message: 'internal error' });
        else res.destroy();
        this.emit('error', err as Error);
      });
    });
    const guard = new HttpConnectionGuard(
      this.#http,
      {
        headersMs: options.headersTimeoutMs ?? DEFAULT_HTTP_TIMEOUTS.headersMs,
        requestMs: options.requestTimeoutMs ?? DEFAULT_HTTP_TIMEOUTS.requestMs,
        keepAliveMs: options.keepAliveTimeoutMs ?? DEFAULT_HTTP_TIMEOUTS.keepAliveMs,
      },
      (reason) => this.#refused[reason]++,
    );
    const maxClients = options.maxClients ?? DEFAULT_MAX_CLIENTS;
    server.on('connection', (fd: StreamFD) => {
      this.#stats.connections++;
      if (this.#clients.size >= maxClients) {
        this.#refused.tooManyClients++;
        fd.on('error', () => {});
        fd.destroy();
        return;
      }
      this.#clients.add(fd);
      fd.once('close', () => this.#clients.delete(fd));
      guard.watch(fd);
      // Listeners hand out paused streams (nothing is read before an owner
      // wires them up); node:http expects a flowing socket, so start it.
      this.#http.emit('connection', fd);
      fd.resume();
    });
    server.on('error', (err) => this.emit('error', err));
    // A layered listener (tls+tcp://) drops clients whose handshake fails.
    server.on('handshakeError', () => this.#refused.protocolError++);
    this.#unexport = exportControllerMetrics(options.registry, {
      kind: 'http-controller',
      name: this.name,
      counters: () => this.stats(),
    });
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

  stats(): HttpControllerStats {
    return { ...this.#stats, clients: this.#clients.size, refused: { ...this.#refused } };
  }

  async close(): Promise<void> {
    this.#unexport();
    await this.#server.close();
    this.#http.closeAllConnections();
    this.#http.close();
    for (const c of this.#clients) c.destroy();
  }

  #refuse(res: ServerResponse, reason: RefusalReason, err: VproxyError): void {
    this.#refused[reason]++;
    send(res, statusOf(err), { code: err.code, message: err.message });
  }

  /**
   * Bearer header (any method) or session cookie (reads only); `/?token=`
   * logs a browser in. A request offering a wrong credential is a guess and
   * is rate-limited per address; one offering none is just unauthenticated.
   */
  #authenticate(req: IncomingMessage, url: URL, res: ServerResponse): AuthOutcome {
    const header = req.headers.authorization;
    const bearer = header?.startsWith('Bearer ') ? header.slice(7) : undefined;
    const cookie = cookieToken(req, COOKIE);
    const login = url.pathname === '/' ? (url.searchParams.get('token') ?? undefined) : undefined;
    const offered = bearer ?? cookie ?? login;
    if (offered === undefined) return this.#unauthorized(res);
    const peer = req.socket.remoteAddress;
    if (!this.#throttle.allows(peer)) {
      // Not even checked: that is what bounds guesses, not just wrong answers.
      this.#stats.authThrottled++;
      const retry = Math.max(1, Math.ceil(this.#throttle.retryAfterMs(peer) / 1000));
      res.setHeader('retry-after', String(retry));
      this.#refuse(
        res,
        'authThrottled',
        new ControlError(
          'ERR_AUTH_THROTTLED',
          `too many failed tokens from your address; retry in ${retry} s`,
        ),
      );
      return 'answered';
    }
    if (bearer !== undefined && this.#secret.matches(bearer)) return 'bearer';
    if (cookie !== undefined && this.#session.matches(cookie)) {
      if (!isWrite(req.method)) return 'cookie';
      this.#refuse(
        res,
        'crossOrigin',
        new ControlError(
          'ERR_FORBIDDEN',
          'the status-page session is read-only: writes need Authorization: Bearer',
        ),
      );
      return 'answered';
    }
    // A browser cannot send a bearer header: `/?token=…` logs in with a cookie.
    if (login !== undefined && this.#secret.matches(login)) {
      res.writeHead(303, {
        location: '/',
        'set-cookie': `${COOKIE}=${this.#sessionValue}; HttpOnly; SameSite=Strict; Path=/`,
      });
      res.end();
      return 'answered';
    }
    this.#throttle.fail(peer);
    return this.#unauthorized(res);
  }

  #unauthorized(res: ServerResponse): 'answered' {
    this.#stats.authFailures++;
    res.setHeader('www-authenticate', 'Bearer');
    send(res, 401, { code: 'ERR_UNAUTHORIZED', message: 'missing or wrong bearer token' });
    return 'answered';
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.#stats.requests++;
    try {
      const url = requestUrl(req);
      if (url.pathname === '/healthz') return send(res, 200, { status: 'ok' });
      if (isWrite(req.method)) {
        try {
          checkOrigin(req);
        } catch (err) {
          if (!isVproxyError(err)) throw err;
          return this.#refuse(res, 'crossOrigin', err);
        }
      }
      if (this.#authenticate(req, url, res) === 'answered') return;
      if (await this.#route(req, res, url)) return;
      if (this.#options.pages && (await this.#options.pages(req, res, url))) return;
      send(res, 404, { code: 'ERR_NOT_FOUND', message: `Cannot ${req.method} ${url.pathname}` });
    } catch (err) {
      if (!isVproxyError(err)) throw err;
      if (err.code === 'ERR_REQUEST_INVALID') this.#refused.badRequest++;
      if (err.code === 'ERR_CONTENT_TYPE_INVALID') this.#refused.crossOrigin++;
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
        throw new ControlError('ERR_COMMAND_INVALID', 'body must be {"command": "..."}');
      send(res, 200, renderJson(await run(command)));
      return true;
    }
    const prefix = '/api/v1/module/';
    if (!url.pathname.startsWith(prefix)) return false;
    const segments = url.pathname
      .slice(prefix.length)
      .split('/')
      .filter(Boolean)
      .map((segment) => decodeComponent(segment, 'the path'));
    const target = parseRestPath(segments);
    if (method === 'GET') {
      send(res, 200, getAnswer(target, await run(listCommand(target))));
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
