import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DatagramDecoder,
  DatagramFrameError,
  encodeDatagram,
  MAX_DATAGRAM,
} from '../../../src/protocols/datagram-frame/index.js';

// The datagram-over-stream framing: any datagrams, encoded and cut anywhere, come
// out whole and in order; what the decoder holds stays under one frame.

function decodeAll(chunks: readonly Buffer[], max?: number): { out: Buffer[]; peak: number } {
  const out: Buffer[] = [];
  // Views of the chunk are only valid until the next push: copy, as a consumer that keeps them must.
  const dec = new DatagramDecoder((d) => out.push(Buffer.from(d)), max);
  let peak = 0;
  for (const c of chunks) {
    dec.push(c);
    peak = Math.max(peak, dec.buffered);
  }
  expect(dec.atBoundary).toBe(true);
  return { out, peak };
}

function cut(stream: Buffer, points: readonly number[]): Buffer[] {
  const sorted = [...new Set(points.map((p) => p % (stream.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let prev = 0;
  for (const p of sorted) {
    chunks.push(stream.subarray(prev, p));
    prev = p;
  }
  chunks.push(stream.subarray(prev));
  return chunks;
}

describe('datagram framing', () => {
  it('encodes a 2-byte big-endian length', () => {
    expect(encodeDatagram(Buffer.from('abc'))).toEqual(Buffer.from([0, 3, 97, 98, 99]));
    expect(encodeDatagram(Buffer.alloc(0))).toEqual(Buffer.from([0, 0]));
    expect(encodeDatagram(Buffer.alloc(MAX_DATAGRAM)).length).toBe(MAX_DATAGRAM + 2);
    expect(() => encodeDatagram(Buffer.alloc(MAX_DATAGRAM + 1))).toThrow(DatagramFrameError);
  });

  it('round-trips any datagrams cut at any points (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 3000 }), { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (datagrams, points) => {
          const stream = Buffer.concat(datagrams.map((d) => encodeDatagram(d)));
          const { out, peak } = decodeAll(cut(stream, points));
          expect(out.map((b) => [...b])).toEqual(datagrams.map((d) => [...d]));
          expect(peak).toBeLessThanOrEqual(2 + 3000);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('one byte at a time, the largest frame', () => {
    const big = Buffer.alloc(MAX_DATAGRAM, 7);
    const stream = Buffer.concat([encodeDatagram(big), encodeDatagram(Buffer.from('x'))]);
    const chunks = [...stream].map((b) => Buffer.from([b]));
    const { out, peak } = decodeAll(chunks);
    expect(out.length).toBe(2);
    expect(out[0]?.equals(big)).toBe(true);
    expect(peak).toBeLessThanOrEqual(MAX_DATAGRAM + 2);
  });

  it('refuses a frame over the limit, after delivering those before it (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 100 }), { maxLength: 5 }),
        fc.integer({ min: 101, max: MAX_DATAGRAM }),
        (good, badLength) => {
          const bad = Buffer.alloc(2);
          bad.writeUInt16BE(badLength, 0);
          const out: Buffer[] = [];
          const dec = new DatagramDecoder((d) => out.push(Buffer.from(d)), 100);
          const stream = Buffer.concat([...good.map((d) => encodeDatagram(d)), bad]);
          expect(() => dec.push(stream)).toThrow(DatagramFrameError);
          expect(out.length).toBe(good.length);
          expect(() => dec.push(Buffer.alloc(1))).toThrow(DatagramFrameError);
        },
      ),
    );
  });
});
