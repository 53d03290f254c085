import type { RemoteInfo, Socket } from 'node:dgram';
import { once } from 'node:events';
import type { BoundAddress } from '../../../src/fd/server-fd.js';
import type { KcpScheduler } from './scheduler.js';
import { type KcpSession, SessionState } from './session.js';
import { makeUdpSocket, type UdpSocketOptions } from './udp-socket.js';

/** The counters every endpoint keeps (a plain object or class; read any time). */
export interface UdpEndpointCounters {
  datagramsIn: number;
  datagramsOut: number;
  socketErrors: number;
}

/** Where a datagram came from (a test feeding receive() needs only these two). */
export type DatagramSource = Pick<RemoteInfo, 'address' | 'port'>;

/**
 * What `kcp://` (KcpEndpoint) and kcptun (KcptunEndpoint) share: one UDP socket carrying KCP
 * sessions, bound (a listener, peers told apart by address) or connected (a client, one
 * session), closing with its last session after close(), or at once on abort(). Subclasses
 * decode datagrams (receive), keep the session table and encode what sessions transmit.
 */
export abstract class UdpEndpoint {
  readonly scheduler: KcpScheduler;
  abstract readonly stats: UdpEndpointCounters;
  protected readonly socket: Socket;
  /** A client's socket, connected to its one peer. */
  protected readonly connected: boolean;
  /** Listener: gets every new session; null once closing. */
  protected onAccept: ((session: KcpSession) => void) | null;
  protected closing = false;
  #socketClosed: Promise<void> | null = null;

  protected constructor(
    socket: Socket,
    connected: boolean,
    onAccept: ((session: KcpSession) => void) | null,
    scheduler: KcpScheduler,
  ) {
    this.socket = socket;
    this.connected = connected;
    this.onAccept = onAccept;
    this.scheduler = scheduler;
    socket.on('message', (msg, rinfo) => this.receive(msg, rinfo));
    socket.on('error', () => this.stats.socketErrors++);
  }

  /** A UDP socket bound to host:port (a listener's), ready for sends. */
  protected static async bound(host: string, port: number, o: UdpSocketOptions): Promise<Socket> {
    const udp = makeUdpSocket(host, o);
    udp.socket.bind(port, host);
    await settle(udp.socket, 'listening');
    udp.enableFastLookup();
    return udp.socket;
  }

  /** A UDP socket connected to ip:port (an IP literal; a client's), ready for sends. */
  protected static async connectedTo(
    ip: string,
    port: number,
    o: UdpSocketOptions,
  ): Promise<Socket> {
    const udp = makeUdpSocket(ip, o);
    udp.socket.connect(port, ip);
    await settle(udp.socket, 'connect');
    udp.enableFastLookup();
    return udp.socket;
  }

  /** One datagram from `from` (the socket's 'message' handler; tests may call it directly). */
  abstract receive(msg: Buffer, from: DatagramSource): void;

  /** Sessions on this socket now. */
  abstract get sessionCount(): number;

  /** Every session, for abort(). */
  protected abstract allSessions(): KcpSession[];

  address(): BoundAddress {
    const a = this.socket.address();
    return { host: a.address, port: a.port };
  }

  /**
   * Stop accepting. The socket stays open for the sessions already accepted and closes with
   * the last of them; the promise resolves then (at once when there are none).
   */
  close(): Promise<void> {
    this.closing = true;
    this.onAccept = null;
    if (this.sessionCount === 0) return this.closeSocket();
    return Promise.resolve();
  }

  /** Close the socket now: every session is dropped without a word (a vanished peer). */
  abort(): Promise<void> {
    this.closing = true;
    this.onAccept = null;
    const closed = this.closeSocket();
    for (const session of this.allSessions()) session.destroy();
    return closed;
  }

  protected get socketClosed(): boolean {
    return this.#socketClosed !== null;
  }

  protected closeSocket(): Promise<void> {
    this.#socketClosed ??= new Promise<void>((resolve) => this.socket.close(() => resolve()));
    return this.#socketClosed;
  }

  /** Sends one datagram to `to` (ignored by a connected socket), counted. */
  protected sendTo(datagram: Uint8Array, to: BoundAddress): void {
    if (this.#socketClosed !== null) return;
    this.stats.datagramsOut++;
    if (this.connected) this.socket.send(datagram);
    else this.socket.send(datagram, to.port, to.host);
  }

  /** Whether `session` (open) is the one at `from` (a client has one peer). */
  protected isPeer(session: KcpSession, from: DatagramSource): boolean {
    return (
      session.state !== SessionState.Closed &&
      (this.connected || (session.peer.port === from.port && session.peer.host === from.address))
    );
  }
}

async function settle(socket: Socket, event: 'listening' | 'connect'): Promise<void> {
  try {
    await once(socket, event);
  } catch (err) {
    socket.close();
    throw err;
  }
}

/** u32 little-endian at `o` (conv, sn …), without a DataView. */
export function readU32(b: Uint8Array, o: number): number {
  return (
    ((b[o] as number) | ((b[o + 1] as number) << 8) | ((b[o + 2] as number) << 16)) +
    (b[o + 3] as number) * 0x1000000
  );
}
