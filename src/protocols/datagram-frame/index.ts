import { type ErrorCodeTable, VproxyError } from '../../fd/errors.js';

/**
 * Datagrams over a byte stream: each datagram is a 2-byte big-endian length and that
 * many bytes (0..65,535; an empty datagram is a valid one). It is what carries UDP
 * flows through stream tunnels (kcp, ws, mux+tls…), one stream per flow. The length
 * field itself bounds what a decoder ever holds: one partial frame, ≤ 65,537 bytes.
 */
export const FRAME_HEADER = 2;
export const MAX_DATAGRAM = 0xffff;

/** Codes of datagram-over-stream framing (src/protocols/datagram-frame). */
export const DATAGRAM_FRAME_ERROR_CODES = {
  ERR_DATAGRAM_TOO_LARGE: 'a datagram or frame longer than the framing (or its decoder) allows',
  ERR_DATAGRAM_DECODER_FAILED: 'input pushed into a decoder that already failed',
} as const satisfies ErrorCodeTable;

export type DatagramFrameErrorCode = keyof typeof DATAGRAM_FRAME_ERROR_CODES;

export class DatagramFrameError extends VproxyError<DatagramFrameErrorCode> {
  constructor(message: string, code: DatagramFrameErrorCode = 'ERR_DATAGRAM_TOO_LARGE') {
    super(code, message);
    this.name = 'DatagramFrameError';
  }
}

/** One frame: header and payload in one buffer, so one stream write per datagram. */
export function encodeDatagram(payload: Uint8Array): Buffer {
  if (payload.length > MAX_DATAGRAM) {
    throw new DatagramFrameError(
      `a datagram of ${payload.length} bytes does not fit a frame (max ${MAX_DATAGRAM})`,
    );
  }
  const frame = Buffer.allocUnsafe(FRAME_HEADER + payload.length);
  frame.writeUInt16BE(payload.length, 0);
  frame.set(payload, FRAME_HEADER);
  return frame;
}

/**
 * Incremental decoder: feed it stream chunks split anywhere, get whole datagrams.
 * A frame inside one chunk is handed out as a view of that chunk (no copy); only a
 * frame split across chunks is gathered, into a buffer of exactly its size. A frame
 * longer than `maxDatagram` is an error (the peer is not speaking this framing, or is
 * hostile) and the decoder stops.
 */
export class DatagramDecoder {
  readonly #onDatagram: (datagram: Buffer) => void;
  readonly #max: number;
  /** A split header's first byte, or -1. */
  #headerByte = -1;
  /** The frame being gathered across chunks, and how much of it is here. */
  #partial: Buffer | null = null;
  #have = 0;
  #failed = false;

  constructor(onDatagram: (datagram: Buffer) => void, maxDatagram: number = MAX_DATAGRAM) {
    this.#onDatagram = onDatagram;
    this.#max = maxDatagram;
  }

  /** Bytes held of an unfinished frame (header included): never more than 2 + maxDatagram. */
  get buffered(): number {
    if (this.#partial !== null) return FRAME_HEADER + this.#have;
    return this.#headerByte >= 0 ? 1 : 0;
  }

  /** Throws DatagramFrameError on an over-long frame; datagrams before it were delivered. */
  push(chunk: Buffer): void {
    if (this.#failed)
      throw new DatagramFrameError('decoder already failed', 'ERR_DATAGRAM_DECODER_FAILED');
    let off = 0;
    const n = chunk.length;
    if (this.#partial !== null) off = this.#fill(chunk, 0);
    while (off < n) {
      let length: number;
      if (this.#headerByte >= 0) {
        length = (this.#headerByte << 8) | chunk.readUInt8(off);
        this.#headerByte = -1;
        off += 1;
      } else if (off + 1 < n) {
        length = chunk.readUInt16BE(off);
        off += FRAME_HEADER;
      } else {
        this.#headerByte = chunk.readUInt8(off);
        return;
      }
      this.#check(length);
      if (off + length <= n) {
        this.#onDatagram(chunk.subarray(off, off + length));
        off += length;
      } else {
        this.#partial = Buffer.allocUnsafe(length);
        this.#have = 0;
        off = this.#fill(chunk, off);
      }
    }
  }

  /** True when the stream may end here (no frame cut short). */
  get atBoundary(): boolean {
    return this.buffered === 0;
  }

  #fill(chunk: Buffer, off: number): number {
    const partial = this.#partial as Buffer;
    const take = Math.min(partial.length - this.#have, chunk.length - off);
    chunk.copy(partial, this.#have, off, off + take);
    this.#have += take;
    if (this.#have === partial.length) {
      this.#partial = null;
      this.#have = 0;
      this.#onDatagram(partial);
    }
    return off + take;
  }

  #check(length: number): void {
    if (length > this.#max) {
      this.#failed = true;
      throw new DatagramFrameError(
        `a frame of ${length} bytes exceeds the ${this.#max}-byte limit`,
      );
    }
  }
}
