import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContext } from 'node:tls';
import { type Address, formatHostPort, parseAddress } from '../../fd/address.js';
import { VproxyError } from '../../fd/errors.js';
import { type Logger, quietLogger, rateLimited } from '../../fd/logger.js';
import { Registry } from '../../fd/registry.js';
import type { ServerFD } from '../../fd/server-fd.js';
import type { Transport } from '../../fd/transport.js';
import { Socks5Server } from '../../lb/socks5-server.js';
import { Upstream } from '../../lb/upstream.js';
import type { RequestHead } from '../../protocols/http-proxy/request-head.js';
import { ReplayCache } from '../../protocols/websocks/replay-cache.js';
import { checkUpgradeRequest } from '../../protocols/websocks/server-check.js';
import { isUdpTunnelTarget } from '../../protocols/websocks/udp-tunnel.js';
import { buildSwitchingProtocols } from '../../protocols/websocks/upgrade-response.js';
import { watchFiles } from './file-watch.js';
import { type FramedAdopter, frontDoor } from './front-door.js';
import { httpDate } from './nginx-pages.js';
import { RedirectSite } from './redirect-site.js';
import { pathOf, StaticSite } from './static-site.js';
import { guardedTcp } from './target-guard.js';
import { UdpTunnelEndpoint } from './udp-endpoint.js';
import { UsersSource } from './users-source.js';
import {
  type DoorListener,
  type WebsocksDoorStats,
  WebsocksServerFD,
} from './websocks-listener.js';

export interface WebsocksServerOptions {
  /** `ws://host:port`, `wss://host:port`, or a bare port (ws://0.0.0.0:port; wss with a cert). */
  readonly listen: string;
  /** `user:pass,…` */
  readonly auth?: string;
  readonly usersFile?: string;
  readonly webroot?: string;
  /** PEM certificate chain and key files: TLS on every listener, reloaded when they change. */
  readonly cert?: string;
  readonly key?: string;
  /** A plain-HTTP port answering 301 to https on the main port. */
  readonly redirectPort?: number;
  /** Also listen kcp:// (fast4, mux streams) on the same port over UDP. */
  readonly kcp?: boolean;
  /** The secret tunnel path: upgrades for other paths get the web site. */
  readonly pathPrefix?: string;
  /** Let users reach this host's loopback, link-local and own addresses. */
  readonly allowLoopback?: boolean;
  /**
   * Uses of one Authorization header within its window (default 512). The
   * reference hash depends only on user, password and minute, so every
   * connection a reference agent opens in a minute sends the same header: a
   * budget of 1 would refuse its whole pool. The price: a captured header can
   * open up to this many connections within its three minutes (TLS keeps it
   * from being captured).
   */
  readonly replayBudget?: number;
  /**
   * Framed mode (standard masked WebSocket frames after the 101, for gateways
   * that parse frames): the app supplies the framing (the ws transport's); absent,
   * framed clients are closed.
   */
  readonly framed?: FramedAdopter;
  /** The registry for listening and for reaching targets (createDefaultRegistry). */
  readonly registry: Registry;
  readonly logger?: Logger;
  /** How often the users file and certificate files are checked (default 1 s). */
  readonly reloadIntervalMs?: number;
  readonly handshakeTimeoutMs?: number;
  readonly poolIdleTimeoutMs?: number;
  readonly idleTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
}

/** One line per listener at start. */
export interface ListenerLine {
  readonly role: 'websocks' | 'redirect';
  readonly address: string;
}

function invalid(message: string): VproxyError {
  return new VproxyError('ERR_OPTION_INVALID', message);
}

/** The main listen address, parsed: host, port, TLS or not, and a path from the URL. */
export function parseListen(
  text: string,
  hasCert: boolean,
): { host: string; port: number; tls: boolean; path: string } {
  if (/^[0-9]{1,5}$/.test(text)) {
    const port = Number(text);
    if (port < 1 || port > 65_535) throw invalid(`--listen ${text}: port out of range`);
    return { host: '0.0.0.0', port, tls: hasCert, path: '' };
  }
  const a: Address = parseAddress(text);
  if (a.scheme !== 'ws' && a.scheme !== 'wss') {
    throw invalid(`--listen ${text}: want ws://host:port, wss://host:port or a port`);
  }
  const tls = a.scheme === 'wss';
  if (tls && !hasCert) throw invalid(`--listen ${text}: wss:// needs --cert and --key`);
  if (!tls && hasCert) throw invalid(`--listen ${text}: --cert/--key given: listen on wss://`);
  return { host: a.host, port: a.port, tls, path: a.path };
}

