import { EventEmitter } from 'node:events';
import { VproxyError } from '../../src/fd/errors.js';
import type { StreamFD } from '../../src/fd/stream-fd.js';
import type { MuxConfig } from './config.js';
import { MuxError } from './errors.js';
import {
  encodeFin,
  encodeGoaway,
  encodePing,
  encodeRst,
  encodeWindowUpdate,
  MAX_PAYLOAD,
  wireCodeFor,
} from './frame.js';
import { Keepalive } from './keepalive.js';
import { Outbound } from './outbound.js';
import { type FrameHandler, FrameParser } from './parser.js';
import type { MuxSettings } from './settings.js';
import { type Detach, MuxStream, type StreamOwner } from './stream.js';
import { StreamTable } from './stream-table.js';

export interface MuxSessionEvents {
  /** Handshake done: streams flow. */
  ready: [];
  /** The peer opened a stream. With no listener, peer streams are refused (RST). */
  stream: [stream: MuxStream];
  /** The peer is shutting down gracefully: open streams finish, no new ones. */
  goaway: [];
  /** The session has no streams left (a pool may close it after a while). */
  idle: [];
  /** The session and its inner stream are gone; `err` says why unless it ended cleanly. */
  close: [err: Error | undefined];
}

export enum Phase {
  Handshake,
  Ready,
  Closed,
}

/** After a failure or a clean end, the inner stream gets this long to flush a GOAWAY or FIN. */
const LINGER_MS = 2000;

/** What a reference peer "announces": no window, no frame limit, no stream limit. */
export const NO_LIMITS: MuxSettings = {
  window: Number.MAX_SAFE_INTEGER,
  maxFrame: MAX_PAYLOAD,
  maxStreams: 0xffff_ffff,
};

/**
 * The life of a session around its inner stream: reading it into the frame
 * parser, writing frames (Outbound), the stream table, the handshake timer,
 * keepalive, and the two ways to end: clean (#end: FIN once nothing is left)
 * and failed (fail: every stream gets the error, the peer a GOAWAY when it
 * should hear why). What the frames mean is MuxSession's business.
 */
