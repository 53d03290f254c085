import { isIP, isIPv6 } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isVproxyError } from '../../../src/fd/errors.js';
import { type Cidr, cidrContainsText, formatCidr, parseCidr } from '../../../src/lb/cidr.js';
import { formatIp, parseIp, parseIpv6 } from '../../../src/lb/ip.js';

const inNet = (net: string, ip: string) => cidrContainsText(parseCidr(net), ip);

/**
 * The canonical text of a network, computed without our formatter: IPv4 dotted
 * decimal; IPv6 as the WHATWG URL serializer writes a host (RFC 5952: lower
 * case, no leading zeros, the first longest run of 2+ zero groups as "::").
 */
function canonicalCidr(cidr: Cidr): string {
  if (cidr.family === 4) return `${Array.from(cidr.bytes).join('.')}/${cidr.prefix}`;
  const full = Buffer.from(cidr.bytes).toString('hex').match(/.{4}/g)?.join(':') ?? '';
  return `${new URL(`http://[${full}]/`).hostname.slice(1, -1)}/${cidr.prefix}`;
}

describe('CIDR parsing', () => {
  it('parses IPv4 and IPv6 networks and single hosts', () => {
    expect(formatCidr(parseCidr('10.0.0.0/8'))).toBe('10.0.0.0/8');
    expect(formatCidr(parseCidr('0.0.0.0/0'))).toBe('0.0.0.0/0');
    expect(formatCidr(parseCidr('1.2.3.4'))).toBe('1.2.3.4/32');
    expect(formatCidr(parseCidr('2001:DB8:0:0::/32'))).toBe('2001:db8::/32');
    expect(formatCidr(parseCidr('::/0'))).toBe('::/0');
    expect(formatCidr(parseCidr('::1'))).toBe('::1/128');
    // IPv4-mapped networks are the IPv4 network they describe
    expect(formatCidr(parseCidr('::ffff:10.0.0.0/104'))).toBe('10.0.0.0/8');
    expect(formatCidr(parseCidr('::ffff:0:0/96'))).toBe('0.0.0.0/0');
  });

  it('rejects bad networks with ERR_CIDR_INVALID naming the problem', () => {
    const cases: [string, RegExp][] = [
      ['', /empty/],
      ['10.0.0.0/33', /more than 32/],
      ['::/129', /more than 128/],
      ['10.0.0.1/8', /host bits are set \(the network is 10\.0\.0\.0\/8\)/],
      ['2001:db8::1/32', /host bits.*2001:db8::\/32/],
      ['10.0.0/8', /not an IPv4 address/],
      ['010.0.0.0/8', /not an IPv4 address/],
      ['256.0.0.0/8', /not an IPv4 address/],
      ['10.0.0.0/', /prefix length "" is not a number/],
      ['10.0.0.0/08', /prefix length "08"/],
      ['10.0.0.0/-1', /prefix length/],
      ['1::2::3/64', /not an IPv6 address/],
      ['fe80::1%eth0/64', /not an IPv6 address/],
      ['10.0.0.0/8/8', /prefix length/],
    ];
    for (const [text, why] of cases) {
      expect(() => parseCidr(text), text).toThrow(
        expect.objectContaining({ code: 'ERR_CIDR_INVALID', message: expect.stringMatching(why) }),
      );
    }
  });

  it('property: any input either parses or throws ERR_CIDR_INVALID, nothing else', () => {
    const alphabet = fc.constantFrom(...'0123456789abcdefABCDEF:./%x- '.split(''));
    const noisy = fc.oneof(
      fc.string({ maxLength: 80 }),
      fc.string({ unit: alphabet, maxLength: 50 }),
      fc.string({ unit: 'binary', maxLength: 40 }),
      fc
        .tuple(fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV4Extended()), fc.string({ maxLength: 5 }))
        .map(([ip, suffix]) => `${ip}/${suffix}`),
    );
    fc.assert(
      fc.property(noisy, (text) => {
        let cidr: Cidr;
        try {
          cidr = parseCidr(text);
        } catch (err) {
          expect(isVproxyError(err, 'ERR_CIDR_INVALID'), String(err)).toBe(true);
          return;
        }
        // Outside the try: a round trip that throws must fail the property, not
        // pass as "a typed error". What parses is written canonically and reads back.
        const formatted = formatCidr(cidr);
        expect(formatted).toBe(canonicalCidr(cidr));
        expect(parseCidr(formatted)).toEqual(cidr);
      }),
      { numRuns: 3000 },
    );
  });

  it('property: every valid network round-trips through its canonical text', () => {
    const v4 = fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 }));
    const v6 = fc.tuple(fc.ipV6(), fc.integer({ min: 0, max: 128 }));
    fc.assert(
      fc.property(fc.oneof(v4, v6), ([ip, prefix]) => {
        let cidr: ReturnType<typeof parseCidr>;
        try {
          cidr = parseCidr(`${ip}/${prefix}`);
        } catch (err) {
          // Only "host bits set" may fail for a valid IP; it names the network to use instead.
          expect((err as Error).message).toMatch(/host bits are set \(the network is (.+)\)/);
          const suggested = /the network is (.+)\)/.exec((err as Error).message)?.[1] ?? '';
          cidr = parseCidr(suggested);
        }
        expect(formatCidr(cidr)).toBe(canonicalCidr(cidr));
        expect(parseCidr(formatCidr(cidr))).toEqual(cidr);
        expect(inNet(formatCidr(cidr), ip)).toBe(true); // a network contains its own addresses
      }),
      { numRuns: 2000 },
    );
  });
});