/** A certificate that follows its files: a failed reload keeps the last good one. */
class CertSource {
  #context: SecureContext;
  readonly #stop: () => void;

  constructor(cert: string, key: string, intervalMs: number, log: Logger) {
    this.#context = CertSource.#load(cert, key);
    this.#stop = watchFiles([cert, key], intervalMs, () => {
      try {
        this.#context = CertSource.#load(cert, key);
        log.info('websocks-cert-reloaded', { cert });
      } catch (err) {
        log.warn('websocks-cert-reload-failed', {
          cert,
          error: err instanceof Error ? err.message : String(err),
        });
      }
    });
  }

  static #load(cert: string, key: string): SecureContext {
    // TLS 1.2 and up (the reference was 1.2 only); http/1.1 is set per socket.
    return createSecureContext({
      cert: readFileSync(cert),
      key: readFileSync(key),
      minVersion: 'TLSv1.2',
    });
  }

  get current(): SecureContext {
    return this.#context;
  }

  close(): void {
    this.#stop();
  }
}

/**
 * `vproxy websocks-server`: the door (web site, WebSocks handshake, 10-byte
 * frame) on every listener, and behind it a Socks5Server — the same
 * handshake, reply codes and proxy engine as the daemon's socks5-server —
 * whose targets are any address but this host's own (unless allowLoopback).
 */
export class WebsocksServer {
  readonly socks: Socks5Server;
  /** The socks5 stage's upstream (empty: every target is direct). */
  readonly upstream: Upstream;
  readonly door: WebsocksServerFD;
  readonly lines: readonly ListenerLine[];
  readonly #closers: (() => Promise<void> | void)[];

  private constructor(
    socks: Socks5Server,
    upstream: Upstream,
    door: WebsocksServerFD,
    lines: ListenerLine[],
    closers: (() => Promise<void> | void)[],
  ) {
    this.socks = socks;
    this.upstream = upstream;
    this.door = door;
    this.lines = lines;
    this.#closers = closers;
  }

