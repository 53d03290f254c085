import { VproxyError } from '../../src/fd/errors.js';
import type { StreamFD } from '../../src/fd/stream-fd.js';
import { effectiveMaxStreams, type MuxOptions, muxConfig } from './config.js';
import { MuxError } from './errors.js';
import {
  encodeGoaway,
  encodePing,
  encodeRst,
  encodeSyn,
  Flag,
  FrameType,
  WireError,
  wireErrorName,
} from './frame.js';
import { inflatePayload } from './gzip.js';
import { frameTypeName } from './parser.js';
import { Phase, SessionCore } from './session-core.js';
import { EARLY_DATA_MAX, encodeSettings, MIN_FRAME_SETTING, type MuxSettings } from './settings.js';
import type { MuxStream } from './stream.js';

export type { MuxSessionEvents } from './session-core.js';

/** A reference peer has no window; bound what one gzip frame may inflate to. */
const LEGACY_INFLATE_MAX = 16 * 1024 * 1024;

/**
 * Many streams over one inner StreamFD: the h2streamed framing (spec §2) plus
 * per-stream flow control when both sides announce settings in the handshake.
 * Use MuxSession.client(inner) / MuxSession.server(inner); open streams with
 * openStream() (either side: the client opens odd ids, the server even ones;
 * a reference client can accept none, so legacy servers don't) and accept them
 * from the 'stream' event. Failures are typed VproxyErrors: sent to the peer as
 * GOAWAY, passed to every stream, reported by 'close'; the session never throws
 * into the event loop and never emits 'error'.
 */
export class MuxSession extends SessionCore {
  /** The stream of the DATA frame being parsed, and whether its payload is gzip. */
  #current: MuxStream | undefined;
  #currentGzip = false;
  /** Early open: streams announced before the server's SETTINGS, with the credit they assumed. */
  #early: [MuxStream, number][] = [];
  /** Early open: DATA bytes still to hand out before the server's SETTINGS. */
  #earlyBudget = 0;

  static client(inner: StreamFD, options?: MuxOptions): MuxSession {
    return new MuxSession('client', inner, options);
  }

  static server(inner: StreamFD, options?: MuxOptions): MuxSession {
    return new MuxSession('server', inner, options);
  }

