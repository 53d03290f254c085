import { isIPv4, isIPv6 } from 'node:net';
import { formatIPv6, writeIPv4, writeIPv6 } from '../inet.js';
import type { RuleHost } from './host.js';

/** A network in a rule: `10.0.0.0/8`, `2001:db8::/32`, or one address (full prefix). */
export interface Cidr {
  readonly family: 4 | 6;
  /** Network address, host bits zero. */
  readonly bytes: Uint8Array;
  readonly prefix: number;
}

/**
 * `addr/prefix` or a bare address → Cidr; null when the text is not one (the
 * caller then tries the other rule forms). Throws `Error` with the reason for
 * text that is clearly meant as a network but is wrong (host bits set, a
 * prefix too long), so the rule parser can name it.
 */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf('/');
  let address = slash < 0 ? text : text.slice(0, slash);
  if (address.startsWith('[') && address.endsWith(']')) address = address.slice(1, -1);
  let bytes: Uint8Array;
  if (isIPv4(address)) {
    bytes = new Uint8Array(4);
    writeIPv4(address, bytes, 0);
  } else if (isIPv6(address) && !address.includes('%')) {
    bytes = new Uint8Array(16);
    writeIPv6(address, bytes, 0);
  } else {
    return null;
  }
  const max = bytes.length * 8;
  let prefix = max;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^(?:0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > max) {
      throw new Error(`prefix length ${JSON.stringify(p)} is not 0-${max}`);
    }
    prefix = Number(p);
  }
  const family = bytes.length === 4 ? 4 : 6;
  for (let bit = prefix; bit < max; bit++) {
    if (((bytes[bit >> 3] as number) >> (7 - (bit & 7))) & 1) {
      throw new Error(`host bits are set after /${prefix}`);
    }
  }
  return { family, bytes, prefix };
}

export function cidrContains(cidr: Cidr, host: RuleHost): boolean {
  if (host.family !== cidr.family || host.bytes === null) return false;
  const full = cidr.prefix >> 3;
  for (let i = 0; i < full; i++) if (cidr.bytes[i] !== host.bytes[i]) return false;
  const rest = cidr.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((cidr.bytes[full] as number) & mask) === ((host.bytes[full] as number) & mask);
}

export function formatCidr(cidr: Cidr): string {
  const address = cidr.family === 4 ? Array.from(cidr.bytes).join('.') : formatIPv6(cidr.bytes, 0);
  return `${address}/${cidr.prefix}`;
}
