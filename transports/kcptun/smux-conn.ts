import { EventEmitter } from 'node:events';
import type { StreamFD } from '../../src/fd/stream-fd.js';
import { SmuxError, SmuxSession, type SmuxVersion } from '../smux/index.js';
import { SnappyFrameDecoder, SnappyFrameEncoder, SnappyFrameError } from '../snappy-frame/index.js';
import { SmuxStream, type SmuxStreamHost } from './smux-stream.js';

export interface SmuxConnectionOptions {
  readonly version: SmuxVersion;
  readonly client: boolean;
  /** Snappy framing over the whole smux byte stream (kcptun without --nocomp). */
  readonly compress: boolean;
  readonly keepAliveMs: number;
  readonly maxReceiveBuffer: number;
  readonly maxStreamBuffer: number;
  readonly kind: string;
}

export interface SmuxConnectionEvents {
  /** The peer opened a stream. */
  stream: [stream: SmuxStream];
  /** The connection is over (err null: closed locally). */
  close: [err: Error | null];
  /** Its last open stream ended (a closing listener then ends the connection). */
  idle: [];
}

/**
 * A SmuxSession (pure) bound to a StreamFD (a KCP session's stream) with kcptun's
 * optional snappy framing between them, a keepalive timer and one SmuxStream per smux
 * stream. Backpressure: a stream's write callback waits while the KCP stream's buffer is
 * full (and, v2, for the peer's window); the KCP stream is paused while smux holds
 * `maxReceiveBuffer` bytes its streams' readers have not taken.
 */
export class SmuxConnection extends EventEmitter<SmuxConnectionEvents> implements SmuxStreamHost {
  readonly session: SmuxSession;
  readonly #fd: StreamFD;
  readonly #options: SmuxConnectionOptions;
  readonly #streams = new Map<number, SmuxStream>();
  readonly #enc: SnappyFrameEncoder | null;
  readonly #dec: SnappyFrameDecoder | null;
  /** Writers waiting for the KCP stream to drain or a v2 window, by stream id. */
  readonly #waiting = new Map<number, (() => void)[]>();
  #blocked = false;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  readonly #onData = (chunk: Buffer): void => this.#input(chunk);
  readonly #deliver = (data: Buffer): void => this.session.input(data, Date.now());

