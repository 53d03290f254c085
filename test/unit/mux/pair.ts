import { Duplex } from 'node:stream';
import type { StreamFD } from '../../../src/fd/stream-fd.js';

/**
 * One end of an in-memory byte pipe with the StreamFD members a mux session
 * reads. Writes land in the peer's readable side; end() is a FIN; destroy()
 * takes both ends down (like a connection reset).
 */
export class MemoryEnd extends Duplex implements StreamFD {
  readonly kind = 'mem';
  readonly remoteAddress = '127.0.0.1';
  readonly remotePort = 1;
  readonly localAddress = '127.0.0.1';
  readonly localPort = 2;
  bytesRead = 0;
  bytesWritten = 0;
  peer: MemoryEnd | null = null;
  /** A write the peer had no room for: completed when the peer reads again (back-pressure). */
  #blockedCb: ((err?: Error | null) => void) | null = null;

  constructor() {
    // Small buffers, so a reader that stops is felt by the writer quickly.
    super({
      allowHalfOpen: true,
      readableHighWaterMark: 16 * 1024,
      writableHighWaterMark: 16 * 1024,
    });
  }

  setTimeout(): this {
    return this;
  }

  override _read(): void {
    const writer = this.peer;
    const cb = writer === null ? null : writer.#blockedCb;
    if (writer !== null && cb !== null) {
      writer.#blockedCb = null;
      cb();
    }
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.bytesWritten += chunk.length;
    const peer = this.peer;
    if (peer !== null && !peer.destroyed) {
      peer.bytesRead += chunk.length;
      if (!peer.push(chunk)) {
        this.#blockedCb = cb;
        return;
      }
    }
    cb();
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.peer !== null && !this.peer.destroyed) this.peer.push(null);
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const peer = this.peer;
    this.peer = null;
    if (peer !== null && !peer.destroyed) peer.destroy();
    cb(err);
  }
}

export function memoryPair(): [MemoryEnd, MemoryEnd] {
  const a = new MemoryEnd();
  const b = new MemoryEnd();
  a.peer = b;
  b.peer = a;
  return [a, b];
}
