import { VproxyError } from '../../../src/fd/errors.js';
import type { BoundAddress } from '../../../src/fd/server-fd.js';
import { KcpControlBlock, type KcpOptions } from '../arq/index.js';
import { NonceSource, ReplayWindow } from '../crypto.js';
import { KcpError } from '../errors.js';
import { type FecShards, fecLabel, SessionFec } from './fec.js';
import type { KcpScheduler, Scheduled } from './scheduler.js';

/**
 * One KCP session: a control block bound to one peer of a UDP socket, driven by the shared
 * scheduler. The endpoint feeds it decrypted datagrams; the session hands the stream above
 * it (its `sink`) readability, writability, the peer's close and failures.
 *
 * ## Close convention (KCP has no FIN)
 * A session ends cleanly by flushing until every segment is acknowledged (`waitSnd === 0`,
 * bounded by `closeTimeoutMs`), then sending a CLOSE datagram twice: a 24-byte KCP-shaped
 * header with our conv and cmd 0xFF (not a KCP command; other fields zero). The peer that
 * gets it treats it like a TCP FIN+close: it delivers what it has, ends its readable side,
 * and drops the session. An aborted session sends one CLOSE without flushing. An endpoint
 * answers a datagram for a session it does not have with CLOSE (like a TCP RST; a keyless
 * listener answers a session start with a RETRY instead, see cookie.ts), so a lost
 * CLOSE is repaired by the peer's next retransmission; a client socket lingers 1 s after its
 * session for that. Peers that
 * never say goodbye are found by dead-link (a segment sent `deadLink` times) or by the idle
 * timeout (nothing heard for `idleTimeoutMs`; the mux layer's PINGs keep healthy sessions
 * busy). With mux on top, the mux GOAWAY/FIN frames close streams before this happens.
 */
export const CMD_CLOSE = 0xff;
export const HEADER_BYTES = 24;
/**
 * Byte 5 of a CLOSE: why. 0 is a plain close; CLOSE_FEC_MISMATCH says the listener refused
 * the session because the two ends' `fec=` differ (FEC datagrams to a listener without FEC,
 * or plain ones to a listener with it). Peers that predate it send 0 and ignore it.
 */
export const CLOSE_PLAIN = 0;
export const CLOSE_FEC_MISMATCH = 1;

export interface SessionConfig {
  readonly kcp: KcpOptions;
  /** Fail the session when nothing was heard this long (0 = never). */
  readonly idleTimeoutMs: number;
  /** A clean close gives up waiting for ACKs after this long. */
  readonly closeTimeoutMs: number;
}

/** What the stream above a session implements. */
export interface SessionSink {
  /** The block has data to read. */
  onReadable(): void;
  /** The send window has room again. */
  onWritable(): void;
  /** The peer closed (CLOSE received) or the session finished its own clean close. */
  onEnded(): void;
  /** Dead link, idle timeout. */
  onFailed(err: VproxyError): void;
}

/** How a session reaches its peer and its endpoint. */
export interface SessionHost {
  readonly scheduler: KcpScheduler;
  /** Sends `buf[0, len)` (copied or sealed before returning) to the session's peer. */
  transmit(session: KcpSession, buf: Uint8Array, len: number): void;
  /** The session is over: forget it. */
  release(session: KcpSession): void;
}

export const SessionState = { Open: 0, Closing: 1, Closed: 2 } as const;
export type SessionState = (typeof SessionState)[keyof typeof SessionState];

export class KcpSession implements Scheduled {
  readonly conv: number;
  readonly peer: BoundAddress;
  readonly kcp: KcpControlBlock;
  /** Set when the endpoint encrypts: our nonces, and the peer's replay window. */
  readonly nonces: NonceSource | null;
  readonly replay: ReplayWindow | null;
  /** `kcp://` with `fec=`: this session's encoder and decoder (kcptun keeps its own). */
  readonly fec: SessionFec | null;
  sink: SessionSink | null = null;
  state: SessionState = SessionState.Open;
  /** Datagrams the arq rejected (dropped, not fatal: the port is open to anyone). */
  rejected = 0;
  /** The peer sent CLOSE. */
  peerClosed = false;

