import { Duplex } from 'node:stream';
import type { VproxyError } from '../../../src/fd/errors.js';
import type { StreamFD } from '../../../src/fd/stream-fd.js';
import { KcpError } from '../errors.js';
import { type KcpSession, type SessionSink, SessionState } from './session.js';

/** Largest chunk pushed to the reader at once. */
const READ_CHUNK = 64 * 1024;

type WriteCallback = (err?: Error | null) => void;

/**
 * A StreamFD over one KCP session (stream mode). Writes go into the control block only as
 * far as its send window allows; the rest of a chunk waits, and its callback is called only
 * once all of it was accepted, so backpressure reaches the writer. Reads pull from the block
 * while push() says yes and stop otherwise; the unread data stays in the block, whose
 * shrinking receive window then slows the peer.
 *
 * There is no half-close on a raw KCP session: end() flushes, says CLOSE, and the peer's
 * readable side ends; a received CLOSE ends ours and then the whole stream (allowHalfOpen is
 * off). Per-stream half-close is what the mux layer on top provides.
 */
export class KcpStream extends Duplex implements StreamFD, SessionSink {
  readonly kind: string;
  readonly session: KcpSession;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  bytesRead = 0;
  bytesWritten = 0;

  #reading = false;
  #ended = false;
  #pending: Uint8Array | null = null;
  #pendingOffset = 0;
  #pendingCb: WriteCallback | null = null;
  #idleMs = 0;
  #idleTimer: NodeJS.Timeout | null = null;
  #lastActivity = 0;
  readonly #onIdleTimer = (): void => this.#checkIdle();

  constructor(session: KcpSession, local: { host: string; port: number }, kind = 'kcp') {
    super({ allowHalfOpen: false });
    this.kind = kind;
    this.session = session;
    this.remoteAddress = session.peer.host;
    this.remotePort = session.peer.port;
    this.localAddress = local.host;
    this.localPort = local.port;
    session.sink = this;
  }

  /** Resolves once the peer answered (KcpSession.whenPeerHeard); the mux pool reads it. */
  whenPeerHeard(): Promise<void> {
    return this.session.whenPeerHeard();
  }

  setTimeout(ms: number, callback?: () => void): this {
    this.#idleMs = ms;
    if (callback) this.once('timeout', callback);
    if (this.#idleTimer !== null) {
      clearTimeout(this.#idleTimer);
      this.#idleTimer = null;
    }
    if (ms > 0) {
      this.#lastActivity = Date.now();
      this.#idleTimer = setTimeout(this.#onIdleTimer, ms);
    }
    return this;
  }

  // ---- writable side ----------------------------------------------------------

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: WriteCallback): void {
    if (this.session.state !== SessionState.Open || this.session.peerClosed) {
      callback(closedError());
      return;
    }
    this.#pending = chunk;
    this.#pendingOffset = 0;
    this.#pendingCb = callback;
    this.#pushPending();
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.session.close(() => callback());
  }

  /** Moves as much of the pending chunk into the block as its window takes. */
  #pushPending(): void {
    const chunk = this.#pending;
    if (chunk === null) return;
    const session = this.session;
    const room = session.kcp.writableBytes;
    if (room <= 0) return;
    const offset = this.#pendingOffset;
    const rest = chunk.length - offset;
    const n = Math.min(rest, room);
    session.write(offset === 0 && n === chunk.length ? chunk : chunk.subarray(offset, offset + n));
    this.bytesWritten += n;
    this.#activity();
    if (n < rest) {
      this.#pendingOffset = offset + n;
      return;
    }
    const cb = this.#pendingCb as WriteCallback;
    this.#pending = null;
    this.#pendingCb = null;
    cb();
  }

  // ---- readable side ----------------------------------------------------------

  override _read(): void {
    this.#reading = true;
    this.#pull();
  }

  #pull(): void {
    const kcp = this.session.kcp;
    // The peer may be held back by our window only when the unread data filled much of it;
    // otherwise the next interval tick tells it our window (a flush per read is a flush per
    // datagram received).
    const wasFull = kcp.readableBytes * 2 >= kcp.tunables.rcvWnd * kcp.mss;
    let got = false;
    while (this.#reading) {
      const size = kcp.peekSize();
      if (size <= 0) break;
      const buf = Buffer.allocUnsafe(Math.min(size, READ_CHUNK));
      const n = kcp.recv(buf, 0);
      if (n <= 0) break;
      got = true;
      this.bytesRead += n;
      if (!this.push(n === buf.length ? buf : buf.subarray(0, n))) this.#reading = false;
    }
    if (got) {
      this.#activity();
      if (wasFull) this.session.poke(); // our window may have reopened: let the peer know
    }
    if (this.#ended && kcp.peekSize() <= 0) this.push(null);
  }

  // ---- SessionSink --------------------------------------------------------------

  onReadable(): void {
    if (this.#reading) this.#pull();
  }

  onWritable(): void {
    this.#pushPending();
  }

  onEnded(): void {
    if (this.#ended) return;
    this.#ended = true;
    const cb = this.#pendingCb;
    if (cb !== null) {
      this.#pending = null;
      this.#pendingCb = null;
      cb(closedError());
    }
    // Deliver what the block holds, then EOF (now if the reader is waiting).
    if (this.#reading || this.session.kcp.peekSize() <= 0) this.#pull();
  }

  onFailed(err: VproxyError): void {
    this.destroy(err);
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    if (this.#idleTimer !== null) clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
    this.session.destroy();
    const cb = this.#pendingCb;
    this.#pending = null;
    this.#pendingCb = null;
    cb?.(err ?? closedError());
    callback(err);
  }

  // ---- idle timeout (net.Socket#setTimeout semantics) ---------------------------

  #activity(): void {
    if (this.#idleMs <= 0) return;
    this.#lastActivity = Date.now();
    if (this.#idleTimer === null) this.#idleTimer = setTimeout(this.#onIdleTimer, this.#idleMs);
  }

  #checkIdle(): void {
    this.#idleTimer = null;
    if (this.#idleMs <= 0 || this.destroyed) return;
    const left = this.#lastActivity + this.#idleMs - Date.now();
    if (left > 0) {
      this.#idleTimer = setTimeout(this.#onIdleTimer, left);
      return;
    }
    // Re-armed by the next activity, like net.Socket.
    this.emit('timeout');
  }
}

function closedError(): VproxyError {
  return new KcpError('ERR_KCP_CLOSED', 'kcp session is closed');
}
