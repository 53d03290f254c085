import { type Address, formatAddress, formatHostPort, toAddress } from '../fd/address.js';
import type { Registry } from '../fd/registry.js';
import type { BoundAddress } from '../fd/server-fd.js';
import { encodeProxyHeader } from '../protocols/proxy-protocol/encode.js';
import { proxyHeaderFor, readProxyHeader } from '../protocols/proxy-protocol/read-header.js';
import type { ClientHandshake } from '../proxy/admission.js';
import type { PickContext } from '../proxy/backend-picker.js';
import { ProxyEngine, type ProxyStats } from '../proxy/proxy.js';
import type { SessionInfo } from '../proxy/session.js';
import { ServerPicker } from './picker.js';
import { SecurityGroup } from './security-group.js';
import type { Upstream } from './upstream.js';

export type ProxyProtocolVersion = 1 | 2;

/** Settings that `update tcp-lb` may change while the LB runs (they apply to new sessions). */
export interface TcpLbSettings {
  readonly idleTimeoutMs: number;
  readonly inBufferSize: number;
  readonly outBufferSize: number;
  readonly securityGroup: SecurityGroup;
}

export interface TcpLbOptions extends Partial<TcpLbSettings> {
  readonly name: string;
  /** Where to listen: any stream scheme (`tcp://`, `tls://…?cert=…`, `kcp://`, `ws://`…). */
  readonly address: string | Address;
  readonly upstream: Upstream;
  readonly registry: Registry;
  readonly connectTimeoutMs?: number;
  /** Expect a PROXY protocol header (v1 or v2) from a front proxy on every connection. */
  readonly acceptProxyProtocol?: boolean;
  /** Send a PROXY protocol header of this version to every backend (HAProxy `send-proxy`). */
  readonly sendProxyProtocol?: ProxyProtocolVersion;
}

const DEFAULTS = { idleTimeoutMs: 900_000, inBufferSize: 16_384, outBufferSize: 16_384 };

/**
 * A TCP load balancer: a listener on any transport, a security group checked at
 * accept time, an upstream that picks the backend (on any transport), and the
 * proxy engine in between. Optional PROXY protocol in and out.
 */
export class TcpLB {
  readonly name: string;
  readonly address: Address;
  readonly upstream: Upstream;
  readonly acceptProxyProtocol: boolean;
  readonly sendProxyProtocol: ProxyProtocolVersion | undefined;
  readonly #engine: ProxyEngine;
  /** Shared with the accept handshake, so `update` takes effect on the next client. */
  readonly #access: { group: SecurityGroup };

  private constructor(
    options: TcpLbOptions,
    address: Address,
    engine: ProxyEngine,
    access: { group: SecurityGroup },
  ) {
    this.name = options.name;
    this.address = address;
    this.upstream = options.upstream;
    this.acceptProxyProtocol = options.acceptProxyProtocol ?? false;
    this.sendProxyProtocol = options.sendProxyProtocol;
    this.#engine = engine;
    this.#access = access;
  }

  static async start(options: TcpLbOptions): Promise<TcpLB> {
    const address = toAddress(options.address);
    const server = await options.registry.listen(address);
    const listenPort = server.address().port;
    const access = { group: options.securityGroup ?? SecurityGroup.allowAll() };
    // The security group judges the real client: the one a PROXY header names, if any.
    const handshake: ClientHandshake = async (client) => {
      const source = options.acceptProxyProtocol
        ? (await readProxyHeader(client)).source
        : undefined;
      if (!access.group.allows(source?.host ?? client.remoteAddress, 'tcp', listenPort))
        return null;
      return source === undefined ? {} : { source };
    };
    const version = options.sendProxyProtocol;
    const engine = new ProxyEngine({
      server,
      registry: options.registry,
      picker: new ServerPicker(options.upstream),
      handshake,
      idleTimeoutMs: options.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs,
      inBufferSize: options.inBufferSize ?? DEFAULTS.inBufferSize,
      outBufferSize: options.outBufferSize ?? DEFAULTS.outBufferSize,
      ...(options.connectTimeoutMs === undefined
        ? {}
        : { connectTimeoutMs: options.connectTimeoutMs }),
      ...(version === undefined
        ? {}
        : { backendPreamble: (ctx: PickContext) => preamble(version, ctx) }),
    });
    return new TcpLB(options, address, engine, access);
  }

  get securityGroup(): SecurityGroup {
    return this.#access.group;
  }

  settings(): TcpLbSettings {
    return { ...this.#engine.limits(), securityGroup: this.#access.group };
  }

  update(settings: Partial<TcpLbSettings>): void {
    const { securityGroup, ...limits } = settings;
    if (securityGroup) this.#access.group = securityGroup;
    this.#engine.updateLimits(limits);
  }

  /** The bound address (the port is real when the LB was asked for port 0). */
  bound(): BoundAddress {
    return this.#engine.server.address();
  }

  /** `ip:port` of the listener, as inspection commands name it. */
  serverSockId(): string {
    const b = this.bound();
    return formatHostPort(b.host, b.port);
  }

  stats(): ProxyStats {
    return this.#engine.stats();
  }

  sessions(): SessionInfo[] {
    return this.#engine.sessions();
  }

  kill(id: number): boolean {
    return this.#engine.kill(id);
  }

  describe(): string {
    const s = this.settings();
    return (
      `${this.name} -> bind ${formatAddress(this.address)} backends ${this.upstream.name}` +
      ` timeout ${s.idleTimeoutMs} in-buffer-size ${s.inBufferSize} out-buffer-size ${s.outBufferSize}` +
      ` security-group ${s.securityGroup.name}`
    );
  }

  async close(): Promise<void> {
    await this.#engine.close();
  }
}

function preamble(version: ProxyProtocolVersion, ctx: PickContext): Buffer {
  const source = ctx.admission.source;
  const init = proxyHeaderFor(ctx.client);
  return encodeProxyHeader(
    version,
    source === undefined || init.destination === undefined ? init : { ...init, source },
  );
}
