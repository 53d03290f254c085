import { SocketAddress } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { FrameSpec } from '../../../src/protocols/frame-reader.js';
import {
  authRequestSpec,
  authStatusSpec,
  encodeAuthRequest,
  encodeGreeting,
  encodeReply,
  encodeRequest,
  greetingSpec,
  methodSelectionSpec,
  replySpec,
  requestSpec,
  Socks5Error,
} from '../../../src/protocols/socks5/index.js';
import { decodeWhole, expectSplitInvariant, feedInPieces } from './frame-helpers.js';
import { V } from './socks5-vectors.js';

const wellFormed: [string, FrameSpec<unknown>, Buffer][] = [
  ['greeting', greetingSpec, V.greetingBoth],
  ['auth request', authRequestSpec, V.auth],
  ['connect v4', requestSpec, V.connectV4],
  ['connect domain', requestSpec, V.connectDomain],
  ['connect v6', requestSpec, V.connectV6],
  ['reply', replySpec, encodeReply(0, { host: 'example.org', port: 443 })],
  ['method selection', methodSelectionSpec, V.selectUserPass],
  ['auth status', authStatusSpec, V.authFail],
];

describe('socks5 parsing split at every offset', () => {
  it.each(wellFormed)(
    '%s: one cut anywhere, byte by byte, and with trailing data',
    (_, spec, bytes) => {
      const whole = decodeWhole(spec, bytes);
      expect(whole.consumed).toBe(bytes.length);
      for (let cut = 1; cut < bytes.length; cut++) {
        expect(feedInPieces(spec, bytes, [cut])).toEqual({ kind: 'done', ...whole });
        // Only the first `cut` bytes so far: the reader waits, holding exactly them.
        expect(feedInPieces(spec, bytes.subarray(0, cut))).toEqual({ kind: 'more', buffered: cut });
      }
      const everyByte = Array.from({ length: bytes.length }, (_, i) => i);
      expect(feedInPieces(spec, bytes, everyByte)).toEqual({ kind: 'done', ...whole });
      // Bytes after the message (pipelined data) are never consumed.
      const trailing = Buffer.concat([bytes, Buffer.from('PIPELINED')]);
      for (let cut = 1; cut < trailing.length; cut++) {
        expect(feedInPieces(spec, trailing, [cut])).toEqual({ kind: 'done', ...whole });
      }
    },
  );
});

/** The text Node (libuv inet_ntop) gives an IPv6 address: our canonical form must match. */
function libuvIPv6(host: string): string {
  return new SocketAddress({ address: host, family: 'ipv6' }).address;
}

const domainArb = fc
  .string({ unit: 'grapheme', minLength: 1, maxLength: 80 })
  .filter((s) => Buffer.byteLength(s) <= 255);
const endpointArb = fc.oneof(
  fc.record({ host: fc.ipV4(), addressType: fc.constant('ipv4' as const) }),
  fc.record({ host: fc.ipV6(), addressType: fc.constant('ipv6' as const) }),
  fc.record({ host: domainArb, addressType: fc.constant('domain' as const) }),
);
const cutsArb = fc
  .array(fc.nat({ max: 600 }), { maxLength: 8 })
  .map((a) => [...a].sort((x, y) => x - y));

describe('socks5 round trips (fast-check)', () => {
  it('requests of any command and endpoint, split anywhere', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('connect' as const, 'bind' as const, 'udp-associate' as const),
        endpointArb,
        fc.integer({ min: 0, max: 65535 }),
        cutsArb,
        (command, { host, addressType }, port, cuts) => {
          const bytes = encodeRequest(command, { host, port, addressType });
          const outcome = feedInPieces(requestSpec, bytes, cuts);
          const expectedHost = addressType === 'ipv6' ? libuvIPv6(host) : host;
          expect(outcome).toEqual({
            kind: 'done',
            value: { command, host: expectedHost, port, addressType },
            consumed: bytes.length,
          });
        },
      ),
      { numRuns: 500 },
    );
  });

  it('replies with any byte code and endpoint', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 255 }),
        endpointArb,
        fc.integer({ min: 0, max: 65535 }),
        (code, ep, port) => {
          const bytes = encodeReply(code, { ...ep, port });
          const host = ep.addressType === 'ipv6' ? libuvIPv6(ep.host) : ep.host;
          expect(decodeWhole(replySpec, bytes).value).toEqual({
            code,
            host,
            port,
            addressType: ep.addressType,
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('greetings and credentials of any bytes', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 255 }),
        fc.uint8Array({ maxLength: 255 }),
        fc.uint8Array({ maxLength: 255 }),
        cutsArb,
        (methods, user, pass, cuts) => {
          expect(feedInPieces(greetingSpec, encodeGreeting(methods), cuts)).toMatchObject({
            kind: 'done',
            value: { methods },
          });
          const auth = feedInPieces(authRequestSpec, encodeAuthRequest(user, pass), cuts);
          expect(auth.kind).toBe('done');
          const creds = (auth as { value: { username: Buffer; password: Buffer } }).value;
          expect(Buffer.compare(creds.username, Buffer.from(user))).toBe(0);
          expect(Buffer.compare(creds.password, Buffer.from(pass))).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });
});

const clientSpecs = [greetingSpec, authRequestSpec, requestSpec] as FrameSpec<unknown>[];
const serverSpecs = [methodSelectionSpec, authStatusSpec, replySpec] as FrameSpec<unknown>[];

/**
 * Every outcome of feeding anything is one of three, the buffer stays bounded,
 * and it is the same outcome wherever the bytes are split (whole, at `cuts`,
 * byte by byte).
 */
function checkOutcome(spec: FrameSpec<unknown>, bytes: Uint8Array, cuts: number[]): void {
  const outcome = expectSplitInvariant(spec, bytes, cuts);
  if (outcome.kind === 'error') {
    expect(outcome.error).toBeInstanceOf(Socks5Error);
    expect((outcome.error as Socks5Error).code).toMatch(/^ERR_SOCKS5_/);
  } else if (outcome.kind === 'more') {
    expect(outcome.buffered).toBe(bytes.length);
    expect(outcome.buffered).toBeLessThan(spec.maxLength);
  } else {
    expect(outcome.consumed).toBeLessThanOrEqual(Math.min(bytes.length, spec.maxLength));
  }
}

describe('socks5 fuzzing: garbage, truncated and oversized input', () => {
  it('random bytes give a message, need-more or a Socks5Error, never anything else', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...clientSpecs, ...serverSpecs),
        fc.uint8Array({ maxLength: 1200 }),
        cutsArb,
        (spec, bytes, cuts) => checkOutcome(spec, bytes, cuts),
      ),
      { numRuns: 2000 },
    );
  });

  it('mutated and truncated valid messages behave the same', () => {
    const valid = fc.constantFrom(...wellFormed);
    fc.assert(
      fc.property(
        valid,
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        fc.nat({ max: 300 }),
        fc.uint8Array({ maxLength: 600 }),
        cutsArb,
        ([, spec, bytes], at, value, keep, tail, cuts) => {
          const mutated = Buffer.from(bytes);
          mutated[at % mutated.length] = value;
          const cutShort = mutated.subarray(0, Math.min(keep, mutated.length));
          checkOutcome(spec, cutShort, cuts);
          // Oversized: a valid prefix followed by up to 600 bytes of anything.
          checkOutcome(spec, Buffer.concat([mutated, tail]), cuts);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
