import type { Socket } from 'node:dgram';
import { type Logger, quietLogger } from '../../../src/fd/logger.js';
import type { BoundAddress } from '../../../src/fd/server-fd.js';
import { type DatagramCipher, NonceSource } from '../crypto.js';
import { ClientSetup } from './client-setup.js';
import { CMD_ECHO, CMD_RETRY, COOKIE_HEADER_BYTES, CookieJar } from './cookie.js';
import { DatagramSlab } from './datagram-slab.js';
import { EndpointStats } from './endpoint-stats.js';
import { CMD_FEC_DATA, CMD_FEC_PARITY, FEC_OVERHEAD, type FecShards } from './fec.js';
import { FecAgreement } from './fec-agreement.js';
import { type KcpScheduler, sharedScheduler } from './scheduler.js';
import {
  CLOSE_FEC_MISMATCH,
  CLOSE_PLAIN,
  CMD_CLOSE,
  closeHeader,
  HEADER_BYTES,
  KcpSession,
  type SessionConfig,
  type SessionHost,
  SessionState,
} from './session.js';
import { SessionGate, StartVerdict } from './session-gate.js';
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
  /** `fec=`: every session's datagrams in Reed-Solomon groups (see fec.ts); null/absent: off. */
  readonly fec?: FecShards | null;
  /** Hears what a user could otherwise only see as a refused session (fec= mismatch). */
  readonly logger?: Logger;
}

/** A client socket outlives its session this long, answering stragglers with CLOSE. */
const CLIENT_LINGER_MS = 1000;

/**
 * One UDP socket and the KCP sessions on it. A listener demultiplexes datagrams by
 * (remote address, conv); a datagram for no session goes to the gate (session-gate.ts:
 * session starts, cookies, replayed salts, fec= agreement, the session limit), which says
 * whether it opens a session or how to answer. A client endpoint is a connected socket
 * carrying one session; keyless, it runs the cookie exchange (client-setup.ts) first.
 * We use node:dgram directly rather than a DatagramFD: a connected client socket and sends
 * without a per-datagram callback keep the hot path lean.
 */
export class KcpEndpoint extends UdpEndpoint implements SessionHost {
  readonly stats = new EndpointStats();
  readonly cipher: DatagramCipher | null;
  readonly #options: EndpointOptions;
  readonly #sessions = new Map<string, KcpSession>();
  readonly #slab = new DatagramSlab();
  /**
   * The session of the last datagram: a transfer is a run of datagrams from one peer, and
   * matching it here skips building the string key of the session map per datagram.
   */
  #last: KcpSession | null = null;
  #linger: NodeJS.Timeout | null = null;
  /** Nonces of the CLOSE replies this endpoint sends on its own behalf. */
  readonly #nonces = new NonceSource();
  /** Listener: decides about datagrams for no session. */
  readonly #gate: SessionGate;
  /** Keyless client: the cookie exchange, until the listener first answers. */
  #setup: ClientSetup | null = null;
  /** The session's mtu, restored when the setup ends (it ran COOKIE_HEADER_BYTES lower). */
  #setupMtu = 0;
  readonly #fec: FecShards | null;
  readonly #fecAgreement: FecAgreement;
  readonly #logger: Logger;
  /** Where an FEC data shard is built when it is sealed or held (copied from there). */
  #scratch: Buffer = Buffer.alloc(0);

