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
 * chunks: copy it if the caller reuses them). A chunk split across pieces is copied
 * once into a buffer of its exact size (never re-concatenated per piece), so memory
 * and copying are bounded by one chunk (≤ 76 KiB); skippable chunks are skipped as
 * they stream past, never buffered. The first violation throws a SnappyFrameError and
 * the decoder stays failed.
 */
export class SnappyFrameDecoder {
  readonly stats: SnappyFrameStats = {
    compressedChunks: 0,
    uncompressedChunks: 0,
    skippedBytes: 0,
  };
  private readonly header = Buffer.alloc(CHUNK_HEADER_SIZE);
  private headerFilled = 0;
  private body: Buffer | null = null;
  private bodyFilled = 0;
  private skipRemaining = 0;
  private started = false;
  private failed: SnappyFrameError | null = null;

  /** Bytes held back waiting for the rest of a chunk. */
  get buffered(): number {
    return this.headerFilled + this.bodyFilled;
  }

  push(chunk: Uint8Array, onData: (data: Buffer) => void): void {
    if (this.failed !== null) throw this.failed;
    const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    let o = 0;
    while (o < buf.length) {
      if (this.skipRemaining > 0) {
        const n = Math.min(this.skipRemaining, buf.length - o);
        this.skipRemaining -= n;
        this.stats.skippedBytes += n;
        o += n;
        continue;
      }
      if (this.headerFilled === 0 && buf.length - o >= CHUNK_HEADER_SIZE) {
        // Fast path: the header is here; so, usually, is the whole chunk (no copy).
        const type = buf[o] as number;
        const length = buf.readUIntLE(o + 1, 3);
        o += CHUNK_HEADER_SIZE;
        if (this.startChunk(type, length)) continue;
        if (buf.length - o >= length) {
          this.chunk(type, buf.subarray(o, o + length), onData);
          o += length;
          continue;
        }
        this.header[0] = type;
        this.headerFilled = CHUNK_HEADER_SIZE;
        this.body = Buffer.allocUnsafe(length);
        this.bodyFilled = 0;
      }
      o = this.assemble(buf, o, onData);
    }
  }

  /** Copies bytes into the partial chunk; handles it when complete. Returns the new offset. */
  private assemble(buf: Buffer, o: number, onData: (data: Buffer) => void): number {
    if (this.headerFilled < CHUNK_HEADER_SIZE) {
      const n = Math.min(CHUNK_HEADER_SIZE - this.headerFilled, buf.length - o);
      buf.copy(this.header, this.headerFilled, o, o + n);
      this.headerFilled += n;
      o += n;
      if (this.headerFilled < CHUNK_HEADER_SIZE) return o;
      const length = this.header.readUIntLE(1, 3);
      if (this.startChunk(this.header[0] as number, length)) {
        this.headerFilled = 0;
        return o;
      }
      this.body = Buffer.allocUnsafe(length);
      this.bodyFilled = 0;
    }
    const body = this.body as Buffer;
    const n = Math.min(body.length - this.bodyFilled, buf.length - o);
    buf.copy(body, this.bodyFilled, o, o + n);
    this.bodyFilled += n;
    o += n;
    if (this.bodyFilled === body.length) {
      this.headerFilled = 0;
      this.bodyFilled = 0;
      this.body = null;
      this.chunk(this.header[0] as number, body, onData);
    }
    return o;
  }

  /** Checks a chunk header; true when the chunk is to be skipped (its bytes then stream past). */
  private startChunk(type: number, length: number): boolean {
    this.checkChunk(type, length);
    if (type >= FIRST_SKIPPABLE && type !== CHUNK_STREAM_IDENTIFIER) {
      this.skipRemaining = length;
      return true;
    }
    return false;
  }

  private chunk(type: number, body: Buffer, onData: (data: Buffer) => void): void {
    if (type === CHUNK_STREAM_IDENTIFIER) {
      if (!body.equals(STREAM_IDENTIFIER.subarray(CHUNK_HEADER_SIZE))) {
        this.fail('ERR_SNAPPY_IDENTIFIER', 'bad stream identifier');
      }
      this.started = true;
      return;
    }
    const data = this.decodeData(type, body);
    if (data.length > 0) onData(data);
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

  private fail(reason: SnappyFrameError['code'], message: string): never {
    this.failed = new SnappyFrameError(reason, message);
    this.body = null;
    throw this.failed;
  }
}
