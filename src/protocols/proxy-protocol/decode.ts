import type { VproxyError } from '../../fd/errors.js';
import type { FrameSpec } from '../frame-reader.js';
import { formatIPv4, formatIPv6, ipFamily, writeIPv6 } from '../inet.js';
import { crc32cUpdate } from './crc32c.js';
import { ProxyHeaderError } from './errors.js';
import {
  type ProxyEndpoint,
  type ProxyFamily,
  type ProxyHeader,
  type ProxyTlv,
  ProxyTlvType,
  V1_MAX_LENGTH,
  V2_SIGNATURE,
} from './types.js';

export interface ProxyDecodeOptions {
  /** Versions accepted (default both, told apart by their first byte). */
  readonly versions?: readonly (1 | 2)[];
  /** Largest v2 header accepted, 16-byte fixed part included (default 4096, at most 65,551). */
  readonly maxV2Length?: number;
  /** Check a CRC32C TLV when one is present (default true), as the spec requires of receivers that can. */
  readonly verifyChecksum?: boolean;
}

const CR = 0x0d;
const LF = 0x0a;
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
/** What may follow "PROXY ": anything else is rejected as soon as it shows. */
const V1_PROTOCOLS = ['TCP4 ', 'TCP6 ', 'UNKNOWN ', 'UNKNOWN\r'].map((p) =>
  Buffer.from(p, 'latin1'),
);
const PORT = /^(?:0|[1-9][0-9]{0,4})$/;

/** v2 family byte → [family, address block length]; the only combinations the spec lists. */
const V2_FAMILIES: ReadonlyMap<number, readonly [ProxyFamily, number]> = new Map([
  [0x00, ['unspec', 0]],
  [0x11, ['tcp4', 12]],
  [0x12, ['udp4', 12]],
  [0x21, ['tcp6', 36]],
  [0x22, ['udp6', 36]],
  [0x31, ['unix-stream', 216]],
  [0x32, ['unix-dgram', 216]],
] as const);

const DEFAULT_MAX_V2 = 4096;

/**
 * An incremental decoder for a PROXY header (v1 line or v2 binary block),
 * detected from its first byte. Invalid input is rejected at the first byte
 * that cannot belong to a valid header; a v1 line longer than 107 bytes or a
 * v2 header beyond `maxV2Length` is ERR_PROXY_HEADER_TOO_LONG.
 */
export function proxyHeaderSpec(options: ProxyDecodeOptions = {}): FrameSpec<ProxyHeader> {
  const versions = options.versions ?? [1, 2];
  const maxV2 = Math.min(options.maxV2Length ?? DEFAULT_MAX_V2, 16 + 0xffff);
  const verify = options.verifyChecksum ?? true;
  const v1 = versions.includes(1);
  const v2 = versions.includes(2);
  return {
    maxLength: Math.max(v1 ? V1_MAX_LENGTH : 0, v2 ? maxV2 : 0, 16),
    frameLength(buf, have) {
      const first = buf[0] as number;
      if (v1 && first === 0x50) return v1Length(buf, have);
      if (v2 && first === CR) return v2Length(buf, have, maxV2);
      throw invalid(
        `not a PROXY ${versions.map((v) => `v${v}`).join('/')} header (first byte 0x${first.toString(16).padStart(2, '0')})`,
      );
    },
    decode(buf, length) {
      return buf[0] === 0x50 ? decodeV1(buf, length) : decodeV2(buf, length, verify);
    },
    truncated: (have) =>
      new ProxyHeaderError(
        'ERR_PROXY_HEADER_TRUNCATED',
        `PROXY header: stream ended after ${have} byte(s) of the header`,
      ),
  };
}

// ── v1 ─────────────────────────────────────────────────────────────────────

function v1Length(buf: Uint8Array, have: number): number {
  const n = Math.min(have, V1_PREFIX.length);
  for (let i = 0; i < n; i++) {
    if (buf[i] !== V1_PREFIX[i]) throw invalid('v1 header must start with "PROXY "');
  }
  if (have > V1_PREFIX.length) checkV1Protocol(buf, have);
  for (let i = V1_PREFIX.length; i < have; i++) {
    const c = buf[i];
    if (c === LF) throw invalid('v1 line has a LF without CR');
    if (c === CR) {
      if (i + 2 > V1_MAX_LENGTH) throw tooLong();
      if (i + 1 < have && buf[i + 1] !== LF) throw invalid('v1 line has a CR not followed by LF');
      return i + 2;
    }
  }
  if (have >= V1_MAX_LENGTH) throw tooLong();
  return V1_MAX_LENGTH;
}

function checkV1Protocol(buf: Uint8Array, have: number): void {
  const start = V1_PREFIX.length;
  for (const p of V1_PROTOCOLS) {
    const n = Math.min(have - start, p.length);
    let i = 0;
    while (i < n && buf[start + i] === p[i]) i++;
    if (i === n) return;
  }
  throw invalid('v1 protocol must be TCP4, TCP6 or UNKNOWN');
}

function decodeV1(buf: Buffer, length: number): ProxyHeader {
  const line = buf.toString('latin1', 0, length - 2);
  // "For UNKNOWN ... the receiver must ignore anything presented before the CRLF."
  if (line === 'PROXY UNKNOWN' || line.startsWith('PROXY UNKNOWN ')) {
    return { version: 1, command: 'proxy', family: 'unspec', tlvs: [], length };
  }
  const fields = line.split(' ');
  if (fields.length !== 6) {
    throw invalid(`v1 line needs 6 fields separated by single spaces, got ${fields.length}`);
  }
  const [, protocol, src, dst, srcPort, dstPort] = fields as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  const family = protocol === 'TCP4' ? 4 : 6;
  const source = v1Endpoint(src, srcPort, family, 'source');
  const destination = v1Endpoint(dst, dstPort, family, 'destination');
  return {
    version: 1,
    command: 'proxy',
    family: family === 4 ? 'tcp4' : 'tcp6',
    source,
    destination,
    tlvs: [],
    length,
  };
}

