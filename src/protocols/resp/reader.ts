import { RespError } from './errors.js';

/** Bounds of one request; past them the connection is answered with an error and closed. */
export interface RespLimits {
  /** Bytes one request may occupy on the wire (default 16 KiB, as the reference). */
  readonly maxRequestBytes: number;
  /** Elements of one request array (default 1,024). */
  readonly maxArgs: number;
}

export const DEFAULT_RESP_LIMITS: RespLimits = { maxRequestBytes: 16 * 1024, maxArgs: 1024 };

const CR = 13;
const LF = 10;

function bad(message: string): never {
  throw new RespError('ERR_RESP_INVALID', message);
}

/**
 * Incremental RESP2 request reader: what clients send, i.e. arrays of bulk
 * strings (`*2\r\n$4\r\nAUTH\r\n$3\r\npwd\r\n`) or inline commands (`PING\r\n`).
 * Bytes can arrive split anywhere; at most `maxRequestBytes` are ever buffered.
 * A malformed request throws ERR_RESP_INVALID; the caller answers and closes,
 * since the stream can no longer be framed.
 */
export class RespReader {
  readonly #limits: RespLimits;
  #buf: Buffer = Buffer.alloc(0);

  constructor(limits: Partial<RespLimits> = {}) {
    this.#limits = { ...DEFAULT_RESP_LIMITS, ...limits };
  }

  /** Add bytes; returns every request they complete (each an array of argument strings). */
  push(chunk: Buffer): string[][] {
    this.feed(chunk);
    const out: string[][] = [];
    for (let args = this.next(); args !== null; args = this.next()) out.push(args);
    return out;
  }

  /**
   * Add bytes without parsing them. With `next()` this lets a server parse one
   * request at a time as it answers them, so a pipelined burst costs the bytes
   * buffered here (the caller stops reading meanwhile), not a queue of requests.
   */
  feed(chunk: Buffer): void {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
  }

  /** The next complete request, or null until more bytes are fed. */
  next(): string[] | null {
    const parsed = this.#parseOne();
    if (parsed === null) {
      if (this.#buf.length > this.#limits.maxRequestBytes) {
        bad(`too many input bytes: a request may not exceed ${this.#limits.maxRequestBytes} bytes`);
      }
      return null;
    }
    this.#buf = this.#buf.subarray(parsed.used);
    return parsed.args;
  }

  /** Bytes fed but not yet returned as requests. */
  get buffered(): number {
    return this.#buf.length;
  }

  /**
   * Parse one request from at most the first `maxRequestBytes` buffered bytes.
   * Never looking further makes the outcome independent of how the bytes were
   * split: a request that needs more is refused by next() (as "too many input
   * bytes") whether it arrived whole or in pieces, and no error can depend on
   * a byte past the limit having arrived yet.
   */
  #parseOne(): { args: string[]; used: number } | null {
    const max = this.#limits.maxRequestBytes;
    const buf = this.#buf.length > max ? this.#buf.subarray(0, max) : this.#buf;
    if (buf.length === 0) return null;
    if (buf[0] !== 0x2a /* '*' */) return this.#inline(buf);
    const header = this.#line(buf, 0);
    if (header === null) return null;
    const count = this.#int(buf.toString('latin1', 1, header.end), 'array length');
    if (count > this.#limits.maxArgs)
      bad(`array of ${count} elements exceeds ${this.#limits.maxArgs}`);
    let pos = header.next;
    const args: string[] = [];
    for (let i = 0; i < count; i++) {
      if (pos >= buf.length) return null;
      if (buf[pos] !== 0x24 /* '$' */)
        bad(
          `expected a bulk string ("$") at element ${i}, got ${JSON.stringify(String.fromCharCode(buf[pos] ?? 0))}`,
        );
      const line = this.#line(buf, pos);
      if (line === null) return null;
      const len = this.#int(buf.toString('latin1', pos + 1, line.end), 'bulk length');
      if (len > this.#limits.maxRequestBytes)
        bad(`bulk string of ${len} bytes exceeds ${this.#limits.maxRequestBytes}`);
      const end = line.next + len;
      if (end + 2 > buf.length) return null;
      if (buf[end] !== CR || buf[end + 1] !== LF)
        bad(`bulk string at element ${i} is not followed by CRLF`);
      args.push(buf.toString('utf8', line.next, end));
      pos = end + 2;
    }
    return { args, used: pos };
  }

  #inline(buf: Buffer): { args: string[]; used: number } | null {
    const nl = buf.indexOf(LF);
    if (nl < 0) return null;
    const end = nl > 0 && buf[nl - 1] === CR ? nl - 1 : nl;
    const text = buf.toString('utf8', 0, end);
    return { args: text.split(/[ \t]+/).filter((t) => t.length > 0), used: nl + 1 };
  }

  /** The CRLF-terminated line starting at `start`: index of its CR and of the byte after LF. */
  #line(buf: Buffer, start: number): { end: number; next: number } | null {
    const nl = buf.indexOf(LF, start);
    // Too long whether or not its LF has arrived yet: the same error either way.
    if ((nl < 0 ? buf.length : nl) - start > 32) bad('header line longer than 32 bytes');
    if (nl < 0) return null;
    if (nl === start || buf[nl - 1] !== CR) bad('header line not terminated by CRLF');
    return { end: nl - 1, next: nl + 1 };
  }

  #int(text: string, what: string): number {
    if (!/^[0-9]{1,9}$/.test(text)) bad(`invalid ${what} ${JSON.stringify(text)}`);
    return Number(text);
  }
}
