import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { formatHostPort } from '../fd/address.js';
import { type Logger, quietLogger } from '../fd/logger.js';
import type { ServerFD } from '../fd/server-fd.js';
import { LbListener } from '../lb/lb-listener.js';
import { SecurityGroup } from '../lb/security-group.js';
import type { UdpAssociations } from '../lb/socks5-front.js';
import { generatePac } from '../protocols/pac/generate.js';
import { AgentConfigError } from '../protocols/websocks/errors.js';
import type { ClientHandshake } from '../proxy/admission.js';
import type { PickContext } from '../proxy/backend-picker.js';
import { ProxyEngine, type ProxyStats } from '../proxy/proxy.js';
import { httpFront, socksFront } from './agent-frontends.js';
import { AgentRouting, type AgentRoutingOptions } from './agent-routing.js';
import { SsServerFD, ssFront } from './agent-ss.js';
import { AgentUdpTunnels } from './agent-udp.js';
import type { SsMethod } from './ss-cipher.js';

export interface WebsocksAgentOptions extends AgentRoutingOptions {
  /**
   * Front-end users (SOCKS5 RFC 1929 and HTTP Proxy-Authorization Basic).
   * Required in gateway mode: a LAN-facing open proxy is refused.
   */
  readonly users?: ReadonlyMap<string, string> | null;
  /** Where the listeners bind; default 127.0.0.1, or 0.0.0.0 in gateway mode. */
  readonly bindHost?: string;
  readonly handshakeTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
  readonly idleTimeoutMs?: number;
  /** A failed tunnel is retried on another server of its group this many times (default 2). */
  readonly retries?: number;
  /** The Shadowsocks front end's cipher (default aes-256-cfb, the reference's, for old clients). */
  readonly ssMethod?: SsMethod;
}

/** One listener the agent opened: what it is and where. */
export interface AgentListener {
  readonly kind: 'socks5' | 'http' | 'shadowsocks' | 'pac';
  readonly host: string;
  readonly port: number;
}

/**
 * The WebSocks agent: SOCKS5, HTTP (CONNECT and absolute-URI forwarding) and
 * PAC front ends over one AgentRouting. The data front ends are ProxyEngines
 * like any listener of the project (handshake deadline, backpressure,
 * half-close, idle timeout, retries on another server); only the handshake
 * and the picker are the agent's.
 */
export class WebsocksAgent {
  readonly routing: AgentRouting;
  readonly listeners: AgentListener[] = [];
  /** The data front ends (socks5, http, shadowsocks) as listeners the control plane can list. */
  readonly fronts: LbListener[] = [];
  readonly #associations: UdpAssociations[] = [];
  #pac: HttpServer | null = null;
  readonly #log: Logger;

  private constructor(routing: AgentRouting, log: Logger) {
    this.routing = routing;
    this.#log = log;
  }

  static async start(options: WebsocksAgentOptions): Promise<WebsocksAgent> {
    const { config } = options;
    const log = options.logger ?? quietLogger;
    const users = options.users ?? null;
    if (config.gateway && (users === null || users.size === 0)) {
      throw new AgentConfigError(
        0,
        'agent.gateway on exposes the proxy to the network: give front-end users (--users user:pass or "agent.users" in the JSON form)',
      );
    }
    const routing = new AgentRouting(options);
    const agent = new WebsocksAgent(routing, log);
    try {
      await agent.#open(options, users);
    } catch (err) {
      await agent.close();
      throw err;
    }
    return agent;
  }

