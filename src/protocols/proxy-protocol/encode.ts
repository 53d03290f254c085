import type { VproxyError } from '../../fd/errors.js';
import { formatIPv6, ipFamily, unmapIPv4, writeIPv4, writeIPv6 } from '../inet.js';
import { crc32cUpdate } from './crc32c.js';
import { ProxyHeaderError } from './errors.js';
import {
  type ProxyEndpoint,
  type ProxyFamily,
  type ProxyHeaderInit,
  ProxyTlvType,
  V2_SIGNATURE,
} from './types.js';

type InetFamily = Exclude<ProxyFamily, 'unix-stream' | 'unix-dgram'>;

interface Resolved {
  readonly family: InetFamily;
  readonly source?: ProxyEndpoint;
  readonly destination?: ProxyEndpoint;
}

/**
 * `PROXY TCP4 <src> <dst> <sport> <dport>\r\n`, `PROXY TCP6 …` or
 * `PROXY UNKNOWN\r\n`, byte for byte as HAProxy's `send-proxy` writes it
 * (IPv6 in inet_ntop's canonical form).
 */
export function encodeProxyV1(init: ProxyHeaderInit): Buffer {
  if (init.command === 'local') throw bad('v1 has no LOCAL command (use UNKNOWN or v2)');
  if (init.tlvs !== undefined || init.checksum) throw bad('v1 has no TLVs or checksum');
  const { family, source, destination } = resolve(init);
  if (family === 'unspec') return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
  if (family !== 'tcp4' && family !== 'tcp6') throw bad(`v1 cannot carry ${family}`);
  const src = source as ProxyEndpoint;
  const dst = destination as ProxyEndpoint;
  const name = family === 'tcp4' ? 'TCP4' : 'TCP6';
  const line = `PROXY ${name} ${text(src.host)} ${text(dst.host)} ${src.port} ${dst.port}\r\n`;
  return Buffer.from(line, 'latin1');
}

const FAMILY_BYTE: Readonly<Record<InetFamily, number>> = {
  unspec: 0x00,
  tcp4: 0x11,
  udp4: 0x12,
  tcp6: 0x21,
  udp6: 0x22,
};

/**
 * The binary v2 header: signature, version/command, family, length, the
 * address block, then (with `checksum`) a CRC32C TLV and the given TLVs in
 * order — HAProxy's layout. LOCAL headers carry family UNSPEC and no addresses, as
 * HAProxy sends them for health checks.
 */
export function encodeProxyV2(init: ProxyHeaderInit): Buffer {
  const local = init.command === 'local';
  const { family, source, destination } = local ? { family: 'unspec' as const } : resolve(init);
  const addrLength = family === 'unspec' ? 0 : family === 'tcp4' || family === 'udp4' ? 12 : 36;
  const tlvs = init.tlvs ?? [];
  let tlvLength = init.checksum ? 7 : 0;
  for (const tlv of tlvs) {
    if (!Number.isInteger(tlv.type) || tlv.type < 0 || tlv.type > 255) {
      throw bad(`TLV type ${tlv.type} is not a byte`);
    }
    if (tlv.value.length > 0xffff)
      throw bad(`TLV 0x${tlv.type.toString(16)} value exceeds 65,535 bytes`);
    tlvLength += 3 + tlv.value.length;
  }
  const length = addrLength + tlvLength;
  if (length > 0xffff) throw bad(`header body of ${length} bytes exceeds 65,535`);
  const out = Buffer.alloc(16 + length);
  V2_SIGNATURE.copy(out, 0);
  out[12] = local ? 0x20 : 0x21;
  out[13] = FAMILY_BYTE[family];
  out.writeUInt16BE(length, 14);
  let at = 16;
  if (addrLength > 0) {
    const src = source as ProxyEndpoint;
    const dst = destination as ProxyEndpoint;
    if (addrLength === 12) {
      writeIPv4(src.host, out, at);
      writeIPv4(dst.host, out, at + 4);
      at += 8;
    } else {
      writeIPv6(src.host, out, at);
      writeIPv6(dst.host, out, at + 16);
      at += 32;
    }
    out.writeUInt16BE(src.port, at);
    out.writeUInt16BE(dst.port, at + 2);
    at += 4;
  }
  // HAProxy writes the CRC32C TLV first, right after the addresses.
  const crcAt = at + 3;
  if (init.checksum) {
    out[at] = ProxyTlvType.CRC32C;
    out.writeUInt16BE(4, at + 1);
    at += 7;
  }
  for (const tlv of tlvs) {
    out[at] = tlv.type;
    out.writeUInt16BE(tlv.value.length, at + 1);
    out.set(tlv.value, at + 3);
    at += 3 + tlv.value.length;
  }
  // The checksum covers the whole header with its own field still zero.
  if (init.checksum) out.writeUInt32BE(crc32cUpdate(0, out), crcAt);
  return out;
}

export function encodeProxyHeader(version: 1 | 2, init: ProxyHeaderInit): Buffer {
  return version === 1 ? encodeProxyV1(init) : encodeProxyV2(init);
}

/**
 * Settle the family and normalise the addresses: IPv4-mapped IPv6 (what a
 * dual-stack listener reports) counts as IPv4; a mixed pair is sent as IPv6
 * with the IPv4 side mapped, so no information is lost.
 */
function resolve(init: ProxyHeaderInit): Resolved {
  const { source, destination } = init;
  if (source === undefined && destination === undefined) {
    if (init.family !== undefined && init.family !== 'unspec') {
      throw bad(`family ${init.family} needs a source and a destination`);
    }
    return { family: 'unspec' };
  }
  if (source === undefined || destination === undefined) {
    throw bad('give both a source and a destination, or neither');
  }
  if (init.family === 'unspec') return { family: 'unspec' };
  checkPort(source.port);
  checkPort(destination.port);
  const src = unmapIPv4(source.host);
  const dst = unmapIPv4(destination.host);
  const fs = ipFamily(src);
  const fd = ipFamily(dst);
  if (fs === 0) throw bad(`source "${source.host}" is not an IP address`);
  if (fd === 0) throw bad(`destination "${destination.host}" is not an IP address`);
  const transport = init.family === 'udp4' || init.family === 'udp6' ? 'udp' : 'tcp';
  const wantV6 = init.family === 'tcp6' || init.family === 'udp6';
  if ((init.family === 'tcp4' || init.family === 'udp4') && (fs !== 4 || fd !== 4)) {
    throw bad(
      `family ${init.family} needs IPv4 addresses, got "${source.host}" and "${destination.host}"`,
    );
  }
  if (fs === 4 && fd === 4 && !wantV6) {
    return {
      family: `${transport}4`,
      source: { host: src, port: source.port },
      destination: { host: dst, port: destination.port },
    };
  }
  return {
    family: `${transport}6`,
    source: { host: fs === 4 ? `::ffff:${src}` : src, port: source.port },
    destination: { host: fd === 4 ? `::ffff:${dst}` : dst, port: destination.port },
  };
}

/** Canonical text of a validated IP: IPv4 as is, IPv6 through inet_ntop's rules. */
function text(host: string): string {
  if (ipFamily(host) === 4) return host;
  const bytes = new Uint8Array(16);
  writeIPv6(host, bytes, 0);
  return formatIPv6(bytes, 0);
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw bad(`port ${port} is out of range`);
}

function bad(message: string): VproxyError {
  return new ProxyHeaderError('ERR_PROXY_HEADER_INVALID', `PROXY header: ${message}`);
}
