import { Duplex } from 'node:stream';
import WebSocket from 'ws';
import { abortStream, type StreamFD } from '../../src/fd/stream-fd.js';
import { WsError } from './errors.js';
import { Keepalive } from './keepalive.js';
import type { FramedSettings } from './options.js';

/** How a peer broke the framing rules; listeners count these. */
export type Violation = 'oversized' | 'mask' | 'protocol';

export interface FramedHooks {
  onViolation?(kind: Violation): void;
  onPeerDead?(): void;
}

/**
 * A chunk larger than this goes out as several messages, so a peer's
 * max-payload (65536 at least, see options) is never exceeded by our own writes.
 */
export const MAX_MESSAGE_BYTES = 64 * 1024;

const SEND_BINARY = { binary: true } as const;
const EOF_MESSAGE = Buffer.alloc(0);
const NORMAL_CLOSURE = 1000;
const GOING_AWAY = 1001;
/** What ws reports for a close frame that carried no code: a plain close. */
const NO_STATUS = 1005;
const PROTOCOL_ERROR = 1002;
const UNSUPPORTED_DATA = 1003;

function classify(code: string | undefined): Violation {
  if (code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') return 'oversized';
  if (code === 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH') return 'oversized';
  if (code === 'WS_ERR_EXPECTED_MASK' || code === 'WS_ERR_UNEXPECTED_MASK') return 'mask';
  return 'protocol';
}

/**
 * A byte stream carried in WebSocket binary messages, as a StreamFD.
 *
 * Wire convention (both ends of this layer):
 * - every write becomes one or more non-empty binary messages;
 * - an EMPTY binary message means "end of my output" (WebSocket itself has no
 *   half-close), so `end()` here is `'end'` there while the other direction
 *   keeps flowing;
 * - a close frame ends both directions: 1000/1001 (or no code) read as a
 *   clean end, any other code (or a lost link) fails the stream;
 * - text messages, or messages after the EOF message, are protocol errors (1003 / 1002).
 *
 * Backpressure: when our reader stops taking data, the WebSocket (and so the
 * inner socket) is paused, so the kernel holds the excess; writes complete
 * only when the inner socket has taken the frame.
 *
 * Closing: `destroy()` sends a 1000 close; `destroy(err)` and
 * `resetAndDestroy()` reset the inner stream (TCP RST where there is one), so
 * the peer fails as after a TCP reset. 'close' is emitted once the inner
 * stream is closed.
 */
export class WsFramedStream extends Duplex implements StreamFD {
  readonly kind: string;
  readonly #ws: WebSocket;
  readonly #inner: StreamFD;
  readonly #hooks: FramedHooks;
  readonly #keepalive: Keepalive | null;
  #bytesRead = 0;
  #bytesWritten = 0;
  #controlHeard = 0;
  #readPaused = false;
  #eofReceived = false;
  #resetRequested = false;
  #failure: Error | null = null;
  #linkError: Error | null = null;
  #whenClosed: (() => void) | null = null;
  #idleTimer: NodeJS.Timeout | null = null;

  constructor(
    ws: WebSocket,
    inner: StreamFD,
    kind: string,
    settings: FramedSettings,
    hooks: FramedHooks = {},
  ) {
    super({ allowHalfOpen: true });
    this.kind = kind;
    this.#ws = ws;
    this.#inner = inner;
    this.#hooks = hooks;
    ws.binaryType = 'nodebuffer';
    ws.on('message', this.#onMessage);
    ws.on('ping', this.#onControl);
    ws.on('pong', this.#onControl);
    ws.on('error', this.#onError);
    ws.on('close', this.#onClose);
    inner.on('error', this.#onLinkError);
    this.#keepalive =
      settings.pingIntervalMs > 0
        ? new Keepalive(settings.pingIntervalMs, settings.pongTimeoutMs, {
            heard: () => this.#bytesRead + this.#controlHeard,
            readingPaused: () => this.#readPaused,
            ping: () => {
              if (this.#ws.readyState === WebSocket.OPEN) this.#ws.ping();
            },
            dead: (silentMs) => {
              this.#hooks.onPeerDead?.();
              this.destroy(
                new WsError(
                  'ERR_WS_PEER_DEAD',
                  `nothing heard from the websocket peer for ${silentMs} ms`,
                ),
              );
            },
          })
        : null;
    this.#keepalive?.start();
  }

  get bytesRead(): number {
    return this.#bytesRead;
  }

  get bytesWritten(): number {
    return this.#bytesWritten;
  }

  get remoteAddress(): string | undefined {
    return this.#inner.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.#inner.remotePort;
  }

  get localAddress(): string | undefined {
    return this.#inner.localAddress;
  }

  get localPort(): number | undefined {
    return this.#inner.localPort;
  }

  /** The subprotocol the server selected ('' for none). */
  get protocol(): string {
    return this.#ws.protocol;
  }

  /**
   * As `net.Socket#resetAndDestroy` (what `abortStream` looks for): the inner
   * stream is reset, so the peer fails as after a TCP RST instead of seeing a
   * clean close.
   */
  resetAndDestroy(): this {
    this.#resetRequested = true;
    return this.destroy();
  }

  /** As `net.Socket#setTimeout`: 'timeout' after `ms` without payload either way (pings do not count). */
  setTimeout(ms: number, callback?: () => void): this {
    if (callback) {
      if (ms === 0) this.removeListener('timeout', callback);
      else this.once('timeout', callback);
    }
    if (this.#idleTimer !== null) clearTimeout(this.#idleTimer);
    this.#idleTimer = ms > 0 && !this.destroyed ? setTimeout(this.#onIdle, ms) : null;
    return this;
  }

  override _read(): void {
    if (this.#readPaused) {
      this.#readPaused = false;
      this.#ws.resume();
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: WriteCallback): void {
    if (this.#ws.readyState !== WebSocket.OPEN) {
      callback(this.#notOpen());
      return;
    }
    this.#send(chunk, callback);
  }

  override _writev(chunks: { chunk: Buffer }[], callback: WriteCallback): void {
    if (this.#ws.readyState !== WebSocket.OPEN) {
      callback(this.#notOpen());
      return;
    }
    const last = chunks.length - 1;
    for (let i = 0; i < last; i++) this.#send((chunks[i] as { chunk: Buffer }).chunk, undefined);
    this.#send((chunks[last] as { chunk: Buffer }).chunk, callback);
  }

  override _final(callback: WriteCallback): void {
    // Closed already: the peer has nothing more to learn from us.
    if (this.#ws.readyState !== WebSocket.OPEN) callback();
    else this.#ws.send(EOF_MESSAGE, SEND_BINARY, callback);
  }

  override _destroy(err: Error | null, callback: (err: Error | null) => void): void {
    this.#keepalive?.stop();
    if (this.#idleTimer !== null) clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
    const ws = this.#ws;
    if (ws.readyState === WebSocket.CLOSED) {
      this.#detach();
      callback(err);
      return;
    }
    this.#whenClosed = () => callback(err);
    // A paused socket would never read the peer's close reply.
    if (this.#readPaused) ws.resume();
    if (ws.readyState === WebSocket.OPEN) {
      if (err || this.#resetRequested) abortStream(this.#inner);
      else ws.close(NORMAL_CLOSURE);
    }
    // CLOSING: ws is finishing a close handshake, bounded by its close timeout.
  }

  #send(chunk: Buffer, callback: WriteCallback | undefined): void {
    const length = chunk.length;
    if (length === 0) {
      // An empty message would read as EOF on the other side.
      callback?.();
      return;
    }
    this.#bytesWritten += length;
    this.#idleTimer?.refresh();
    let offset = 0;
    while (length - offset > MAX_MESSAGE_BYTES) {
      this.#ws.send(chunk.subarray(offset, offset + MAX_MESSAGE_BYTES), SEND_BINARY);
      offset += MAX_MESSAGE_BYTES;
    }
    this.#ws.send(offset === 0 ? chunk : chunk.subarray(offset), SEND_BINARY, callback);
  }

  #notOpen(): Error {
    return new WsError('ERR_WS_CLOSED', 'write after the websocket closed');
  }

  #violate(code: number, reason: string): void {
    this.#hooks.onViolation?.('protocol');
    this.#failure ??= new WsError('ERR_WS_PROTOCOL', `${reason} (closed with ${code})`);
    // The close frame goes first so that the peer learns why.
    this.#ws.close(code, reason);
    this.destroy(this.#failure);
  }

  #detach(): void {
    this.#ws.off('message', this.#onMessage);
    this.#inner.off('error', this.#onLinkError);
  }

  readonly #onMessage = (data: Buffer, isBinary: boolean): void => {
    if (this.destroyed) return;
    if (!isBinary) {
      this.#violate(UNSUPPORTED_DATA, 'text message on a binary stream');
      return;
    }
    if (this.#eofReceived) {
      this.#violate(PROTOCOL_ERROR, 'message after end of stream');
      return;
    }
    if (data.length === 0) {
      this.#eofReceived = true;
      this.#controlHeard++;
      this.push(null);
      return;
    }
    this.#bytesRead += data.length;
    this.#idleTimer?.refresh();
    if (!this.push(data) && !this.#readPaused) {
      this.#readPaused = true;
      this.#ws.pause();
    }
  };

  readonly #onControl = (): void => {
    this.#controlHeard++;
  };

  readonly #onLinkError = (err: Error): void => {
    this.#linkError ??= err;
  };

  readonly #onError = (err: Error & { code?: string }): void => {
    // ws reports frame violations here, after it has sent the matching close frame.
    this.#hooks.onViolation?.(classify(err.code));
    this.#failure ??= new WsError(
      'ERR_WS_PROTOCOL',
      `websocket protocol error: ${err.message}${err.code ? ` (${err.code})` : ''}`,
      { cause: err },
    );
    this.destroy(this.#failure);
  };

  readonly #onClose = (code: number, reason: Buffer): void => {
    this.#keepalive?.stop();
    this.#detach();
    const whenClosed = this.#whenClosed;
    if (whenClosed !== null) {
      this.#whenClosed = null;
      whenClosed();
      return;
    }
    if (this.destroyed || this.#eofReceived) return;
    const clean = code === NORMAL_CLOSURE || code === GOING_AWAY || code === NO_STATUS;
    if (clean && this.#failure === null) {
      // A plain close without our EOF message: a clean end of both directions.
      this.#eofReceived = true;
      this.push(null);
      return;
    }
    const why = reason.length > 0 ? ` (${reason.toString()})` : '';
    this.destroy(
      this.#failure ??
        new WsError('ERR_WS_CLOSED', `websocket closed abnormally: code ${code}${why}`, {
          cause: this.#linkError ?? undefined,
        }),
    );
  };

  readonly #onIdle = (): void => {
    this.emit('timeout');
  };
}

type WriteCallback = (error?: Error | null) => void;