function v1Endpoint(host: string, port: string, family: 4 | 6, what: string): ProxyEndpoint {
  // Node's isIPv4 already refuses leading zeros, as the spec demands.
  if (ipFamily(host) !== family) {
    throw invalid(`v1 ${what} address "${host.slice(0, 45)}" is not a valid IPv${family} address`);
  }
  if (!PORT.test(port) || Number(port) > 65535) {
    throw invalid(
      `v1 ${what} port "${port.slice(0, 8)}" is not a decimal 0-65535 without leading zeros`,
    );
  }
  return { host: family === 4 ? host : canonicalIPv6(host), port: Number(port) };
}

function canonicalIPv6(host: string): string {
  const bytes = new Uint8Array(16);
  writeIPv6(host, bytes, 0);
  return formatIPv6(bytes, 0);
}

// ── v2 ─────────────────────────────────────────────────────────────────────

function v2Length(buf: Uint8Array, have: number, maxV2: number): number {
  const n = Math.min(have, V2_SIGNATURE.length);
  for (let i = 0; i < n; i++) {
    if (buf[i] !== V2_SIGNATURE[i]) throw invalid('bad v2 signature');
  }
  if (have < 13) return 16;
  const verCmd = buf[12] as number;
  if (verCmd >> 4 !== 2) throw invalid(`v2 version nibble is ${verCmd >> 4} (must be 2)`);
  const command = verCmd & 0x0f;
  if (command > 1) throw invalid(`v2 command 0x${command.toString(16)} is neither LOCAL nor PROXY`);
  if (have < 14) return 16;
  const fam = buf[13] as number;
  const family = V2_FAMILIES.get(fam);
  // LOCAL: "discard the protocol block including the family which is ignored".
  if (command === 1 && family === undefined) {
    throw invalid(
      `v2 family/transport byte 0x${fam.toString(16).padStart(2, '0')} is not one the spec defines`,
    );
  }
  if (have < 16) return 16;
  const length = (((buf[14] as number) << 8) | (buf[15] as number)) >>> 0;
  const total = 16 + length;
  if (total > maxV2) throw tooLong(`v2 header of ${total} bytes exceeds the ${maxV2}-byte limit`);
  if (command === 1 && family !== undefined && length < family[1]) {
    throw invalid(
      `v2 length ${length} is shorter than the ${family[1]}-byte ${family[0]} address block`,
    );
  }
  return total;
}

function decodeV2(buf: Buffer, length: number, verify: boolean): ProxyHeader {
  if (((buf[12] as number) & 0x0f) === 0) {
    return { version: 2, command: 'local', family: 'unspec', tlvs: [], length };
  }
  const [family, addrLength] = V2_FAMILIES.get(buf[13] as number) as readonly [ProxyFamily, number];
  let source: ProxyEndpoint | undefined;
  let destination: ProxyEndpoint | undefined;
  if (addrLength === 12) {
    source = { host: formatIPv4(buf, 16), port: buf.readUInt16BE(24) };
    destination = { host: formatIPv4(buf, 20), port: buf.readUInt16BE(26) };
  } else if (addrLength === 36) {
    source = { host: formatIPv6(buf, 16), port: buf.readUInt16BE(48) };
    destination = { host: formatIPv6(buf, 32), port: buf.readUInt16BE(50) };
  }
  const tlvs = decodeTlvs(buf, 16 + addrLength, length, verify);
  if (source === undefined) return { version: 2, command: 'proxy', family, tlvs, length };
  return { version: 2, command: 'proxy', family, source, destination, tlvs, length };
}

function decodeTlvs(buf: Buffer, start: number, end: number, verify: boolean): ProxyTlv[] {
  const tlvs: ProxyTlv[] = [];
  let at = start;
  while (at < end) {
    if (at + 3 > end) throw invalid(`v2 TLV header at offset ${at} runs past the header end`);
    const type = buf[at] as number;
    const len = buf.readUInt16BE(at + 1);
    if (at + 3 + len > end) {
      throw invalid(`v2 TLV 0x${type.toString(16)} of ${len} bytes runs past the header end`);
    }
    if (type === ProxyTlvType.CRC32C) {
      if (len !== 4) throw invalid(`v2 CRC32C TLV is ${len} bytes (must be 4)`);
      if (verify) checkCrc(buf, end, at + 3);
    }
    tlvs.push({ type, value: Buffer.from(buf.subarray(at + 3, at + 3 + len)) });
    at += 3 + len;
  }
  return tlvs;
}

/** The CRC of the header with the checksum field read as zero, without copying it. */
function checkCrc(buf: Buffer, end: number, field: number): void {
  let crc = crc32cUpdate(0, buf, 0, field);
  crc = crc32cUpdate(crc, ZERO4);
  crc = crc32cUpdate(crc, buf, field + 4, end);
  const sent = buf.readUInt32BE(field);
  if (crc !== sent) {
    throw invalid(
      `v2 CRC32C mismatch (header says 0x${sent.toString(16)}, computed 0x${crc.toString(16)})`,
    );
  }
}

const ZERO4 = new Uint8Array(4);

function invalid(message: string): VproxyError {
  return new ProxyHeaderError('ERR_PROXY_HEADER_INVALID', `PROXY header: ${message}`);
}

function tooLong(message = `v1 line has no CRLF within ${V1_MAX_LENGTH} bytes`): VproxyError {
  return new ProxyHeaderError('ERR_PROXY_HEADER_TOO_LONG', `PROXY header: ${message}`);
}
