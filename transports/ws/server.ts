import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { type ServerOptions, WebSocketServer } from 'ws';
import { VproxyError } from '../../src/fd/errors.js';
import type { BoundAddress, ServerFD, ServerFDEvents } from '../../src/fd/server-fd.js';
import { describePeer, type StreamFD } from '../../src/fd/stream-fd.js';
import { WsError } from './errors.js';
import { type FramedHooks, type Violation, WsFramedStream } from './framed-stream.js';
import { type HttpHandler, type HttpRefusal, upgradeRequired, writeRefusal } from './http-reply.js';
import { CLOSE_TIMEOUT_MS, RAW_SUBPROTOCOL, type ServerSettings, type WsMode } from './options.js';
import { MAX_LENGTH_FRAME } from './raw-header.js';
import { adoptRawStream, readRawHeader } from './raw-stream.js';
import { rawTakeover, serverWebSocketClass, type TakeoverWebSocket } from './takeover-socket.js';

/** What the upgrade hook learns besides the request itself. */
export interface UpgradeInfo {
  /** The mode the client asked for, by subprotocol. */
  readonly mode: WsMode;
  /** Bytes the client sent after the request head, before any answer (WebSocks refuses those). */
  readonly earlyBytes: number;
}

/**
 * Runs on every upgrade request before ws checks it: return nothing to go on,
 * or an HTTP answer to refuse (e.g. 401 with `WWW-Authenticate`). WebSocks auth hooks in here.
 */
export type UpgradeHook = (
  request: IncomingMessage,
  info: UpgradeInfo,
) => HttpRefusal | undefined | Promise<HttpRefusal | undefined>;

export interface WsListenerHooks {
  readonly upgradeHook?: UpgradeHook;
  readonly httpHandler?: HttpHandler;
}

/** What a ws listener has seen since it started. */
export interface WsListenerStats {
  readonly framedAccepted: number;
  readonly rawAccepted: number;
  /** Plain HTTP requests (no upgrade) answered by the HTTP handler. */
  readonly httpRequests: number;
  /** Clients whose first bytes were not HTTP at all: answered 400 (431 for huge heads) and closed. */
  readonly notHttp: number;
  /** Upgrade requests ws found invalid (method, key, version…; answered 4xx), or raw clients gone before their header. */
  readonly badHandshakes: number;
  /** Upgrade requests refused by the path or the upgrade hook. */
  readonly refused: number;
  readonly handshakeTimeouts: number;
  /** Framed connections closed with 1009: a message above max-payload. */
  readonly oversizedMessages: number;
  /** Framed connections closed with 1002 for a masking violation (unmasked client frame). */
  readonly maskViolations: number;
  /** Framed connections closed for any other frame violation (bad opcode, text, data after EOF…). */
  readonly protocolErrors: number;
  /** Framed connections failed by the keepalive (nothing heard for pong-timeout). */
  readonly deadPeers: number;
}

type Counters = { -readonly [K in keyof WsListenerStats]: number };

interface Pending {
  readonly timer: NodeJS.Timeout;
  readonly onError: () => void;
  servedHttp: boolean;
  upgrading: boolean;
  /** Already answered and counted; a timeout only has to reap it. */
  answered: boolean;
}

/**
 * A WebSocket listener over any inner listener. Each accepted inner stream is
 * parsed by a private node:http server (so HTTP works over TLS or any stream),
 * upgrades go through ws, and only streams that completed the upgrade (and, in
 * raw mode, the 10-byte header exchange) are emitted as 'connection'. The mode
 * is the client's choice, by subprotocol: one listener serves both.
 */
