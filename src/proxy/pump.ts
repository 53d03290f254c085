import type { Duplex } from 'node:stream';

/**
 * Move bytes from `src` to `dst` with backpressure and half-close: once more
 * than `limit` bytes wait in `dst`'s queue, `src` is paused (so the kernel, not
 * this process, holds the excess) until `dst` drains; a FIN from `src` becomes
 * a FIN on `dst` once queued bytes are out. This is `Readable#pipe` minus its
 * error/unpipe handling (the session does that for both directions at once),
 * plus a configurable queue bound. No per-chunk allocation.
 *
 * `limit` is raised to `dst`'s high-water mark: below it no 'drain' would come.
 */
export function pump(src: Duplex, dst: Duplex, limit = 0): void {
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
  dst.on('drain', () => src.resume());
  src.on('end', () => {
    // Both directions are done and nothing is queued: close() sends the FIN,
    // so skip the extra shutdown() that end() would make.
    if (dst.readableEnded && dst.writableLength === 0) dst.destroy();
    else dst.end();
  });
  src.resume();
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
