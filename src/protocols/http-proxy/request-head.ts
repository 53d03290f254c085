import { malformed, shown } from './errors.js';
import { type HeaderField, isToken, parseHeaderLines, splitHead } from './head-fields.js';
import { type HeadLimits, HeadScanner } from './head-scanner.js';

export type HttpVersion = 'HTTP/1.0' | 'HTTP/1.1';

/** A parsed HTTP/1.x request head. */
export interface RequestHead {
  readonly method: string;
  /** The request-target exactly as sent (origin-, absolute-, authority- or asterisk-form). */
  readonly target: string;
  readonly version: HttpVersion;
  readonly headers: readonly HeaderField[];
  /** The head as received, CRLF CRLF included. */
  readonly raw: Buffer;
}

// request-target: visible ASCII only (no spaces, no controls, no obs-text).
const TARGET = /^[\x21-\x7e]+$/;

/**
 * `METHOD SP target SP HTTP/1.x`, single spaces exactly (RFC 9112 §3). Lenient
 * whitespace here is another parser-disagreement hazard, so it is refused.
 */
export function parseRequestLine(line: string): {
  method: string;
  target: string;
  version: HttpVersion;
} {
  const parts = line.split(' ');
  if (parts.length !== 3) throw malformed(`bad request line ${shown(line)}`);
  const [method, target, version] = parts as [string, string, string];
  if (!isToken(method)) throw malformed(`bad method ${shown(method)}`);
  if (!TARGET.test(target)) throw malformed(`bad request target ${shown(target)}`);
  if (version !== 'HTTP/1.1' && version !== 'HTTP/1.0') {
    throw malformed(`unsupported HTTP version ${shown(version)}`);
  }
  return { method, target, version };
}

/** A complete head (as found by HeadScanner) → RequestHead. */
export function parseRequestHead(raw: Buffer): RequestHead {
  const { startLine, lines } = splitHead(raw);
  const { method, target, version } = parseRequestLine(startLine);
  return { method, target, version, headers: parseHeaderLines(lines), raw };
}

/**
 * Reads one request head from chunks: push() returns null until the head is
 * complete, then the parsed head and the bytes that followed it.
 */
export class RequestHeadReader {
  readonly #scanner: HeadScanner;

  constructor(limits: Partial<HeadLimits> = {}) {
    this.#scanner = new HeadScanner((line) => void parseRequestLine(line), limits);
  }

  get buffered(): number {
    return this.#scanner.buffered;
  }

  push(chunk: Uint8Array): { head: RequestHead; leftover: Buffer } | null {
    const scanned = this.#scanner.push(chunk);
    if (scanned === null) return null;
    return { head: parseRequestHead(scanned.head), leftover: scanned.leftover };
  }
}
