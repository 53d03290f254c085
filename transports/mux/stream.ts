import { Duplex } from 'node:stream';
import type { StreamFD } from '../../src/fd/stream-fd.js';
import { MuxError } from './errors.js';
import { MAX_WINDOW } from './frame.js';
import { ReceiveWindow } from './receive-window.js';

/** What a stream needs from its session. Implemented by MuxSession. */
export interface StreamOwner {
  /** Negotiated per-stream flow control (false with a reference peer). */
  readonly flowControl: boolean;
  /** The largest DATA payload to put in one frame. */
  readonly sendFrameMax: number;
  /** The stream has data or a FIN to send, or got credit: send now or queue it. */
  wantWrite(stream: MuxStream): void;
  writeData(streamId: number, payload: Buffer): void;
  writeFin(streamId: number): void;
  writeWindowUpdate(streamId: number, increment: number): void;
  /**
   * The stream is gone: forget it. `quiet`: the peer needs no word (both FINs
   * done, never announced, or the peer reset it). `reset`: send RST. `linger`:
   * TCP's close(): send our FIN if not sent yet, and RST only if the peer
   * sends more data before its own FIN.
   */
  detach(stream: MuxStream, how: Detach): void;
  /** Without flow control: a stream's unread data crossed its window (pause the tunnel) or fell back. */
  legacyBacklog(stream: MuxStream, over: boolean): void;
  /**
   * Server: bytes the client may still send beyond a stream's window, once per session
   * (its early data, announced in its SETTINGS, may exceed a window below EARLY_DATA_MAX).
   */
  readonly earlyLeft: number;
  spendEarly(bytes: number): void;
}

export type Detach = 'quiet' | 'reset' | 'linger';

/** Where the stream is in its opening handshake. */
enum Phase {
  /** Opened locally before the session handshake finished: SYN not sent yet. */
  Waiting,
  SynSent,
  Open,
}

export interface MuxStreamInit {
  readonly id: number;
  readonly kind: string;
  /** True when this side opened the stream (it then waits for SYN-ACK). */
  readonly local: boolean;
  /** Bytes we accept before granting more: the window we advertised. */
  readonly recvWindow: number;
  readonly inner: StreamFD;
}

/**
 * One stream of a mux session: a StreamFD (Duplex + net.Socket extras) whose
 * bytes travel as DATA frames. Reads are zero-copy slices of the inner stream's
 * chunks; what the peer may send is bounded by a ReceiveWindow (credit returned
 * only for consumed bytes). Writes take one chunk at a time and complete once handed
 * to the inner stream, so the Writable's own buffer and 'drain' give the writer
 * back-pressure from both the peer's window and the inner stream.
 */
export class MuxStream extends Duplex implements StreamFD {
  readonly kind: string;
  readonly id: number;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly localAddress: string | undefined;
  readonly localPort: number | undefined;
  /** True until the peer acknowledged a locally opened stream (then 'connect' is emitted). */
  connecting: boolean;
  /** @internal Session bookkeeping: the stream is in the session's write queue. */
  queued = false;

  readonly #owner: StreamOwner;
  readonly #local: boolean;
  #phase: Phase;
  #bytesRead = 0;
  #bytesWritten = 0;
  #finSent = false;
  #finReceived = false;
  #detached = false;
  #forceReset = false;
  #inSend = false;
  // Sending: the chunk being moved out and the peer's credit for us.
  #sendCredit = 0;
  #pending: Buffer | null = null;
  #pendingAt = 0;
  #pendingCb: ((err?: Error | null) => void) | null = null;
  #finCb: ((err?: Error | null) => void) | null = null;
  // Receiving: the window we advertised and the credit returned for it.
  readonly #recv: ReceiveWindow;
  // net.Socket#setTimeout semantics.
  #idleTimer: NodeJS.Timeout | null = null;
  readonly #onIdle = () => this.emit('timeout');

  constructor(owner: StreamOwner, init: MuxStreamInit) {
    // The window bounds what we buffer; a high-water mark at the window keeps
    // the Readable asking (_read) for more while it holds less than that.
    super({
      allowHalfOpen: true,
      readableHighWaterMark: init.recvWindow,
      writableHighWaterMark: 64 * 1024,
    });
    this.#owner = owner;
    this.id = init.id;
    this.kind = init.kind;
    this.#local = init.local;
    this.#phase = init.local ? Phase.Waiting : Phase.Open;
    this.connecting = init.local;
    this.#recv = new ReceiveWindow(owner, this, init.recvWindow);
    this.remoteAddress = init.inner.remoteAddress;
    this.remotePort = init.inner.remotePort;
    this.localAddress = init.inner.localAddress;
    this.localPort = init.inner.localPort;
  }