  static async start(options: WebsocksServerOptions): Promise<WebsocksServer> {
    const log = options.logger ?? quietLogger;
    if ((options.cert === undefined) !== (options.key === undefined)) {
      throw invalid('--cert and --key go together');
    }
    const listen = parseListen(options.listen, options.cert !== undefined);
    if (options.redirectPort !== undefined) {
      if (!listen.tls) throw invalid('--redirect-port redirects to HTTPS: it needs --cert/--key');
      if (options.redirectPort !== 0 && options.redirectPort === listen.port) {
        throw invalid('--redirect-port must differ from the listen port');
      }
    }
    const prefix = options.pathPrefix ?? (listen.path === '' ? undefined : listen.path);
    if (prefix !== undefined && !/^\/[\x21-\x7e]*$/.test(prefix)) {
      throw invalid(
        `--path-prefix ${JSON.stringify(prefix)}: must start with / and be visible ASCII`,
      );
    }
    const users = new UsersSource(options.auth, options.usersFile, log);
    if (users.users.size === 0) throw invalid('no users: give --auth or a --users-file with users');
    const interval = options.reloadIntervalMs ?? 1000;
    const closers: (() => Promise<void> | void)[] = [() => users.close()];
    const cert =
      options.cert !== undefined && options.key !== undefined
        ? new CertSource(options.cert, options.key, interval, log)
        : null;
    if (cert !== null) closers.push(() => cert.close());
    const registry = options.registry;
    const site = new StaticSite(options.webroot === undefined ? {} : { root: options.webroot });
    const replay = new ReplayCache({ maxUses: options.replayBudget ?? 512 });
    const accept = (head: RequestHead, leftover: number): Buffer => {
      const now = Date.now();
      const path = pathOf(head.target) ?? '';
      const inPrefix =
        prefix !== undefined &&
        (path === prefix || path.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`));
      const accepted = checkUpgradeRequest(head, leftover, {
        users: users.users,
        nowMs: now,
        replay,
        // Matching the prefix, the request's own path passes the codec's exact check.
        ...(prefix === undefined ? {} : { path: inPrefix ? head.target.split('?')[0] : prefix }),
      });
      if (log.enabled('debug')) log.debug('websocks-accepted', { user: accepted.user });
      return buildSwitchingProtocols({ key: accepted.key, server: 'nginx', date: httpDate(now) });
    };
    const inners: DoorListener[] = [];
    const tlsOf = cert === null ? null : () => cert.current;
    const lines: ListenerLine[] = [];
    const openServers: ServerFD[] = [];
    try {
      const tcp = await registry.listen(`tcp://${formatHostPort(listen.host, listen.port)}`);
      openServers.push(tcp);
      inners.push({ server: tcp, tls: tlsOf });
      const port = tcp.address().port;
      lines.push({
        role: 'websocks',
        address: `${listen.tls ? 'wss' : 'ws'}://${formatHostPort(listen.host, port)}${prefix ?? '/'}`,
      });
      if (options.kcp === true) {
        const kcp = await registry.listen(`kcp://${formatHostPort(listen.host, port)}?mode=fast4`);
        openServers.push(kcp);
        inners.push({ server: kcp, tls: tlsOf });
        lines.push({
          role: 'websocks',
          address: `${listen.tls ? 'websockss' : 'websocks'}:kcp://${formatHostPort(listen.host, port)}`,
        });
      }
      if (options.redirectPort !== undefined) {
        const red = await registry.listen(
          `tcp://${formatHostPort(listen.host, options.redirectPort)}`,
        );
        openServers.push(red);
        serveRedirects(red, new RedirectSite(port, listen.host), log);
        closers.push(() => red.close());
        lines.push({
          role: 'redirect',
          address: `http://${formatHostPort(listen.host, red.address().port)}`,
        });
      }
    } catch (err) {
      await Promise.all(openServers.map((s) => s.close().catch(() => {})));
      for (const c of closers) await c();
      throw err;
    }
    const door = new WebsocksServerFD({
      listeners: inners,
      site,
      accept,
      ...(options.framed === undefined ? {} : { framed: options.framed }),
      // A prober may refuse itself thousands of times a second: 20 lines a second per
      // event, then one 'log-suppressed' line with the count.
      log: rateLimited(log, { perWindow: 20 }),
      ...(options.handshakeTimeoutMs === undefined
        ? {}
        : { handshakeTimeoutMs: options.handshakeTimeoutMs }),
      ...(options.poolIdleTimeoutMs === undefined
        ? {}
        : { poolIdleTimeoutMs: options.poolIdleTimeoutMs }),
    });
    const socksRegistry = new Registry()
      .registerTransport(
        options.allowLoopback === true ? passThroughTcp(registry) : guardedTcp(registry),
      )
      .registerTransport(doorTransport(door));
    const upstream = new Upstream('websocks');
    const socks = await Socks5Server.start({
      name: 'websocks-server',
      address: {
        scheme: 'websocks',
        host: listen.host,
        port: door.address().port,
        path: '',
        options: {},
      },
      upstream,
      registry: socksRegistry,
      allowNonBackend: true,
      replyPrefix: (client) => door.takeOwedFrame(client),
      logger: log,
      // The SOCKS5 stage (after the frame) is bounded like the door's handshake.
      ...(options.handshakeTimeoutMs === undefined
        ? {}
        : { handshakeTimeoutMs: options.handshakeTimeoutMs }),
      ...(options.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: options.idleTimeoutMs }),
      ...(options.connectTimeoutMs === undefined
        ? {}
        : { connectTimeoutMs: options.connectTimeoutMs }),
    });
    users.watch(interval);
    return new WebsocksServer(socks, upstream, door, lines, closers);
  }

  stats(): WebsocksDoorStats {
    return this.door.stats();
  }

  async close(): Promise<void> {
    await this.socks.close();
    for (const c of this.#closers) await c();
  }
}

/** The redirect port: every connection through a door that accepts no upgrade. */
function serveRedirects(server: ServerFD, site: RedirectSite, log: Logger): void {
  const context = { tls: false, authority: 'localhost' };
  server.on('connection', (fd) => {
    void frontDoor(fd, {
      site,
      context,
      accept: null,
      headerTimeoutMs: 10_000,
      poolIdleTimeoutMs: 0,
      log,
      onRefused: () => {},
    });
  });
  server.on('error', (err) => log.error('websocks-redirect-error', { error: err.message }));
}

function passThroughTcp(inner: Registry): Transport {
  return {
    scheme: 'tcp',
    options: [],
    connect: async (address, options) =>
      isUdpTunnelTarget(address.host, address.port)
        ? new UdpTunnelEndpoint()
        : inner.connect({ ...address }, options),
    listen: () => Promise.reject(new VproxyError('ERR_NOT_SUPPORTED', 'targets only')),
  };
}

/** Hands the door to Socks5Server as the ServerFD of the `websocks` scheme. */
function doorTransport(door: WebsocksServerFD): Transport {
  return {
    scheme: 'websocks',
    options: [],
    connect: () => Promise.reject(new VproxyError('ERR_NOT_SUPPORTED', 'websocks: listen only')),
    listen: async () => door,
  };
}
