/** Bytes per slab: a few hundred datagrams share one allocation. */
const SLAB_BYTES = 256 * 1024;

/**
 * Copies outgoing datagrams into consecutive slices of a large buffer. The arq hands its
 * output in a buffer it reuses, and node:dgram keeps a reference to what it sends until the
 * kernel has it, so each datagram needs bytes of its own; a fresh Buffer per datagram
 * (Buffer.from) costs an allocation each — for datagrams above 4 KiB a whole ArrayBuffer that
 * the GC then has to track. Slices are never reused: a full slab is dropped and lives on,
 * through the slices still queued in dgram, until the last of them is sent.
 */
export class DatagramSlab {
  #slab: Buffer = Buffer.allocUnsafeSlow(SLAB_BYTES);
  #used = 0;

  /** A private copy of `buf[0, len)`. */
  copy(buf: Uint8Array, len: number): Buffer {
    const out = this.reserve(len);
    out.set(len === buf.length ? buf : buf.subarray(0, len), 0);
    return out;
  }

  /**
   * `len` uninitialised bytes of their own, for building a datagram in place (the crypt
   * header, FEC header and KCP bytes written where they will be sent from).
   */
  reserve(len: number): Buffer {
    let at = this.#used;
    if (at + len > this.#slab.length) {
      this.#slab = Buffer.allocUnsafeSlow(Math.max(SLAB_BYTES, len));
      at = 0;
    }
    // 8-byte aligned starts keep the kernel's copy on its fast path.
    this.#used = at + ((len + 7) & ~7);
    return this.#slab.subarray(at, at + len);
  }
}
