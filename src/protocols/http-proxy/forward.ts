import { malformed } from './errors.js';
import { type HeaderField, headerTokens } from './head-fields.js';
import type { RequestHead } from './request-head.js';
import { formatAuthority, parseAuthority, type Target } from './target.js';

/**
 * Headers that describe the client→proxy hop, not the request (RFC 9110 §7.6.1),
 * plus the pre-standard Proxy-Connection. Every `proxy-*` header is dropped too:
 * the agent's credentials must never reach an origin server.
 */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'upgrade']);

/**
 * Never dropped even when named in Connection: they frame the body the relay
 * passes through unchanged (dropping them would make the origin read the body
 * as the next request), or, for Host, are rewritten below anyway.
 */
const FRAMING = new Set(['content-length', 'transfer-encoding', 'host']);

function isDropped(field: HeaderField, named: ReadonlySet<string>): boolean {
  if (FRAMING.has(field.key)) return false;
  return HOP_BY_HOP.has(field.key) || field.key.startsWith('proxy-') || named.has(field.key);
}

/**
 * The head to send to the origin for an absolute-form request: the request line
 * in origin-form; every end-to-end header line byte-exact and in order; Host
 * kept as sent when it names the URI's authority, else replaced by it in place
 * (RFC 9112 §3.2.2: the URI wins), or added first when missing; hop-by-hop and
 * Proxy-* headers dropped; and `Connection: close` appended, because after the
 * head the agent relays raw bytes to this one origin and a second request on
 * the same connection could be meant for another host.
 */
export function rewriteForOrigin(head: RequestHead, target: Target, originForm: string): Buffer {
  const named = new Set(headerTokens(head.headers, 'connection'));
  const authority = formatAuthority(target, 80);
  const lines: string[] = [`${head.method} ${originForm} ${head.version}`];
  let hostSeen = false;
  for (const field of head.headers) {
    if (isDropped(field, named)) continue;
    if (field.key === 'host') {
      if (hostSeen) throw malformed('more than one Host header');
      hostSeen = true;
      lines.push(sameAuthority(field.value, target) ? field.raw : `${field.name}: ${authority}`);
      continue;
    }
    lines.push(field.raw);
  }
  if (!hostSeen) lines.splice(1, 0, `Host: ${authority}`);
  lines.push('Connection: close', '', '');
  return Buffer.from(lines.join('\r\n'), 'latin1');
}

function sameAuthority(value: string, target: Target): boolean {
  try {
    const t = parseAuthority(value, 80);
    return t.host === target.host && t.port === target.port;
  } catch {
    return false;
  }
}
