import { isIPv4, isIPv6 } from 'node:net';
import { formatIPv6, writeIPv4, writeIPv6 } from '../inet.js';

/**
 * A target host in the one form every rule compares against, so that
 * `Example.COM.`, `example.com`, `[::1]` and `0:0::1` each have one spelling.
 */
export interface RuleHost {
  /** Lower case, no trailing dot; IPv6 canonical without brackets; IPv4-mapped IPv6 as IPv4. */
  readonly name: string;
  /** 4 or 6 for IP literals, 0 for names. */
  readonly family: 0 | 4 | 6;
  /** Network-order address bytes for IP literals, else null. */
  readonly bytes: Uint8Array | null;
}

/**
 * Normalise a requested host. IPv4-mapped IPv6 (`::ffff:a.b.c.d`, what a
 * dual-stack socket reports) is the IPv4 address it carries, so an IPv4 rule
 * covers both ways a client can name it.
 */
export function ruleHost(host: string): RuleHost {
  let name = host.toLowerCase();
  if (name.startsWith('[') && name.endsWith(']')) name = name.slice(1, -1);
  // Fast path for the common case: an IPv4 literal ends in a digit and an IPv6 one holds ':'.
  const last = name.charCodeAt(name.length - 1);
  if (!(last >= 0x30 && last <= 0x39) && !name.includes(':')) {
    return { name: last === 0x2e ? name.slice(0, -1) : name, family: 0, bytes: null };
  }
  if (isIPv4(name)) {
    const bytes = new Uint8Array(4);
    writeIPv4(name, bytes, 0);
    return { name, family: 4, bytes };
  }
  if (isIPv6(name) && !name.includes('%')) {
    const bytes = new Uint8Array(16);
    writeIPv6(name, bytes, 0);
    if (isMapped(bytes)) {
      const v4 = bytes.slice(12);
      return { name: `${v4[0]}.${v4[1]}.${v4[2]}.${v4[3]}`, family: 4, bytes: v4 };
    }
    return { name: formatIPv6(bytes, 0), family: 6, bytes };
  }
  if (name.endsWith('.')) name = name.slice(0, -1);
  return { name, family: 0, bytes: null };
}

function isMapped(bytes: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

/** The host as it appears in a URL (`[v6]`), for rules written against URLs. */
export function urlHost(host: RuleHost): string {
  return host.family === 6 ? `[${host.name}]` : host.name;
}
