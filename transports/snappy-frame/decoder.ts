import * as snappy from 'snappyjs';
import { maskedCrc32c } from './crc32c.js';
import { SnappyFrameError } from './errors.js';
import {
  CHECKSUM_SIZE,
  CHUNK_COMPRESSED,
  CHUNK_HEADER_SIZE,
  CHUNK_STREAM_IDENTIFIER,
  CHUNK_UNCOMPRESSED,
  FIRST_SKIPPABLE,
  MAX_BLOCK,
  MAX_COMPRESSED_BLOCK,
  STREAM_IDENTIFIER,
} from './format.js';

export interface SnappyFrameStats {
  compressedChunks: number;
  uncompressedChunks: number;
  /** Bytes of padding and skippable chunks passed over. */
  skippedBytes: number;
}

/**
 * Incremental snappy framing reader. Bytes arrive in arbitrary pieces; the data of
 * each verified chunk goes to `onData` (a view of the pushed bytes for uncompressed
 * chunks: copy it if the caller reuses them). Memory is bounded by one chunk (≤ 76 KiB);
 * skippable chunks are skipped as they stream past, never buffered. The first
 * violation throws a SnappyFrameError and the decoder stays failed.
 */
export class SnappyFrameDecoder {
  readonly stats: SnappyFrameStats = {
    compressedChunks: 0,
    uncompressedChunks: 0,
    skippedBytes: 0,
  };
  private pending: Buffer | null = null;
  private skipRemaining = 0;
  private started = false;
  private failed: SnappyFrameError | null = null;

  /** Bytes held back waiting for the rest of a chunk. */
  get buffered(): number {
    return this.pending?.length ?? 0;
  }

  push(chunk: Uint8Array, onData: (data: Buffer) => void): void {
    if (this.failed !== null) throw this.failed;
    let buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    if (this.pending !== null) {
      buf = Buffer.concat([this.pending, buf]);
      this.pending = null;
    }
    let o = 0;
    for (;;) {
      if (this.skipRemaining > 0) {
        const n = Math.min(this.skipRemaining, buf.length - o);
        this.skipRemaining -= n;
        this.stats.skippedBytes += n;
        o += n;
        if (this.skipRemaining > 0) break;
      }
      if (buf.length - o < CHUNK_HEADER_SIZE) break;
      const type = buf[o] as number;
      const length = buf.readUIntLE(o + 1, 3);
      this.checkChunk(type, length);
      if (type >= FIRST_SKIPPABLE && type !== CHUNK_STREAM_IDENTIFIER) {
        o += CHUNK_HEADER_SIZE;
        this.skipRemaining = length;
        continue;
      }
      if (buf.length - o - CHUNK_HEADER_SIZE < length) break;
      const body = buf.subarray(o + CHUNK_HEADER_SIZE, o + CHUNK_HEADER_SIZE + length);
      o += CHUNK_HEADER_SIZE + length;
      if (type === CHUNK_STREAM_IDENTIFIER) {
        if (!body.equals(STREAM_IDENTIFIER.subarray(CHUNK_HEADER_SIZE))) {
          this.fail('ERR_SNAPPY_IDENTIFIER', 'bad stream identifier');
        }
        this.started = true;
        continue;
      }
      const data = this.decodeData(type, body);
      if (data.length > 0) onData(data);
    }
    if (o < buf.length) this.pending = Buffer.from(buf.subarray(o));
  }

  /** Rejects a chunk header before its body is buffered (so a bad length costs nothing). */
  private checkChunk(type: number, length: number): void {
    if (!this.started && type !== CHUNK_STREAM_IDENTIFIER) {
      this.fail(
        'ERR_SNAPPY_IDENTIFIER',
        `chunk type 0x${type.toString(16)} before the stream identifier`,
      );
    }
    if (type === CHUNK_STREAM_IDENTIFIER) {
      if (length !== STREAM_IDENTIFIER.length - CHUNK_HEADER_SIZE) {
        this.fail('ERR_SNAPPY_IDENTIFIER', `stream identifier of ${length} bytes`);
      }
    } else if (type === CHUNK_COMPRESSED) {
      if (length <= CHECKSUM_SIZE || length > CHECKSUM_SIZE + MAX_COMPRESSED_BLOCK) {
        this.fail('ERR_SNAPPY_CORRUPT', `compressed chunk of ${length} bytes`);
      }
    } else if (type === CHUNK_UNCOMPRESSED) {
      if (length < CHECKSUM_SIZE || length > CHECKSUM_SIZE + MAX_BLOCK) {
        this.fail('ERR_SNAPPY_CORRUPT', `uncompressed chunk of ${length} bytes`);
      }
    } else if (type < FIRST_SKIPPABLE) {
      this.fail('ERR_SNAPPY_CHUNK_TYPE', `reserved unskippable chunk type 0x${type.toString(16)}`);
    }
  }

  private decodeData(type: number, body: Buffer): Buffer {
    const block = body.subarray(CHECKSUM_SIZE);
    let data: Buffer;
    if (type === CHUNK_COMPRESSED) {
      this.stats.compressedChunks++;
      try {
        // The bound makes snappyjs refuse a block that claims more than 64 KiB
        // before it allocates anything.
        const out = snappy.uncompress(block, MAX_BLOCK);
        data = Buffer.from(out.buffer, out.byteOffset, out.length);
      } catch (err) {
        return this.fail(
          'ERR_SNAPPY_CORRUPT',
          `block does not decompress (${(err as Error).message})`,
        );
      }
    } else {
      this.stats.uncompressedChunks++;
      data = block;
    }
    if (maskedCrc32c(data) !== body.readUInt32LE(0)) {
      this.fail('ERR_SNAPPY_CHECKSUM', 'masked CRC-32C mismatch');
    }
    return data;
  }

  private fail(reason: SnappyFrameError['reason'], message: string): never {
    this.failed = new SnappyFrameError(reason, message);
    this.pending = null;
    throw this.failed;
  }
}
