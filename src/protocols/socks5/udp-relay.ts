import { lookup as dnsLookup } from 'node:dns/promises';
import { EventEmitter } from 'node:events';
import type { DatagramFD } from '../../fd/datagram-fd.js';
import type { BoundAddress } from '../../fd/server-fd.js';
import type { StreamFD } from '../../fd/stream-fd.js';
import { closeGracefully } from '../close-gracefully.js';
import { ipFamily, unmapIPv4 } from '../inet.js';
import { decodeUdpHeader } from './udp-header.js';
import { UdpTargetBook } from './udp-targets.js';

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
  /**
   * Carry a client's datagram elsewhere (a tunnel): called with the whole
   * datagram, header included, once it passed the checks; true means taken
   * (counted as forwarded), false sends it from the relay socket as usual.
   * Answers that come back that way go to the client through `sendToClient`.
   */
  readonly divert?: (datagram: Buffer, host: string, port: number) => boolean;
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
  /** Resolved names, and the targets whose answers are relayed back. */
  readonly #book: UdpTargetBook;
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
    this.#book = new UdpTargetBook(options.maxTargets);
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

  /**
   * Send the client a datagram that already carries its RFC 1928 header (an
   * answer that came back through `divert`'s way); false (and dropped) until
   * the client's port is known.
   */
  sendToClient(datagram: Buffer): boolean {
    const client = this.#clientAddress;
    if (client === null || this.#closing !== null) {
      this.#dropped++;
      return false;
    }
    this.#returned++;
    this.#socket.send(datagram, client);
    return true;
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
    const client = this.#clientAddress;
    const out = client === null ? null : this.#book.wrap(host, from.port, data);
    if (out === null || client === null) {
      this.#dropped++;
      return;
    }
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
    if (this.#options.divert?.(data, header.host, header.port) === true) {
      this.#forwarded++;
      return;
    }
    const payload = data.subarray(header.headerLength);
    const lookup = this.#options.lookup ?? defaultLookup;
    this.#book.resolve(
      header,
      (host) => lookup(host, this.#socketFamily),
      (ip) => this.#forward(ip, header.port, payload),
      () => {
        this.#dropped++;
      },
      () => this.#closing === null,
    );
  }

  #forward(ip: string, port: number, payload: Buffer): void {
    const family = ipFamily(ip);
    if (family === 0 || (family === 6 && this.#socketFamily === 4)) {
      this.#dropped++;
      return;
    }
    this.#book.note(ip, port);
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
