import * as snappy from 'snappyjs';
import { maskedCrc32c } from './crc32c.js';
import {
  CHECKSUM_SIZE,
  CHUNK_COMPRESSED,
  CHUNK_HEADER_SIZE,
  CHUNK_UNCOMPRESSED,
  MAX_BLOCK,
  STREAM_IDENTIFIER,
} from './format.js';

/**
 * Snappy framing writer as kcptun uses it (golang/snappy's buffered Writer flushed
 * after every Write): each encode() returns the bytes for one write — the stream
 * identifier before the first, then one chunk per 64 KiB block. A block is sent
 * compressed only when that saves at least 12.5 % (golang/snappy's rule), so
 * incompressible data costs 8 bytes per chunk and no decompression.
 */
export class SnappyFrameEncoder {
  private started = false;

  encode(data: Uint8Array): Buffer {
    const parts: Uint8Array[] = [];
    let size = 0;
    if (!this.started) {
      this.started = true;
      parts.push(STREAM_IDENTIFIER);
      size += STREAM_IDENTIFIER.length;
    }
    for (let at = 0; at < data.length; at += MAX_BLOCK) {
      const block = data.subarray(at, Math.min(at + MAX_BLOCK, data.length));
      const compressed = snappy.compress(block);
      const useCompressed = compressed.length < block.length - Math.floor(block.length / 8);
      const body = useCompressed ? compressed : block;
      const header = Buffer.allocUnsafe(CHUNK_HEADER_SIZE + CHECKSUM_SIZE);
      header.writeUInt32LE(
        ((CHECKSUM_SIZE + body.length) << 8) |
          (useCompressed ? CHUNK_COMPRESSED : CHUNK_UNCOMPRESSED),
        0,
      );
      header.writeUInt32LE(maskedCrc32c(block), CHUNK_HEADER_SIZE);
      parts.push(header, body);
      size += header.length + body.length;
    }
    const out = Buffer.allocUnsafe(size);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}