  private constructor(role: 'client' | 'server', inner: StreamFD, options: MuxOptions = {}) {
    super(role, inner, muxConfig(options));
    if (role !== 'client' || inner.destroyed) return;
    if (this.config.early && !this.config.legacy) {
      // Our settings carry entries, so the server answers with its own: assume flow
      // control now and send within what any server of ours accepts (see settings.ts).
      this.earlyOpen = true;
      this.flow = true;
      this.#earlyBudget = EARLY_DATA_MAX;
      this.frameMax = Math.min(this.frameMax, MIN_FRAME_SETTING);
    }
    this.out.write(encodeSettings(this.config.legacy ? null : this.#ours()));
  }

  /** Client with early open: streams go out before the handshake and need no SYN-ACK to be used. */
  get early(): boolean {
    return this.config.early && !this.config.legacy && this.role === 'client';
  }

  /** Could openStream() succeed now (or once the handshake is done)? */
  get canOpen(): boolean {
    return (
      this.phase !== Phase.Closed &&
      !this.draining &&
      this.table.idsLeft &&
      this.table.localOpen < this.peer.maxStreams &&
      (this.flow || this.role === 'client' || this.phase === Phase.Handshake)
    );
  }

  /** Open a stream. Before the handshake it waits (SYN goes out once the peer has answered). */
  openStream(): MuxStream {
    if (this.phase === Phase.Closed) throw this.closedError();
    if (this.draining) {
      throw new MuxError('ERR_MUX_SESSION_CLOSED', 'mux session is closing: no new streams');
    }
    if (this.phase === Phase.Ready && !this.flow && this.role === 'server') throw legacyServer();
    if (!this.table.idsLeft) {
      throw new MuxError('ERR_MUX_LIMIT', 'mux session ran out of stream ids');
    }
    if (this.table.localOpen >= this.peer.maxStreams) throw this.#peerLimit();
    const stream = this.newStream(this.table.takeLocalId(), true);
    if (this.phase === Phase.Ready) this.#announce(stream);
    else if (this.earlyOpen) this.#announceEarly(stream);
    return stream;
  }

  /**
   * Graceful close: no new streams (the peer is told with GOAWAY), open ones
   * finish, then the inner stream is ended. Resolves when the inner stream closed.
   */
  close(): Promise<void> {
    const closed = this.closed();
    if (this.phase === Phase.Handshake) {
      this.fail(
        new MuxError('ERR_MUX_SESSION_CLOSED', 'mux session closed during its handshake'),
        false,
      );
    } else if (this.phase === Phase.Ready && !this.draining) {
      this.draining = true;
      if (this.flow) {
        this.writeControl(encodeGoaway(this.table.lastPeerId, WireError.NO_ERROR, 'closing'));
      }
      this.maybeFinishDrain();
    }
    return closed;
  }

  // ---- frames from the peer -------------------------------------------------

  onSettings(settings: MuxSettings | null): void {
    if (this.phase !== Phase.Handshake) {
      if (this.phase === Phase.Closed) return;
      throw new MuxError('ERR_MUX_PROTOCOL', 'SETTINGS after the handshake');
    }
    if (this.role === 'server') {
      // Answer in kind: a reference client gets the exact empty SETTINGS it expects.
      this.flow = settings !== null;
      this.out.write(encodeSettings(this.flow ? this.#ours() : null));
      this.earlyAllowance = this.flow ? Math.min(settings?.early ?? 0, EARLY_DATA_MAX) : 0;
    } else {
      this.flow = settings !== null && !this.config.legacy;
    }
    this.frameMax = this.config.maxFrame;
    if (this.flow && settings !== null) {
      this.peer = settings;
      this.frameMax = Math.min(settings.maxFrame, this.config.maxFrame);
    }
    this.becomeReady();
    // Streams announced early: the credit they assumed becomes the peer's window (a
    // reference server has none: their data then waits for its SYN-ACK, see canSend).
    const early = this.#early;
    this.#early = [];
    this.#earlyBudget = 0;
    for (const [stream, assumed] of early) stream.rebaseCredit(this.peer.window - assumed);
    // Streams opened during the handshake: announce those the peer allows (the early ones
    // count; a server refuses those beyond its limit with RST).
    let allowed = this.peer.maxStreams - early.length;
    for (const stream of this.table.all()) {
      if (!stream.isLocal || stream.announced) continue;
      if (!this.flow && this.role === 'server') this.#refuseLocal(stream, legacyServer());
      else if (allowed-- <= 0) this.#refuseLocal(stream, this.#peerLimit());
      else this.#announce(stream);
    }
    this.emit('ready');
  }

  onDataStart(streamId: number, flags: number, length: number): void {
    if (this.phase !== Phase.Ready) {
      this.#notReady(FrameType.DATA);
      return;
    }
    const stream = this.table.get(streamId);
    this.#current = stream;
    if (stream === undefined) {
      if (this.table.unlinger(streamId)) {
        // Data for a stream closed here: say so once, as TCP answers data after close().
        // (An empty FIN is the clean ending we were waiting for.)
        if (length > 0) this.writeControl(encodeRst(streamId));
      } else {
        this.table.checkKnown(streamId, 'DATA');
      }
      return;
    }
    this.#currentGzip = (flags & Flag.GZIP) !== 0;
    // A gzip payload is charged at its inflated size, once known.
    stream.dataHeader(this.#currentGzip ? 0 : length);
  }

  onDataChunk(_streamId: number, chunk: Buffer): void {
    const stream = this.#current;
    if (stream === undefined) return;
    if (!this.#currentGzip) {
      stream.deliver(chunk);
      return;
    }
    const room = Math.min(stream.receiveRoom, LEGACY_INFLATE_MAX);
    const data = inflatePayload(stream.id, chunk, room);
    stream.inflated(data.length);
    stream.deliver(data);
  }

  onDataEnd(_streamId: number, flags: number): void {
    const stream = this.#current;
    this.#current = undefined;
    if (stream !== undefined && (flags & Flag.END_STREAM) !== 0) stream.remoteFin();
  }

  onHeaders(streamId: number, flags: number): void {
    if (this.phase !== Phase.Ready) {
      this.#notReady(FrameType.HEADERS);
      return;
    }
    const table = this.table;
    const stream = table.get(streamId);
    if ((flags & Flag.END_STREAM) !== 0) {
      // RST. The reference answers with RST; a reset stream is gone on both sides, so we don't.
      if (stream !== undefined) stream.peerReset();
      else if (!table.unlinger(streamId)) table.checkKnown(streamId, 'RST');
      return;
    }
    if (!table.isPeerId(streamId)) {
      // SYN-ACK for a stream we opened (ignored if we already dropped it).
      if (stream !== undefined) stream.synAcked();
      else table.checkKnown(streamId, 'SYN-ACK');
      return;
    }
    if (stream !== undefined) return; // a repeated SYN is ignored, as in the reference
    table.acceptPeerId(streamId);
    if (
      this.draining ||
      table.peerOpen >= effectiveMaxStreams(this.config) ||
      this.listenerCount('stream') === 0
    ) {
      this.writeControl(encodeRst(streamId)); // refused; the session goes on
      return;
    }
    const accepted = this.newStream(streamId, false);
    accepted.opened(this.peer.window);
    this.writeControl(encodeSyn(streamId));
    this.emit('stream', accepted);
  }

  onPing(ack: boolean, payload: Buffer): void {
    if (this.phase !== Phase.Ready) {
      this.#notReady(FrameType.PING);
      return;
    }
    if (!ack) this.writeControl(encodePing(true, payload));
  }

  onGoaway(lastStreamId: number, code: number, reason: string): void {
    if (this.phase === Phase.Closed) return;
    const what = `${wireErrorName(code)}${reason ? `: ${reason}` : ''}`;
    if (this.phase === Phase.Ready && this.flow && code === WireError.NO_ERROR) {
      this.draining = true;
      // Streams the peer never saw will never be served: fail them now.
      for (const stream of this.table.all()) {
        if (stream.isLocal && stream.id > lastStreamId) stream.peerReset();
      }
      this.emit('goaway');
      this.maybeFinishDrain();
      return;
    }
    const message =
      this.phase === Phase.Handshake
        ? `mux peer refused the handshake (GOAWAY ${what})`
        : `mux peer sent GOAWAY (${what})`;
    this.fail(new MuxError('ERR_MUX_GOAWAY', message), false);
  }

  onWindowUpdate(streamId: number, increment: number): void {
    if (this.phase !== Phase.Ready) {
      this.#notReady(FrameType.WINDOW_UPDATE);
      return;
    }
    if (!this.flow) {
      throw new MuxError('ERR_MUX_PROTOCOL', 'WINDOW_UPDATE on a session without flow control');
    }
    const stream = this.table.get(streamId);
    if (stream !== undefined) stream.credit(increment);
    else this.table.checkKnown(streamId, 'WINDOW_UPDATE');
  }

  // ---- internals ------------------------------------------------------------

  protected streamGone(stream: MuxStream): void {
    if (this.#current === stream) this.#current = undefined;
  }

  #ours(): MuxSettings {
    return {
      window: this.config.window,
      maxFrame: this.config.maxFrame,
      maxStreams: effectiveMaxStreams(this.config),
      ...(this.earlyOpen ? { early: EARLY_DATA_MAX } : {}),
    };
  }

  /** Send the SYN of a locally opened stream (after the handshake; limits already checked). */
  #announce(stream: MuxStream): void {
    this.writeControl(encodeSyn(stream.id));
    stream.synSent(this.peer.window);
    this.wantWrite(stream);
  }

  /**
   * Early open: the SYN goes out now; the stream may send what is left of the session's
   * early budget (all of it for the first stream) until the server's SETTINGS arrive.
   */
  #announceEarly(stream: MuxStream): void {
    const credit = this.#earlyBudget;
    this.#earlyBudget = 0;
    this.#early.push([stream, credit]);
    this.writeControl(encodeSyn(stream.id));
    stream.synSent(credit);
    this.wantWrite(stream);
  }

  #refuseLocal(stream: MuxStream, err: Error): void {
    this.detach(stream, 'quiet');
    stream.sessionFailed(err);
  }

  #peerLimit(): VproxyError {
    const why = `mux peer allows ${this.peer.maxStreams} concurrent streams`;
    return new MuxError('ERR_MUX_LIMIT', why);
  }

  /** Before the handshake only SETTINGS (or GOAWAY) may come; after a failure nothing matters. */
  #notReady(type: number): void {
    if (this.phase === Phase.Closed) return;
    throw new MuxError(
      'ERR_MUX_PROTOCOL',
      `handshake message is invalid: expected SETTINGS, got ${frameTypeName(type)}`,
    );
  }
}

function legacyServer(): VproxyError {
  return new VproxyError(
    'ERR_NOT_SUPPORTED',
    'a reference (legacy) mux client cannot accept server-opened streams',
  );
}
