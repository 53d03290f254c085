import { formatIPv4, formatIPv6, ipFamily, writeIPv4, writeIPv6 } from '../inet.js';
import { Socks5AddressType, type Socks5AddressTypeName } from './constants.js';
import { Socks5Error } from './errors.js';

/**
 * ATYP + DST/BND.ADDR + port: the address block shared by requests, replies
 * and UDP datagram headers.
 */
export interface Socks5Endpoint {
  /** Dotted IPv4, canonical IPv6 (no brackets) or a domain name as sent. */
  readonly host: string;
  readonly port: number;
  readonly addressType: Socks5AddressTypeName;
}

export const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Bytes needed for the address block of `addressType` (domain: of `domainLength`). */
export function addressBlockLength(atyp: number, domainLength: number): number {
  if (atyp === Socks5AddressType.IPV4) return 1 + 4 + 2;
  if (atyp === Socks5AddressType.IPV6) return 1 + 16 + 2;
  return 1 + 1 + domainLength + 2;
}

/**
 * Decode the address block at `buf[offset]` (ATYP already validated, block
 * complete). Returns null for a domain that is not valid UTF-8.
 */
export function readEndpoint(buf: Uint8Array, offset: number): Socks5Endpoint | null {
  const atyp = buf[offset] as number;
  if (atyp === Socks5AddressType.IPV4) {
    return {
      host: formatIPv4(buf, offset + 1),
      port: readPort(buf, offset + 5),
      addressType: 'ipv4',
    };
  }
  if (atyp === Socks5AddressType.IPV6) {
    return {
      host: formatIPv6(buf, offset + 1),
      port: readPort(buf, offset + 17),
      addressType: 'ipv6',
    };
  }
  const len = buf[offset + 1] as number;
  let host: string;
  try {
    host = UTF8.decode(buf.subarray(offset + 2, offset + 2 + len));
  } catch {
    return null;
  }
  return { host, port: readPort(buf, offset + 2 + len), addressType: 'domain' };
}

function readPort(buf: Uint8Array, offset: number): number {
  return ((buf[offset] as number) << 8) | (buf[offset + 1] as number);
}

/**
 * The endpoint to send for `host`: an IP literal goes as IPv4/IPv6, anything
 * else as a domain, unless `addressType` says otherwise (e.g. an IP literal
 * deliberately sent as a domain string).
 */
export function toEndpoint(
  host: string,
  port: number,
  addressType?: Socks5AddressTypeName,
): Socks5Endpoint {
  const family = ipFamily(host);
  const type = addressType ?? (family === 4 ? 'ipv4' : family === 6 ? 'ipv6' : 'domain');
  return { host, port, addressType: type };
}

/** Encoded size of the address block of `endpoint` (validates it). */
export function endpointLength(endpoint: Socks5Endpoint): number {
  checkPort(endpoint.port);
  const { host, addressType } = endpoint;
  if (addressType === 'ipv4') {
    if (ipFamily(host) !== 4) throw invalid(`"${host}" is not an IPv4 address`);
    return 7;
  }
  if (addressType === 'ipv6') {
    if (ipFamily(host) !== 6) throw invalid(`"${host}" is not an IPv6 address`);
    return 19;
  }
  const len = Buffer.byteLength(host, 'utf8');
  if (len < 1 || len > 255) throw invalid(`domain must be 1-255 bytes, "${host}" is ${len}`);
  return 4 + len;
}

/** Write the address block of `endpoint` at `out[offset]`; returns the offset after it. */
export function writeEndpoint(endpoint: Socks5Endpoint, out: Buffer, offset: number): number {
  const { host, port, addressType } = endpoint;
  let at = offset;
  if (addressType === 'ipv4') {
    out[at++] = Socks5AddressType.IPV4;
    writeIPv4(host, out, at);
    at += 4;
  } else if (addressType === 'ipv6') {
    out[at++] = Socks5AddressType.IPV6;
    writeIPv6(host, out, at);
    at += 16;
  } else {
    out[at++] = Socks5AddressType.DOMAIN;
    const len = out.write(host, at + 1, 'utf8');
    out[at++] = len;
    at += len;
  }
  out[at++] = port >> 8;
  out[at++] = port & 0xff;
  return at;
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw invalid(`port ${port} is out of range 0-65535`);
  }
}

function invalid(message: string): Socks5Error {
  return new Socks5Error('ERR_SOCKS5_VALUE_INVALID', 'encode', `address: ${message}`);
}