  dueAt = 0;
  heapIndex = -1;
  soonPending = false;

  readonly #host: SessionHost;
  readonly #config: SessionConfig;
  #lastHeard: number;
  #closeDeadline = 0;
  #onClosed: (() => void) | null = null;
  #heard = false;
  #onHeard: (() => void)[] = [];

  constructor(
    conv: number,
    peer: BoundAddress,
    host: SessionHost,
    config: SessionConfig,
    encrypted: boolean,
    fec: FecShards | null = null,
  ) {
    this.conv = conv;
    this.peer = peer;
    this.#host = host;
    this.#config = config;
    this.nonces = encrypted ? new NonceSource() : null;
    this.replay = encrypted ? new ReplayWindow() : null;
    this.fec = fec === null ? null : new SessionFec(conv, fec);
    this.kcp = new KcpControlBlock(conv, (buf, len) => host.transmit(this, buf, len), {
      ...config.kcp,
      stream: true,
    });
    const now = host.scheduler.now();
    this.#lastHeard = now;
    this.kcp.update(now);
    host.scheduler.schedule(this, now + this.kcp.delayUntilDue(now));
  }

  /**
   * Resolves once the peer was heard: a datagram of this session, or (a keyless client) the
   * listener's RETRY, which the endpoint reports with `peerHeard()`. A client's connect
   * returns before either (UDP has no handshake); the mux pool hands out its first stream on
   * this or on the mux handshake, whichever is first. Never rejects: a session that fails
   * first leaves it pending (its stream's failure says why).
   */
  whenPeerHeard(): Promise<void> {
    if (this.#heard) return Promise.resolve();
    return new Promise((resolve) => this.#onHeard.push(resolve));
  }

  /** The peer answered: a datagram for this session, or a RETRY for its conv. */
  peerHeard(): void {
    if (this.#heard) return;
    this.#heard = true;
    const waiters = this.#onHeard;
    this.#onHeard = [];
    for (const resolve of waiters) resolve();
  }

  /** A decrypted datagram from the peer. */
  input(plain: Uint8Array): void {
    if (this.state === SessionState.Closed) return;
    if (plain.length === HEADER_BYTES && plain[4] === CMD_CLOSE) {
      if (plain[5] === CLOSE_FEC_MISMATCH) this.#fecRefused();
      else this.#peerClose();
      return;
    }
    const scheduler = this.#host.scheduler;
    const now = scheduler.now();
    if (this.kcp.input(plain, now) < 0) {
      this.rejected++;
      return;
    }
    this.#lastHeard = now;
    if (!this.#heard) this.peerHeard();
    // Only ACKs to send, and they may wait (ack-delay): deliver to the reader now and let the
    // ACKs of the next few datagrams share one datagram (an update flushes them when due).
    if (this.kcp.holdsAcks(now)) scheduler.updateSoon(this);
    else scheduler.soon(this);
  }

  /** Queues bytes (the caller checked writableBytes); they leave in the next flush. */
  write(chunk: Uint8Array): void {
    this.kcp.send(chunk);
    this.#host.scheduler.soon(this);
  }

  /** Ask for a flush soon (e.g. recv() reopened our window and the peer should hear it). */
  poke(): void {
    if (this.state !== SessionState.Closed) this.#host.scheduler.soon(this);
  }

  onSoon(now: number): void {
    if (this.state === SessionState.Closed || this.peerClosed) return;
    this.kcp.flush(now);
    this.#afterIo(now);
  }

  onDue(now: number): void {
    if (this.state === SessionState.Closed || this.peerClosed) return;
    this.kcp.update(now);
    if (this.kcp.isDead) {
      this.#fail(
        new KcpError(
          'ERR_KCP_DEAD_LINK',
          `kcp session ${this.conv} to ${this.peer.host}:${this.peer.port}: dead link (a segment was sent ${this.kcp.tunables.deadLink} times unacknowledged)`,
        ),
      );
      return;
    }
    const idle = this.#config.idleTimeoutMs;
    if (idle > 0 && now - this.#lastHeard > idle) {
      this.#fail(
        new VproxyError(
          'ERR_IDLE_TIMEOUT',
          `kcp session ${this.conv} to ${this.peer.host}:${this.peer.port}: nothing heard for ${idle} ms`,
        ),
      );
      return;
    }
    this.#afterIo(now);
  }

  /** Clean close: flush until everything is acknowledged (bounded), then CLOSE. */
  close(done: () => void): void {
    if (this.state === SessionState.Closed || this.peerClosed) {
      this.#finish(false);
      done();
      return;
    }
    this.#onClosed = done;
    if (this.state === SessionState.Closing) return;
    this.state = SessionState.Closing;
    const scheduler = this.#host.scheduler;
    this.#closeDeadline = scheduler.now() + this.#config.closeTimeoutMs;
    scheduler.soon(this);
  }

  /** Abort: tell the peer once, forget everything now. */
  destroy(): void {
    if (this.state === SessionState.Closed) return;
    if (!this.peerClosed) this.#sendClose(1);
    this.#finish(false);
  }

  #afterIo(now: number): void {
    const kcp = this.kcp;
    const sink = this.sink;
    if (sink !== null) {
      if (kcp.peekSize() > 0) sink.onReadable();
      if (this.state === SessionState.Closed) return;
      if (kcp.writableBytes > 0) sink.onWritable();
    }
    // The sink may have destroyed the session (re-read: TS narrowed the field above).
    if ((this.state as SessionState) === SessionState.Closed) return;
    if (this.state === SessionState.Closing && (kcp.waitSnd === 0 || now >= this.#closeDeadline)) {
      this.#sendClose(2);
      this.#finish(true);
      return;
    }
    this.#host.scheduler.schedule(this, now + kcp.delayUntilDue(now));
  }

  #peerClose(): void {
    this.peerClosed = true;
    // Nothing more to send to a peer that is gone; what the block holds can still be read.
    this.#host.scheduler.cancel(this);
    // Whatever the block already holds is still delivered; the sink ends after it.
    this.sink?.onEnded();
    if (this.state === SessionState.Closing) this.#finish(true);
  }

  /** The listener refused us: its fec= differs from ours. */
  #fecRefused(): void {
    this.#fail(
      new KcpError(
        'ERR_KCP_FEC_MISMATCH',
        `kcp session ${this.conv} to ${this.peer.host}:${this.peer.port}: the listener refused it because its fec= setting differs from ours (fec=${fecLabel(this.fec?.shards ?? null)}); both ends need the same fec=`,
      ),
    );
  }

  #sendClose(copies: number): void {
    const header = closeHeader(this.conv);
    for (let i = 0; i < copies; i++) this.#host.transmit(this, header, HEADER_BYTES);
  }

  #fail(err: VproxyError): void {
    const sink = this.sink;
    this.#finish(false);
    sink?.onFailed(err);
  }

  #finish(clean: boolean): void {
    if (this.state === SessionState.Closed) return;
    this.state = SessionState.Closed;
    this.#host.scheduler.cancel(this);
    this.#host.release(this);
    const done = this.#onClosed;
    this.#onClosed = null;
    if (clean) this.sink?.onEnded();
    done?.();
  }
}

/** The CLOSE control datagram (see the close convention above), with its reason byte. */
export function closeHeader(conv: number, reason = CLOSE_PLAIN): Uint8Array {
  const header = new Uint8Array(HEADER_BYTES);
  new DataView(header.buffer).setUint32(0, conv, true);
  header[4] = CMD_CLOSE;
  header[5] = reason;
  return header;
}
