import { malformed, shown } from './errors.js';
import { type HeaderField, parseHeaderLines, splitHead } from './head-fields.js';
import { type HeadLimits, HeadScanner } from './head-scanner.js';
import type { HttpVersion } from './request-head.js';

/** A parsed HTTP/1.x response head (what a proxy client reads back). */
export interface ResponseHead {
  readonly version: HttpVersion;
  readonly status: number;
  readonly reason: string;
  readonly headers: readonly HeaderField[];
  readonly raw: Buffer;
}

const STATUS_LINE = /^(HTTP\/1\.[01]) ([1-9][0-9]{2})(?: ([\t\x20-\x7e\x80-\xff]*))?$/;

export function parseStatusLine(line: string): {
  version: HttpVersion;
  status: number;
  reason: string;
} {
  const m = STATUS_LINE.exec(line);
  if (!m) throw malformed(`bad status line ${shown(line)}`);
  return { version: m[1] as HttpVersion, status: Number(m[2]), reason: m[3] ?? '' };
}

export function parseResponseHead(raw: Buffer): ResponseHead {
  const { startLine, lines } = splitHead(raw);
  const { version, status, reason } = parseStatusLine(startLine);
  return { version, status, reason, headers: parseHeaderLines(lines), raw };
}

/** Like RequestHeadReader, for a response. */
export class ResponseHeadReader {
  readonly #scanner: HeadScanner;

  constructor(limits: Partial<HeadLimits> = {}) {
    this.#scanner = new HeadScanner((line) => void parseStatusLine(line), limits);
  }

  get buffered(): number {
    return this.#scanner.buffered;
  }

  push(chunk: Uint8Array): { head: ResponseHead; leftover: Buffer } | null {
    const scanned = this.#scanner.push(chunk);
    if (scanned === null) return null;
    return { head: parseResponseHead(scanned.head), leftover: scanned.leftover };
  }
}