describe('IP parsing agrees with node:net', () => {
  it('property: our IPv6 parser accepts exactly what net.isIPv6 accepts (no zones)', () => {
    const alphabet = fc.constantFrom(...'0123456789abcdef:.'.split(''));
    const candidates = fc.oneof(
      fc.ipV6(),
      fc.string({ unit: alphabet, minLength: 2, maxLength: 45 }),
    );
    fc.assert(
      fc.property(candidates, (text) => {
        expect(parseIpv6(text) !== null, text).toBe(isIPv6(text));
      }),
      { numRuns: 5000 },
    );
  });

  it('property: format(parse(ip)) is a canonical form node agrees is the same address', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (text) => {
        const ip = parseIp(text);
        expect(ip).not.toBeNull();
        if (ip === null) return;
        const formatted = formatIp(ip);
        expect(isIP(formatted)).toBe(ip.family);
        expect(parseIp(formatted)).toEqual(ip);
      }),
      { numRuns: 2000 },
    );
  });

  it('accepts socket forms: brackets and zones', () => {
    expect(parseIp('[::1]')?.family).toBe(6);
    expect(parseIp('fe80::1%eth0')).toEqual(parseIp('fe80::1'));
    expect(parseIp('1.2.3')).toBeNull();
    expect(parseIp('')).toBeNull();
  });
});

describe('CIDR matching edge cases', () => {
  it('/0 matches every address of its family only', () => {
    expect(inNet('0.0.0.0/0', '1.2.3.4')).toBe(true);
    expect(inNet('0.0.0.0/0', '255.255.255.255')).toBe(true);
    expect(inNet('0.0.0.0/0', '::ffff:1.2.3.4')).toBe(true); // IPv4 client of a dual-stack listener
    expect(inNet('0.0.0.0/0', '2001:db8::1')).toBe(false);
    expect(inNet('0.0.0.0/0', '::1')).toBe(false); // not "IPv4-compatible" 0.0.0.1
    expect(inNet('::/0', '2001:db8::1')).toBe(true);
    expect(inNet('::/0', '::1')).toBe(true);
    expect(inNet('::/0', '1.2.3.4')).toBe(false);
    expect(inNet('::/0', '::ffff:1.2.3.4')).toBe(false); // that client is IPv4
  });

  it('/32 and /128 match exactly one address', () => {
    expect(inNet('192.0.2.7/32', '192.0.2.7')).toBe(true);
    expect(inNet('192.0.2.7/32', '192.0.2.6')).toBe(false);
    expect(inNet('192.0.2.7/32', '::ffff:192.0.2.7')).toBe(true);
    expect(inNet('192.0.2.7/32', '::ffff:c000:207')).toBe(true); // same, hex-written
    expect(inNet('2001:db8::7/128', '2001:db8::7')).toBe(true);
    expect(inNet('2001:db8::7/128', '2001:db8::8')).toBe(false);
    expect(inNet('2001:db8::7/128', '[2001:db8:0:0:0:0:0:7]')).toBe(true);
  });

  it('prefixes that end inside a byte, and v4-mapped rules', () => {
    expect(inNet('10.0.0.0/9', '10.127.255.255')).toBe(true);
    expect(inNet('10.0.0.0/9', '10.128.0.0')).toBe(false);
    expect(inNet('2001:db8::/33', '2001:db8:7fff::1')).toBe(true);
    expect(inNet('2001:db8::/33', '2001:db8:8000::1')).toBe(false);
    expect(inNet('::ffff:10.0.0.0/104', '10.1.2.3')).toBe(true);
    expect(inNet('::ffff:10.0.0.0/104', '::ffff:10.1.2.3')).toBe(true);
    expect(inNet('10.0.0.0/8', 'not an ip')).toBe(false);
  });
});
