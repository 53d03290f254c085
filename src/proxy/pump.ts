import type { Duplex } from 'node:stream';
import { type DirectReadable, directReadable } from '../fd/direct-read.js';

/**
 * Move bytes from `src` to `dst` with backpressure and half-close: once more
 * than `limit` bytes wait in `dst`'s queue, `src` is paused (so the kernel, not
 * this process, holds the excess) until `dst` drains; a FIN from `src` becomes
 * a FIN on `dst` once queued bytes are out. This is `Readable#pipe` minus its
 * error/unpipe handling (the session does that for both directions at once),
 * plus a configurable queue bound.
 *
 * `limit` is raised to `dst`'s high-water mark: below it no 'drain' would come.
 */
export function pump(src: Duplex, dst: Duplex, limit = 0): void {
  const reader = directReadable(src);
  if (reader !== null && directReadable(dst) !== null && src.readableLength === 0) {
    pumpDirect(reader, dst, Math.max(limit, dst.writableHighWaterMark));
  } else {
    pumpChunks(src, dst, limit);
  }
  dst.on('drain', () => src.resume());
  const onEnd = (): void => {
    // Both directions are done and nothing is queued: close() sends the FIN,
    // so skip the extra shutdown() that end() would make.
    if (dst.readableEnded && dst.writableLength === 0) dst.destroy();
    else dst.end();
  };
  // A client read ahead (Session.readAhead) may have sent its FIN already.
  if (src.readableEnded) onEnd();
  else src.on('end', onEnd);
  src.resume();
}

/**
 * TCP to TCP (the load balancer's hot path): each read is written from the
 * source's read buffer. Most writes finish inside write() (the kernel took the
 * bytes); only when some are left queued does the source read into new memory
 * next. `dst` is a TCP socket, whose queue holds exactly what a write has not
 * finished, so `writableLength` tells whether the chunk is still referenced.
 */
function pumpDirect(reader: DirectReadable, dst: Duplex, bound: number): void {
  reader.setDirectSink((chunk) => {
    dst.write(chunk);
    const queued = dst.writableLength;
    if (queued === 0) return true;
    reader.retainReadBuffer();
    // At or above the bound write() answered false, so a 'drain' will resume us.
    return queued < bound;
  });
}

/** Any other pair: through the source's Readable side. No per-chunk allocation. */
function pumpChunks(src: Duplex, dst: Duplex, limit: number): void {
  if (limit <= dst.writableHighWaterMark) {
    // The common case: write()'s own answer is the bound (no extra getter per chunk).
    src.on('data', (chunk: Buffer) => {
      if (!dst.write(chunk)) src.pause();
    });
  } else {
    src.on('data', (chunk: Buffer) => {
      dst.write(chunk);
      if (dst.writableLength >= limit) src.pause();
    });
  }
}

/** Flush what is queued on `fd`, send FIN, then destroy it (its peer has gone). */
export function closeAfterFlush(fd: Duplex): void {
  if (fd.destroyed) return;
  if (fd.writableFinished) {
    fd.destroy();
    return;
  }
  fd.once('finish', () => fd.destroy());
  fd.end();
}
