import { lookup as dnsLookup } from 'node:dns/promises';
import { EventEmitter } from 'node:events';
import type { DatagramFD } from '../../fd/datagram-fd.js';
import type { BoundAddress } from '../../fd/server-fd.js';
import type { StreamFD } from '../../fd/stream-fd.js';
import { closeGracefully } from '../close-gracefully.js';
import { ipFamily, unmapIPv4 } from '../inet.js';
import { toEndpoint } from './address.js';
import { decodeUdpHeader, udpHeaderLength, writeUdpHeader } from './udp-header.js';

export interface Socks5UdpRelayOptions {
  /** The relay socket (its address goes in the UDP ASSOCIATE reply); the relay closes it. */
  readonly socket: DatagramFD;
  /** The connection the UDP ASSOCIATE arrived on: the association lives as long as it does. */
  readonly control: StreamFD;
  /**
   * DST.ADDR / DST.PORT of the request: where the client says it will send
   * from. A non-zero port pins the client's port; with 0 the first datagram
   * from the client's IP pins it. The IP is always the control connection's peer.
   */
  readonly clientHint?: { readonly host: string; readonly port: number };
  /** Veto a target (e.g. only backends); default: every target is allowed. */
  readonly allowTarget?: (host: string, port: number) => boolean;
  /** Resolves domain targets (default: dns.lookup in the socket's family). */
  readonly lookup?: (host: string, family: 4 | 6) => Promise<string>;
  /** Distinct targets whose answers are relayed back; the oldest is forgotten beyond this (default 1024). */
  readonly maxTargets?: number;
}

export interface Socks5UdpRelayStats {
  /** Datagrams from the client forwarded to a target. */
  readonly forwarded: number;
  /** Datagrams from targets returned to the client. */
  readonly returned: number;
  /** Datagrams dropped: not from the client or a known target, malformed, FRAG ≠ 0, vetoed, unresolvable. */
  readonly dropped: number;
}

/**
 * The UDP half of a socks5 UDP ASSOCIATE (RFC 1928 §7): datagrams from the
 * associated client lose their header and go to the target it names; answers
 * from targets the client has sent to come back wrapped in a header naming
 * their source. Anything else is dropped. Closing the control connection ends
 * the association (and `close()` closes both).
 */
export class Socks5UdpRelay extends EventEmitter<{ close: [] }> {
  readonly #socket: DatagramFD;
  readonly #control: StreamFD;
  readonly #options: Socks5UdpRelayOptions;
  readonly #clientIp: string;
  #clientPort: number;
  /** Where answers go, once the client's port is known (built once, not per datagram). */
  #clientAddress: BoundAddress | null = null;
  readonly #socketFamily: 4 | 6;
  /** `ip|port` of each target → the header that wraps its answers. */
  readonly #targets = new Map<string, Buffer>();
  readonly #resolved = new Map<string, string>();
  #forwarded = 0;
  #returned = 0;
  #dropped = 0;
  #closing: Promise<void> | null = null;

  constructor(options: Socks5UdpRelayOptions) {
    super();
    this.#options = options;
    this.#socket = options.socket;
    this.#control = options.control;
    this.#clientIp = unmapIPv4(options.control.remoteAddress ?? '');
    this.#clientPort = options.clientHint?.port ?? 0;
    this.#socketFamily = ipFamily(options.socket.address().host) === 6 ? 6 : 4;
    if (this.#clientPort !== 0) this.#pinClient(this.#clientPort);
    this.#socket.on('message', this.#onMessage);
    // Send failures (a target that refuses, an unreachable family) are per datagram.
    this.#socket.on('error', this.#onSocketError);
    const control = this.#control;
    const end = () => void this.close();
    control.on('end', end);
    control.on('close', end);
    control.on('error', end);
    // Nothing is expected on the control connection; read it only to notice its end.
    control.resume();
    if (control.destroyed || control.readableEnded) void this.close();
  }

  get stats(): Socks5UdpRelayStats {
    return { forwarded: this.#forwarded, returned: this.#returned, dropped: this.#dropped };
  }

  /** The relay socket's address, e.g. for BND.ADDR / BND.PORT. */
  address(): BoundAddress {
    return this.#socket.address();
  }

  /** End the association: close the relay socket and the control connection. */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#socket.off('message', this.#onMessage);
    closeGracefully(this.#control, null, 1_000);
    this.#closing = this.#socket.close().then(() => {
      this.#socket.off('error', this.#onSocketError);
      this.emit('close');
    });
    return this.#closing;
  }

