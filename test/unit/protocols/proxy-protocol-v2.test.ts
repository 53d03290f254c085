import { describe, expect, it } from 'vitest';
import {
  crc32c,
  encodeProxyV1,
  encodeProxyV2,
  type ProxyHeaderInit,
  type ProxyTlv,
  proxyHeaderSpec,
} from '../../../src/protocols/proxy-protocol/index.js';
import { decodeWhole, hexBytes } from './frame-helpers.js';
import { ascii, type Bad, expectError, spec, TCP4_V2, TCP6_V2, v2 } from './proxy-vectors.js';

describe('PROXY v2: hand-built blocks', () => {
  it('TCP over IPv4', () => {
    expect(decodeWhole(spec, TCP4_V2).value).toEqual({
      version: 2,
      command: 'proxy',
      family: 'tcp4',
      source: { host: '192.168.0.1', port: 56324 },
      destination: { host: '192.168.0.11', port: 443 },
      tlvs: [],
      length: 28,
    });
    expect(
      encodeProxyV2({
        source: { host: '192.168.0.1', port: 56324 },
        destination: { host: '192.168.0.11', port: 443 },
      }),
    ).toEqual(TCP4_V2);
  });

  it('TCP over IPv6', () => {
    expect(decodeWhole(spec, TCP6_V2).value).toMatchObject({
      family: 'tcp6',
      source: { host: '2001:db8::1', port: 12345 },
      destination: { host: '::1', port: 80 },
      length: 52,
    });
    expect(
      encodeProxyV2({
        source: { host: '2001:db8::1', port: 12345 },
        destination: { host: '::1', port: 80 },
      }),
    ).toEqual(TCP6_V2);
  });

  it('UDP over IPv4 and IPv6', () => {
    const udp4 = v2('21 12 000c 7f000001 7f000002 0035 0036');
    expect(decodeWhole(spec, udp4).value).toMatchObject({
      family: 'udp4',
      source: { host: '127.0.0.1', port: 53 },
    });
    expect(
      encodeProxyV2({
        family: 'udp4',
        source: { host: '127.0.0.1', port: 53 },
        destination: { host: '127.0.0.2', port: 54 },
      }),
    ).toEqual(udp4);
    const udp6 = v2(`21 22 0024 ${'00'.repeat(15)}01 ${'00'.repeat(15)}02 0001 0002`);
    expect(decodeWhole(spec, udp6).value).toMatchObject({
      family: 'udp6',
      destination: { host: '::2', port: 2 },
    });
  });

  it('LOCAL (health checks): 16 bytes, family ignored even when garbage, block skipped', () => {
    const local = v2('20 00 0000');
    expect(encodeProxyV2({ command: 'local' })).toEqual(local);
    expect(decodeWhole(spec, local).value).toEqual({
      version: 2,
      command: 'local',
      family: 'unspec',
      tlvs: [],
      length: 16,
    });
    const odd = v2('20 ff 0003 aabbcc');
    expect(decodeWhole(spec, Buffer.concat([odd, ascii('DATA')]))).toMatchObject({
      value: { command: 'local', length: 19 },
      consumed: 19,
    });
  });

  it('PROXY with UNSPEC and UNIX families carries no decoded addresses', () => {
    expect(decodeWhole(spec, v2('21 00 0000')).value).toEqual({
      version: 2,
      command: 'proxy',
      family: 'unspec',
      tlvs: [],
      length: 16,
    });
    expect(encodeProxyV2({})).toEqual(v2('21 00 0000'));
    const unix = v2(
      `21 31 00d8 ${'2f746d702f61'.padEnd(216, '0')}${'2f746d702f62'.padEnd(216, '0')}`,
    );
    expect(decodeWhole(spec, unix).value).toEqual({
      version: 2,
      command: 'proxy',
      family: 'unix-stream',
      tlvs: [],
      length: 232,
    });
  });

  it('TLVs after the addresses', () => {
    // AUTHORITY "localhost", NOOP with 2 bytes of padding, a custom 0xE0 TLV.
    const bytes = v2(
      '21 11 0020 7f000001 7f000001 0001 0002 02 0009 6c6f63616c686f7374 04 0002 0000 e0 0000',
    );
    const tlvs: ProxyTlv[] = [
      { type: 0x02, value: ascii('localhost') },
      { type: 0x04, value: Buffer.alloc(2) },
      { type: 0xe0, value: Buffer.alloc(0) },
    ];
    expect(decodeWhole(spec, bytes).value).toMatchObject({ family: 'tcp4', tlvs, length: 48 });
    expect(
      encodeProxyV2({
        source: { host: '127.0.0.1', port: 1 },
        destination: { host: '127.0.0.1', port: 2 },
        tlvs,
      }),
    ).toEqual(bytes);
  });

  it('CRC32C: the RFC 3720 check value, HAProxy layout (CRC TLV first), tampering detected', () => {
    expect(crc32c(ascii('123456789'))).toBe(0xe3069283);
    expect(crc32c(Buffer.alloc(32))).toBe(0x8a9136aa); // RFC 3720 B.4: 32 bytes of zeros
    const init: ProxyHeaderInit = {
      source: { host: '10.0.0.1', port: 1000 },
      destination: { host: '10.0.0.2', port: 2000 },
      tlvs: [{ type: 0x05, value: ascii('id-1') }],
      checksum: true,
    };
    const withZero = v2('21 11 001a 0a000001 0a000002 03e8 07d0 03 0004 00000000 05 0004 69642d31');
    const expected = Buffer.from(withZero);
    expected.writeUInt32BE(crc32c(withZero), 16 + 12 + 3);
    const encoded = encodeProxyV2(init);
    expect(encoded).toEqual(expected);
    expect(decodeWhole(spec, encoded).value.tlvs.map((t) => t.type)).toEqual([0x03, 0x05]);
    const tampered = Buffer.from(encoded);
    tampered[17] = 0x63; // 10.99.0.1
    expectError(tampered, 'ERR_PROXY_HEADER_INVALID', /CRC32C mismatch/);
    // A receiver that does not verify still accepts it.
    expect(decodeWhole(proxyHeaderSpec({ verifyChecksum: false }), tampered).value.source).toEqual({
      host: '10.99.0.1',
      port: 1000,
    });
  });
});

