import { type Address, formatAddress, formatHostPort, toAddress } from '../fd/address.js';
import { type Logger, quietLogger } from '../fd/logger.js';
import type { Registry } from '../fd/registry.js';
import { describePeer, type StreamFD } from '../fd/stream-fd.js';
import { encodeProxyHeader } from '../protocols/proxy-protocol/encode.js';
import { proxyHeaderFor, readProxyHeader } from '../protocols/proxy-protocol/read-header.js';
import type { ClientHandshake } from '../proxy/admission.js';
import type { PickContext } from '../proxy/backend-picker.js';
import { ProxyEngine } from '../proxy/proxy.js';
import {
  type Access,
  engineSettings,
  LbListener,
  type ListenerLogging,
  type ListenerSettings,
} from './lb-listener.js';
import { ServerPicker } from './picker.js';
import { SecurityGroup } from './security-group.js';
import type { Upstream } from './upstream.js';

export type ProxyProtocolVersion = 1 | 2;

export interface TcpLbOptions extends Partial<ListenerSettings>, ListenerLogging {
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

/**
 * A TCP load balancer: a listener on any transport, a security group checked at
 * accept time, an upstream that picks the backend (on any transport), and the
 * proxy engine in between. Optional PROXY protocol in and out.
 */
export class TcpLB extends LbListener {
  readonly acceptProxyProtocol: boolean;
  readonly sendProxyProtocol: ProxyProtocolVersion | undefined;

  private constructor(
    options: TcpLbOptions,
    address: Address,
    engine: ProxyEngine,
    access: Access,
  ) {
    super(options.name, address, options.upstream, engine, access);
    this.acceptProxyProtocol = options.acceptProxyProtocol ?? false;
    this.sendProxyProtocol = options.sendProxyProtocol;
  }

  static async start(options: TcpLbOptions): Promise<TcpLB> {
    const address = toAddress(options.address);
    const server = await options.registry.listen(address);
    const listenPort = server.address().port;
    const access: Access = { group: options.securityGroup ?? SecurityGroup.allowAll() };
    // The engine's logger, once it exists (the checks below are built before it).
    let log: Logger = quietLogger;
    const denied = (client: string, source: string | undefined): null => {
      if (log.enabled('info')) {
        log.info('client-denied', { client, source, securityGroup: access.group.name });
      }
      return null;
    };
    // The security group judges the real client: the one a PROXY header names, if
    // any. Without PROXY protocol the check is a synchronous gate (no promise per accept).
    const handshake: ClientHandshake = async (client) => {
      const source = (await readProxyHeader(client)).source;
      if (!access.group.allows(source?.host ?? client.remoteAddress, 'tcp', listenPort)) {
        return denied(describePeer(client), source && formatHostPort(source.host, source.port));
      }
      return source === undefined ? {} : { source };
    };
    const gate = (client: StreamFD): boolean => {
      if (access.group.allowsPeer(client, 'tcp', listenPort)) return true;
      denied(describePeer(client), undefined);
      return false;
    };
    const version = options.sendProxyProtocol;
    const engine = new ProxyEngine({
      server,
      registry: options.registry,
      picker: new ServerPicker(options.upstream),
      ...(options.acceptProxyProtocol ? { handshake } : { gate }),
      ...engineSettings(options),
      ...(version === undefined
        ? {}
        : { backendPreamble: (ctx: PickContext) => preamble(version, ctx) }),
    });
    log = engine.log;
    return new TcpLB(options, address, engine, access);
  }

  describe(): string {
    const s = this.settings();
    return (
      `${this.name} -> bind ${formatAddress(this.address)} backends ${this.upstream.name}` +
      ` timeout ${s.idleTimeoutMs} fin-timeout ${s.finTimeoutMs} in-buffer-size ${s.inBufferSize} out-buffer-size ${s.outBufferSize}` +
      ` security-group ${s.securityGroup.name}`
    );
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
