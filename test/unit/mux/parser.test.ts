import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isVproxyError } from '../../../src/fd/errors.js';
import {
  encodeFrame,
  encodeGoaway,
  encodePing,
  encodeWindowUpdate,
  Flag,
  FrameType,
} from '../../../transports/mux/frame.js';
import { FrameParser } from '../../../transports/mux/parser.js';
import { encodeSettings } from '../../../transports/mux/settings.js';
import { type Event, Recorder } from './recorder.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const LIMITS = { maxData: 4096, maxGzip: 1024 };

function errorOf(bytes: Buffer, limits = LIMITS): { code: string; message: string } {
  const parser = new FrameParser(new Recorder(), limits);
  try {
    parser.push(bytes);
  } catch (err) {
    if (!isVproxyError(err)) throw err;
    return { code: err.code, message: err.message };
  }
  throw new Error('no error');
}

describe('malformed frames get a precise typed error', () => {
  const cases: [string, string, string, RegExp][] = [
    ['unknown type 0x02', '000000 02 00 00000001', 'ERR_MUX_PROTOCOL', /unknown frame type 0x02/],
    ['unknown type 0xff', '000000 ff 00 00000000', 'ERR_MUX_PROTOCOL', /unknown frame type 0xff/],
    ['reserved bit on DATA', '000000 00 00 80000001', 'ERR_MUX_PROTOCOL', /reserved stream id bit/],
    ['reserved bit on HEADERS', '000000 01 00 80000001', 'ERR_MUX_PROTOCOL', /reserved/],
    ['HEADERS with a payload', '000001 01 00 00000001 00', 'ERR_MUX_PROTOCOL', /must be empty/],
    ['DATA on stream 0', '000000 00 00 00000000', 'ERR_MUX_PROTOCOL', /DATA frame on stream 0/],
    [
      'HEADERS on stream 0',
      '000000 01 00 00000000',
      'ERR_MUX_PROTOCOL',
      /HEADERS frame on stream 0/,
    ],
    ['PING on stream 1', '000008 06 00 00000001', 'ERR_MUX_PROTOCOL', /PING frame on stream 1/],
    [
      'SETTINGS on stream 1',
      '000000 04 00 00000001',
      'ERR_MUX_PROTOCOL',
      /SETTINGS frame on stream 1/,
    ],
    ['GOAWAY on stream 7', '000008 07 00 00000007', 'ERR_MUX_PROTOCOL', /GOAWAY frame on stream 7/],
    ['WINDOW_UPDATE on stream 0', '000004 08 00 00000000', 'ERR_MUX_PROTOCOL', /stream 0/],
    [
      'DATA over max-frame',
      '001001 00 00 00000001',
      'ERR_MUX_FRAME_SIZE',
      /4097 bytes exceeds the limit of 4096/,
    ],
    [
      'gzip DATA over its limit',
      '000401 00 04 00000001',
      'ERR_MUX_FRAME_SIZE',
      /gzip DATA frame of 1025/,
    ],
    ['PING of 9 bytes', '000009 06 00 00000000', 'ERR_MUX_FRAME_SIZE', /PING frame of 9/],
    [
      'GOAWAY of 8 + 4097 bytes',
      '001009 07 00 00000000',
      'ERR_MUX_FRAME_SIZE',
      /GOAWAY frame of 4105/,
    ],
    ['WINDOW_UPDATE of 5 bytes', '000005 08 00 00000001', 'ERR_MUX_FRAME_SIZE', /must be 4/],
    [
      'WINDOW_UPDATE of 0',
      '000004 08 00 00000001 00000000',
      'ERR_MUX_PROTOCOL',
      /WINDOW_UPDATE of 0/,
    ],
    [
      'SETTINGS of 7 bytes',
      '000007 04 00 00000000 00000000000000',
      'ERR_MUX_FRAME_SIZE',
      /6-byte entries/,
    ],
    [
      'SETTINGS of 198 bytes',
      '0000c6 04 00 00000000',
      'ERR_MUX_FRAME_SIZE',
      /SETTINGS frame of 198/,
    ],
    [
      'SETTINGS window 0',
      '000006 04 00 00000000 0004 00000000',
      'ERR_MUX_FLOW_CONTROL',
      /initial window 0/,
    ],
    [
      'SETTINGS window 2^31',
      '000006 04 00 00000000 0004 80000000',
      'ERR_MUX_FLOW_CONTROL',
      /window 2147483648/,
    ],
    [
      'SETTINGS max frame 100',
      '000006 04 00 00000000 0005 00000064',
      'ERR_MUX_PROTOCOL',
      /max frame size 100/,
    ],
  ];

  it.each(cases)('%s', (_name, bytes, code, message) => {
    const err = errorOf(hex(bytes));
    expect(err.code).toBe(code);
    expect(err.message).toMatch(message);
  });

  it('an oversized frame is refused at its header, before its payload is buffered', () => {
    // Only the 9 header bytes of a 16 MiB DATA frame: the error comes at once.
    expect(errorOf(hex('ffffff 00 00 00000001')).code).toBe('ERR_MUX_FRAME_SIZE');
  });

  it('a failed parser keeps failing with the same error', () => {
    const parser = new FrameParser(new Recorder(), LIMITS);
    const bad = hex('000000 09 00 00000000');
    let first: unknown;
    try {
      parser.push(bad);
    } catch (err) {
      first = err;
    }
    expect(isVproxyError(first, 'ERR_MUX_PROTOCOL')).toBe(true);
    expect(() => parser.push(encodePing(false, Buffer.alloc(8)))).toThrow(first as Error);
  });

  it('limits can be raised after the handshake (reference peers send any size)', () => {
    const r = new Recorder();
    const parser = new FrameParser(r, LIMITS);
    parser.setLimits({ maxData: 0xff_ffff, maxGzip: 0xff_ffff });
    parser.push(encodeFrame(FrameType.DATA, 0, 1, Buffer.alloc(10_000, 1)));
    expect(r.events).toHaveLength(1);
  });
});

