import { malformed, shown } from './errors.js';

/** One header line of a head, as received. */
export interface HeaderField {
  /** The name as sent (case preserved). */
  readonly name: string;
  /** The name in lower case, for lookups. */
  readonly key: string;
  /** The value without surrounding spaces or tabs. */
  readonly value: string;
  /** The whole line as received, without its CRLF (latin1, so byte-exact). */
  readonly raw: string;
}

// RFC 9110 tchar: the characters of a method or a header name.
const TCHAR = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Field values: visible ASCII, SP, HTAB and obs-text; no other control byte (NUL included).
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

export function isToken(text: string): boolean {
  return TCHAR.test(text);
}

/**
 * Header lines (latin1 text, each without CRLF) → fields. Refuses obsolete line
 * folding, space before the colon and control bytes in values: each is a way
 * for two parsers to disagree about where a header ends.
 */
export function parseHeaderLines(lines: readonly string[]): HeaderField[] {
  const fields: HeaderField[] = [];
  for (const raw of lines) {
    const first = raw.charCodeAt(0);
    if (first === 0x20 || first === 0x09) throw malformed('folded header line (obs-fold)');
    const colon = raw.indexOf(':');
    if (colon < 0) throw malformed(`header line without a colon: ${shown(raw)}`);
    const name = raw.slice(0, colon);
    if (!isToken(name)) throw malformed(`bad header name ${shown(name)}`);
    const value = raw.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (!FIELD_VALUE.test(value)) throw malformed(`control character in header ${shown(name)}`);
    fields.push({ name, key: name.toLowerCase(), value, raw });
  }
  return fields;
}

/** Every value of header `key` (lower case), in order. */
export function headerValues(fields: readonly HeaderField[], key: string): string[] {
  const out: string[] = [];
  for (const f of fields) if (f.key === key) out.push(f.value);
  return out;
}

/**
 * The value of a header that may appear at most once; undefined when absent.
 * Two copies are refused: which one a peer would obey is anyone's guess.
 */
export function singleHeader(fields: readonly HeaderField[], key: string): string | undefined {
  let found: string | undefined;
  for (const f of fields) {
    if (f.key !== key) continue;
    if (found !== undefined) throw malformed(`header ${shown(f.name)} appears more than once`);
    found = f.value;
  }
  return found;
}

/** The comma-separated tokens of list headers such as Connection, lower-cased, empties dropped. */
export function headerTokens(fields: readonly HeaderField[], key: string): string[] {
  const out: string[] = [];
  for (const v of headerValues(fields, key)) {
    for (const part of v.split(',')) {
      const t = part.trim().toLowerCase();
      if (t.length > 0) out.push(t);
    }
  }
  return out;
}

/** Split a complete head (CRLF CRLF included) into its start line and header lines. */
export function splitHead(head: Buffer): { startLine: string; lines: string[] } {
  const text = head.toString('latin1', 0, head.length - 4);
  const lines = text.split('\r\n');
  const startLine = lines.shift() ?? '';
  return { startLine, lines };
}