  constructor(fd: StreamFD, options: SmuxConnectionOptions) {
    super();
    this.#fd = fd;
    this.#options = options;
    this.#enc = options.compress ? new SnappyFrameEncoder() : null;
    this.#dec = options.compress ? new SnappyFrameDecoder() : null;
    this.session = new SmuxSession(
      {
        version: options.version,
        client: options.client,
        now: Date.now(),
        keepAliveInterval: options.keepAliveMs,
        maxReceiveBuffer: options.maxReceiveBuffer,
        maxStreamBuffer: options.maxStreamBuffer,
      },
      {
        output: (bytes) => this.#output(bytes),
        accept: (sid) => this.#accept(sid),
        data: (sid, data) => {
          const s = this.#streams.get(sid);
          if (s === undefined) this.session.consumed(sid, data.length);
          else s.deliver(data);
          if (!this.session.wantsInput) this.#fd.pause();
        },
        fin: (sid) => this.#streams.get(sid)?.peerFin(),
        writable: (sid) => this.#wake(sid),
        closed: (err) => this.#onClosed(err),
      },
    );
    fd.on('data', this.#onData);
    fd.on('drain', () => {
      this.#blocked = false;
      for (const sid of [...this.#waiting.keys()]) this.#wake(sid);
    });
    fd.on('end', () => this.close(new SmuxError('ERR_SMUX_CLOSED', 'its kcp session ended')));
    fd.on('close', () => this.close(new SmuxError('ERR_SMUX_CLOSED', 'its kcp session closed')));
    fd.on('error', (err) => this.close(err));
    this.#arm();
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  get streamCount(): number {
    return this.#streams.size;
  }

  /** Opens a stream (SYN; smux has no answer to wait for). */
  openStream(): SmuxStream {
    if (this.#closed) throw new SmuxError('ERR_SMUX_CLOSED', 'session is closed');
    const sid = this.session.openStream();
    return this.#track(sid);
  }

  /** Ends the session: every stream fails, the KCP stream is closed. */
  close(err: Error | null = null): void {
    if (this.#closed) return;
    if (!this.session.isClosed) {
      this.session.close(err === null || err instanceof SmuxError ? err : null);
    }
    this.#finish(err);
  }

  // ---- SmuxStreamHost ------------------------------------------------------------

  write(sid: number, data: Uint8Array): void {
    if (!this.#closed) this.session.write(sid, data);
  }

  whenWritable(sid: number, cb: () => void): void {
    if (this.#closed || (!this.#blocked && !this.#queued(sid))) {
      cb();
      return;
    }
    const list = this.#waiting.get(sid);
    if (list === undefined) this.#waiting.set(sid, [cb]);
    else list.push(cb);
  }

  consumed(sid: number, n: number): void {
    if (this.#closed) return;
    this.session.consumed(sid, n);
    if (this.session.wantsInput && this.#fd.isPaused()) this.#fd.resume();
  }

  closeStream(sid: number): void {
    const had = this.#streams.delete(sid);
    this.#wake(sid);
    if (!this.#closed) this.session.closeStream(sid);
    if (had && !this.#closed && this.#streams.size === 0) this.emit('idle');
  }

  // ---- internals -----------------------------------------------------------------

  #queued(sid: number): boolean {
    // A v2 stream whose data waits for the peer's window: write() returned with a queue.
    return this.session.version === 2 && !this.session.write(sid, EMPTY);
  }

  #wake(sid: number): void {
    const list = this.#waiting.get(sid);
    if (list === undefined) return;
    if (!this.#closed && this.#streams.has(sid) && (this.#blocked || this.#queued(sid))) return;
    this.#waiting.delete(sid);
    for (const cb of list) cb();
  }

  #output(bytes: Buffer): void {
    if (this.#fd.destroyed) return;
    const out = this.#enc === null ? bytes : this.#enc.encode(bytes);
    if (!this.#fd.write(out)) this.#blocked = true;
    this.#arm();
  }

  #input(chunk: Buffer): void {
    try {
      if (this.#dec === null) this.session.input(chunk, Date.now());
      else this.#dec.push(chunk, this.#deliver);
    } catch (err) {
      if (err instanceof SnappyFrameError) this.close(err);
      else throw err;
    }
  }

  #accept(sid: number): void {
    const s = this.#track(sid);
    this.emit('stream', s);
  }

  #track(sid: number): SmuxStream {
    const fd = this.#fd;
    const s = new SmuxStream(this, sid, this.#options.kind, fd, fd);
    this.#streams.set(sid, s);
    return s;
  }

  /** One timer for the keepalive, at the session's next deadline. */
  #arm(): void {
    if (this.#closed || this.#timer !== null) return;
    const at = this.session.nextTimeout();
    if (!Number.isFinite(at)) return;
    this.#timer = setTimeout(
      () => {
        this.#timer = null;
        this.session.tick(Date.now());
        this.#arm();
      },
      Math.max(0, at - Date.now()),
    );
    this.#timer.unref(); // keepalive alone keeps nothing running
  }

  #onClosed(err: SmuxError | null): void {
    this.#finish(err);
  }

  #finish(err: Error | null): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const why = err ?? new SmuxError('ERR_SMUX_CLOSED', 'session closed');
    for (const s of [...this.#streams.values()]) s.fail(why);
    this.#streams.clear();
    for (const list of this.#waiting.values()) for (const cb of list) cb();
    this.#waiting.clear();
    this.#fd.off('data', this.#onData);
    if (!this.#fd.destroyed) this.#fd.destroy();
    this.emit('close', err);
  }
}

const EMPTY = new Uint8Array(0);