  private constructor(
    socket: Socket,
    options: EndpointOptions,
    connected: boolean,
    onAccept: ((session: KcpSession) => void) | null,
  ) {
    super(socket, connected, onAccept, options.scheduler ?? sharedScheduler());
    this.#options = options;
    this.cipher = options.cipher;
    this.#fec = options.fec ?? null;
    this.#logger = options.logger ?? quietLogger;
    this.#fecAgreement = new FecAgreement(this.#fec, this.stats, this.#logger, () =>
      this.address(),
    );
    const cookies =
      connected || options.cipher !== null ? null : (options.cookies ?? new CookieJar());
    this.#gate = new SessionGate(this.stats, cookies, options.cipher, this.#fecAgreement);
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
    const session = new KcpSession(
      conv,
      peer,
      this,
      this.#options.session,
      this.cipher !== null,
      this.#fec,
    );
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
    const fec = session.fec;
    // CLOSE is a control datagram: never part of a group (a peer reads it without decoding).
    if (fec === null || (len === HEADER_BYTES && buf[4] === CMD_CLOSE)) {
      this.#send(session, buf, len, false);
      return;
    }
    const size = FEC_OVERHEAD + len;
    // Sent as it is (no seal, no setup): build the data shard where it is sent from.
    const direct = this.#setup === null && (this.cipher === null || session.nonces === null);
    const out = direct ? this.#slab.reserve(size) : this.#scratchOf(size);
    fec.encode(buf, len, out, 0);
    this.#send(session, out, size, direct);
    // Parity buffers are the encoder's fresh allocations: sent (or sealed) as they are.
    for (const p of fec.parity) this.#send(session, p, p.length, true);
  }

  /** One datagram of `session`: held (setup), sealed, or sent; `owned`: `buf` may be sent as is. */
  #send(session: KcpSession, buf: Uint8Array, len: number, owned: boolean): void {
    if (this.#setup !== null) {
      this.#setup.transmit(buf, len);
      return;
    }
    const cipher = this.cipher;
    const out =
      cipher !== null && session.nonces !== null
        ? cipher.seal(buf, len, session.nonces)
        : owned
          ? buf
          : this.#slab.copy(buf, len);
    this.sendTo(out, session.peer);
  }

  #scratchOf(size: number): Buffer {
    if (this.#scratch.length < size) this.#scratch = Buffer.allocUnsafe(Math.max(size, 2048));
    return this.#scratch.subarray(0, size);
  }

  release(session: KcpSession): void {
    if (this.#logger.enabled('debug')) this.#logSessionEnd(session);
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

  /** What the session's sender had to do again: where spurious timeouts show up. */
  #logSessionEnd(session: KcpSession): void {
    const k = session.kcp.stats;
    this.#logger.debug('kcp-session-end', {
      conv: session.conv,
      peer: `${session.peer.host}:${session.peer.port}`,
      segmentsSent: k.outNewSegments,
      retransmitFast: k.retransmitFast,
      retransmitTimeout: k.retransmitTimeout,
      retransmitDuplicate: k.retransmitDuplicate,
      retransmitSpurious: k.retransmitSpurious,
      retransmitSpuriousTimeout: k.retransmitSpuriousTimeout,
      rto: session.kcp.rto,
      fecRecovered: session.fec?.stats.recovered,
    });
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
    this.#deliver(session, plain);
  }

  /**
   * A datagram of `session` (decrypted, prefix gone) to its arq: through the session's FEC
   * decoder when it is an FEC datagram. The wrong kind for the session's fec= is counted,
   * logged once and dropped (a CLOSE is the one plain datagram an FEC session takes).
   */
  #deliver(session: KcpSession, plain: Uint8Array): void {
    const cmd = plain[4];
    const fec = session.fec;
    if (cmd === CMD_FEC_DATA || cmd === CMD_FEC_PARITY) {
      if (fec === null) {
        this.#fecAgreement.report(session.peer.host, session.peer.port, 'fec');
        return;
      }
      const packets = fec.decode(plain);
      for (let i = 0; i < packets.length; i++) {
        if (session.state === SessionState.Closed) return;
        session.input(packets[i] as Buffer);
      }
      return;
    }
    if (fec !== null && cmd !== CMD_CLOSE) {
      this.#fecAgreement.report(session.peer.host, session.peer.port, 'off');
      return;
    }
    session.input(plain);
  }

  /** Whether a datagram with `conv` from `rinfo` belongs to `session` (map lookup skipped). */
  #isFrom(session: KcpSession, conv: number, rinfo: DatagramSource): boolean {
    return session.conv === conv && this.isPeer(session, rinfo);
  }

  /** A datagram for no session: a new session, an answer (CLOSE, RETRY) or nothing. */
  #accept(plain: Uint8Array, rinfo: DatagramSource, conv: number, key: string): void {
    if (plain[4] === CMD_CLOSE) return; // never answer a CLOSE
    if (this.connected) {
      this.stats.stray++;
      this.#replyClose(conv, rinfo);
      return;
    }
    const onAccept = this.onAccept;
    const room = onAccept !== null && this.#sessions.size < this.#options.maxSessions;
    const verdict = this.#gate.check(plain, rinfo, room);
    if (verdict !== StartVerdict.Open || onAccept === null) {
      if (verdict === StartVerdict.Retry) this.#sendRetry(conv, rinfo);
      else if (verdict === StartVerdict.Close) this.#replyClose(conv, rinfo);
      else if (verdict === StartVerdict.CloseFecMismatch) {
        this.#replyClose(conv, rinfo, CLOSE_FEC_MISMATCH);
      }
      return;
    }
    const start = this.#gate.start;
    const cipher = this.cipher;
    const session = new KcpSession(
      conv,
      { host: rinfo.address, port: rinfo.port },
      this,
      this.#options.session,
      cipher !== null,
      this.#fec,
    );
    if (cipher !== null) session.replay?.accept(cipher.lastNonce);
    this.#sessions.set(key, session);
    onAccept(session);
    if (session.state !== SessionState.Open) return;
    this.#last = session;
    this.#deliver(session, start);
  }

  /** Keyless listener: a 24-byte RETRY, never larger than the start that asked for it. */
  #sendRetry(conv: number, to: DatagramSource): void {
    const retry = this.#gate.retry(conv, to);
    if (retry === null) return;
    this.stats.retriesSent++;
    this.sendTo(retry, { host: to.address, port: to.port });
  }

  /** Keyless client: follow a RETRY while in setup; any other RETRY is dropped. */
  #onRetry(plain: Uint8Array): void {
    const setup = this.#setup;
    if (setup?.onRetry(plain) === true) {
      this.stats.retriesReceived++;
      // The listener answered, as a SYN-ACK would: the mux pool may hand out the first
      // stream now (its data follows the ECHO-prefixed start), saving a round trip.
      this.#sessions.get(keyOfConv(setup.conv))?.peerHeard();
    } else this.stats.stray++;
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

  /** Tell a peer that its session does not exist (here any more), or why it is refused. */
  #replyClose(conv: number, to: DatagramSource, reason = CLOSE_PLAIN): void {
    if (this.socketClosed) return;
    const header = closeHeader(conv, reason);
    const out =
      this.cipher === null ? header : this.cipher.seal(header, HEADER_BYTES, this.#nonces);
    this.stats.closeReplies++;
    this.sendTo(out, { host: to.address, port: to.port });
  }
}

function keyOf(host: string, port: number, conv: number): string {
  return `${host}|${port}|${conv}`;
}

function keyOfConv(conv: number): string {
  return String(conv);
}