// ---- property tests --------------------------------------------------------

interface Spec {
  readonly bytes: Buffer;
  readonly event: Event;
}

const streamId = fc.integer({ min: 1, max: 0x7fff_ffff });
const payload = (max: number) =>
  fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    fc.uint8Array({ minLength: max - 64, maxLength: max }),
  );

const frameSpec: fc.Arbitrary<Spec> = fc.oneof(
  fc
    .record({ id: streamId, fin: fc.boolean(), gzip: fc.boolean(), data: payload(1024) })
    .map(({ id, fin, gzip, data }) => {
      const flags = (fin ? Flag.END_STREAM : 0) | (gzip ? Flag.GZIP : 0);
      return {
        bytes: encodeFrame(FrameType.DATA, flags, id, data),
        event: { t: 'data', id, flags, payload: Buffer.from(data).toString('hex') } as Event,
      };
    }),
  fc.record({ id: streamId, rst: fc.boolean() }).map(({ id, rst }) => {
    const flags = rst ? Flag.END_STREAM : 0;
    return {
      bytes: encodeFrame(FrameType.HEADERS, flags, id),
      event: { t: 'headers', id, flags } as Event,
    };
  }),
  fc
    .option(
      fc.record({
        window: fc.integer({ min: 1, max: 0x7fff_ffff }),
        maxFrame: fc.integer({ min: 1024, max: 0xff_ffff }),
        maxStreams: fc.nat({ max: 0xffff_ffff }),
      }),
    )
    .map((settings) => ({
      bytes: encodeSettings(settings),
      event: { t: 'settings', settings } as Event,
    })),
  fc
    .record({ ack: fc.boolean(), id: fc.uint8Array({ minLength: 8, maxLength: 8 }) })
    .map(({ ack, id }) => ({
      bytes: encodePing(ack, id),
      event: { t: 'ping', ack, payload: Buffer.from(id).toString('hex') } as Event,
    })),
  fc
    .record({
      last: fc.nat({ max: 0xffff_ffff }),
      code: fc.nat({ max: 0xffff_ffff }),
      reason: fc.string({ maxLength: 80 }),
    })
    .map(({ last, code, reason }) => ({
      bytes: encodeGoaway(last, code, reason),
      event: { t: 'goaway', last, code, reason } as Event,
    })),
  fc
    .record({ id: streamId, increment: fc.integer({ min: 1, max: 0x7fff_ffff }) })
    .map(({ id, increment }) => ({
      bytes: encodeWindowUpdate(id, increment),
      event: { t: 'window', id, increment } as Event,
    })),
);