  readonly #onSocketError = (): void => {
    this.#dropped++;
  };

  readonly #onMessage = (data: Buffer, from: BoundAddress): void => {
    const host = unmapIPv4(from.host);
    if (host === this.#clientIp && (this.#clientPort === 0 || from.port === this.#clientPort)) {
      if (this.#clientPort === 0) this.#pinClient(from.port);
      this.#fromClient(data);
      return;
    }
    const header = this.#targets.get(`${host}|${from.port}`);
    const client = this.#clientAddress;
    if (header === undefined || client === null) {
      this.#dropped++;
      return;
    }
    const out = Buffer.allocUnsafe(header.length + data.length);
    header.copy(out, 0);
    data.copy(out, header.length);
    this.#returned++;
    this.#socket.send(out, client);
  };

  #pinClient(port: number): void {
    this.#clientPort = port;
    this.#clientAddress = { host: this.#socketHost(this.#clientIp), port };
  }

  #fromClient(data: Buffer): void {
    let header: ReturnType<typeof decodeUdpHeader>;
    try {
      header = decodeUdpHeader(data);
    } catch {
      this.#dropped++;
      return;
    }
    const allow = this.#options.allowTarget;
    if (header.frag !== 0 || (allow !== undefined && !allow(header.host, header.port))) {
      this.#dropped++;
      return;
    }
    const payload = data.subarray(header.headerLength);
    if (header.addressType !== 'domain') {
      this.#forward(header.host, header.port, payload);
      return;
    }
    const known = this.#resolved.get(header.host);
    if (known !== undefined) {
      this.#forward(known, header.port, payload);
      return;
    }
    const lookup = this.#options.lookup ?? defaultLookup;
    lookup(header.host, this.#socketFamily).then(
      (ip) => {
        if (this.#closing) return;
        remember(this.#resolved, header.host, unmapIPv4(ip), 256);
        this.#forward(unmapIPv4(ip), header.port, payload);
      },
      () => {
        this.#dropped++;
      },
    );
  }

  #forward(ip: string, port: number, payload: Buffer): void {
    const family = ipFamily(ip);
    if (family === 0 || (family === 6 && this.#socketFamily === 4)) {
      this.#dropped++;
      return;
    }
    const key = `${ip}|${port}`;
    if (!this.#targets.has(key)) {
      const endpoint = toEndpoint(ip, port);
      const header = Buffer.allocUnsafe(udpHeaderLength(endpoint));
      writeUdpHeader(endpoint, header, 0);
      remember(this.#targets, key, header, this.#options.maxTargets ?? 1024);
    }
    this.#forwarded++;
    this.#socket.send(payload, { host: this.#socketHost(ip), port });
  }

  /** An IPv4 address as a dual-stack (udp6) socket must be given it. */
  #socketHost(ip: string): string {
    return this.#socketFamily === 6 && ipFamily(ip) === 4 ? `::ffff:${ip}` : ip;
  }
}

function defaultLookup(host: string, family: 4 | 6): Promise<string> {
  // A udp6 socket is dual-stack: either family is reachable through it.
  return dnsLookup(host, family === 4 ? { family: 4 } : {}).then((r) => r.address);
}

/** Insert into a bounded map, forgetting the oldest entry when full. */
function remember<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  if (map.size >= max && !map.has(key)) {
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
  map.set(key, value);
}
