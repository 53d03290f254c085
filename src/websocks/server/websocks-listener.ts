import { EventEmitter } from 'node:events';
import { type SecureContext, TLSSocket } from 'node:tls';
import type { Logger } from '../../fd/logger.js';
import type { BoundAddress, ServerFD, ServerFDEvents } from '../../fd/server-fd.js';
import { brandStreamFD, describePeer, type StreamFD } from '../../fd/stream-fd.js';
import type { RequestHead } from '../../protocols/http-proxy/request-head.js';
import { maxLengthFrame } from '../../protocols/websocks/constants.js';
import type { WebsocksCheck, WebsocksError } from '../../protocols/websocks/errors.js';
import { type FramedAdopter, frontDoor, type WebSite } from './front-door.js';

/** One port the server accepts on: a stream listener, and whether TLS runs over its streams. */
export interface DoorListener {
  readonly server: ServerFD;
  /** The current certificate (hot reload: read afresh for every connection); null: plain. */
  readonly tls: (() => SecureContext) | null;
}

export interface WebsocksListenerOptions {
  readonly listeners: readonly DoorListener[];
  readonly site: WebSite;
  /** Throws a WebsocksError, or returns the 101 (see FrontDoorOptions.accept). */
  readonly accept: (head: RequestHead, leftover: number) => Buffer;
  /** Framed-mode clients (see FrontDoorOptions.framed); absent: closed. */
  readonly framed?: FramedAdopter;
  readonly log: Logger;
  /** TLS handshake, and each request head, within this long (default 10 s). */
  readonly handshakeTimeoutMs?: number;
  /** A pooled connection between its 101 and its frame header may idle this long between PONGs (default 15 min). */
  readonly poolIdleTimeoutMs?: number;
  /** Connections at the door (not yet tunnels) at most; past it the oldest goes (default 4,096). */
  readonly maxAtDoor?: number;
}

/** What the door has seen. */
export interface WebsocksDoorStats {
  readonly tunnels: number;
  /** Connections that ended as web clients (browsers, probers, refused upgrades). */
  readonly webConnections: number;
  readonly tlsFailures: number;
  readonly dropped: number;
  /** Refused upgrades by the §3.3 check that refused them. */
  readonly refused: Readonly<Partial<Record<WebsocksCheck, number>>>;
}

/**
 * The ServerFD a Socks5Server proxies from: it accepts on every inner
 * listener (tcp, kcp, …), runs TLS where configured, answers the web at the
 * door and emits only streams that passed the WebSocks handshake and the
 * 10-byte frame exchange, positioned at the start of the SOCKS5 stage.
 */
export class WebsocksServerFD extends EventEmitter<ServerFDEvents> implements ServerFD {
  readonly kind = 'websocks';
  readonly #options: WebsocksListenerOptions;
  readonly #atDoor = new Set<StreamFD>();
  readonly #refused: Partial<Record<WebsocksCheck, number>> = {};
  readonly #owedFrames = new WeakSet<StreamFD>();
  #tunnels = 0;
  #web = 0;
  #tlsFailures = 0;
  #dropped = 0;
  #closed = false;

  constructor(options: WebsocksListenerOptions) {
    super();
    this.#options = options;
    for (const l of options.listeners) {
      l.server.on('connection', (fd) => this.#onConnection(fd, l));
      l.server.on('error', (err) => this.emit('error', err));
      l.server.on('handshakeError', (err) => this.emit('handshakeError', err));
    }
  }

  stats(): WebsocksDoorStats {
    return {
      tunnels: this.#tunnels,
      webConnections: this.#web,
      tlsFailures: this.#tlsFailures,
      dropped: this.#dropped,
      refused: { ...this.#refused },
    };
  }

  /**
   * The 10-byte frame this tunnel is still owed (its client pipelined the
   * SOCKS5 stage), handed out once; null when it was sent already.
   */
  takeOwedFrame(tunnel: StreamFD): Buffer | null {
    return this.#owedFrames.delete(tunnel) ? maxLengthFrame() : null;
  }

  /** The first listener's address (the main port). */
  address(): BoundAddress {
    const first = this.#options.listeners[0];
    if (first === undefined) throw new Error('websocks listener without listeners');
    return first.server.address();
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const fd of [...this.#atDoor]) fd.destroy();
    await Promise.all(this.#options.listeners.map((l) => l.server.close()));
  }

  #onConnection(inner: StreamFD, listener: DoorListener): void {
    if (this.#closed) {
      inner.destroy();
      return;
    }
    const max = this.#options.maxAtDoor ?? 4096;
    if (this.#atDoor.size >= max) {
      const oldest = this.#atDoor.values().next().value;
      if (oldest !== undefined) {
        this.#dropped++;
        oldest.destroy();
        this.#atDoor.delete(oldest);
      }
    }
    this.#atDoor.add(inner);
    inner.once('close', () => this.#atDoor.delete(inner));
    void this.#handle(inner, listener);
  }

  async #handle(inner: StreamFD, listener: DoorListener): Promise<void> {
    const o = this.#options;
    const timeoutMs = o.handshakeTimeoutMs ?? 10_000;
    let fd = inner;
    if (listener.tls !== null) {
      const secured = await this.#secure(inner, listener.tls(), timeoutMs);
      if (secured === null) return;
      fd = secured;
    }
    const tunnel = await frontDoor(fd, {
      site: o.site,
      context: { tls: listener.tls !== null, authority: authorityOf(listener.server.address()) },
      accept: o.accept,
      ...(o.framed === undefined ? {} : { framed: o.framed }),
      headerTimeoutMs: timeoutMs,
      poolIdleTimeoutMs: o.poolIdleTimeoutMs ?? 900_000,
      log: o.log,
      owedFrames: this.#owedFrames,
      onRefused: (err: WebsocksError) => {
        this.#refused[err.check] = (this.#refused[err.check] ?? 0) + 1;
      },
    });
    if (tunnel === null) {
      this.#web++;
      return;
    }
    this.#atDoor.delete(inner);
    if (this.#closed) {
      tunnel.destroy();
      return;
    }
    this.#tunnels++;
    this.emit('connection', tunnel);
  }

  async #secure(
    inner: StreamFD,
    context: SecureContext,
    timeoutMs: number,
  ): Promise<StreamFD | null> {
    const socket = brandStreamFD(
      new TLSSocket(inner, { isServer: true, secureContext: context, ALPNProtocols: ['http/1.1'] }),
      `tls+${inner.kind}`,
    );
    const ok = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => done(false), timeoutMs);
      const done = (v: boolean) => {
        clearTimeout(timer);
        socket.off('secure', onSecure);
        socket.off('error', onFail);
        socket.off('close', onFail);
        resolve(v);
      };
      const onSecure = () => done(true);
      const onFail = () => done(false);
      socket.on('secure', onSecure);
      socket.on('error', onFail);
      socket.on('close', onFail);
    });
    if (ok) return socket;
    this.#tlsFailures++;
    if (this.#options.log.enabled('debug')) {
      this.#options.log.debug('websocks-tls-failed', { client: describePeer(inner) });
    }
    socket.on('error', () => {});
    socket.destroy();
    inner.destroy();
    return null;
  }
}

function authorityOf(bound: BoundAddress): string {
  const host = bound.host === '0.0.0.0' || bound.host === '::' ? 'localhost' : bound.host;
  return host.includes(':') ? `[${host}]:${bound.port}` : `${host}:${bound.port}`;
}