  async #open(
    options: WebsocksAgentOptions,
    users: ReadonlyMap<string, string> | null,
  ): Promise<void> {
    const { config, registry } = options;
    const host = options.bindHost ?? (config.gateway ? '0.0.0.0' : '127.0.0.1');
    const handshakeTimeoutMs = options.handshakeTimeoutMs ?? 10_000;
    const socks = socksFront({
      registry,
      users,
      udpTunnels: () => new AgentUdpTunnels(this.routing, registry, this.#log),
      handshakeTimeoutMs,
      logger: this.#log,
    });
    this.#associations.push(socks.associations);
    // agent.early-reply: proxied CONNECTs answered once the request is on the tunnel.
    const early = (h: ClientHandshake): ClientHandshake =>
      this.routing.earlyReplies?.handshake(h) ?? h;
    const socksPort = await this.#engine(options, 'socks5', host, config.socksListen, {
      handshake: early(socks.handshake),
      handshakeTimeoutMs: handshakeTimeoutMs + 1_000,
    });
    let httpPort: number | null = null;
    if (config.httpConnectListen !== null) {
      const http = httpFront({ users, logger: this.#log });
      httpPort = await this.#engine(options, 'http', host, config.httpConnectListen, {
        handshake: early(http.handshake),
        handshakeTimeoutMs,
        backendPreamble: http.preamble,
      });
    }
    if (config.ssListen !== null && config.ssPassword !== null) {
      const method = options.ssMethod ?? 'aes-256-cfb';
      const password = config.ssPassword;
      await this.#engine(options, 'shadowsocks', host, config.ssListen, {
        handshake: ssFront(this.#log),
        handshakeTimeoutMs,
        wrap: (inner) => new SsServerFD(inner, method, password),
      });
    }
    if (config.pacAddress !== null) {
      await this.#startPac(host, config.pacAddress, socksPort, httpPort);
    }
  }

  async #engine(
    options: WebsocksAgentOptions,
    kind: 'socks5' | 'http' | 'shadowsocks',
    host: string,
    port: number,
    front: {
      handshake: ClientHandshake;
      handshakeTimeoutMs: number;
      backendPreamble?: (ctx: PickContext) => Buffer | null;
      wrap?: (inner: ServerFD) => ServerFD;
    },
  ): Promise<number> {
    const listener = await options.registry.listen({
      scheme: 'tcp',
      host,
      port,
      path: '',
      options: {},
    });
    const server = front.wrap ? front.wrap(listener) : listener;
    const engine = new ProxyEngine({
      server,
      registry: options.registry,
      picker: this.routing.picker,
      handshake: front.handshake,
      handshakeTimeoutMs: front.handshakeTimeoutMs,
      ...(front.backendPreamble ? { backendPreamble: front.backendPreamble } : {}),
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      idleTimeoutMs: options.idleTimeoutMs ?? 900_000,
      retries: options.retries ?? 2,
      name: `websocks-agent-${kind}`,
      logger: this.#log,
    });
    const bound = server.address();
    this.fronts.push(new FrontListener(`agent-${kind}`, listener.address(), this.routing, engine));
    this.listeners.push({ kind, host: bound.host, port: bound.port });
    return bound.port;
  }

  async #startPac(
    host: string,
    pac: { readonly host: string | null; readonly port: number },
    socksPort: number,
    httpPort: number | null,
  ): Promise<void> {
    const body = (local: string): string => {
      const ip = pac.host ?? (local.startsWith('::ffff:') ? local.slice(7) : local);
      return generatePac(this.routing.router, {
        socks: { host: ip, port: socksPort },
        http: httpPort === null ? null : { host: ip, port: httpPort },
      });
    };
    const server = createServer((req, res) => {
      // Any GET gets the file (the reference ignored the path); nothing else is served.
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { Allow: 'GET', Connection: 'close' }).end();
        return;
      }
      const text = body(req.socket.localAddress ?? '127.0.0.1');
      res.writeHead(200, {
        'Content-Type': 'application/x-ns-proxy-autoconfig',
        'Content-Length': Buffer.byteLength(text),
        Connection: 'close',
      });
      res.end(req.method === 'HEAD' ? undefined : text);
    });
    // Every listener defends itself: a silent or slow client is dropped.
    server.headersTimeout = 10_000;
    server.requestTimeout = 10_000;
    server.keepAliveTimeout = 1_000;
    server.maxHeadersCount = 100;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(pac.port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#pac = server;
    const bound = server.address() as AddressInfo;
    this.listeners.push({ kind: 'pac', host: bound.address, port: bound.port });
  }

  /** `kind host:port` per listener, for the start-up lines. */
  describeListeners(): string[] {
    return this.listeners.map((l) => `${l.kind} ${formatHostPort(l.host, l.port)}`);
  }

  /** The front ends' engine statistics (socks5 first, then http). */
  stats(): ProxyStats[] {
    return this.fronts.map((f) => f.stats());
  }

  async close(): Promise<void> {
    const pac = this.#pac;
    this.#pac = null;
    await Promise.all([
      ...this.fronts.map((f) => f.close()),
      ...this.#associations.map((a) => a.close()),
      pac === null
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            pac.close(() => resolve());
            pac.closeAllConnections();
          }),
    ]);
    await this.routing.close();
  }
}

/**
 * One data front end as an LbListener (the engine and the agent's upstream),
 * so the controllers' store lists it like a daemon listener: the status page
 * shows its sessions and bytes, `/metrics` its counters.
 */
class FrontListener extends LbListener {
  constructor(
    name: string,
    bound: { host: string; port: number },
    routing: AgentRouting,
    engine: ProxyEngine,
  ) {
    super(
      name,
      { scheme: 'tcp', host: bound.host, port: bound.port, path: '', options: {} },
      routing.upstream,
      engine,
      { group: SecurityGroup.allowAll() },
    );
  }
}
