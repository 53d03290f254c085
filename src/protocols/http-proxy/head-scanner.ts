import { HttpError, malformed } from './errors.js';

/** Bounds on one head; a client must not cost more memory than this before we refuse it. */
export interface HeadLimits {
  /** Bytes of the whole head, start line through the blank line's CRLF. */
  readonly maxHeadBytes: number;
  /** Header lines after the start line. */
  readonly maxHeaders: number;
}

export const DEFAULT_HEAD_LIMITS: HeadLimits = Object.freeze({
  maxHeadBytes: 16 * 1024,
  maxHeaders: 100,
});

/** A complete head and what followed it in the same chunks. */
export interface ScannedHead {
  /** Start line through the terminating blank line (CRLF CRLF included). */
  readonly head: Buffer;
  /** Bytes after the head (a body prefix, or tunnel data); empty when none. */
  readonly leftover: Buffer;
}

const CR = 0x0d;
const LF = 0x0a;

/**
 * Finds where an HTTP/1.x head ends in a stream delivered in arbitrary chunks.
 *
 * It looks at every byte exactly once, in order, and every refusal is decided
 * by the position of a byte (the one past the size bound, the LF that ends one
 * header line too many, a CR without LF), never by where a chunk happened to
 * end: the same bytes give the same outcome however they are split. Bare LF and
 * bare CR are refused outright rather than tolerated — lenient line endings are
 * how request smuggling between two parsers starts.
 *
 * `checkStartLine` sees the first line as soon as its CRLF arrives, so a prober
 * sending garbage is refused at its first line, not after 16 KiB.
 */
export class HeadScanner {
  readonly #limits: HeadLimits;
  readonly #checkStartLine: (line: string) => void;
  readonly #parts: Buffer[] = [];
  #pos = 0;
  #lineStart = 0;
  #lines = 0;
  #prevCR = false;
  #done = false;
  #failed: HttpError | null = null;

  constructor(checkStartLine: (line: string) => void, limits: Partial<HeadLimits> = {}) {
    this.#checkStartLine = checkStartLine;
    this.#limits = { ...DEFAULT_HEAD_LIMITS, ...limits };
  }

  /** Bytes of the head gathered so far. */
  get buffered(): number {
    return this.#pos;
  }

  /**
   * Offer the next chunk. Returns null while the head is incomplete. Throws an
   * HttpError on bad input; after that (or after completion) it must not be fed again.
   */
  push(chunk: Uint8Array): ScannedHead | null {
    if (this.#failed) throw this.#failed;
    if (this.#done) throw new Error('HeadScanner: push after the head was complete');
    const buf = Buffer.isBuffer(chunk)
      ? chunk
      : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    try {
      return this.#scan(buf);
    } catch (err) {
      if (err instanceof HttpError) this.#failed = err;
      throw err;
    }
  }

  #scan(buf: Buffer): ScannedHead | null {
    const { maxHeadBytes, maxHeaders } = this.#limits;
    // buf[0..from) is already kept in #parts; the rest is kept when needed.
    let from = 0;
    for (let i = 0; i < buf.length; i++) {
      const p = this.#pos;
      if (p >= maxHeadBytes) {
        throw new HttpError(
          'ERR_HTTP_HEAD_TOO_LARGE',
          431,
          `head is larger than ${maxHeadBytes} bytes`,
        );
      }
      const b = buf[i] as number;
      this.#pos = p + 1;
      if (b === CR) {
        if (this.#prevCR) throw malformed(`bare CR at byte ${p - 1} of the head`);
        this.#prevCR = true;
        continue;
      }
      if (b !== LF) {
        if (this.#prevCR) throw malformed(`bare CR at byte ${p - 1} of the head`);
        continue;
      }
      if (!this.#prevCR) throw malformed(`bare LF at byte ${p} of the head`);
      this.#prevCR = false;
      const length = p - 1 - this.#lineStart;
      this.#lineStart = p + 1;
      if (length === 0) {
        if (this.#lines === 0) throw malformed('the head starts with an empty line');
        this.#done = true;
        this.#parts.push(buf.subarray(from, i + 1));
        // concat copies, so the head never aliases a chunk the caller may reuse.
        const head = Buffer.concat(this.#parts);
        this.#parts.length = 0;
        return { head, leftover: buf.subarray(i + 1) };
      }
      this.#lines++;
      if (this.#lines === 1) {
        this.#parts.push(buf.subarray(from, i + 1));
        from = i + 1;
        const first = Buffer.concat(this.#parts);
        this.#parts.length = 0;
        this.#parts.push(first);
        this.#checkStartLine(first.toString('latin1', 0, length));
      } else if (this.#lines - 1 > maxHeaders) {
        throw new HttpError(
          'ERR_HTTP_TOO_MANY_HEADERS',
          431,
          `head has more than ${maxHeaders} header lines`,
        );
      }
    }
    // Copied: the caller may reuse its chunk once push returns.
    if (from < buf.length) this.#parts.push(Buffer.from(buf.subarray(from)));
    return null;
  }
}
