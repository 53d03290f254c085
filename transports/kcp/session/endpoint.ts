import type { Socket } from 'node:dgram';
import { type Logger, quietLogger } from '../../../src/fd/logger.js';
import type { BoundAddress } from '../../../src/fd/server-fd.js';
import { CMD_ACK, CMD_PUSH, CMD_WASK, CMD_WINS } from '../arq/index.js';
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
import {
  CMD_FEC_DATA,
  CMD_FEC_PARITY,
  FEC_OVERHEAD,
  FEC_TAG_AT,
  type FecShards,
  fecLabel,
  fecTag,
  isFecCommand,
} from './fec.js';
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
  readonly #fec: FecShards | null;
  /** fecTag(#fec): what the shape byte of a client's FEC datagrams must say. */
  readonly #fecTag: number;
  readonly #logger: Logger;
  #fecMismatchLogged = false;
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
    this.#cookies =
      connected || options.cipher !== null ? null : (options.cookies ?? new CookieJar());
    this.#fec = options.fec ?? null;
    this.#fecTag = this.#fec === null ? -1 : fecTag(this.#fec);
    this.#logger = options.logger ?? quietLogger;
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
        this.#fecMismatch(session.peer.host, session.peer.port, 'fec');
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
      this.#fecMismatch(session.peer.host, session.peer.port, 'off');
      return;
    }
    session.input(plain);
  }

  /**
   * How the fec= of a datagram for no session (its FEC or KCP part from `at`) differs from
   * ours: null when it does not (or it is neither kind: garbage takes the usual path).
   */
  #fecDisagreement(plain: Uint8Array, at: number): PeerFec | null {
    const cmd = plain[at + 4];
    if (this.#fec === null) return isFecCommand(cmd) ? 'fec' : null;
    if (isKcpCommand(cmd)) return 'off';
    if (isFecCommand(cmd) && plain.length >= at + FEC_OVERHEAD) {
      return plain[at + FEC_TAG_AT] === this.#fecTag ? null : 'other-split';
    }
    return null;
  }

  /** Counted always, logged once per endpoint (a misconfigured peer retries, and so on). */
  #fecMismatch(host: string, port: number, theirs: PeerFec): void {
    this.stats.fecMismatch++;
    if (this.#fecMismatchLogged) return;
    this.#fecMismatchLogged = true;
    this.#logger.warn('kcp-fec-mismatch', {
      local: `${this.address().host}:${this.address().port}`,
      peer: `${host}:${port}`,
      fec: fecLabel(this.#fec),
      peerFec: theirs === 'fec' ? 'on' : theirs,
      hint: 'both ends of a kcp:// link need the same fec=',
    });
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
    // The client's fec= must be ours: refuse it clearly rather than let it retry in silence.
    const at = plain[4] === CMD_ECHO ? COOKIE_HEADER_BYTES : 0;
    const inner = plain[at + 4];
    const theirs = this.#fecDisagreement(plain, at);
    if (theirs !== null) {
      this.#fecMismatch(rinfo.address, rinfo.port, theirs);
      // Parity could be anyone's: only a datagram a session could start with gets an answer.
      if (inner !== CMD_FEC_PARITY) this.#replyClose(conv, rinfo, CLOSE_FEC_MISMATCH);
      return;
    }
    if (inner === CMD_FEC_PARITY) {
      // Parity of a session we do not have (its start lost or not yet here): no answer, as
      // a CLOSE would end a client whose start is merely late.
      this.stats.stray++;
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
      this.#fec,
    );
    if (cipher !== null) {
      session.replay?.accept(cipher.lastNonce);
      this.#rememberSalt(saltKey(cipher.lastNonce));
    }
    this.#sessions.set(key, session);
    onAccept(session);
    if (session.state !== SessionState.Open) return;
    this.#last = session;
    this.#deliver(session, start);
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

/** What a peer's datagrams say of its fec=, where it differs from ours. */
type PeerFec = 'fec' | 'off' | 'other-split';

function isKcpCommand(cmd: number | undefined): boolean {
  return cmd === CMD_PUSH || cmd === CMD_ACK || cmd === CMD_WASK || cmd === CMD_WINS;
}

function keyOf(host: string, port: number, conv: number): string {
  return `${host}|${port}|${conv}`;
}

function keyOfConv(conv: number): string {
  return String(conv);
}
