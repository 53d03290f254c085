import { Duplex } from 'node:stream';
import type { StreamFD } from '../../src/fd/stream-fd.js';
import { SmuxError } from '../smux/index.js';

type Callback = (err?: Error | null) => void;

/** What a stream needs from its smux connection (SmuxConnection implements it). */
export interface SmuxStreamHost {
  /** Sends data (v2 may hold part of it for the peer's window). */
  write(sid: number, data: Uint8Array): void;
  /** Calls `cb` once the connection below can take more (KCP window, v2 window). */
  whenWritable(sid: number, cb: () => void): void;
  consumed(sid: number, n: number): void;
  /** FIN, and the session forgets the stream (smux has no half-close). */
  closeStream(sid: number): void;
}

/**
 * One smux stream as a StreamFD. smux has no half-close: end() sends FIN and the stream
 * is gone on both sides (kcptun closes both directions when either ends), so the
 * readable side ends with it; a FIN from the peer ends ours, then the writable side.
 * Reads count as consumed (session tokens, v2 window updates) when the reader takes them,
 * so a slow reader slows the peer instead of growing memory.
 */
export class SmuxStream extends Duplex implements StreamFD {
  readonly kind: string;
  readonly sid: number;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly localAddress: string | undefined;
  readonly localPort: number | undefined;
  bytesRead = 0;
  bytesWritten = 0;
  readonly #host: SmuxStreamHost;
  /** Bytes pushed while the reader was full: reported as consumed on the next _read. */
  #owed = 0;
  #fin = false;
  #idleMs = 0;
  #idleTimer: NodeJS.Timeout | null = null;
  #lastActivity = 0;

  constructor(
    host: SmuxStreamHost,
    sid: number,
    kind: string,
    peer: { remoteAddress?: string | undefined; remotePort?: number | undefined },
    local: { localAddress?: string | undefined; localPort?: number | undefined },
  ) {
    super({ allowHalfOpen: false });
    this.#host = host;
    this.sid = sid;
    this.kind = kind;
    this.remoteAddress = peer.remoteAddress;
    this.remotePort = peer.remotePort;
    this.localAddress = local.localAddress;
    this.localPort = local.localPort;
  }

  /** Data from the peer (the connection calls this). */
  deliver(data: Buffer): void {
    if (this.#fin || this.destroyed) {
      this.#host.consumed(this.sid, data.length);
      return;
    }
    this.bytesRead += data.length;
    this.#activity();
    if (this.push(data)) this.#host.consumed(this.sid, data.length);
    else this.#owed += data.length;
  }

  /** The peer sent FIN. */
  peerFin(): void {
    if (this.#fin) return;
    this.#fin = true;
    this.push(null);
  }

  /** The session died. */
  fail(err: Error): void {
    this.#fin = true;
    this.destroy(err);
  }

  override _read(): void {
    const owed = this.#owed;
    if (owed > 0) {
      this.#owed = 0;
      this.#host.consumed(this.sid, owed);
    }
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: Callback): void {
    if (this.#fin) {
      cb(new SmuxError('ERR_SMUX_CLOSED', `stream ${this.sid} is closed`));
      return;
    }
    this.bytesWritten += chunk.length;
    this.#activity();
    // The callback waits for the connection below (KCP's window, v2's stream window).
    this.#host.write(this.sid, chunk);
    this.#host.whenWritable(this.sid, () => cb());
  }

  override _final(cb: Callback): void {
    if (!this.#fin) this.#host.closeStream(this.sid);
    this.#fin = true;
    cb();
    this.push(null);
  }

  override _destroy(err: Error | null, cb: Callback): void {
    if (this.#idleTimer !== null) clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
    if (!this.#fin) this.#host.closeStream(this.sid);
    this.#fin = true;
    cb(err);
  }

  setTimeout(ms: number, callback?: () => void): this {
    this.#idleMs = ms;
    if (callback) this.once('timeout', callback);
    if (this.#idleTimer !== null) clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
    if (ms > 0) {
      this.#lastActivity = Date.now();
      this.#idleTimer = setTimeout(() => this.#checkIdle(), ms);
    }
    return this;
  }

  #activity(): void {
    if (this.#idleMs <= 0) return;
    this.#lastActivity = Date.now();
    this.#idleTimer ??= setTimeout(() => this.#checkIdle(), this.#idleMs);
  }

  #checkIdle(): void {
    this.#idleTimer = null;
    if (this.#idleMs <= 0 || this.destroyed) return;
    const left = this.#lastActivity + this.#idleMs - Date.now();
    if (left > 0) this.#idleTimer = setTimeout(() => this.#checkIdle(), left);
    else this.emit('timeout');
  }
}