export class WsServerFD extends EventEmitter<ServerFDEvents> implements ServerFD {
  readonly kind: string;
  /** Consulted on every upgrade request; may be replaced at any time. */
  upgradeHook: UpgradeHook | null;
  /** Answers non-upgrade requests; the default says 426 and closes. */
  httpHandler: HttpHandler;
  readonly #inner: ServerFD;
  readonly #settings: ServerSettings;
  readonly #handshakeTimeoutMs: number;
  readonly #http: Server;
  readonly #wss: WebSocketServer;
  readonly #pending = new Map<Duplex, Pending>();
  readonly #counters: Counters = {
    framedAccepted: 0,
    rawAccepted: 0,
    httpRequests: 0,
    notHttp: 0,
    badHandshakes: 0,
    refused: 0,
    handshakeTimeouts: 0,
    oversizedMessages: 0,
    maskViolations: 0,
    protocolErrors: 0,
    deadPeers: 0,
  };
  readonly #framedHooks: FramedHooks;
  #closing = false;

  constructor(
    kind: string,
    inner: ServerFD,
    settings: ServerSettings,
    handshakeTimeoutMs: number,
    hooks: WsListenerHooks = {},
  ) {
    super();
    this.kind = kind;
    this.#inner = inner;
    this.#settings = settings;
    this.#handshakeTimeoutMs = handshakeTimeoutMs;
    this.upgradeHook = hooks.upgradeHook ?? null;
    this.httpHandler = hooks.httpHandler ?? upgradeRequired;
    const counters = this.#counters;
    const violationCounter: Record<Violation, keyof Counters> = {
      oversized: 'oversizedMessages',
      mask: 'maskViolations',
      protocol: 'protocolErrors',
    };
    this.#framedHooks = {
      onViolation: (v) => counters[violationCounter[v]]++,
      onPeerDead: () => counters.deadPeers++,
    };
    this.#http = createServer();
    this.#http.on('request', (req, res) => this.#onRequest(req, res));
    this.#http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.#onUpgrade(req, socket, head).catch((err: Error) => {
        socket.destroy();
        this.#reportBug(err);
      });
    });
    this.#http.on('clientError', (err: Error, socket: Duplex) => this.#onClientError(err, socket));
    const rawSubprotocols = settings.rawSubprotocols;
    const options: ServerOptions & { closeTimeout: number } = {
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: settings.maxPayload,
      skipUTF8Validation: true,
      closeTimeout: CLOSE_TIMEOUT_MS,
      WebSocket: serverWebSocketClass(rawSubprotocols),
      // A raw-mode subprotocol wins, so that a client offering several gets raw.
      handleProtocols: (offered) => {
        for (const p of offered) if (rawSubprotocols.has(p)) return p;
        for (const p of offered) return p;
        return false;
      },
    };
    this.#wss = new WebSocketServer(options);
    inner.on('connection', (fd) => this.#onConnection(fd));
    inner.on('error', (err) => this.emit('error', err));
    inner.on('handshakeError', (err) => this.emit('handshakeError', err));
  }

  stats(): WsListenerStats {
    return { ...this.#counters };
  }

  address(): BoundAddress {
    return this.#inner.address();
  }

  async close(): Promise<void> {
    this.#closing = true;
    // Half-upgraded clients belong to no one yet: the listener owns them.
    for (const fd of [...this.#pending.keys()]) fd.destroy();
    this.#wss.close();
    await this.#inner.close();
  }

  #onConnection(fd: StreamFD): void {
    if (this.#closing) {
      fd.destroy();
      return;
    }
    const entry: Pending = {
      timer: setTimeout(() => this.#onHandshakeTimeout(fd), this.#handshakeTimeoutMs),
      // node:http listens for errors only while it parses; the gaps are ours.
      onError: () => fd.destroy(),
      servedHttp: false,
      upgrading: false,
      answered: false,
    };
    this.#pending.set(fd, entry);
    fd.on('error', entry.onError);
    fd.once('close', () => this.#settle(fd));
    this.#http.emit('connection', fd);
    // Inner listeners hand streams over paused (nothing is read before an owner exists).
    fd.resume();
  }

  /** The stream leaves the listener's care (accepted, failed or gone). */
  #settle(fd: Duplex): boolean {
    const entry = this.#pending.get(fd);
    if (entry === undefined) return false;
    this.#pending.delete(fd);
    clearTimeout(entry.timer);
    fd.off('error', entry.onError);
    return true;
  }

  #onHandshakeTimeout(fd: StreamFD): void {
    const entry = this.#pending.get(fd);
    if (entry === undefined) return;
    this.#settle(fd);
    fd.destroy();
    // An idle keep-alive HTTP client, or one that does not read our refusal, is
    // closed, not counted again.
    if (entry.answered || (entry.servedHttp && !entry.upgrading)) return;
    this.#counters.handshakeTimeouts++;
    this.emit(
      'handshakeError',
      new VproxyError(
        'ERR_HANDSHAKE_TIMEOUT',
        `${this.kind} upgrade from ${describePeer(fd)} timed out after ${this.#handshakeTimeoutMs} ms`,
      ),
    );
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    this.#counters.httpRequests++;
    const entry = this.#pending.get(req.socket);
    if (entry) entry.servedHttp = true;
    try {
      this.httpHandler(req, res);
    } catch (err) {
      if (!res.headersSent) res.writeHead(500, { Connection: 'close' });
      res.end();
      this.#reportBug(err);
    }
  }

  #onClientError(err: Error & { code?: string }, socket: Duplex): void {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    this.#counters.notHttp++;
    writeRefusal(socket, { status: err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400 });
    this.#answered(
      socket,
      `not an HTTP request from ${describePeer(socket as StreamFD)}: ${err.message}`,
    );
  }

  async #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const entry = this.#pending.get(socket);
    if (entry === undefined) {
      socket.destroy();
      return;
    }
    entry.upgrading = true;
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    const mode: WsMode = offered.some((p) => this.#settings.rawSubprotocols.has(p))
      ? 'raw'
      : 'framed';
    let refusal: HttpRefusal | undefined;
    const path = (req.url ?? '/').split('?')[0];
    if (this.#settings.path !== '' && path !== this.#settings.path) {
      refusal = { status: 404 };
    } else if (mode === 'raw' && !rawTakeover.available) {
      // Raw mode cannot take the socket over from this ws (the layer logged why): say so.
      refusal = { status: 501 };
    } else if (this.upgradeHook !== null) {
      try {
        refusal = await this.upgradeHook(req, {
          mode,
          earlyBytes: head.length + socket.readableLength,
        });
      } catch (err) {
        refusal = { status: 500 };
        this.#reportBug(err);
      }
    }
    if (socket.destroyed || !this.#pending.has(socket)) return;
    const peer = describePeer(socket as StreamFD);
    if (refusal !== undefined) {
      this.#counters.refused++;
      writeRefusal(socket, refusal);
      this.#answered(socket, `${this.kind} upgrade from ${peer} refused with ${refusal.status}`);
      return;
    }
    let upgraded: TakeoverWebSocket | null = null;
    // Synchronous unless verifyClient is set (it is not): a refusal is known on return.
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      upgraded = ws as TakeoverWebSocket;
    });
    const ws = upgraded as TakeoverWebSocket | null;
    if (ws === null) {
      this.#counters.badHandshakes++;
      this.#answered(socket, `bad websocket upgrade from ${peer}: ${describeUpgrade(req)}`);
    } else if (ws.taken === null) {
      this.#settle(socket);
      this.#counters.framedAccepted++;
      this.emit(
        'connection',
        new WsFramedStream(ws, socket as StreamFD, this.kind, this.#settings, this.#framedHooks),
      );
    } else {
      this.#acceptRaw(ws.protocol, socket as StreamFD, ws.taken.head);
    }
  }

  #acceptRaw(protocol: string, socket: StreamFD, head: Buffer): void {
    // Our own clients get our header at once (no round trip); WebSocks clients
    // (spec §3.5) get it only after theirs, as the original server does.
    const early = protocol === RAW_SUBPROTOCOL;
    if (early) socket.write(MAX_LENGTH_FRAME);
    readRawHeader(socket, head, true).then(
      () => {
        if (socket.destroyed || !this.#settle(socket)) return;
        if (!early) socket.write(MAX_LENGTH_FRAME);
        this.#counters.rawAccepted++;
        this.emit('connection', adoptRawStream(socket, this.kind));
      },
      (err: Error) => {
        if (!this.#settle(socket)) return;
        socket.destroy();
        this.#counters.badHandshakes++;
        this.emit('handshakeError', err);
      },
    );
  }

  /**
   * An application hook threw: the client got a 500; the listener keeps
   * running. Reported as 'error' only to someone listening (a throwing hook
   * must not take the whole process down).
   */
  #reportBug(err: unknown): void {
    if (this.listenerCount('error') > 0) {
      this.emit('error', err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** A refusal went out on `socket`: report it once; the socket stays pending until it closes. */
  #answered(socket: Duplex, message: string): void {
    const entry = this.#pending.get(socket);
    if (entry) entry.answered = true;
    this.emit('handshakeError', new WsError('ERR_WS_HANDSHAKE', message));
  }
}

function describeUpgrade(req: IncomingMessage): string {
  const h = req.headers;
  const key = h['sec-websocket-key'] === undefined ? 'missing' : 'present';
  return `${req.method} ${req.url} (Upgrade: ${h.upgrade ?? '-'}, Sec-WebSocket-Version: ${h['sec-websocket-version'] ?? '-'}, Sec-WebSocket-Key ${key})`;
}