export abstract class SessionCore
  extends EventEmitter<MuxSessionEvents>
  implements StreamOwner, FrameHandler
{
  readonly role: 'client' | 'server';
  readonly inner: StreamFD;
  protected readonly config: MuxConfig;
  protected readonly kind: string;
  protected readonly parser: FrameParser;
  protected readonly out: Outbound;
  protected readonly table: StreamTable;
  protected phase = Phase.Handshake;
  protected flow = false;
  protected peer: MuxSettings = NO_LIMITS;
  protected frameMax: number;
  protected draining = false;
  /**
   * A client opening streams before the handshake is done (early open): SYN, DATA, FIN and
   * RST go out already. Cleared when the handshake completes.
   */
  protected earlyOpen = false;
  /** Server: DATA bytes the client announced it may send before our SETTINGS reach it. */
  protected earlyAllowance = 0;
  /** Streams whose unread data stopped the tunnel (reference peers only). */
  #backlogged = 0;
  readonly #keepalive: Keepalive;
  #everReady = false;
  #handshakeTimer: NodeJS.Timeout | null = null;
  #lingerTimer: NodeJS.Timeout | null = null;
  #error: Error | undefined;
  #closeEmitted = false;

  protected constructor(role: 'client' | 'server', inner: StreamFD, config: MuxConfig) {
    super();
    this.role = role;
    this.inner = inner;
    this.config = config;
    this.kind = config.kind ?? `mux+${inner.kind ?? 'stream'}`;
    this.frameMax = config.maxFrame;
    this.table = new StreamTable(role);
    this.out = new Outbound(inner, config.gzip);
    this.parser = new FrameParser(this, { maxData: config.maxFrame, maxGzip: config.maxFrame });
    this.#keepalive = new Keepalive(config.pingMs, config.pingTimeoutMs, {
      ping: (id) => this.writeControl(encodePing(false, id)),
      dead: (ms) => {
        const why = `mux peer silent ${ms} ms after a PING`;
        this.fail(new MuxError('ERR_MUX_KEEPALIVE_TIMEOUT', why), false);
      },
      paused: () => this.#backlogged > 0,
    });
    inner.on('data', this.#onInnerData);
    inner.on('end', this.#onInnerEnd);
    inner.on('error', this.#onInnerError);
    inner.on('close', this.#onInnerClose);
    // A listener may hand us a paused socket (pauseOnConnect): we read from now on.
    inner.resume();
    if (inner.destroyed) {
      queueMicrotask(this.#onInnerClose);
      return;
    }
    // Both sides time the handshake (the reference server never reaps a silent client).
    const ms = config.handshakeTimeoutMs;
    this.#handshakeTimer = setTimeout(() => {
      const why = `mux handshake: no SETTINGS from the peer within ${ms} ms`;
      this.fail(new VproxyError('ERR_HANDSHAKE_TIMEOUT', why), true);
    }, ms).unref();
  }

  abstract onDataStart(streamId: number, flags: number, length: number): void;
  abstract onDataChunk(streamId: number, chunk: Buffer): void;
  abstract onDataEnd(streamId: number, flags: number): void;
  abstract onHeaders(streamId: number, flags: number): void;
  abstract onSettings(settings: MuxSettings | null): void;
  abstract onPing(ack: boolean, payload: Buffer): void;
  abstract onGoaway(lastStreamId: number, code: number, reason: string): void;
  abstract onWindowUpdate(streamId: number, increment: number): void;

  get isReady(): boolean {
    return this.phase === Phase.Ready;
  }

  /** The handshake completed at some point (so a failure is not a handshake error). */
  get everReady(): boolean {
    return this.#everReady;
  }

  get isClosed(): boolean {
    return this.phase === Phase.Closed;
  }

  /** Negotiated per-stream flow control (false with a reference peer, or before the handshake). */
  get flowControl(): boolean {
    return this.flow;
  }

  get sendFrameMax(): number {
    return this.frameMax;
  }

  /** Streams the session carries now (both directions). */
  get streamCount(): number {
    return this.table.size;
  }

  /** Streams this side opened that are still alive. */
  get localStreamCount(): number {
    return this.table.localOpen;
  }

  /**
   * Resolves once the handshake is done; rejects if the session closes first. Every caller
   * shares one promise (one 'ready' listener, however many streams wait: 100 opening at once
   * used to trip the EventEmitter leak warning).
   */
  whenReady(): Promise<void> {
    if (this.phase === Phase.Ready) return Promise.resolve();
    if (this.phase === Phase.Closed) return Promise.reject(this.closedError());
    if (this.#ready === null) {
      this.#ready = new Promise((resolve, reject) => {
        const onReady = () => {
          this.#failReady = null;
          resolve();
        };
        // Rejected as soon as the session fails, not when the inner stream has
        // finally closed (that can take the whole linger time over a lossy transport).
        const onFail = (err: Error) => {
          this.off('ready', onReady);
          reject(err);
        };
        this.once('ready', onReady);
        this.#failReady = onFail;
      });
      // Nobody may be waiting any more when the session fails: not an unhandled rejection.
      this.#ready.catch(() => {});
    }
    return this.#ready;
  }

  #ready: Promise<void> | null = null;
  /** Rejects #ready; set while it is pending. */
  #failReady: ((err: Error) => void) | null = null;

  #rejectReady(): void {
    const fail = this.#failReady;
    this.#failReady = null;
    fail?.(this.closedError());
  }

  /** Fail now: every stream errors with `err` (default ERR_MUX_SESSION_CLOSED), the peer gets GOAWAY. */
  destroy(err?: Error): void {
    this.fail(err ?? new MuxError('ERR_MUX_SESSION_CLOSED', 'mux session destroyed'), true);
  }

  // ---- StreamOwner ----------------------------------------------------------

  wantWrite(stream: MuxStream): void {
    if (this.phase === Phase.Ready || this.earlyOpen) this.out.schedule(stream);
  }

  get earlyLeft(): number {
    return this.earlyAllowance;
  }

  spendEarly(bytes: number): void {
    this.earlyAllowance -= bytes;
  }

  writeData(streamId: number, payload: Buffer): void {
    this.out.writeData(streamId, payload);
  }

  writeFin(streamId: number): void {
    this.out.write(encodeFin(streamId));
  }

  writeWindowUpdate(streamId: number, increment: number): void {
    if (this.phase === Phase.Ready) this.writeControl(encodeWindowUpdate(streamId, increment));
  }

  detach(stream: MuxStream, how: Detach): void {
    if (!this.table.remove(stream)) return;
    this.streamGone(stream);
    if (this.phase !== Phase.Ready && !this.earlyOpen) return;
    if (how === 'linger') {
      if (!stream.finSent) this.out.write(encodeFin(stream.id));
      if (!stream.finReceived && !this.table.linger(stream.id)) how = 'reset';
    }
    if (how === 'reset') this.writeControl(encodeRst(stream.id));
    if (this.table.size === 0) {
      this.emit('idle');
      this.maybeFinishDrain();
    }
  }

  legacyBacklog(_stream: MuxStream, over: boolean): void {
    this.#backlogged += over ? 1 : -1;
    if (this.phase !== Phase.Ready) return;
    // Without per-stream windows the only brake is to stop reading the tunnel.
    if (this.#backlogged > 0) this.inner.pause();
    else this.inner.resume();
  }

  // ---- for MuxSession -------------------------------------------------------

  /** A stream left the table (MuxSession forgets any reference to it). */
  protected abstract streamGone(stream: MuxStream): void;

  protected newStream(id: number, local: boolean): MuxStream {
    const stream = new MuxStream(this, {
      id,
      kind: this.kind,
      local,
      recvWindow: this.config.window,
      inner: this.inner,
    });
    this.table.add(stream);
    return stream;
  }

  /** The handshake settled the mode: start the session proper. */
  protected becomeReady(): void {
    if (!this.flow) this.parser.setLimits({ maxData: MAX_PAYLOAD, maxGzip: MAX_PAYLOAD });
    this.out.setFrameMax(this.frameMax);
    this.phase = Phase.Ready;
    this.earlyOpen = false;
    this.#everReady = true;
    if (this.#handshakeTimer !== null) clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = null;
    this.#keepalive.start();
    if (this.#backlogged > 0) this.inner.pause();
  }

  /** Control frames always go out; a peer that lets them pile up unread is cut off. */
  protected writeControl(frame: Buffer): void {
    if (this.phase === Phase.Closed || this.out.writeControl(frame)) return;
    const why = `mux peer is not reading: ${this.inner.writableLength} bytes queued towards it`;
    this.fail(new MuxError('ERR_MUX_LIMIT', why), false);
  }

  protected maybeFinishDrain(): void {
    if (this.draining && this.table.size === 0 && this.phase === Phase.Ready) this.#end();
  }

  protected fail(err: Error, tellPeer: boolean): void {
    if (this.phase === Phase.Closed) return;
    const wasReady = this.phase === Phase.Ready;
    this.phase = Phase.Closed;
    this.earlyOpen = false;
    this.#error = err;
    this.#rejectReady();
    this.#stopTimers();
    this.out.clear();
    for (const stream of this.table.clear()) {
      this.streamGone(stream);
      stream.sessionFailed(err);
    }
    if (tellPeer && !this.inner.destroyed && this.inner.writable) {
      // Before the handshake the peer may be a reference client: it reads the reason too.
      const last = wasReady ? this.table.lastPeerId : 0;
      this.out.write(encodeGoaway(last, wireCodeFor((err as VproxyError).code), err.message));
      this.inner.end();
      this.#linger();
    } else {
      this.inner.destroy();
    }
  }

  protected closedError(): Error {
    return this.#error ?? new MuxError('ERR_MUX_SESSION_CLOSED', 'mux session is closed');
  }

  /** Resolves once 'close' was emitted. */
  protected closed(): Promise<void> {
    return new Promise<void>((resolve) => {
      if (this.#closeEmitted) resolve();
      else this.once('close', () => resolve());
    });
  }

  // ---- the inner stream -----------------------------------------------------

  readonly #onInnerData = (chunk: Buffer): void => {
    this.#keepalive.heard();
    try {
      this.parser.push(chunk);
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)), true);
    }
  };

  readonly #onInnerEnd = (): void => {
    if (this.phase === Phase.Closed) return;
    const open = this.table.size;
    if (this.phase === Phase.Ready && open === 0) {
      this.#end();
      return;
    }
    const what =
      this.phase === Phase.Handshake ? 'during the handshake' : `with ${open} streams open`;
    const why = `mux peer ended the session ${what}`;
    this.fail(new MuxError('ERR_MUX_SESSION_CLOSED', why), false);
  };

  readonly #onInnerError = (err: Error): void => {
    const why = `mux inner stream failed: ${err.message}`;
    this.fail(new MuxError('ERR_MUX_SESSION_CLOSED', why, { cause: err }), false);
  };

  readonly #onInnerClose = (): void => {
    this.fail(new MuxError('ERR_MUX_SESSION_CLOSED', 'mux inner stream closed'), false);
    if (this.#lingerTimer !== null) clearTimeout(this.#lingerTimer);
    this.#lingerTimer = null;
    if (this.#closeEmitted) return;
    this.#closeEmitted = true;
    this.inner.off('data', this.#onInnerData);
    this.inner.off('end', this.#onInnerEnd);
    this.emit('close', this.#error);
  };

  /** Clean end, nothing left to carry: end our side; the inner stream closes when both are done. */
  #end(): void {
    this.phase = Phase.Closed;
    this.#rejectReady();
    this.#stopTimers();
    this.inner.end();
    this.#linger();
  }

  /** Give an ended inner stream a moment to flush and close; then cut it. */
  #linger(): void {
    if (this.#lingerTimer !== null || this.inner.destroyed) return;
    this.#lingerTimer = setTimeout(() => this.inner.destroy(), LINGER_MS).unref();
  }

  #stopTimers(): void {
    if (this.#handshakeTimer !== null) clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = null;
    this.#keepalive.stop();
  }
}