const badV2: Bad[] = [
  {
    name: 'bad signature',
    bytes: hexBytes('0d0a0d0a01'),
    code: 'ERR_PROXY_HEADER_INVALID',
    message: /bad v2 signature/,
  },
  {
    name: 'version 1 nibble',
    bytes: v2('11 11 000c'),
    code: 'ERR_PROXY_HEADER_INVALID',
    message: /version nibble is 1/,
  },
  {
    name: 'version 3 nibble',
    bytes: v2('31 11 000c'),
    code: 'ERR_PROXY_HEADER_INVALID',
    message: /version nibble is 3/,
  },
  {
    name: 'command 2',
    bytes: v2('22 11 000c'),
    code: 'ERR_PROXY_HEADER_INVALID',
    message: /command 0x2/,
  },
  {
    name: 'family 0x41',
    bytes: v2('21 41 000c'),
    code: 'ERR_PROXY_HEADER_INVALID',
    message: /0x41/,
  },
  {
    name: 'transport 0x13',
    bytes: v2('21 13 000c'),
    code: 'ERR_PROXY_HEADER_INVALID',
    message: /0x13/,
  },
  {
    name: 'family byte 0x10 (not a listed combination)',
    bytes: v2('21 10 000c'),
    code: 'ERR_PROXY_HEADER_INVALID',
    message: /0x10/,
  },
  {
    name: 'length shorter than addresses',
    bytes: v2('21 11 0008 0102030405060708'),
    code: 'ERR_PROXY_HEADER_INVALID',
    message: /shorter than the 12-byte tcp4/,
  },
  {
    name: 'TLV header cut',
    bytes: v2('21 11 000e 7f000001 7f000001 0001 0002 02 00'),
    code: 'ERR_PROXY_HEADER_INVALID',
    message: /TLV header at offset 28/,
  },
  {
    name: 'TLV value overruns',
    bytes: v2('21 11 0010 7f000001 7f000001 0001 0002 02 0005 6162'),
    code: 'ERR_PROXY_HEADER_INVALID',
    message: /5 bytes runs past/,
  },
  {
    name: 'CRC TLV of 3 bytes',
    bytes: v2('21 11 0012 7f000001 7f000001 0001 0002 03 0003 000000'),
    code: 'ERR_PROXY_HEADER_INVALID',
    message: /CRC32C TLV is 3 bytes/,
  },
  {
    name: 'length over the bound',
    bytes: v2('21 11 ffff'),
    code: 'ERR_PROXY_HEADER_TOO_LONG',
    message: /65551 bytes exceeds the 4096-byte limit/,
  },
  {
    name: 'neither version',
    bytes: ascii('GET / HTTP/1.1\r\n'),
    code: 'ERR_PROXY_HEADER_INVALID',
    message: /not a PROXY v1\/v2 header \(first byte 0x47\)/,
  },
  {
    name: 'TLS hello',
    bytes: hexBytes('16030100'),
    code: 'ERR_PROXY_HEADER_INVALID',
    message: /first byte 0x16/,
  },
];

