import type { Duplex } from 'node:stream';

/**
 * Move bytes from `src` to `dst` with backpressure and half-close: when `dst`
 * cannot take more, `src` is paused (so the kernel, not this process, holds the
 * excess); a FIN from `src` becomes a FIN on `dst` once queued bytes are out.
 * This is `Readable#pipe` minus its error/unpipe handling, which the session
 * does for both directions at once. No per-chunk allocation.
 */
export function pump(src: Duplex, dst: Duplex): void {
  src.on('data', (chunk: Buffer) => {
    if (!dst.write(chunk)) src.pause();
  });
  dst.on('drain', () => src.resume());
  src.on('end', () => dst.end());
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
