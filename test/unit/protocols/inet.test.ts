import { SocketAddress } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canonicalIp,
  formatIPv6,
  ipFamily,
  unmapIPv4,
  writeIPv4,
  writeIPv6,
} from '../../../src/protocols/inet.js';

function bytesOf(host: string): Uint8Array {
  const out = new Uint8Array(16);
  writeIPv6(host, out, 0);
  return out;
}

describe('IPv6 text ⇄ bytes', () => {
  it.each([
    ['::', '00000000000000000000000000000000', '::'],
    ['::1', '00000000000000000000000000000001', '::1'],
    ['1::', '00010000000000000000000000000000', '1::'],
    ['2001:DB8::1', '20010db8000000000000000000000001', '2001:db8::1'],
    ['0:0:0:0:0:0:0:1', '00000000000000000000000000000001', '::1'],
    ['1:0:0:1:0:0:0:1', '00010000000000010000000000000001', '1:0:0:1::1'],
    ['1:0:0:2:0:0:3:4', '00010000000000020000000000030004', '1::2:0:0:3:4'],
    ['1:0:1:0:1:0:1:0', '00010000000100000001000000010000', '1:0:1:0:1:0:1:0'],
    ['::ffff:1.2.3.4', '00000000000000000000ffff01020304', '::ffff:1.2.3.4'],
    ['::1.2.3.4', '00000000000000000000000001020304', '::1.2.3.4'],
    [
      'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
      'ff'.repeat(16),
      'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
    ],
  ])('%s → %s → %s', (text, hex, canonical) => {
    expect(Buffer.from(bytesOf(text)).toString('hex')).toBe(hex);
    expect(formatIPv6(Buffer.from(hex, 'hex'), 0)).toBe(canonical);
    expect(canonicalIp(text)).toBe(canonical);
  });

  it('formats any 16 bytes exactly as libuv/glibc inet_ntop does, and parses them back', () => {
    fc.assert(
      fc.property(
        // Bias towards zero groups so the "::" rules are exercised.
        fc.array(
          fc.oneof(fc.constant(0), fc.constant(0xffff), fc.integer({ min: 0, max: 0xffff })),
          {
            minLength: 8,
            maxLength: 8,
          },
        ),
        (words) => {
          const bytes = Buffer.alloc(16);
          for (const [i, w] of words.entries()) bytes.writeUInt16BE(w, 2 * i);
          const text = formatIPv6(bytes, 0);
          const viaLibuv = new SocketAddress({ address: text, family: 'ipv6' }).address;
          expect(text).toBe(viaLibuv);
          expect(Buffer.from(bytesOf(text)).equals(bytes)).toBe(true);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('parses every textual form fast-check generates', () => {
    fc.assert(
      fc.property(fc.ipV6(), (text) => {
        const expected = new SocketAddress({ address: text, family: 'ipv6' }).address;
        expect(formatIPv6(bytesOf(text), 0)).toBe(expected);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('IPv4 and helpers', () => {
  it('writes dotted quads', () => {
    const out = new Uint8Array(6);
    writeIPv4('192.168.0.255', out, 1);
    expect([...out]).toEqual([0, 192, 168, 0, 255, 0]);
  });

  it('classifies literals and unmaps IPv4-mapped addresses', () => {
    expect(ipFamily('127.0.0.1')).toBe(4);
    expect(ipFamily('::1')).toBe(6);
    expect(ipFamily('fe80::1%eth0')).toBe(0);
    expect(ipFamily('localhost')).toBe(0);
    expect(ipFamily('01.2.3.4')).toBe(0);
    expect(unmapIPv4('::ffff:10.0.0.1')).toBe('10.0.0.1');
    expect(unmapIPv4('::FFFF:10.0.0.1')).toBe('10.0.0.1');
    expect(unmapIPv4('::ffff:abcd')).toBe('::ffff:abcd');
    expect(unmapIPv4('::1')).toBe('::1');
  });
});
