/**
 * IP addresses as bytes, for CIDR matching and client hashing. Our own parser
 * because Node offers validation (`net.isIP`) but no byte form, and because the
 * rules here are strict on purpose: no octal-looking IPv4 parts, no zone in a
 * network. Parsing never throws: `null` means "not an IP address".
 */
export interface IpAddress {
  readonly family: 4 | 6;
  /** 4 bytes for IPv4, 16 for IPv6. */
  readonly bytes: Uint8Array;
}

const DEC_OCTET = /^(?:0|[1-9][0-9]{0,2})$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

export function parseIpv4(text: string): Uint8Array | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i] ?? '';
    if (!DEC_OCTET.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    out[i] = n;
  }
  return out;
}

/** Parse IPv6 text (with `::` and an optional dotted IPv4 tail); no brackets, no zone. */
export function parseIpv6(text: string): Uint8Array | null {
  if (text.length < 2 || text.length > 45) return null;
  const double = text.indexOf('::');
  if (double >= 0 && text.indexOf('::', double + 1) >= 0) return null;
  const head = double >= 0 ? text.slice(0, double) : text;
  const tail = double >= 0 ? text.slice(double + 2) : '';
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === '' ? [] : tail.split(':');
  const words: number[] = [];
  const tailWords: number[] = [];
  // A dotted IPv4 part may only end the whole address, so never the part before `::`.
  if (!pushGroups(headGroups, words, double < 0)) return null;
  if (!pushGroups(tailGroups, tailWords, true)) return null;
  const count = words.length + tailWords.length;
  if (double < 0 ? count !== 8 : count > 7) return null;
  const out = new Uint8Array(16);
  let w = 0;
  for (const word of words) {
    out[w++] = word >>> 8;
    out[w++] = word & 0xff;
  }
  w = 16 - tailWords.length * 2;
  for (const word of tailWords) {
    out[w++] = word >>> 8;
    out[w++] = word & 0xff;
  }
  return out;
}

/** Append 16-bit words; the last group (when `mayEndWithV4`) may be a dotted IPv4 (two words). */
function pushGroups(groups: string[], out: number[], mayEndWithV4: boolean): boolean {
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i] ?? '';
    if (g.includes('.')) {
      if (!mayEndWithV4 || i !== groups.length - 1) return false;
      const v4 = parseIpv4(g);
      if (v4 === null) return false;
      out.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
    } else {
      if (!HEX_GROUP.test(g)) return false;
      out.push(Number.parseInt(g, 16));
    }
  }
  return true;
}

/**
 * Parse an IP as sockets report it: IPv4, IPv6, `[IPv6]`, or IPv6 with a
 * `%zone` (dropped: zones never matter for matching or hashing).
 */
export function parseIp(text: string): IpAddress | null {
  if (typeof text !== 'string' || text.length === 0 || text.length > 64) return null;
  let t = text;
  if (t.startsWith('[') && t.endsWith(']')) t = t.slice(1, -1);
  if (!t.includes(':')) {
    const v4 = parseIpv4(t);
    return v4 === null ? null : { family: 4, bytes: v4 };
  }
  const zone = t.indexOf('%');
  if (zone >= 0) {
    if (!/^[0-9A-Za-z._~-]{1,32}$/.test(t.slice(zone + 1))) return null;
    t = t.slice(0, zone);
  }
  const v6 = parseIpv6(t);
  return v6 === null ? null : { family: 6, bytes: v6 };
}

/** True for `::ffff:a.b.c.d`, the form dual-stack sockets give IPv4 clients. */
export function isV4Mapped(bytes: Uint8Array): boolean {
  if (bytes.length !== 16) return false;
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

/** IPv4-mapped IPv6 becomes the IPv4 it carries; everything else is returned as is. */
export function unmapIp(ip: IpAddress): IpAddress {
  return ip.family === 6 && isV4Mapped(ip.bytes) ? { family: 4, bytes: ip.bytes.slice(12) } : ip;
}

/** Dotted IPv4, or RFC 5952 IPv6 (lower case, longest run of ≥ 2 zero groups as `::`). */
export function formatIp(ip: IpAddress): string {
  const b = ip.bytes;
  if (ip.family === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push(((b[i] ?? 0) << 8) | (b[i + 1] ?? 0));
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(':');
  if (bestStart < 0) return hex(words);
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLen))}`;
}
