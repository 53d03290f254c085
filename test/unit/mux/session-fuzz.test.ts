import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isVproxyError } from '../../../src/fd/errors.js';
import { encodeFrame, Flag, FrameType } from '../../../transports/mux/frame.js';
import { MuxSession } from '../../../transports/mux/session.js';
import { encodeSettings } from '../../../transports/mux/settings.js';
import type { MuxStream } from '../../../transports/mux/stream.js';
import { memoryPair } from './pair.js';

// Hostile frame sequences against a live server session: whatever arrives, the
// session either keeps going or closes with one of its typed errors; nothing
// is thrown into the caller, no other exception escapes, nothing hangs.

const TYPES = [
  FrameType.DATA,
  FrameType.HEADERS,
  FrameType.SETTINGS,
  FrameType.PING,
  FrameType.GOAWAY,
  FrameType.WINDOW_UPDATE,
  0x2,
  0x9,
];

const frame = fc
  .record({
    type: fc.constantFrom(...TYPES),
    flags: fc.constantFrom(0, Flag.END_STREAM, Flag.GZIP, Flag.END_STREAM | Flag.GZIP, 0xff),
    id: fc.oneof(fc.integer({ min: 0, max: 12 }), fc.nat({ max: 0xffff_ffff })),
    body: fc.oneof(
      fc.uint8Array({ maxLength: 16 }),
      fc.constant(new Uint8Array(4)),
      fc.constant(new Uint8Array(8)),
      fc.uint8Array({ minLength: 1000, maxLength: 5000 }),
    ),
  })
  .map(({ type, flags, id, body }) => {
    const bytes = encodeFrame(type, flags, 0, body);
    bytes.writeUInt32BE(id, 5);
    return bytes;
  });

const codes = new Set([
  'ERR_MUX_PROTOCOL',
  'ERR_MUX_FRAME_SIZE',
  'ERR_MUX_FLOW_CONTROL',
  'ERR_MUX_GOAWAY',
  'ERR_MUX_LIMIT',
]);

describe('session fuzz', () => {
  it('random frames after a good handshake: typed failure or business as usual', async () => {
    let survived = 0;
    let failed = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(frame, { maxLength: 25 }), fc.boolean(), async (frames, legacy) => {
        const [ours, theirs] = memoryPair();
        theirs.on('data', () => {});
        theirs.on('error', () => {});
        theirs.on('end', () => theirs.end()); // close when the session does
        const session = MuxSession.server(ours, { pingMs: 0, window: 4096, maxFrame: 2048 });
        const closed = new Promise<Error | undefined>((resolve) => session.on('close', resolve));
        session.on('stream', (s: MuxStream) => {
          s.on('error', () => {});
          // Exercise both paths: some streams read and answer, some never read.
          if (s.id % 4 === 1) s.on('data', (c: Buffer) => s.write(c));
        });
        const settings = legacy ? null : { window: 4096, maxFrame: 2048, maxStreams: 4 };
        theirs.write(encodeSettings(settings));
        for (const f of frames) theirs.write(f);
        await new Promise((r) => setImmediate(r));
        if (!session.isClosed) {
          survived++;
          session.destroy();
        } else {
          // It ended on its own: cleanly (a graceful GOAWAY) or with one of its typed errors.
          failed++;
          const err = await closed;
          if (err !== undefined && !(isVproxyError(err) && codes.has(err.code))) throw err;
        }
        theirs.destroy();
      }),
      { numRuns: 400 },
    );
    // Both outcomes were exercised.
    expect(survived).toBeGreaterThan(10);
    expect(failed).toBeGreaterThan(10);
  });
});
