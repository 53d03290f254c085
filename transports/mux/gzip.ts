import { gunzipSync, gzipSync } from 'node:zlib';
import { MuxError } from './errors.js';

// The reference gzips PSH payloads over 1 KiB when that makes them smaller, and
// marks them with DATA flag 0x4 (spec §2.3). We inflate what we receive always
// and compress what we send only when asked (it costs far more CPU than it
// saves bandwidth on most links).

const GZIP_THRESHOLD = 1024;

/** The gzip form of `payload` when it is worth sending, else null. */
export function gzipIfSmaller(payload: Buffer): Buffer | null {
  if (payload.length <= GZIP_THRESHOLD) return null;
  const packed = gzipSync(payload);
  return packed.length < payload.length ? packed : null;
}

/**
 * Inflate one gzip DATA payload, refusing to produce more than `room` bytes (the
 * stream's window), so a small frame cannot inflate into a memory bomb.
 */
export function inflatePayload(streamId: number, payload: Buffer, room: number): Buffer {
  try {
    return gunzipSync(payload, { maxOutputLength: Math.max(1, room) });
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new MuxError(
        'ERR_MUX_FLOW_CONTROL',
        `gzip DATA on stream ${streamId} inflates past its ${room}-byte window`,
      );
    }
    throw new MuxError(
      'ERR_MUX_PROTOCOL',
      `gzip DATA on stream ${streamId} does not inflate: ${(err as Error).message}`,
    );
  }
}
