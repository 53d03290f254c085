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

/** Incompressible blocks in a row after which compression is not tried for a while. */
const GIVE_UP_AFTER = 2;
/** The longest pause between tries, in blocks (64 KiB each: 2 MiB). */
const MAX_SKIP = 32;

/** What the encoder did with each block. */
export interface SnappyEncoderStats {
  /** Sent compressed. */
  readonly compressed: number;
  /** Tried, saved too little, sent as is. */
  readonly stored: number;
  /** Sent as is without trying: the stream looked incompressible. */
  readonly skipped: number;
}

/**
 * Snappy framing writer as kcptun uses it (golang/snappy's buffered Writer flushed
 * after every Write): each encode() returns the bytes for one write — the stream
 * identifier before the first, then one chunk per 64 KiB block. A block is sent
 * compressed only when that saves at least 12.5 % (golang/snappy's rule), so
 * incompressible data costs 8 bytes per chunk and no decompression.
 *
 * Unlike golang/snappy it stops trying on a stream that does not compress: most of
 * what people tunnel is TLS, where every try is wasted CPU (about a tenth of a
 * kcptun client's CPU on random bytes). After GIVE_UP_AFTER incompressible blocks in
 * a row it sends blocks as is, trying again after 1, 2, 4 … MAX_SKIP blocks; one block
 * that compresses resumes trying every block. The wire format allows either chunk
 * type for any block, so peers see nothing but the choice.
 */
export class SnappyFrameEncoder {
  private started = false;
  /** Incompressible tries in a row. */
  private misses = 0;
  /** Blocks to send as is before the next try, and the pause after the next miss. */
  private skip = 0;
  private pause = 1;
  private counts = { compressed: 0, stored: 0, skipped: 0 };

  get stats(): SnappyEncoderStats {
    return { ...this.counts };
  }

  /** The block compressed, or null when it is to go as is. */
  private tryCompress(block: Uint8Array): Uint8Array | null {
    if (this.skip > 0) {
      this.skip--;
      this.counts.skipped++;
      return null;
    }
    const compressed = snappy.compress(block);
    if (compressed.length < block.length - Math.floor(block.length / 8)) {
      this.misses = 0;
      this.pause = 1;
      this.counts.compressed++;
      return compressed;
    }
    this.counts.stored++;
    if (++this.misses >= GIVE_UP_AFTER) {
      this.skip = this.pause;
      this.pause = Math.min(this.pause * 2, MAX_SKIP);
    }
    return null;
  }

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
      const compressed = this.tryCompress(block);
      const body = compressed ?? block;
      const header = Buffer.allocUnsafe(CHUNK_HEADER_SIZE + CHECKSUM_SIZE);
      header.writeUInt32LE(
        ((CHECKSUM_SIZE + body.length) << 8) |
          (compressed !== null ? CHUNK_COMPRESSED : CHUNK_UNCOMPRESSED),
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
