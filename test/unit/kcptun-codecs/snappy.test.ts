import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CHUNK_COMPRESSED,
  CHUNK_UNCOMPRESSED,
  crc32c,
  maskedCrc32c,
  SnappyFrameDecoder,
  SnappyFrameEncoder,
  SnappyFrameError,
  STREAM_IDENTIFIER,
} from '../../../transports/snappy-frame/index.js';
import { loadFixtures } from './fixtures.js';
import { kcpStream } from './pipeline.js';

function decodeAll(bytes: Uint8Array, pieces = 1): Buffer {
  const d = new SnappyFrameDecoder();
  const out: Buffer[] = [];
  const step = Math.max(1, Math.ceil(bytes.length / pieces));
  for (let o = 0; o < bytes.length; o += step) {
    d.push(bytes.subarray(o, o + step), (x) => out.push(Buffer.from(x)));
  }
  expect(d.buffered).toBe(0);
  return Buffer.concat(out);
}

/** The chunks of a framed stream: type and total length, without decoding. */
function chunkList(bytes: Buffer): { type: number; start: number; end: number }[] {
  const chunks: { type: number; start: number; end: number }[] = [];
  for (let o = 0; o < bytes.length; ) {
    const end = o + 4 + bytes.readUIntLE(o + 1, 3);
    chunks.push({ type: bytes[o] as number, start: o, end });
    o = end;
  }
  return chunks;
}

describe('snappy framing of captured kcptun streams (compression on)', () => {
  for (const f of loadFixtures().filter((x) => !x.flags.nocomp)) {
    it(`${f.name}: both directions start with the identifier and decode chunk by chunk`, () => {
      for (const dir of ['c2s', 's2c'] as const) {
        const bytes = kcpStream(f, dir).bytes;
        expect(bytes.subarray(0, 10).equals(STREAM_IDENTIFIER)).toBe(true);
        const plain = decodeAll(bytes, 5);
        // The smux stream inside: version byte first, SYN for stream 3 from the client.
        expect(plain[0]).toBe(f.flags.smuxver);
        const chunks = chunkList(bytes).slice(1);
        expect(
          chunks.every((c) => c.type === CHUNK_COMPRESSED || c.type === CHUNK_UNCOMPRESSED),
        ).toBe(true);
        // Our encoder, given the same writes (one per chunk), makes the same choice
        // (compressed or not) and, for stored chunks, the same bytes. Compressed bodies
        // differ (snappyjs and golang/snappy pick other matches); both decode alike.
        const enc = new SnappyFrameEncoder();
        enc.encode(Buffer.alloc(0)); // the identifier
        for (const c of chunks) {
          const theirs = bytes.subarray(c.start, c.end);
          const data = decodeAll(Buffer.concat([STREAM_IDENTIFIER, theirs]));
          const ours = enc.encode(data);
          expect(ours[0], `${dir} chunk at ${c.start}`).toBe(c.type);
          if (c.type === CHUNK_UNCOMPRESSED) expect(ours.equals(theirs)).toBe(true);
          expect(decodeAll(Buffer.concat([STREAM_IDENTIFIER, ours])).equals(data)).toBe(true);
        }
      }
    });
  }

  it('the captures include compressed chunks (the text part of the payload)', () => {
    const types = loadFixtures()
      .filter((x) => !x.flags.nocomp)
      .flatMap((f) => chunkList(kcpStream(f, 'c2s').bytes).map((c) => c.type));
    expect(types).toContain(CHUNK_COMPRESSED);
    expect(types).toContain(CHUNK_UNCOMPRESSED);
  });
});