describe('PROXY v2: bad blocks are typed errors', () => {
  it.each(badV2)('$name', ({ bytes, code, message }) => expectError(bytes, code, message));

  it('a receiver limited to one version refuses the other', () => {
    expectError(
      TCP4_V2,
      'ERR_PROXY_HEADER_INVALID',
      /not a PROXY v1 header/,
      proxyHeaderSpec({ versions: [1] }),
    );
    expectError(
      ascii('PROXY UNKNOWN\r\n'),
      'ERR_PROXY_HEADER_INVALID',
      /not a PROXY v2 header/,
      proxyHeaderSpec({ versions: [2] }),
    );
  });

  it('a larger bound admits larger headers', () => {
    const big = encodeProxyV2({ tlvs: [{ type: 0xe1, value: Buffer.alloc(10_000, 7) }] });
    expectError(big, 'ERR_PROXY_HEADER_TOO_LONG', /exceeds the 4096-byte limit/);
    const roomy = proxyHeaderSpec({ maxV2Length: 20_000 });
    expect(decodeWhole(roomy, big).value.tlvs[0]?.value.length).toBe(10_000);
  });

  it('the encoder refuses what cannot be sent', () => {
    expect(() => encodeProxyV1({ command: 'local' })).toThrow(/v1 has no LOCAL/);
    expect(() => encodeProxyV1({ tlvs: [] })).toThrow(/no TLVs/);
    expect(() =>
      encodeProxyV1({
        family: 'udp4',
        source: { host: '1.1.1.1', port: 1 },
        destination: { host: '1.1.1.1', port: 1 },
      }),
    ).toThrow(/cannot carry udp4/);
    expect(() => encodeProxyV2({ source: { host: '1.1.1.1', port: 1 } })).toThrow(
      /both a source and a destination/,
    );
    expect(() =>
      encodeProxyV2({
        source: { host: 'example.com', port: 1 },
        destination: { host: '1.1.1.1', port: 1 },
      }),
    ).toThrow(/not an IP address/);
    expect(() =>
      encodeProxyV2({
        family: 'tcp4',
        source: { host: '::1', port: 1 },
        destination: { host: '1.1.1.1', port: 1 },
      }),
    ).toThrow(/needs IPv4/);
    expect(() =>
      encodeProxyV2({
        source: { host: '1.1.1.1', port: 70000 },
        destination: { host: '1.1.1.1', port: 1 },
      }),
    ).toThrow(/out of range/);
    expect(() => encodeProxyV2({ tlvs: [{ type: 1, value: Buffer.alloc(70_000) }] })).toThrow(
      /65,535/,
    );
    expect(() => encodeProxyV2({ tlvs: [{ type: 256, value: Buffer.alloc(0) }] })).toThrow(
      /not a byte/,
    );
  });
});
