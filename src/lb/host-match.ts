/**
 * Matching a routing hint (a socks5 domain, an HTTP Host, a TLS SNI) against
 * host patterns (an upstream group's name and its `hosts`).
 *
 * The rule, in order:
 * 1. exact: the pattern equals the whole hint, or the hint's host part
 *    (so `example.com:443` matches a pattern `example.com:443` or `example.com`);
 * 2. suffix: the hint's host ends with `.` + pattern (`a.b.example.com` matches
 *    `example.com`); the longest such pattern wins (the most specific);
 * 3. otherwise no match.
 * Comparison ignores case and a trailing dot. Ties go to the earlier entry.
 */
export interface ParsedHint {
  /** Lower-cased hint, trailing dot of the host removed. */
  readonly full: string;
  /** The host part: no port, no brackets, no trailing dot. */
  readonly host: string;
}

export function parseHint(hint: string): ParsedHint | null {
  let h = hint.trim().toLowerCase();
  if (h.length === 0 || h.length > 300) return null;
  let host = h;
  let port = '';
  const bracketed = /^\[([^\]]+)\](?::([0-9]{1,5}))?$/.exec(h);
  if (bracketed) {
    host = bracketed[1] ?? '';
    port = bracketed[2] ?? '';
  } else {
    const withPort = /^([^:]+):([0-9]{1,5})$/.exec(h);
    if (withPort) {
      host = withPort[1] ?? '';
      port = withPort[2] ?? '';
    }
  }
  if (host.endsWith('.')) host = host.slice(0, -1);
  if (host.length === 0) return null;
  h = port === '' ? host : `${host}:${port}`;
  return { full: h, host };
}

export function normalizePattern(pattern: string): string {
  const p = pattern.trim().toLowerCase();
  return p.endsWith('.') ? p.slice(0, -1) : p;
}

export const NO_MATCH = 0;
/** How well one pattern matches: 0 none, larger is better (exact beats any suffix). */
export function matchLevel(hint: ParsedHint, pattern: string): number {
  if (pattern.length === 0) return NO_MATCH;
  if (pattern === hint.full || pattern === hint.host) return Number.MAX_SAFE_INTEGER;
  const h = hint.host;
  if (
    h.length > pattern.length &&
    h.endsWith(pattern) &&
    h[h.length - pattern.length - 1] === '.'
  ) {
    return pattern.length; // longer suffix = more specific
  }
  return NO_MATCH;
}