/** Cut `bytes` at the given offsets (any order, duplicates allowed). */
function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    chunks.push(bytes.subarray(from, p));
    from = p;
  }
  chunks.push(bytes.subarray(from));
  return chunks;
}

describe('property: frame sequences split anywhere parse identically', () => {
  it('every split of a frame sequence yields the frames that were encoded', () => {
    fc.assert(
      fc.property(
        fc.array(frameSpec, { maxLength: 30 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (specs, cuts) => {
          const bytes = Buffer.concat(specs.map((s) => s.bytes));
          const r = new Recorder();
          const parser = new FrameParser(r, { maxData: 1024, maxGzip: 1024 });
          for (const chunk of split(bytes, cuts)) parser.push(chunk);
          expect(r.events).toEqual(specs.map((s) => s.event));
        },
      ),
      { numRuns: 400 },
    );
  });

  it('byte-at-a-time feeding equals one-shot feeding', () => {
    fc.assert(
      fc.property(fc.array(frameSpec, { maxLength: 8 }), (specs) => {
        const bytes = Buffer.concat(specs.map((s) => s.bytes));
        const whole = new Recorder();
        new FrameParser(whole, { maxData: 1024, maxGzip: 1024 }).push(bytes);
        const single = new Recorder();
        const parser = new FrameParser(single, { maxData: 1024, maxGzip: 1024 });
        for (let i = 0; i < bytes.length; i++) parser.push(bytes.subarray(i, i + 1));
        expect(single.events).toEqual(whole.events);
      }),
      { numRuns: 100 },
    );
  });
});

// ---- fuzz ------------------------------------------------------------------

const MUX_CODES = new Set(['ERR_MUX_PROTOCOL', 'ERR_MUX_FRAME_SIZE', 'ERR_MUX_FLOW_CONTROL']);

/** The frames a fresh parser delivers from `chunks`, and the typed error it stopped at. */
function parseChunks(chunks: readonly Buffer[]): { events: Event[]; error: string | null } {
  const recorder = new Recorder();
  const parser = new FrameParser(recorder, LIMITS);
  for (const chunk of chunks) {
    try {
      parser.push(chunk);
    } catch (err) {
      if (!isVproxyError(err) || !MUX_CODES.has(err.code)) throw err;
      return { events: recorder.events, error: `${err.code}: ${err.message}` };
    }
  }
  return { events: recorder.events, error: null };
}

/**
 * Feed bytes in chunks; anything thrown must be one of the parser's typed
 * errors, and the outcome (frames delivered, then the error) must be the same
 * whole, cut at `cuts` and byte by byte.
 */
function feed(bytes: Uint8Array, cuts: number[]): void {
  const buf = Buffer.from(bytes);
  const whole = parseChunks([buf]);
  expect(parseChunks(split(buf, cuts)), `cut at ${cuts.join(',')}`).toEqual(whole);
  const bytewise = Array.from({ length: buf.length }, (_, i) => buf.subarray(i, i + 1));
  expect(parseChunks(bytewise), 'byte by byte').toEqual(whole);
}

describe('fuzz: random bytes give a typed error or frames, nothing else', () => {
  it('uniformly random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), fc.array(fc.nat(), { maxLength: 8 }), feed),
      { numRuns: 2000 },
    );
  });

  it('valid frames with random bytes overwritten (headers mostly survive, so deeper paths run)', () => {
    fc.assert(
      fc.property(
        fc.array(frameSpec, { minLength: 1, maxLength: 10 }),
        fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (specs, flips, cuts) => {
          const bytes = Buffer.concat(specs.map((s) => s.bytes));
          for (const [at, value] of flips) bytes[at % bytes.length] = value;
          feed(bytes, cuts);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('small headers with random type, flags and ids never hang or throw untyped', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            type: fc.nat({ max: 12 }),
            flags: fc.nat({ max: 255 }),
            id: fc.nat({ max: 0xffff_ffff }),
            body: fc.uint8Array({ maxLength: 40 }),
          }),
          { maxLength: 20 },
        ),
        fc.array(fc.nat(), { maxLength: 8 }),
        (frames, cuts) => {
          const bytes = Buffer.concat(
            frames.map((f) => {
              const b = encodeFrame(f.type, f.flags, 0, f.body);
              b.writeUInt32BE(f.id, 5);
              return b;
            }),
          );
          feed(bytes, cuts);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
