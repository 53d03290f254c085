/**
 * How to recognise one message of a handshake protocol in a byte stream whose
 * chunks may be split anywhere. A spec never keeps state: it looks at the bytes
 * gathered so far, so the same spec object serves every connection.
 */
export interface FrameSpec<T> {
  /** Upper bound of one message in bytes; the reader never buffers more than this. */
  readonly maxLength: number;
  /**
   * Given the first `have` bytes of `buf` (have ≥ 1), return the message length
   * if it is known, or how many bytes are needed before more can be said.
   * A result ≤ `have` means the message is complete and that long; a result
   * > `have` asks for more bytes (the reader gathers up to that many, never
   * past `maxLength`). Throws a typed error as soon as the bytes are invalid.
   */
  frameLength(buf: Uint8Array, have: number): number;
  /** Decode a complete message of `length` bytes. Must copy anything it keeps from `buf`. */
  decode(buf: Buffer, length: number): T;
  /** The error for a stream that ended after `have` bytes of an unfinished message. */
  truncated(have: number): Error;
}

/**
 * Feeds chunks to a FrameSpec. When a message lies inside one chunk (the usual
 * case) it is decoded in place; only a message split across chunks is gathered
 * into a scratch buffer of at most `maxLength` bytes, allocated once per reader.
 */
export class FrameReader<T> {
  readonly #spec: FrameSpec<T>;
  #scratch: Buffer | null = null;
  #have = 0;
  #done = false;
  #result: T | undefined;

  constructor(spec: FrameSpec<T>) {
    this.#spec = spec;
  }

  /** Bytes of an unfinished message gathered so far. */
  get buffered(): number {
    return this.#have;
  }

  get done(): boolean {
    return this.#done;
  }

  /** The decoded message; only meaningful once `done`. */
  get result(): T {
    return this.#result as T;
  }

  /**
   * Offer `chunk[offset..]`. Returns how many bytes of it belong to the message
   * (the rest belongs to whatever follows). Throws the spec's typed error on bad input.
   */
  feed(chunk: Buffer, offset = 0): number {
    if (this.#done) return 0;
    const available = chunk.length - offset;
    if (available <= 0) return 0;
    const spec = this.#spec;
    if (this.#have === 0) {
      // Fast path: the whole message may be in this chunk; no copy at all.
      const view = offset === 0 ? chunk : chunk.subarray(offset);
      const inChunk = Math.min(available, spec.maxLength);
      const need = spec.frameLength(view, inChunk);
      if (need <= inChunk) return this.#finish(view, need, need);
    }
    return this.#gather(chunk, offset, available);
  }

  #gather(chunk: Buffer, offset: number, available: number): number {
    const spec = this.#spec;
    this.#scratch ??= Buffer.allocUnsafe(spec.maxLength);
    const scratch = this.#scratch;
    const before = this.#have;
    let taken = 0;
    for (;;) {
      const need = this.#have === 0 ? 1 : spec.frameLength(scratch, this.#have);
      if (this.#have > 0 && need <= this.#have) {
        // Surplus copied past the message end goes back to the caller.
        return this.#finish(scratch, need, need - before);
      }
      const target = Math.min(need, spec.maxLength);
      const n = Math.min(target - this.#have, available - taken);
      if (n <= 0) return taken; // chunk exhausted: need more
      chunk.copy(scratch, this.#have, offset + taken, offset + taken + n);
      this.#have += n;
      taken += n;
    }
  }

  #finish(buf: Buffer, length: number, consumed: number): number {
    this.#result = this.#spec.decode(buf, length);
    this.#done = true;
    this.#have = 0;
    return consumed;
  }
}
