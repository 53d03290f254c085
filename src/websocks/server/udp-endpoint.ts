import { createSocket, type Socket } from 'node:dgram';
import { lookup as dnsLookup } from 'node:dns/promises';
import { Duplex } from 'node:stream';
import type { StreamFD } from '../../fd/stream-fd.js';
import { DatagramDecoder, encodeDatagram } from '../../protocols/datagram-frame/index.js';
import { ipFamily, unmapIPv4 } from '../../protocols/inet.js';
import { decodeUdpHeader } from '../../protocols/socks5/udp-header.js';
import { UdpTargetBook } from '../../protocols/socks5/udp-targets.js';

export interface UdpEndpointOptions {
  /** Whether a target address may be reached (the server's target guard); default: all. */
  readonly allowIp?: (ip: string) => boolean;
  /** Resolves a domain target (default dns.lookup). */
  readonly lookup?: (host: string) => Promise<string>;
  /** Distinct targets whose answers are relayed back; the oldest is forgotten beyond this (default 1024). */
  readonly maxTargets?: number;
}

export interface UdpEndpointStats {
  readonly sent: number;
  readonly received: number;
  /** Malformed, fragmented, refused, unresolvable, or answers the tunnel had no room for. */
  readonly dropped: number;
}

/** Answer bytes queued towards the agent before answers are dropped instead (UDP may lose). */
const READ_BUFFER_LIMIT = 256 * 1024;

/**
 * The server's end of a UDP tunnel (see protocols/websocks/udp-tunnel.ts): a
 * stream the socks5 stage's proxy engine pumps like any backend. What the
 * agent writes is framed datagrams, each with an RFC 1928 header naming its
 * target; each goes out of this endpoint's own UDP socket (one per address
 * family, bound on first use) once the target passes the guard. Answers from
 * targets this endpoint has sent to come back framed, with a header naming
 * their source. The engine's idle timeout, byte counters and session table
 * apply as for a TCP target; closing the stream closes the sockets.
 */
export class UdpTunnelEndpoint extends Duplex implements StreamFD {
  readonly kind = 'udp-tunnel';
  readonly remoteAddress = undefined;
  readonly remotePort = undefined;
  readonly localAddress = undefined;
  readonly localPort = undefined;
  bytesRead = 0;
  bytesWritten = 0;
  readonly #options: UdpEndpointOptions;
  readonly #decoder: DatagramDecoder;
  readonly #sockets: { 4: Socket | null; 6: Socket | null } = { 4: null, 6: null };
  /** Resolved names, and the targets whose answers go back. */
  readonly #book: UdpTargetBook;
  #sent = 0;
  #received = 0;
  #dropped = 0;

  constructor(options: UdpEndpointOptions = {}) {
    super({ allowHalfOpen: false });
    this.#options = options;
    this.#book = new UdpTargetBook(options.maxTargets);
    this.#decoder = new DatagramDecoder((d) => this.#fromAgent(d));
  }

  get stats(): UdpEndpointStats {
    return { sent: this.#sent, received: this.#received, dropped: this.#dropped };
  }

  setTimeout(_ms: number, _callback?: () => void): this {
    return this;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error) => void): void {
    try {
      this.#decoder.push(chunk);
      callback();
    } catch (err) {
      callback(err as Error); // not our framing: the session ends
    }
  }

  override _read(): void {}

  override _final(callback: () => void): void {
    // The agent is done sending: the flow is over.
    this.push(null);
    callback();
  }

  override _destroy(err: Error | null, callback: (err: Error | null) => void): void {
    for (const family of [4, 6] as const) {
      const socket = this.#sockets[family];
      this.#sockets[family] = null;
      socket?.close();
    }
    callback(err);
  }

  #fromAgent(datagram: Buffer): void {
    let header: ReturnType<typeof decodeUdpHeader>;
    try {
      header = decodeUdpHeader(datagram);
    } catch {
      this.#dropped++;
      return;
    }
    if (header.frag !== 0) {
      this.#dropped++;
      return;
    }
    // A copy: the decoder's view may be of a buffer the tunnel's transport reuses.
    const payload = Buffer.from(datagram.subarray(header.headerLength));
    this.#book.resolve(
      header,
      this.#options.lookup ?? defaultLookup,
      (ip) => this.#send(ip, header.port, payload),
      () => {
        this.#dropped++;
      },
      () => !this.destroyed,
    );
  }

  #send(ip: string, port: number, payload: Buffer): void {
    const family = ipFamily(ip);
    const allow = this.#options.allowIp;
    if (family === 0 || port === 0 || (allow !== undefined && !allow(ip))) {
      this.#dropped++;
      return;
    }
    this.#book.note(ip, port);
    this.#sent++;
    this.bytesWritten += payload.length;
    this.#socket(family).send(payload, port, ip);
  }

  #socket(family: 4 | 6): Socket {
    const existing = this.#sockets[family];
    if (existing !== null) return existing;
    const socket = createSocket(family === 4 ? 'udp4' : 'udp6');
    // Send failures (a refusing target, no route) are per datagram.
    socket.on('error', () => {
      this.#dropped++;
    });
    socket.on('message', (msg, from) => this.#answer(msg, unmapIPv4(from.address), from.port));
    socket.bind(0, family === 4 ? '0.0.0.0' : '::');
    this.#sockets[family] = socket;
    return socket;
  }

  #answer(payload: Buffer, ip: string, port: number): void {
    const datagram = this.#book.wrap(ip, port, payload);
    if (datagram === null || this.destroyed || this.readableLength > READ_BUFFER_LIMIT) {
      this.#dropped++;
      return;
    }
    this.#received++;
    this.bytesRead += payload.length;
    this.push(encodeDatagram(datagram));
  }
}

function defaultLookup(host: string): Promise<string> {
  return dnsLookup(host).then((r) => r.address);
}
