import { LbError } from './errors.js';
import { formatIp, type IpAddress, isV4Mapped, parseIp, parseIpv4, parseIpv6 } from './ip.js';

/**
 * A network: address + prefix length. IPv4-mapped IPv6 networks
 * (`::ffff:10.0.0.0/104`) are stored as the IPv4 network they describe
 * (`10.0.0.0/8`), so one rule form covers both ways a client may show up.
 */
export interface Cidr {
  readonly family: 4 | 6;
  /** The network address: 4 or 16 bytes, host bits zero. */
  readonly bytes: Uint8Array;
  readonly prefix: number;
}

function invalid(text: string, why: string): never {
  const shown = text.length > 64 ? `${text.slice(0, 64)}…` : text;
  throw new LbError('ERR_CIDR_INVALID', `invalid network ${JSON.stringify(shown)}: ${why}`);
}

/**
 * Parse `a.b.c.d/n` or `ipv6/n`; a bare address is a single host (/32, /128).
 * Throws ERR_CIDR_INVALID naming the bad part, and nothing else, for any input.
 */
export function parseCidr(text: string): Cidr {
  if (typeof text !== 'string') invalid(String(text), 'a network must be a string');
  if (text.length === 0) invalid(text, 'empty');
  if (text.length > 64) invalid(text, 'longer than 64 characters');
  const slash = text.indexOf('/');
  const addressText = slash < 0 ? text : text.slice(0, slash);
  const isV6 = addressText.includes(':');
  const bytes = isV6 ? parseIpv6(addressText) : parseIpv4(addressText);
  if (bytes === null) {
    invalid(text, `"${addressText}" is not an IPv${isV6 ? 6 : 4} address`);
  }
  const max = bytes.length * 8;
  let prefix = max;
  if (slash >= 0) {
    const prefixText = text.slice(slash + 1);
    if (!/^(?:0|[1-9][0-9]{0,2})$/.test(prefixText)) {
      invalid(text, `prefix length "${prefixText}" is not a number`);
    }
    prefix = Number(prefixText);
    if (prefix > max) invalid(text, `prefix length ${prefix} is more than ${max}`);
  }
  const network = maskBytes(bytes, prefix);
  if (!sameBytes(network, bytes)) {
    const family = isV6 ? 6 : 4;
    const suggestion = formatCidr({ family, bytes: network, prefix });
    invalid(text, `host bits are set (the network is ${suggestion})`);
  }
  if (isV6 && prefix >= 96 && isV4Mapped(bytes)) {
    return { family: 4, bytes: bytes.slice(12), prefix: prefix - 96 };
  }
  return { family: isV6 ? 6 : 4, bytes, prefix };
}

export function formatCidr(cidr: Cidr): string {
  return `${formatIp(cidr)}/${cidr.prefix}`;
}

/**
 * Whether `ip` is in the network. The client is compared in its IPv4 form
 * when it is IPv4-mapped (`::ffff:a.b.c.d`), so IPv4 networks match IPv4
 * clients of dual-stack listeners. IPv4 networks never match other IPv6
 * clients and IPv6 networks never match IPv4 clients: `0.0.0.0/0` is "every
 * IPv4 client", `::/0` is "every IPv6 client". (IPv4-compatible `::a.b.c.d` is
 * deliberately not treated as IPv4: `::1` is loopback, not 0.0.0.1.)
 */
export function cidrContains(cidr: Cidr, ip: IpAddress): boolean {
  let family = ip.family;
  let bytes = ip.bytes;
  if (family === 6 && isV4Mapped(bytes)) {
    family = 4;
    bytes = bytes.subarray(12);
  }
  return family === cidr.family && prefixEquals(cidr.bytes, bytes, cidr.prefix);
}

/** Convenience for callers holding text (e.g. `socket.remoteAddress`); false for non-IPs. */
export function cidrContainsText(cidr: Cidr, ipText: string): boolean {
  const ip = parseIp(ipText);
  return ip !== null && cidrContains(cidr, ip);
}

function prefixEquals(a: Uint8Array, b: Uint8Array, prefix: number): boolean {
  const whole = prefix >>> 3;
  for (let i = 0; i < whole; i++) if (a[i] !== b[i]) return false;
  const rest = prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((a[whole] ?? 0) & mask) === ((b[whole] ?? 0) & mask);
}

function maskBytes(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const bits = Math.max(0, Math.min(8, prefix - i * 8));
    out[i] = (bytes[i] ?? 0) & ((0xff << (8 - bits)) & 0xff);
  }
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Same network (after normalisation): used to reject duplicate rules. */
export function sameCidr(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && a.prefix === b.prefix && sameBytes(a.bytes, b.bytes);
}
