import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isVproxyError } from '../../../src/fd/errors.js';
import {
  CMD_FIN,
  CMD_NOP,
  CMD_PSH,
  CMD_SYN,
  CMD_UPD,
  encodeControl,
  encodePush,
  encodeUpdate,
  SmuxError,
  type SmuxFrame,
  SmuxParser,
  type SmuxVersion,
} from '../../../transports/smux/index.js';
import { loadFixtures } from './fixtures.js';
import { kcpStream } from './pipeline.js';

function parseAll(bytes: Buffer, version: SmuxVersion, pieces = 1): SmuxFrame[] {
  const p = new SmuxParser({ version });
  const frames: SmuxFrame[] = [];
  const step = Math.max(1, Math.ceil(bytes.length / pieces));
  for (let o = 0; o < bytes.length; o += step) {
    p.push(bytes.subarray(o, o + step), (f) =>
      frames.push(f.cmd === CMD_PSH ? { ...f, data: Buffer.from(f.data) } : f),
    );
  }
  expect(p.buffered).toBe(0);
  return frames;
}

function streamData(frames: SmuxFrame[], sid: number): Buffer {
  return Buffer.concat(frames.flatMap((f) => (f.cmd === CMD_PSH && f.sid === sid ? [f.data] : [])));
}

describe('smux frames inside captured kcptun traffic (--nocomp)', () => {
  for (const f of loadFixtures().filter((x) => x.flags.nocomp)) {
    const version = f.flags.smuxver as SmuxVersion;
    it(`${f.name}: the client opens stream 3, pushes the payload, and gets the echo back`, () => {
      const up = parseAll(kcpStream(f, 'c2s').bytes, version, 7);
      const down = parseAll(kcpStream(f, 's2c').bytes, version, 3);
      expect(up[0]).toEqual({ cmd: CMD_SYN, sid: 3 });
      expect(streamData(up, 3).equals(f.payload)).toBe(true);
      expect(streamData(down, 3).equals(f.payload)).toBe(true);
      expect(up.some((x) => x.cmd === CMD_FIN && x.sid === 3)).toBe(true);
      // Version 2 announces consumption with UPD; version 1 never sends it.
      const upd = [...up, ...down].filter((x) => x.cmd === CMD_UPD);
      if (version === 1) expect(upd).toEqual([]);
      else {
        // smux v2 reports its first read at once (consumed = that read's size) and
        // offers kcptun's --streambuf (2 MiB) as the window, in both directions.
        for (const frames of [up, down]) {
          const first = frames.find((x) => x.cmd === CMD_UPD);
          expect(first).toMatchObject({ cmd: CMD_UPD, sid: 3, window: 2097152 });
          if (first?.cmd === CMD_UPD) expect(first.consumed).toBeGreaterThan(0);
        }
      }
      // The server closes its side of the stream too once the echo backend is done.
      expect(down.some((x) => x.cmd === CMD_FIN && x.sid === 3)).toBe(true);
      // Re-encoding the frames gives the same stream bytes.
      const again = Buffer.concat(
        up.map((x) =>
          x.cmd === CMD_PSH
            ? encodePush(version, x.sid, x.data, 65535)
            : x.cmd === CMD_UPD
              ? encodeUpdate(x.sid, x.consumed, x.window)
              : encodeControl(version, x.cmd, x.sid),
        ),
      );
      expect(again.equals(kcpStream(f, 'c2s').bytes)).toBe(true);
    });
  }
});

describe('smux parser bounds', () => {
  it('round-trips frames split at any byte boundary', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }),
        fc.integer({ min: 1, max: 50 }),
        (datas, pieces) => {
          const bytes = Buffer.concat([
            encodeControl(2, CMD_SYN, 5),
            ...datas.map((d) => encodePush(2, 5, d, 100)),
            encodeUpdate(5, 1234, 262144),
            encodeControl(2, CMD_NOP, 0),
            encodeControl(2, CMD_FIN, 5),
          ]);
          const frames = parseAll(bytes, 2, pieces);
          expect(streamData(frames, 5).equals(Buffer.concat(datas))).toBe(true);
          expect(frames.at(-1)).toEqual({ cmd: CMD_FIN, sid: 5 });
          expect(frames).toContainEqual({ cmd: CMD_UPD, sid: 5, consumed: 1234, window: 262144 });
        },
      ),
    );
  });

  it.each([
    ['wrong version', Buffer.from('0100000003000000', 'hex'), 'ERR_SMUX_VERSION'],
    ['unknown command', Buffer.from('0205000003000000', 'hex'), 'ERR_SMUX_COMMAND'],
    ['UPD on v1', Buffer.from('0104080003000000', 'hex'), 'ERR_SMUX_VERSION'],
    ['SYN with a body', Buffer.from('0200010003000000', 'hex'), 'ERR_SMUX_LENGTH'],
    ['short UPD', Buffer.from('0204040003000000', 'hex'), 'ERR_SMUX_LENGTH'],
  ])('%s is a typed error, and the parser stays failed', (_name, bytes, reason) => {
    const p = new SmuxParser({ version: 2 });
    let err: unknown;
    try {
      p.push(bytes, () => {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SmuxError);
    expect((err as SmuxError).code).toBe(reason);
    expect(isVproxyError(err, reason)).toBe(true);
    expect(() => p.push(Buffer.alloc(0), () => {})).toThrow(SmuxError);
  });

  it('UPD on a version 1 session is an unknown command there', () => {
    const p = new SmuxParser({ version: 1 });
    expect(() => p.push(Buffer.from('0104080003000000', 'hex'), () => {})).toThrow(
      /UPD on a version 1 session/,
    );
  });

  it('bounds PSH frames by maxFrame and holds at most one partial frame', () => {
    const p = new SmuxParser({ version: 1, maxFrame: 1024 });
    p.push(encodePush(1, 3, Buffer.alloc(1024)).subarray(0, 500), () => {});
    expect(p.buffered).toBe(500);
    const q = new SmuxParser({ version: 1, maxFrame: 1024 });
    expect(() => q.push(encodePush(1, 3, Buffer.alloc(1025), 2000), () => {})).toThrow(
      expect.objectContaining({ code: 'ERR_SMUX_FRAME_SIZE' }),
    );
  });

  it('assembles a 64 KiB frame fed a byte at a time (copied once, not per byte)', () => {
    const data = Buffer.alloc(65535, 9);
    const framed = encodePush(2, 7, data, 65535);
    const p = new SmuxParser({ version: 2 });
    const got: Buffer[] = [];
    for (let o = 0; o < framed.length; o++) {
      p.push(framed.subarray(o, o + 1), (f) => {
        if (f.cmd === CMD_PSH) got.push(f.data);
      });
    }
    expect(got.length).toBe(1);
    expect(got[0]?.equals(data)).toBe(true);
    expect(p.buffered).toBe(0);
  });

  it('garbage gives frames or a SmuxError, never another exception, and bounded memory', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 2000 }),
        fc.constantFrom<SmuxVersion>(1, 2),
        (b, v) => {
          const p = new SmuxParser({ version: v });
          try {
            p.push(b, () => {});
          } catch (e) {
            expect(e).toBeInstanceOf(SmuxError);
          }
          expect(p.buffered).toBeLessThanOrEqual(8 + 65535);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
