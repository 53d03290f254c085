import type { RemoteInfo, Socket } from 'node:dgram';
import { once } from 'node:events';
import type { BoundAddress } from '../../../src/fd/server-fd.js';
import { CMD_PUSH } from '../arq/index.js';
import { type DatagramCipher, MAX_SKEW_MS, NonceSource, saltKey } from '../crypto.js';
import { DatagramSlab } from './datagram-slab.js';
import { type KcpScheduler, sharedScheduler } from './scheduler.js';
import {
  CMD_CLOSE,
  closeHeader,
  HEADER_BYTES,
  KcpSession,
  type SessionConfig,
  type SessionHost,
  SessionState,
} from './session.js';
import { makeUdpSocket, type UdpSocket } from './udp-socket.js';

export interface EndpointOptions {
  readonly session: SessionConfig;
  readonly cipher: DatagramCipher | null;
  /** Listener: most sessions at once; datagrams that would open more are dropped. */
  readonly maxSessions: number;
  readonly rcvbuf: number;
  readonly sndbuf: number;
  readonly scheduler?: KcpScheduler;
}

/** Counters of one socket; plain fields, read any time. */
export class EndpointStats {
  datagramsIn = 0;
  datagramsOut = 0;
  /** Not for any session and not the start of a new one (stale, stray or forged plaintext). */
  stray = 0;
  /** New sessions refused because the listener was full or closing. */
  refused = 0;
  /** Socket errors (e.g. ICMP port unreachable on a connected socket); the link decides. */
  socketErrors = 0;
  /** CLOSE datagrams sent in answer to datagrams for no session (like a TCP RST). */
  closeReplies = 0;
}

const CLOSED_SALTS_MAX = 4096;
/** A client socket outlives its session this long, answering stragglers with CLOSE. */
const CLIENT_LINGER_MS = 1000;

/**
 * One UDP socket and the KCP sessions on it. A listener demultiplexes datagrams by
 * (remote address, conv) and accepts a new session only on a datagram that starts one: its
 * first segment is PUSH sn 0 with una 0 (so stray retransmissions from a closed session
 * cannot resurrect it). A client endpoint is a connected socket carrying one session.
 * We use node:dgram directly rather than a DatagramFD: a connected client socket and sends
 * without a per-datagram callback keep the hot path lean.
 */
export class KcpEndpoint implements SessionHost {
  readonly scheduler: KcpScheduler;
  readonly stats = new EndpointStats();
  readonly cipher: DatagramCipher | null;
  readonly #socket: Socket;
  readonly #options: EndpointOptions;
  readonly #sessions = new Map<string, KcpSession>();
  readonly #closedSalts = new Map<string, number>();
  readonly #connected: boolean;
  readonly #slab = new DatagramSlab();
  /**
   * The session of the last datagram: a transfer is a run of datagrams from one peer, and
   * matching it here skips building the string key of the session map per datagram.
   */
  #last: KcpSession | null = null;
  #onAccept: ((session: KcpSession) => void) | null;
  #closing = false;
  #socketClosed: Promise<void> | null = null;
  #linger: NodeJS.Timeout | null = null;
  /** Nonces of the CLOSE replies this endpoint sends on its own behalf. */
  readonly #nonces = new NonceSource();

