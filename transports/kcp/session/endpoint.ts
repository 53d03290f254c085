import type { Socket } from 'node:dgram';
import type { BoundAddress } from '../../../src/fd/server-fd.js';
import { type DatagramCipher, MAX_SKEW_MS, NonceSource, saltKey } from '../crypto.js';
import { ClientSetup } from './client-setup.js';
import {
  admit,
  CMD_ECHO,
  CMD_RETRY,
  COOKIE_HEADER_BYTES,
  CookieJar,
  isSessionStart,
} from './cookie.js';
import { DatagramSlab } from './datagram-slab.js';
import { EndpointStats } from './endpoint-stats.js';
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
import { type DatagramSource, readU32, UdpEndpoint } from './udp-endpoint.js';

export { EndpointStats };

export interface EndpointOptions {
  readonly session: SessionConfig;
  readonly cipher: DatagramCipher | null;
  /** Listener: most sessions at once; datagrams that would open more are dropped. */
  readonly maxSessions: number;
  readonly rcvbuf: number;
  readonly sndbuf: number;
  readonly scheduler?: KcpScheduler;
  /** Keyless listener: the cookie issuer (default: a fresh secret and the wall clock). */
  readonly cookies?: CookieJar;
}

const CLOSED_SALTS_MAX = 4096;
/** A client socket outlives its session this long, answering stragglers with CLOSE. */
const CLIENT_LINGER_MS = 1000;

/**
 * One UDP socket and the KCP sessions on it. A listener demultiplexes datagrams by
 * (remote address, conv) and accepts a new session only on a datagram that starts one: its
 * first segment is PUSH sn 0 with una 0 (so stray retransmissions from a closed session
 * cannot resurrect it). Without a key, a start must also echo a cookie the listener sent
 * in a RETRY (cookie.ts), so forged source addresses cannot fill the session table; with a
 * key, datagrams are authenticated and a replayed start is caught by its salt.
 * A client endpoint is a connected socket carrying one session.
 * We use node:dgram directly rather than a DatagramFD: a connected client socket and sends
 * without a per-datagram callback keep the hot path lean.
 */
export class KcpEndpoint extends UdpEndpoint implements SessionHost {
  readonly stats = new EndpointStats();
  readonly cipher: DatagramCipher | null;
  readonly #options: EndpointOptions;
  readonly #sessions = new Map<string, KcpSession>();
  readonly #closedSalts = new Map<string, number>();
  readonly #slab = new DatagramSlab();
  /**
   * The session of the last datagram: a transfer is a run of datagrams from one peer, and
   * matching it here skips building the string key of the session map per datagram.
   */
  #last: KcpSession | null = null;
  #linger: NodeJS.Timeout | null = null;
  /** Nonces of the CLOSE replies this endpoint sends on its own behalf. */
  readonly #nonces = new NonceSource();
  /** Keyless listener: issues and checks cookies. */
  readonly #cookies: CookieJar | null;
  /** Keyless client: the cookie exchange, until the listener first answers. */
  #setup: ClientSetup | null = null;
  /** The session's mtu, restored when the setup ends (it ran COOKIE_HEADER_BYTES lower). */
  #setupMtu = 0;

  private constructor(
    socket: Socket,
    options: EndpointOptions,
    connected: boolean,
    onAccept: ((session: KcpSession) => void) | null,
  ) {
    super(socket, connected, onAccept, options.scheduler ?? sharedScheduler());
    this.#options = options;
    this.cipher = options.cipher;
    this.#cookies =
      connected || options.cipher !== null ? null : (options.cookies ?? new CookieJar());
  }

  /** A listener on host:port; `onAccept` gets every new session. */
  static async listen(
    host: string,
    port: number,
    options: EndpointOptions,
    onAccept: (session: KcpSession) => void,
  ): Promise<KcpEndpoint> {
    return new KcpEndpoint(await UdpEndpoint.bound(host, port, options), options, false, onAccept);
  }

  /** A client socket connected to `ip:port` (an IP literal). */
  static async connect(ip: string, port: number, options: EndpointOptions): Promise<KcpEndpoint> {
    return new KcpEndpoint(await UdpEndpoint.connectedTo(ip, port, options), options, true, null);
  }

  get sessionCount(): number {
    return this.#sessions.size;
  }