  get bytesRead(): number {
    return this.#bytesRead;
  }

  get bytesWritten(): number {
    return this.#bytesWritten;
  }

  /** True for streams this side opened (odd ids on a client, even on a server). */
  get isLocal(): boolean {
    return this.#local;
  }

  setTimeout(ms: number, callback?: () => void): this {
    if (this.#idleTimer !== null) {
      clearTimeout(this.#idleTimer);
      this.#idleTimer = null;
    }
    if (ms === 0) {
      if (callback) this.removeListener('timeout', callback);
      return this;
    }
    if (!this.destroyed) this.#idleTimer = setTimeout(this.#onIdle, ms).unref();
    if (callback) this.once('timeout', callback);
    return this;
  }

  /** Abort with RST, as net.Socket#resetAndDestroy (so the proxy's abort path resets the peer). */
  resetAndDestroy(): this {
    this.#forceReset = true;
    return this.destroy();
  }

  // ---- session → stream ---------------------------------------------------

  /** @internal The SYN went out; with flow control, data may follow at once. */
  synSent(initialCredit: number): void {
    this.#phase = Phase.SynSent;
    this.#sendCredit = initialCredit;
  }

  /**
   * @internal The peer's SETTINGS arrived after an early SYN: the credit we assumed
   * becomes the peer's window (`delta` = window − assumed; credit may go below zero).
   */
  rebaseCredit(delta: number): void {
    this.#sendCredit += delta;
    if (this.#pending !== null || this.#finCb !== null) this.#owner.wantWrite(this);
  }

  /** @internal A peer-opened stream starts with the peer's window as credit. */
  opened(initialCredit: number): void {
    this.#sendCredit = initialCredit;
  }

  /** @internal */
  synAcked(): void {
    if (this.#phase !== Phase.SynSent) return;
    this.#phase = Phase.Open;
    this.connecting = false;
    this.emit('connect');
    this.#owner.wantWrite(this);
  }

  /** @internal May DATA/FIN frames go out now (SYN sent; SYN-ACK too without flow control)? */
  get canSend(): boolean {
    if (this.#detached) return false;
    return this.#phase === Phase.Open || (this.#phase === Phase.SynSent && this.#owner.flowControl);
  }

  /** @internal Did our FIN go out? */
  get finSent(): boolean {
    return this.#finSent;
  }

  /** @internal Did the peer's FIN arrive? */
  get finReceived(): boolean {
    return this.#finReceived;
  }

  /** @internal Was a SYN sent (so the peer knows this stream)? */
  get announced(): boolean {
    return this.#phase !== Phase.Waiting;
  }

  /** @internal A DATA frame of `length` bytes starts; check it against our window. */
  dataHeader(length: number): void {
    if (this.#finReceived) {
      throw new MuxError('ERR_MUX_PROTOCOL', `DATA on stream ${this.id} after its END_STREAM`);
    }
    this.#recv.account(length);
  }

  /** @internal An inflated gzip payload: account it like a frame of its real size. */
  inflated(length: number): void {
    this.#recv.account(length);
  }

  /** @internal How many more bytes the peer may send (Infinity without flow control). */
  get receiveRoom(): number {
    return this.#recv.room;
  }

  /** @internal A slice of a DATA payload. */
  deliver(chunk: Buffer): void {
    if (this.destroyed || this.#finReceived) return;
    const n = chunk.length;
    this.#bytesRead += n;
    this.#recv.pushed(n);
    this.#idleTimer?.refresh();
    this.push(chunk);
    // In flowing mode with nothing buffered, push() emitted 'data' already: consumed.
    this.#consumed();
  }

  /** @internal The peer finished sending (FIN). */
  remoteFin(): void {
    if (this.#finReceived) return;
    this.#finReceived = true;
    this.#recv.releaseBacklog();
    if (!this.destroyed) this.push(null);
    this.#maybeRetire();
  }

  /** @internal WINDOW_UPDATE for this stream. */
  credit(increment: number): void {
    this.#sendCredit += increment;
    if (this.#sendCredit > MAX_WINDOW) {
      throw new MuxError(
        'ERR_MUX_FLOW_CONTROL',
        `WINDOW_UPDATE on stream ${this.id} grows its window past ${MAX_WINDOW}`,
      );
    }
    if (this.#pending !== null) this.#owner.wantWrite(this);
  }

  /** @internal The peer reset the stream (or refused it). */
  peerReset(): void {
    const what = this.#phase === Phase.SynSent ? 'refused' : 'reset';
    if (!this.#detached) {
      this.#detached = true;
      this.#owner.detach(this, 'quiet');
    }
    this.destroy(new MuxError('ERR_MUX_RESET', `mux stream ${this.id} ${what} by the peer`));
  }

  /** @internal The session died: the stream goes with it, nothing more is sent. */
  sessionFailed(err: Error): void {
    this.#detached = true;
    this.destroy(err);
  }

  /**
   * @internal Send at most one frame. Returns true when more could be sent
   * right away (data with credit left, or a FIN), so the session re-queues us.
   */
  sendOne(): boolean {
    if (!this.canSend) return false;
    this.#inSend = true;
    try {
      const pending = this.#pending;
      if (pending !== null) {
        const credit = this.#sendCredit;
        if (credit <= 0) return false; // WINDOW_UPDATE will call wantWrite
        const at = this.#pendingAt;
        const n = Math.min(pending.length - at, credit, this.#owner.sendFrameMax);
        this.#owner.writeData(
          this.id,
          at === 0 && n === pending.length ? pending : pending.subarray(at, at + n),
        );
        this.#sendCredit = credit - n;
        this.#bytesWritten += n;
        this.#idleTimer?.refresh();
        if (at + n < pending.length) {
          this.#pendingAt = at + n;
        } else {
          const cb = this.#pendingCb;
          this.#pending = null;
          this.#pendingCb = null;
          // May synchronously call _write with the next chunk (see #inSend).
          cb?.();
        }
      } else if (this.#finCb !== null) {
        const cb = this.#finCb;
        this.#finCb = null;
        this.#owner.writeFin(this.id);
        this.#finSent = true;
        cb();
        this.#maybeRetire();
        return false;
      }
      return this.#hasWork();
    } finally {
      this.#inSend = false;
    }
  }

  #hasWork(): boolean {
    if (!this.canSend) return false;
    if (this.#pending !== null) return this.#sendCredit > 0;
    return this.#finCb !== null;
  }

  // ---- Duplex -------------------------------------------------------------

  // Data is pushed as frames arrive; there is nothing to fetch on demand.
  override _read(): void {}

  /**
   * Every byte leaves the Readable buffer through read() (flowing mode calls it
   * too) or is emitted straight from push(): those are the two places where
   * consumption happens, so credit is computed there. (_read is no use: the
   * Readable calls it before it removes the chunk being read, and not at all
   * while it thinks a read is outstanding.)
   */
  override read(size?: number): ReturnType<Duplex['read']> {
    const chunk = super.read(size);
    if (chunk !== null) this.#consumed();
    return chunk;
  }

  override _write(
    chunk: Buffer,
    _encoding: BufferEncoding,
    cb: (err?: Error | null) => void,
  ): void {
    this.#pending = chunk;
    this.#pendingAt = 0;
    this.#pendingCb = cb;
    // Inside sendOne (a write callback wrote again), the session loop picks it up.
    if (!this.#inSend) this.#owner.wantWrite(this);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.#finCb = cb;
    if (!this.#inSend) this.#owner.wantWrite(this);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (this.#idleTimer !== null) {
      clearTimeout(this.#idleTimer);
      this.#idleTimer = null;
    }
    this.#recv.releaseBacklog();
    if (!this.#detached) {
      this.#detached = true;
      // As net.Socket: resetAndDestroy() or unread data resets; a plain destroy() closes.
      let how: Detach = 'linger';
      if (this.#phase === Phase.Waiting) how = 'quiet';
      else if (this.#forceReset || this.readableLength > 0) how = 'reset';
      this.#owner.detach(this, how);
    }
    const pendingCb = this.#pendingCb ?? this.#finCb;
    this.#pending = null;
    this.#pendingCb = null;
    this.#finCb = null;
    cb(err);
    // A write still waiting for credit fails, as on a socket destroyed mid-write.
    pendingCb?.(err ?? new MuxError('ERR_MUX_STREAM_DESTROYED', `mux stream ${this.id} destroyed`));
  }

  // ---- internals ----------------------------------------------------------

  /** Bytes left the Readable buffer: return credit (or, without flow control, unblock the tunnel). */
  #consumed(): void {
    this.#recv.consumed(this.readableLength, this.#finReceived || this.#detached);
  }

  /** Both directions finished: the session can forget the stream (its reader may still drain). */
  #maybeRetire(): void {
    if (this.#finSent && this.#finReceived && !this.#detached) {
      this.#detached = true;
      this.#owner.detach(this, 'quiet');
    }
  }
}
