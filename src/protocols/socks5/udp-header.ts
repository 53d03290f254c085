import {
  addressBlockLength,
  endpointLength,
  readEndpoint,
  type Socks5Endpoint,
  writeEndpoint,
} from './address.js';
import { hex, Socks5AddressType } from './constants.js';
import { Socks5Error } from './errors.js';

/**
 * The header in front of every datagram of a UDP association (RFC 1928 §7):
 * RSV(2) FRAG ATYP DST.ADDR DST.PORT DATA.
 */
export interface Socks5UdpHeader extends Socks5Endpoint {
  /** 0 for a standalone datagram; relays drop anything else (fragmentation is optional). */
  readonly frag: number;
  /** Offset of DATA in the datagram. */
  readonly headerLength: number;
}

/** Decode the header of one datagram; throws Socks5Error (stage `udp`) on a malformed one. */
export function decodeUdpHeader(datagram: Uint8Array): Socks5UdpHeader {
  if (datagram.length < 4) throw bad(`datagram of ${datagram.length} byte(s) has no header`);
  if (datagram[0] !== 0 || datagram[1] !== 0) {
    throw bad(`RSV is 0x${hex(datagram[0] as number)}${hex(datagram[1] as number)} (must be 0)`);
  }
  const atyp = datagram[3] as number;
  let block: number;
  if (atyp === Socks5AddressType.IPV4 || atyp === Socks5AddressType.IPV6) {
    block = addressBlockLength(atyp, 0);
  } else if (atyp === Socks5AddressType.DOMAIN) {
    if (datagram.length < 5) throw bad('datagram ends before the domain length');
    const len = datagram[4] as number;
    if (len === 0) throw bad('empty domain name');
    block = addressBlockLength(atyp, len);
  } else {
    throw new Socks5Error(
      'ERR_SOCKS5_ADDRESS_TYPE_NOT_SUPPORTED',
      'udp',
      `address type 0x${hex(atyp)} (expected 01, 03 or 04)`,
    );
  }
  const headerLength = 3 + block;
  if (datagram.length < headerLength) {
    throw bad(`datagram of ${datagram.length} bytes ends inside its ${headerLength}-byte header`);
  }
  const endpoint = readEndpoint(datagram, 3);
  if (endpoint === null) throw bad('domain name is not valid UTF-8');
  return { frag: datagram[2] as number, headerLength, ...endpoint };
}

/** Length of the header that `encodeUdpHeader` writes for `endpoint`. */
export function udpHeaderLength(endpoint: Socks5Endpoint): number {
  return 3 + endpointLength(endpoint);
}

/** Write a FRAG=0 header for `endpoint` at `out[offset]`; returns the offset after it. */
export function writeUdpHeader(endpoint: Socks5Endpoint, out: Buffer, offset: number): number {
  out[offset] = 0;
  out[offset + 1] = 0;
  out[offset + 2] = 0;
  return writeEndpoint(endpoint, out, offset + 3);
}

/** One datagram: header for `endpoint` followed by `data` (one allocation, one copy). */
export function encodeUdpDatagram(endpoint: Socks5Endpoint, data: Uint8Array): Buffer {
  const headerLength = udpHeaderLength(endpoint);
  const out = Buffer.allocUnsafe(headerLength + data.length);
  writeUdpHeader(endpoint, out, 0);
  out.set(data, headerLength);
  return out;
}

function bad(message: string): Socks5Error {
  return new Socks5Error('ERR_SOCKS5_MALFORMED', 'udp', message);
}
