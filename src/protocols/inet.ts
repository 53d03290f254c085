import { isIPv4, isIPv6 } from 'node:net';

/**
 * IP address text ⇄ network-order bytes, for the binary codecs (socks5, PROXY
 * v2) and for the canonical text the textual ones (PROXY v1) must produce.
 */

/** `a.b.c.d` → 4 bytes written at `out[offset]`. The text must be a valid IPv4 address. */
export function writeIPv4(text: string, out: Uint8Array, offset: number): void {
  let part = 0;
  let value = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x2e) {
      out[offset + part++] = value;
      value = 0;
    } else {
      value = value * 10 + (c - 0x30);
    }
  }
  out[offset + part] = value;
}

export function formatIPv4(buf: Uint8Array, offset: number): string {
  return `${buf[offset]}.${buf[offset + 1]}.${buf[offset + 2]}.${buf[offset + 3]}`;
}

/**
 * An IPv6 address (any RFC 4291 text form, embedded IPv4 included, no zone) →
 * 16 bytes at `out[offset]`. The text must satisfy `isIPv6` and carry no `%zone`.
 */
export function writeIPv6(text: string, out: Uint8Array, offset: number): void {
  let head = text;
  let tail = '';
  const gap = text.indexOf('::');
  if (gap >= 0) {
    head = text.slice(0, gap);
    tail = text.slice(gap + 2);
  }
  const headGroups = toGroups(head);
  const tailGroups = toGroups(tail);
  out.fill(0, offset, offset + 16);
  let i = 0;
  for (const g of headGroups) {
    out[offset + i++] = g >> 8;
    out[offset + i++] = g & 0xff;
  }
  i = 16 - tailGroups.length * 2;
  for (const g of tailGroups) {
    out[offset + i++] = g >> 8;
    out[offset + i++] = g & 0xff;
  }
}

function toGroups(part: string): number[] {
  if (part.length === 0) return [];
  const groups: number[] = [];
  for (const piece of part.split(':')) {
    if (piece.includes('.')) {
      const v4 = new Uint8Array(4);
      writeIPv4(piece, v4, 0);
      groups.push(((v4[0] as number) << 8) | (v4[1] as number));
      groups.push(((v4[2] as number) << 8) | (v4[3] as number));
    } else {
      groups.push(Number.parseInt(piece, 16));
    }
  }
  return groups;
}

/**
 * 16 bytes → text exactly as glibc's `inet_ntop` writes it (which is what
 * HAProxy puts in a PROXY v1 line): lower-case hex, no leading zeros, the
 * longest run of two or more zero groups (the first on a tie) as `::`, and
 * the last 32 bits as dotted IPv4 for `::a.b.c.d` and `::ffff:a.b.c.d`.
 */
export function formatIPv6(buf: Uint8Array, offset: number): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) {
    words.push(((buf[offset + 2 * i] as number) << 8) | (buf[offset + 2 * i + 1] as number));
  }
  let bestBase = -1;
  let bestLen = 0;
  let curBase = -1;
  let curLen = 0;
  for (let i = 0; i < 8; i++) {
    if (words[i] === 0) {
      if (curBase < 0) {
        curBase = i;
        curLen = 1;
      } else {
        curLen++;
      }
      if (curLen > bestLen) {
        bestBase = curBase;
        bestLen = curLen;
      }
    } else {
      curBase = -1;
    }
  }
  if (bestLen < 2) bestBase = -1;
  let text = '';
  for (let i = 0; i < 8; i++) {
    if (bestBase >= 0 && i >= bestBase && i < bestBase + bestLen) {
      if (i === bestBase) text += ':';
      continue;
    }
    if (i !== 0) text += ':';
    const embedsIPv4 =
      i === 6 && bestBase === 0 && (bestLen === 6 || (bestLen === 5 && words[5] === 0xffff));
    if (embedsIPv4) {
      text += formatIPv4(buf, offset + 12);
      break;
    }
    text += (words[i] as number).toString(16);
  }
  if (bestBase >= 0 && bestBase + bestLen === 8) text += ':';
  return text;
}

export type IpFamily = 4 | 6;

/** 4 or 6 for an IP literal (no zone ids), 0 for anything else (a host name). */
export function ipFamily(host: string): IpFamily | 0 {
  if (isIPv4(host)) return 4;
  if (isIPv6(host) && !host.includes('%')) return 6;
  return 0;
}

/** `::ffff:a.b.c.d` (how a dual-stack socket shows an IPv4 peer) → `a.b.c.d`; others unchanged. */
export function unmapIPv4(host: string): string {
  if (host.length > 7 && host.slice(0, 7).toLowerCase() === '::ffff:') {
    const v4 = host.slice(7);
    if (isIPv4(v4)) return v4;
  }
  return host;
}

/** The canonical text of an IP literal (so `0:0::1` and `::1` compare equal); names unchanged. */
export function canonicalIp(host: string): string {
  const family = ipFamily(host);
  if (family !== 6) return host;
  const bytes = new Uint8Array(16);
  writeIPv6(host, bytes, 0);
  return formatIPv6(bytes, 0);
}