  private constructor(
    socket: Socket,
    options: EndpointOptions,
    connected: boolean,
    onAccept: ((session: KcpSession) => void) | null,
  ) {
    this.#socket = socket;
    this.#options = options;
    this.#connected = connected;
    this.#onAccept = onAccept;
    this.cipher = options.cipher;
    this.scheduler = options.scheduler ?? sharedScheduler();
    socket.on('message', (msg, rinfo) => this.#onMessage(msg, rinfo));
    socket.on('error', () => this.stats.socketErrors++);
  }

  /** A listener on host:port; `onAccept` gets every new session. */
  static async listen(
    host: string,
    port: number,
    options: EndpointOptions,
    onAccept: (session: KcpSession) => void,
  ): Promise<KcpEndpoint> {
    const udp = makeUdpSocket(host, options);
    udp.socket.bind(port, host);
    await settle(udp, 'listening');
    return new KcpEndpoint(udp.socket, options, false, onAccept);
  }

  /** A client socket connected to `ip:port` (an IP literal). */
  static async connect(ip: string, port: number, options: EndpointOptions): Promise<KcpEndpoint> {
    const udp = makeUdpSocket(ip, options);
    udp.socket.connect(port, ip);
    await settle(udp, 'connect');
    return new KcpEndpoint(udp.socket, options, true, null);
  }

  address(): BoundAddress {
    const a = this.#socket.address();
    return { host: a.address, port: a.port };
  }

  get sessionCount(): number {
    return this.#sessions.size;
  }

  sessions(): KcpSession[] {
    return [...this.#sessions.values()];
  }

  /** Client: the one session of this socket, with a random conv. */
  openSession(peer: BoundAddress, conv: number): KcpSession {
    const session = new KcpSession(conv, peer, this, this.#options.session, this.cipher !== null);
    this.#sessions.set(
      this.#connected ? keyOfConv(conv) : keyOf(peer.host, peer.port, conv),
      session,
    );
    return session;
  }

  transmit(session: KcpSession, buf: Uint8Array, len: number): void {
    if (this.#socketClosed !== null) return;
    const cipher = this.cipher;
    const out =
      cipher !== null && session.nonces !== null
        ? cipher.seal(buf, len, session.nonces)
        : this.#slab.copy(buf, len);
    this.stats.datagramsOut++;
    if (this.#connected) this.#socket.send(out);
    else this.#socket.send(out, session.peer.port, session.peer.host);
  }

  release(session: KcpSession): void {
    const key = this.#connected
      ? keyOfConv(session.conv)
      : keyOf(session.peer.host, session.peer.port, session.conv);
    if (this.#sessions.get(key) === session) this.#sessions.delete(key);
    if (this.#last === session) this.#last = null;
    if (this.#connected) {
      // Linger: if our CLOSE was lost, the peer's next retransmission gets another one.
      this.#linger ??= setTimeout(() => void this.#closeSocket(), CLIENT_LINGER_MS);
    } else if (this.#closing && this.#sessions.size === 0) {
      void this.#closeSocket();
    }
  }

  /**
   * Stop accepting. The socket stays open for the sessions already accepted and closes with
   * the last of them; the promise resolves then.
   */
  close(): Promise<void> {
    this.#closing = true;
    this.#onAccept = null;
    if (this.#sessions.size === 0) return this.#closeSocket();
    return Promise.resolve();
  }

  /** Close the socket now: every session is dropped without a word (a vanished peer). */
  abort(): Promise<void> {
    this.#closing = true;
    this.#onAccept = null;
    const closed = this.#closeSocket();
    for (const session of [...this.#sessions.values()]) session.destroy();
    return closed;
  }

  #closeSocket(): Promise<void> {
    if (this.#linger !== null) clearTimeout(this.#linger);
    this.#linger = null;
    this.#socketClosed ??= new Promise<void>((resolve) => this.#socket.close(() => resolve()));
    return this.#socketClosed;
  }

  #onMessage(msg: Buffer, rinfo: RemoteInfo): void {
    this.stats.datagramsIn++;
    const cipher = this.cipher;
    let plain: Uint8Array = msg;
    if (cipher !== null) {
      const opened = cipher.open(msg);
      if (opened === null) return;
      plain = opened;
    }
    if (plain.length < HEADER_BYTES) {
      this.stats.stray++;
      return;
    }
    const conv = readU32(plain, 0);
    let session = this.#last;
    if (session === null || !this.#isFrom(session, conv, rinfo)) {
      const key = this.#connected ? keyOfConv(conv) : keyOf(rinfo.address, rinfo.port, conv);
      session = this.#sessions.get(key) ?? null;
      if (session === null) {
        // A new session (its replay window has seen this datagram) or nothing at all.
        const accepted = this.#accept(plain, rinfo, conv, key);
        if (accepted === undefined) return;
        this.#last = accepted;
        accepted.input(plain);
        return;
      }
      this.#last = session;
    }
    if (cipher !== null && session.replay !== null && !session.replay.accept(cipher.lastNonce)) {
      cipher.stats.dropReplayed++;
      return;
    }
    session.input(plain);
  }

  /** Whether a datagram with `conv` from `rinfo` belongs to `session` (map lookup skipped). */
  #isFrom(session: KcpSession, conv: number, rinfo: RemoteInfo): boolean {
    return (
      session.conv === conv &&
      session.state !== SessionState.Closed &&
      (this.#connected || (session.peer.port === rinfo.port && session.peer.host === rinfo.address))
    );
  }

  #accept(plain: Uint8Array, rinfo: RemoteInfo, conv: number, key: string): KcpSession | undefined {
    if (plain[4] === CMD_CLOSE) return undefined; // never answer a CLOSE
    if (
      this.#connected ||
      plain[4] !== CMD_PUSH ||
      readU32(plain, 12) !== 0 ||
      readU32(plain, 16) !== 0
    ) {
      this.stats.stray++;
      this.#replyClose(conv, rinfo);
      return undefined;
    }
    const onAccept = this.#onAccept;
    if (onAccept === null || this.#sessions.size >= this.#options.maxSessions) {
      this.stats.refused++;
      this.#replyClose(conv, rinfo);
      return undefined;
    }
    const cipher = this.cipher;
    if (cipher !== null && this.#saltSeen(saltKey(cipher.lastNonce))) {
      cipher.stats.dropReplayed++;
      return undefined;
    }
    const session = new KcpSession(
      conv,
      { host: rinfo.address, port: rinfo.port },
      this,
      this.#options.session,
      cipher !== null,
    );
    if (cipher !== null) {
      session.replay?.accept(cipher.lastNonce);
      this.#rememberSalt(saltKey(cipher.lastNonce));
    }
    this.#sessions.set(key, session);
    onAccept(session);
    return session.state === 0 ? session : undefined;
  }

  /** Tell a peer that its session does not exist (here any more). */
  #replyClose(conv: number, to: RemoteInfo): void {
    if (this.#socketClosed !== null) return;
    const header = closeHeader(conv);
    const out =
      this.cipher === null ? header : this.cipher.seal(header, HEADER_BYTES, this.#nonces);
    this.stats.closeReplies++;
    if (this.#connected) this.#socket.send(out);
    else this.#socket.send(out, to.port, to.address);
  }

  /** Salts of sessions seen recently: a replayed session start must not open a new one. */
  #saltSeen(salt: string): boolean {
    const until = this.#closedSalts.get(salt);
    return until !== undefined && until > Date.now();
  }

  #rememberSalt(salt: string): void {
    const now = Date.now();
    const salts = this.#closedSalts;
    for (const [k, until] of salts) {
      if (until > now && salts.size < CLOSED_SALTS_MAX) break;
      salts.delete(k);
    }
    salts.set(salt, now + 2 * MAX_SKEW_MS);
  }
}

async function settle(udp: UdpSocket, event: 'listening' | 'connect'): Promise<void> {
  try {
    await once(udp.socket, event);
  } catch (err) {
    udp.socket.close();
    throw err;
  }
  udp.enableFastLookup();
}

function keyOf(host: string, port: number, conv: number): string {
  return `${host}|${port}|${conv}`;
}

function keyOfConv(conv: number): string {
  return String(conv);
}

function readU32(b: Uint8Array, o: number): number {
  return (
    ((b[o] as number) | ((b[o + 1] as number) << 8) | ((b[o + 2] as number) << 16)) +
    (b[o + 3] as number) * 0x1000000
  );
}