describe('snappy framing codec', () => {
  it('computes CRC-32C and its mask as the framing format defines', () => {
    expect(crc32c(Buffer.from('123456789')).toString(16)).toBe('e3069283');
    expect(crc32c(Buffer.alloc(32, 0xff)).toString(16)).toBe('62a8ab43');
    // golang/snappy's masked checksum of empty input.
    expect(maskedCrc32c(Buffer.alloc(0))).toBe(((0 >>> 15) | (0 << 17)) + 0xa282ead8);
  });

  it('stops trying to compress an incompressible stream, retries with backoff, resumes at once', () => {
    const enc = new SnappyFrameEncoder();
    const random = randomBytes(64 * 1024);
    const text = Buffer.from('compressible text '.repeat(3000)).subarray(0, 64 * 1024);
    const writes: Buffer[] = [];
    const types: number[] = [];
    const send = (w: Buffer) => {
      writes.push(w);
      const framed = enc.encode(w);
      for (const c of chunkList(framed)) if (c.type !== 0xff) types.push(c.type);
      return framed;
    };
    const framed: Buffer[] = [];
    for (let i = 0; i < 40; i++) framed.push(send(random));
    // Two misses, then pauses of 1, 2, 4, 8, 16 blocks with a try between each.
    expect(enc.stats).toEqual({ compressed: 0, stored: 7, skipped: 33 });
    expect(types.every((t) => t === CHUNK_UNCOMPRESSED)).toBe(true);
    // A compressible stretch: found at the next try, then compressed block by block.
    for (let i = 0; i < 40; i++) framed.push(send(text));
    const s = enc.stats;
    expect(s.compressed).toBeGreaterThanOrEqual(40 - 32);
    expect(s.skipped + s.stored + s.compressed).toBe(80);
    expect(types.slice(-8).every((t) => t === CHUNK_COMPRESSED)).toBe(true);
    // And the stream decodes to exactly what was written.
    expect(decodeAll(Buffer.concat(framed), 7).equals(Buffer.concat(writes))).toBe(true);
  });

  it('round-trips any writes split at any byte boundary', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.uint8Array({ maxLength: 3000 }),
            fc.string({ maxLength: 3000 }).map((s) => Buffer.from(s.repeat(3))),
          ),
          { maxLength: 6 },
        ),
        fc.integer({ min: 1, max: 40 }),
        (writes, pieces) => {
          const enc = new SnappyFrameEncoder();
          const framed = Buffer.concat([
            enc.encode(Buffer.alloc(0)),
            ...writes.map((w) => enc.encode(w)),
          ]);
          expect(decodeAll(framed, pieces).equals(Buffer.concat(writes))).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('splits writes larger than 64 KiB into chunks', () => {
    const big = Buffer.alloc(200_000, 7);
    const framed = new SnappyFrameEncoder().encode(big);
    expect(chunkList(framed).length).toBe(1 + 4);
    expect(decodeAll(framed).equals(big)).toBe(true);
  });

  it('assembles a 64 KiB chunk fed a byte at a time', () => {
    const data = Buffer.from(Array.from({ length: 65536 }, (_, i) => (i * 7919) & 0xff));
    expect(decodeAll(new SnappyFrameEncoder().encode(data), 80_000).equals(data)).toBe(true);
  });

  it('skips padding and skippable chunks without buffering them', () => {
    const enc = new SnappyFrameEncoder();
    const skip = Buffer.alloc(4 + 100_000);
    skip[0] = 0x80;
    skip.writeUIntLE(100_000, 1, 3);
    const pad = Buffer.from([0xfe, 2, 0, 0, 0, 0]);
    const framed = Buffer.concat([
      enc.encode(Buffer.from('a')),
      skip,
      pad,
      enc.encode(Buffer.from('b')),
    ]);
    const d = new SnappyFrameDecoder();
    const out: string[] = [];
    for (let o = 0; o < framed.length; o += 1000) {
      d.push(framed.subarray(o, o + 1000), (x) => out.push(x.toString()));
      expect(d.buffered).toBeLessThan(1000 + 8);
    }
    expect(out.join('')).toBe('ab');
    expect(d.stats.skippedBytes).toBe(100_002);
  });

  it.each([
    [
      'data before the identifier',
      Buffer.from('0105000000000000aa', 'hex'),
      'ERR_SNAPPY_IDENTIFIER',
    ],
    [
      'a reserved chunk type',
      Buffer.concat([STREAM_IDENTIFIER, Buffer.from('02000000', 'hex')]),
      'ERR_SNAPPY_CHUNK_TYPE',
    ],
    [
      'an oversized chunk',
      Buffer.concat([STREAM_IDENTIFIER, Buffer.from('01ffff01', 'hex')]),
      'ERR_SNAPPY_CORRUPT',
    ],
    [
      'a bad checksum',
      Buffer.concat([STREAM_IDENTIFIER, Buffer.from('010500000000000061', 'hex')]),
      'ERR_SNAPPY_CHECKSUM',
    ],
    [
      'a bad block',
      Buffer.concat([STREAM_IDENTIFIER, Buffer.from('0007000000000000040105', 'hex')]),
      'ERR_SNAPPY_CORRUPT',
    ],
    [
      // snappyjs zero-fills a truncated block instead of failing: the CRC catches it.
      'a truncated block',
      Buffer.concat([STREAM_IDENTIFIER, Buffer.from('0006000000000000ff01', 'hex')]),
      'ERR_SNAPPY_CHECKSUM',
    ],
  ])('%s is a typed error', (_name, bytes, code) => {
    const d = new SnappyFrameDecoder();
    expect(() => d.push(bytes, () => {})).toThrow(expect.objectContaining({ code }));
    expect(() => d.push(Buffer.alloc(1), () => {})).toThrow(SnappyFrameError);
  });

  it('garbage gives data or a SnappyFrameError, never another exception', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.boolean(), (b, withId) => {
        const d = new SnappyFrameDecoder();
        try {
          d.push(withId ? Buffer.concat([STREAM_IDENTIFIER, b]) : b, () => {});
        } catch (e) {
          expect(e).toBeInstanceOf(SnappyFrameError);
        }
        expect(d.buffered).toBeLessThanOrEqual(8 + 76_490);
      }),
      { numRuns: 3000 },
    );
  });

  it('corrupted compressed chunks are typed errors, never another exception', () => {
    const enc = new SnappyFrameEncoder();
    const framed = enc.encode(Buffer.from('compressible '.repeat(200)));
    fc.assert(
      fc.property(
        fc.integer({ min: 14, max: framed.length - 1 }),
        fc.integer({ min: 1, max: 255 }),
        (at, x) => {
          const bad = Buffer.from(framed);
          bad[at] = (bad[at] as number) ^ x;
          const d = new SnappyFrameDecoder();
          try {
            d.push(bad, () => {});
          } catch (e) {
            expect(e).toBeInstanceOf(SnappyFrameError);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});