  sessions(): KcpSession[] {
    return [...this.#sessions.values()];
  }

  protected allSessions(): KcpSession[] {
    return this.sessions();
  }

  /** Client: the one session of this socket, with a random conv. */
  openSession(peer: BoundAddress, conv: number): KcpSession {
    const session = new KcpSession(conv, peer, this, this.#options.session, this.cipher !== null);
    if (this.connected && this.cipher === null) {
      // Nothing was sent yet (the block's first flush had no data): room for the prefix.
      this.#setupMtu = session.kcp.tunables.mtu;
      session.kcp.configure({ mtu: this.#setupMtu - COOKIE_HEADER_BYTES });
      this.#setup = new ClientSetup(conv, (datagram) => this.sendTo(datagram, peer));
    }
    this.#sessions.set(
      this.connected ? keyOfConv(conv) : keyOf(peer.host, peer.port, conv),
      session,
    );
    return session;
  }

  transmit(session: KcpSession, buf: Uint8Array, len: number): void {
    if (this.socketClosed) return;
    if (this.#setup !== null) {
      this.#setup.transmit(buf, len);
      return;
    }
    const cipher = this.cipher;
    const out =
      cipher !== null && session.nonces !== null
        ? cipher.seal(buf, len, session.nonces)
        : this.#slab.copy(buf, len);
    this.sendTo(out, session.peer);
  }

  release(session: KcpSession): void {
    const key = this.connected
      ? keyOfConv(session.conv)
      : keyOf(session.peer.host, session.peer.port, session.conv);
    if (this.#sessions.get(key) === session) this.#sessions.delete(key);
    if (this.#last === session) this.#last = null;
    if (this.connected) {
      // Linger: if our CLOSE was lost, the peer's next retransmission gets another one.
      this.#linger ??= setTimeout(() => void this.closeSocket(), CLIENT_LINGER_MS);
    } else if (this.closing && this.#sessions.size === 0) {
      void this.closeSocket();
    }
  }

  protected override closeSocket(): Promise<void> {
    if (this.#linger !== null) clearTimeout(this.#linger);
    this.#linger = null;
    return super.closeSocket();
  }

  receive(msg: Buffer, rinfo: DatagramSource): void {
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
    const cmd = plain[4];
    if (cmd === CMD_RETRY) {
      this.#onRetry(plain);
      return;
    }
    if (this.#setup !== null) this.#endSetup();
    const conv = readU32(plain, 0);
    let session = this.#last;
    if (session === null || !this.#isFrom(session, conv, rinfo)) {
      const key = this.connected ? keyOfConv(conv) : keyOf(rinfo.address, rinfo.port, conv);
      session = this.#sessions.get(key) ?? null;
      if (session === null) {
        // A new session (its replay window has seen this datagram) or nothing at all.
        this.#accept(plain, rinfo, conv, key);
        return;
      }
      this.#last = session;
    }
    if (cmd === CMD_ECHO) {
      // A client still in setup: its session exists here already, the prefix is spent.
      plain = plain.subarray(COOKIE_HEADER_BYTES);
      if (plain.length < HEADER_BYTES) {
        this.stats.stray++;
        return;
      }
    }
    if (cipher !== null && session.replay !== null && !session.replay.accept(cipher.lastNonce)) {
      cipher.stats.dropReplayed++;
      return;
    }
    session.input(plain);
  }

  /** Whether a datagram with `conv` from `rinfo` belongs to `session` (map lookup skipped). */
  #isFrom(session: KcpSession, conv: number, rinfo: DatagramSource): boolean {
    return session.conv === conv && this.isPeer(session, rinfo);
  }

  #accept(plain: Uint8Array, rinfo: DatagramSource, conv: number, key: string): void {
    if (plain[4] === CMD_CLOSE) return; // never answer a CLOSE
    let start: Uint8Array = plain;
    if (this.connected) {
      this.stats.stray++;
      this.#replyClose(conv, rinfo);
      return;
    }
    if (this.#cookies !== null) {
      const admission = admit(plain, rinfo.address, rinfo.port, this.#cookies);
      this.stats.countCookie(admission);
      if (admission.action !== 'create' || admission.segments === null) {
        if (admission.action === 'retry') this.#sendRetry(conv, rinfo);
        else this.stats.stray++;
        if (admission.action === 'close') this.#replyClose(conv, rinfo);
        return;
      }
      start = admission.segments;
    } else if (!isSessionStart(plain)) {
      this.stats.stray++;
      this.#replyClose(conv, rinfo);
      return;
    }
    const onAccept = this.onAccept;
    if (onAccept === null || this.#sessions.size >= this.#options.maxSessions) {
      this.stats.refused++;
      this.#replyClose(conv, rinfo);
      return;
    }
    const cipher = this.cipher;
    if (cipher !== null && this.#saltSeen(saltKey(cipher.lastNonce))) {
      cipher.stats.dropReplayed++;
      return;
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
    if (session.state !== SessionState.Open) return;
    this.#last = session;
    session.input(start);
  }

  /** Keyless listener: a 24-byte RETRY, never larger than the start that asked for it. */
  #sendRetry(conv: number, to: DatagramSource): void {
    if (this.#cookies === null) return;
    this.stats.retriesSent++;
    this.sendTo(this.#cookies.retry(conv, to.address, to.port), {
      host: to.address,
      port: to.port,
    });
  }

  /** Keyless client: follow a RETRY while in setup; any other RETRY is dropped. */
  #onRetry(plain: Uint8Array): void {
    if (this.#setup?.onRetry(plain) === true) this.stats.retriesReceived++;
    else this.stats.stray++;
  }

  /** The listener answered: stop prefixing, restore the full mtu. */
  #endSetup(): void {
    const setup = this.#setup as ClientSetup;
    this.#setup = null;
    setup.finish();
    const session = this.#sessions.get(keyOfConv(setup.conv));
    if (session !== undefined && session.state !== SessionState.Closed) {
      session.kcp.configure({ mtu: this.#setupMtu });
    }
  }

  /** Tell a peer that its session does not exist (here any more). */
  #replyClose(conv: number, to: DatagramSource): void {
    if (this.socketClosed) return;
    const header = closeHeader(conv);
    const out =
      this.cipher === null ? header : this.cipher.seal(header, HEADER_BYTES, this.#nonces);
    this.stats.closeReplies++;
    this.sendTo(out, { host: to.address, port: to.port });
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

function keyOf(host: string, port: number, conv: number): string {
  return `${host}|${port}|${conv}`;
}

function keyOfConv(conv: number): string {
  return String(conv);
}
