import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MAX_LENGTH_FRAME,
  RAW_HEADER_LENGTH,
  RawHeaderReader,
} from '../../../transports/ws/raw-header.js';

/** Cut `bytes` at the given (sorted, deduplicated) offsets. */
function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    out.push(bytes.subarray(from, p));
    from = p;
  }
  out.push(bytes.subarray(from));
  return out;
}

/** Feed chunks until the reader completes; returns what followed the header, in order. */
function feed(reader: RawHeaderReader, chunks: Buffer[]): Buffer | null {
  const rest: Buffer[] = [];
  let done = false;
  for (const chunk of chunks) {
    if (done) rest.push(chunk);
    else {
      const after = reader.push(chunk);
      if (after !== null) {
        done = true;
        rest.push(after);
      }
    }
  }
  return done ? Buffer.concat(rest) : null;
}

describe('the maximum-length frame header (spec §3.5)', () => {
  it('is FIN+binary, unmasked, 64-bit length 2^63-1', () => {
    expect([...MAX_LENGTH_FRAME]).toEqual([
      0x82, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    ]);
    expect(RAW_HEADER_LENGTH).toBe(10);
    expect(MAX_LENGTH_FRAME.readBigUInt64BE(2)).toBe(2n ** 63n - 1n);
  });
});

describe('RawHeaderReader', () => {
  it('waits for exactly 10 bytes and returns the rest of the chunk', () => {
    const r = new RawHeaderReader(false);
    expect(r.push(MAX_LENGTH_FRAME.subarray(0, 9))).toBeNull();
    const rest = r.push(Buffer.concat([MAX_LENGTH_FRAME.subarray(9), Buffer.from('abc')]));
    expect(rest?.toString()).toBe('abc');
    expect(r.complete).toBe(true);
    expect(() => r.push(Buffer.from('x'))).toThrow();
  });

  it('never validates the header content (a debug build sends length 3)', () => {
    const r = new RawHeaderReader(true);
    const debug = Buffer.from([0x82, 0x7f, 0, 0, 0, 0, 0, 0, 0, 3]);
    expect(r.push(Buffer.concat([debug, Buffer.from('z')]))?.toString()).toBe('z');
  });

  it('drops 8A 00 PONGs before the header on the server side only', () => {
    const input = Buffer.concat([
      Buffer.from([0x8a, 0x00, 0x8a, 0x00]),
      MAX_LENGTH_FRAME,
      Buffer.from('p'),
    ]);
    const server = new RawHeaderReader(true);
    expect(server.push(input)?.toString()).toBe('p');
    expect(server.pongs).toBe(2);
    // The client side takes the first 10 bytes as the header, whatever they are.
    const client = new RawHeaderReader(false);
    expect(client.push(input)?.length).toBe(input.length - 10);
  });

  it('property: any PONGs + any 10 bytes + payload, cut anywhere, yields exactly the payload', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 5 }),
        fc.uint8Array({ minLength: 10, maxLength: 10 }),
        fc.uint8Array({ maxLength: 64 }),
        fc.array(fc.nat({ max: 200 }), { maxLength: 12 }),
        fc.boolean(),
        (pongs, header, payload, cuts, skipPongs) => {
          // The header's first byte must not look like a PONG, or it would be one.
          const head = Buffer.from(header);
          if (skipPongs && ((head[0] as number) & 0x0f) === 0x0a) head[0] = 0x82;
          const prefix = skipPongs
            ? Buffer.alloc(2 * pongs, Buffer.from([0x8a, 0x00]))
            : Buffer.alloc(0);
          const input = Buffer.concat([prefix, head, Buffer.from(payload)]);
          const reader = new RawHeaderReader(skipPongs);
          const rest = feed(reader, split(input, cuts));
          expect(rest?.equals(Buffer.from(payload))).toBe(true);
          expect(reader.pongs).toBe(skipPongs ? pongs : 0);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('property: fewer than 10 header bytes never complete', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 9 }), fc.array(fc.nat({ max: 20 })), (bytes, cuts) => {
        const input = Buffer.from(bytes);
        // Without PONG skipping, n < 10 bytes are all header bytes.
        expect(feed(new RawHeaderReader(false), split(input, cuts))).toBeNull();
      }),
      { numRuns: 200 },
    );
  });
});
