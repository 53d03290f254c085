import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  FRAME_HEADER_LENGTH,
  FramePreamble,
  inspectFrameHeader,
  isMaxLengthFrame,
  maxLengthFrame,
  pongFrame,
} from '../../../src/protocols/websocks/index.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('the 10-byte maximum-length frame (§3.5)', () => {
  it('is FIN + binary, unmasked, 64-bit length 2^63 − 1', () => {
    const frame = maxLengthFrame();
    expect(frame.toString('hex')).toBe('827f7fffffffffffffff');
    expect(frame.length).toBe(FRAME_HEADER_LENGTH);
    expect(inspectFrameHeader(frame)).toEqual({
      kind: 'max-length',
      fin: true,
      opcode: 2,
      masked: false,
      payloadLength: 2n ** 63n - 1n,
    });
    expect(isMaxLengthFrame(frame)).toBe(true);
    // A copy each time: mutating one cannot corrupt the next connection's.
    frame[0] = 0;
    expect(maxLengthFrame()[0]).toBe(0x82);
  });

  it('classifies debug and foreign headers without refusing them', () => {
    expect(inspectFrameHeader(hex('827f 0000000000000003')).kind).toBe('debug');
    expect(inspectFrameHeader(hex('82ff 7fffffffffffffff'))).toMatchObject({
      kind: 'other',
      masked: true,
    });
    expect(inspectFrameHeader(hex('0102030405060708090a')).kind).toBe('other');
    expect(inspectFrameHeader(hex('827f')).kind).toBe('other');
  });
});

describe('FramePreamble', () => {
  it('collects exactly 10 bytes and hands the rest to the SOCKS5 stage', () => {
    const p = new FramePreamble({ stripPongs: true });
    const result = p.push(Buffer.concat([maxLengthFrame(), hex('050100')]));
    expect(result).toEqual({ done: true, header: maxLengthFrame(), leftover: hex('050100') });
  });

  it('accepts any 10 bytes (neither side validates them)', () => {
    const p = new FramePreamble({ stripPongs: false });
    expect(p.push(hex('0102030405060708090a0b'))).toMatchObject({
      done: true,
      leftover: hex('0b'),
    });
  });

  it('strips keepalive PONGs sent before the frame, counting odd ones', () => {
    const p = new FramePreamble({ stripPongs: true });
    expect(p.push(Buffer.concat([pongFrame(), pongFrame(), hex('8a')]))).toEqual({ done: false });
    expect(p.buffered).toBe(1);
    expect(p.push(hex('05'))).toEqual({ done: false });
    const done = p.push(Buffer.concat([maxLengthFrame(), hex('ff')]));
    expect(done).toEqual({ done: true, header: maxLengthFrame(), leftover: hex('ff') });
    expect([p.pongs, p.oddPongs]).toEqual([3, 1]);
  });

  it('does not strip PONGs on the client side', () => {
    const p = new FramePreamble({ stripPongs: false });
    expect(p.push(Buffer.concat([pongFrame(), hex('0102030405060708')]))).toMatchObject({
      done: true,
    });
  });

  it('gives the same result for every split, and never holds more than 10 bytes', () => {
    const stream = fc
      .tuple(
        fc.array(fc.constantFrom('8a00', '0a11', 'ca00'), { maxLength: 4 }),
        fc.uint8Array({ minLength: 10, maxLength: 30 }),
      )
      .map(([pongs, rest]) => Buffer.concat([hex(pongs.join('')), Buffer.from(rest)]));
    fc.assert(
      fc.property(
        stream.chain((b) =>
          fc.tuple(
            fc.constant(b),
            fc.array(fc.integer({ min: 1, max: b.length }), { maxLength: 8 }),
          ),
        ),
        ([bytes, cuts]) => {
          const run = (edges: number[]) => {
            const p = new FramePreamble({ stripPongs: true });
            const points = [0, ...[...new Set(edges)].sort((a, b) => a - b), bytes.length];
            for (let i = 0; i + 1 < points.length; i++) {
              const r = p.push(bytes.subarray(points[i], points[i + 1]));
              expect(p.buffered).toBeLessThanOrEqual(10);
              if (r.done) {
                return {
                  header: r.header,
                  rest: Buffer.concat([r.leftover, bytes.subarray(points[i + 1])]),
                  pongs: p.pongs,
                };
              }
            }
            return null;
          };
          expect(run(cuts)).toEqual(run([]));
        },
      ),
    );
  });
});
