import { SocketAddress } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isVproxyError, type VproxyError } from '../../../src/fd/errors.js';
import {
  encodeProxyV1,
  encodeProxyV2,
  type ProxyHeader,
  type ProxyHeaderInit,
} from '../../../src/protocols/proxy-protocol/index.js';
import { decodeWhole, expectSplitInvariant, feedInPieces, hexBytes } from './frame-helpers.js';
import { ascii, MAX_TCP6, MAX_UNKNOWN, SIG, spec, TCP4_V2, TCP6_V2, v2 } from './proxy-vectors.js';

const goodHeaders: [string, Buffer][] = [
  ['v1 TCP4', ascii('PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n')],
  ['v1 TCP6 max', ascii(MAX_TCP6)],
  ['v1 UNKNOWN max', ascii(MAX_UNKNOWN)],
  ['v1 UNKNOWN short', ascii('PROXY UNKNOWN\r\n')],
  ['v2 TCP4', TCP4_V2],
  ['v2 TCP6', TCP6_V2],
  ['v2 LOCAL', v2('20 00 0000')],
  [
    'v2 TLVs + CRC',
    encodeProxyV2({
      source: { host: '1.2.3.4', port: 5 },
      destination: { host: '6.7.8.9', port: 10 },
      tlvs: [{ type: 2, value: ascii('example.org') }],
      checksum: true,
    }),
  ],
];

describe('PROXY headers split at every offset, with the stream data after them', () => {
  it.each(goodHeaders)('%s', (_, header) => {
    const whole = decodeWhole(spec, header);
    expect(whole.consumed).toBe(header.length);
    const withData = Buffer.concat([header, ascii('GET / HTTP/1.1\r\n\r\n')]);
    for (let cut = 1; cut < withData.length; cut++) {
      expect(feedInPieces(spec, withData, [cut])).toEqual({ kind: 'done', ...whole });
    }
    for (let cut = 1; cut < header.length; cut++) {
      expect(feedInPieces(spec, header.subarray(0, cut))).toEqual({ kind: 'more', buffered: cut });
    }
    const everyByte = Array.from({ length: withData.length }, (_, i) => i);
    expect(feedInPieces(spec, withData, everyByte)).toEqual({ kind: 'done', ...whole });
  });
});

const libuv6 = (h: string) => new SocketAddress({ address: h, family: 'ipv6' }).address;
const portArb = fc.integer({ min: 0, max: 65535 });
const tlvArb = fc.record({
  type: fc.integer({ min: 0, max: 255 }).filter((t) => t !== 0x03),
  value: fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
});
const cutsArb = fc
  .array(fc.nat({ max: 400 }), { maxLength: 6 })
  .map((a) => [...a].sort((x, y) => x - y));

describe('PROXY round trips (fast-check)', () => {
  it('v1 and v2, any addresses, ports, TLVs and checksum, split anywhere', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.oneof(
          fc.tuple(fc.constant(4 as const), fc.ipV4(), fc.ipV4()),
          fc.tuple(fc.constant(6 as const), fc.ipV6(), fc.ipV6()),
        ),
        portArb,
        portArb,
        fc.boolean(),
        fc.array(tlvArb, { maxLength: 4 }),
        fc.boolean(),
        cutsArb,
        (isV1, [ipv, src, dst], sport, dport, udp, tlvs, checksum, cuts) => {
          const family = `${udp && !isV1 ? 'udp' : 'tcp'}${ipv}` as const;
          const init: ProxyHeaderInit = {
            family,
            source: { host: src, port: sport },
            destination: { host: dst, port: dport },
            ...(isV1 ? {} : { tlvs, checksum }),
          };
          const bytes = isV1 ? encodeProxyV1(init) : encodeProxyV2(init);
          const outcome = feedInPieces(spec, bytes, cuts);
          expect(outcome.kind).toBe('done');
          const header = (outcome as { value: ProxyHeader }).value;
          const canon = (h: string) => (ipv === 6 ? libuv6(h) : h);
          expect(header).toMatchObject({
            version: isV1 ? 1 : 2,
            family,
            source: { host: canon(src), port: sport },
            destination: { host: canon(dst), port: dport },
            length: bytes.length,
          });
          if (!isV1) {
            const got = header.tlvs.filter((t) => t.type !== 0x03);
            expect(got).toEqual(tlvs);
            expect(header.tlvs.length).toBe(tlvs.length + (checksum ? 1 : 0));
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});

/** A typed outcome, and the same one wherever the bytes are split (whole, at `cuts`, byte by byte). */
function checkOutcome(bytes: Uint8Array, cuts: number[]): void {
  const outcome = expectSplitInvariant(spec, bytes, cuts);
  if (outcome.kind === 'error') {
    expect(isVproxyError(outcome.error)).toBe(true);
    expect((outcome.error as VproxyError).code).toMatch(/^ERR_PROXY_HEADER_(INVALID|TOO_LONG)$/);
  } else if (outcome.kind === 'more') {
    expect(outcome.buffered).toBe(bytes.length);
    expect(outcome.buffered).toBeLessThan(spec.maxLength);
  } else {
    expect(outcome.consumed).toBeLessThanOrEqual(bytes.length);
    expect(outcome.consumed).toBe(outcome.value.length);
  }
}

describe('PROXY fuzzing: garbage, truncated and oversized headers', () => {
  it('random bytes, and random bytes after each signature', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(
          Buffer.alloc(0),
          ascii('PROXY '),
          ascii('PROXY TCP4 '),
          ascii('PROXY UNKNOWN'),
          hexBytes(SIG),
          hexBytes(`${SIG}21`),
          hexBytes(`${SIG}2111`),
        ),
        fc.uint8Array({ maxLength: 5000 }),
        cutsArb,
        (prefix, tail, cuts) => checkOutcome(Buffer.concat([prefix, tail]), cuts),
      ),
      { numRuns: 3000 },
    );
  });

  it('mutated, truncated and extended valid headers', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...goodHeaders),
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        fc.nat({ max: 300 }),
        fc.uint8Array({ maxLength: 300 }),
        cutsArb,
        ([, header], at, value, keep, tail, cuts) => {
          const mutated = Buffer.from(header);
          mutated[at % mutated.length] = value;
          checkOutcome(mutated.subarray(0, Math.min(keep, mutated.length)), cuts);
          checkOutcome(Buffer.concat([mutated, tail]), cuts);
        },
      ),
      { numRuns: 3000 },
    );
  });
});
